"""A plugin with broken node types next to the built-in ones (issue 18, acceptance 3).

The plugin is a real distribution found by ``importlib.metadata``: a ``.dist-info`` folder with
its ``entry_points.txt`` on ``PYTHONPATH``, as pip would leave it. One type's class has no
``config_model``, one names a module that does not exist, one's module raises while importing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from flowengine.registry import Registry
from tests.engine.test_runtime import make_capture, replay_flow

FLOWENGINE = [sys.executable, "-m", "flowengine.cli"]
BROKEN = {
    "no-model": "brokenplug:NoModel",
    "no-module": "brokenplug_missing:Thing",
    "raises": "brokenplug_raises:Thing",
}


@pytest.fixture
def plugin_path(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    info = site / "brokenplug-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: brokenplug\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[flowengine.nodes]\n" + "".join(f"{name} = {value}\n" for name, value in BROKEN.items()))
    (site / "brokenplug.py").write_text(
        "from flowengine import Transform\n\n\nclass NoModel(Transform):\n    \"\"\"Forgot its config model.\"\"\"\n")
    (site / "brokenplug_raises.py").write_text("raise RuntimeError('plugin bug at import time')\n")
    return site


def flowengine(plugin_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(plugin_path)}
    return subprocess.run([*FLOWENGINE, *args], capture_output=True, text=True, env=env, timeout=60, check=False)


def test_nodes_lists_every_other_type_and_names_each_broken_one_in_one_line(plugin_path: Path) -> None:
    result = flowengine(plugin_path, "nodes", "--json")
    listed = {entry["type"] for entry in json.loads(result.stdout)}
    builtin = set(Registry.from_entry_points().names())
    assert listed == builtin  # every built-in type, none of the broken ones
    errors = result.stderr.strip().splitlines()
    assert len(errors) == len(BROKEN), result.stderr
    for name, value in BROKEN.items():
        [line] = [line for line in errors if f"node type '{name}'" in line]
        assert f"entry point '{name} = {value}' of brokenplug" in line
    assert "has no config_model" in next(line for line in errors if "'no-model'" in line)
    assert "plugin bug at import time" in next(line for line in errors if "'raises'" in line)
    assert "Traceback" not in result.stderr
    assert result.returncode == 1


def test_text_listing_and_schema_keep_working(plugin_path: Path) -> None:
    result = flowengine(plugin_path, "nodes")
    assert "filter  (transform)" in result.stdout
    assert "Traceback" not in result.stderr
    schema = flowengine(plugin_path, "schema")
    assert "zigbee-replay" in schema.stdout
    assert len(schema.stderr.strip().splitlines()) == len(BROKEN)


def test_a_flow_of_other_types_validates_and_runs(plugin_path: Path, tmp_path: Path) -> None:
    make_capture(tmp_path / "capture.jsonl", 5)
    flow = tmp_path / "fine.yaml"
    flow.write_text(replay_flow("    wires: [save]\n  - id: save\n    type: file\n    path: out.jsonl\n"))
    validated = flowengine(plugin_path, "validate", str(flow))
    assert validated.stdout.strip() == f"{flow}: ok"
    assert validated.returncode == 0
    ran = flowengine(plugin_path, "run", str(flow))
    assert ran.returncode == 0, ran.stderr
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 5


def test_a_flow_using_a_broken_type_says_why_once(plugin_path: Path, tmp_path: Path) -> None:
    flow = tmp_path / "uses.yaml"
    flow.write_text("""version: 1
nodes:
  - id: src
    type: mqtt-in
    broker: mqtt://127.0.0.1:1
    topics: [a]
    wires: [bad, worse]
  - id: bad
    type: no-model
  - id: worse
    type: no-model
""")
    result = flowengine(plugin_path, "validate", str(flow))
    assert result.returncode == 1
    first, second = result.stdout.strip().splitlines()
    assert first.startswith(f"{flow}:9:11: node 'bad': node type 'no-model' "
                            "(entry point 'no-model = brokenplug:NoModel' of brokenplug) has no config_model")
    assert second == f"{flow}:11:11: node 'worse': node type 'no-model' cannot be loaded (see line 9)"
    assert "Traceback" not in result.stderr


def test_a_type_declared_by_two_packages_names_both(tmp_path: Path) -> None:
    site = tmp_path / "site"
    info = site / "twinplug-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: twinplug\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[flowengine.nodes]\nfilter = twinplug:Filter\n")
    flow = tmp_path / "any.yaml"
    flow.write_text("version: 1\nnodes: []\n")
    result = flowengine(site, "validate", str(flow))
    assert result.returncode == 2
    line = result.stdout.strip()
    assert line.startswith("error: node type 'filter' is declared twice: by "), line
    assert "(from flowengine)" in line
    assert "twinplug:Filter (from twinplug)" in line
    assert "Traceback" not in result.stderr
