"""Every example passes its own tests through the real ``flowengine test`` command, and is complete."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from flowengine.flow import load_flow
from flowengine.registry import Registry

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NAMES = sorted(path.parent.name for path in EXAMPLES.glob("*/flow.yaml"))


def flowengine(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flowengine.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=100, check=False)


def test_there_are_at_least_five_examples() -> None:
    assert len(NAMES) >= 5, NAMES


@pytest.mark.parametrize("name", NAMES)
def test_example_passes_flowengine_test(name: str) -> None:
    result = flowengine("test", f"examples/{name}", cwd=EXAMPLES.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    last = result.stdout.strip().splitlines()[-1]
    passed, failed = (int(part.split()[0]) for part in last.split(", "))
    assert passed >= 2
    assert failed == 0


@pytest.mark.parametrize("name", NAMES)
def test_example_is_complete_and_validates_without_warnings(name: str) -> None:
    folder = EXAMPLES / name
    for part in ("flow.yaml", "capture.jsonl", "flow.test.yaml", "README.md"):
        assert (folder / part).is_file(), f"{name} has no {part}"
    loaded = load_flow(folder / "flow.yaml", Registry.from_entry_points())
    assert loaded.ok, loaded.errors
    assert loaded.warnings == []
    assert name in (EXAMPLES / "README.md").read_text()


def test_captures_are_what_the_generator_writes() -> None:
    """The committed captures come from make_captures.py, whose frames are checked against the decoder."""
    spec = importlib.util.spec_from_file_location("make_captures", EXAMPLES / "make_captures.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    builders = [(name, build, 1) for name, build in module.CAPTURES.items()]
    builders += [(name, build, 2) for name, build in module.HOUSEHOLD_CAPTURES.items()]
    for name, build, compat in builders:
        lines = build()
        module.check(lines, compat)
        written = [json.loads(line) for line in (EXAMPLES / name / "capture.jsonl").read_text().splitlines()]
        assert written == [line for line, _ in lines], name
