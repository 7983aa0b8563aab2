"""The command line, driven as a user would: a subprocess, signals, exit codes, files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flowengine.cli import main
from flowengine.registry import Registry
from tests.engine.test_runtime import make_capture

FLOWENGINE = [sys.executable, "-m", "flowengine.cli"]


def wait_for_lines(path: Path, count: int, process: subprocess.Popen[bytes], deadline: float = 30.0) -> None:
    """Wait until ``path`` has at least ``count`` lines (the runner is producing), or fail."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        assert process.poll() is None, "the runner exited early"
        if path.exists() and path.read_bytes().count(b"\n") >= count:
            return
        time.sleep(0.05)  # polling a file the runner writes: there is no event to await across processes
    pytest.fail(f"{path} did not reach {count} lines")


def test_sigterm_mid_replay_drains_and_exits_0_with_complete_unique_lines(tmp_path: Path) -> None:
    make_capture(tmp_path / "capture.jsonl", 1000)
    flow = tmp_path / "long.yaml"
    flow.write_text("""
version: 1
state: memory
nodes:
  - id: src
    type: zigbee-replay
    path: capture.jsonl
    loop: true
    wires: [save]
  - id: save
    type: file
    path: out/all.jsonl
""")
    process = subprocess.Popen([*FLOWENGINE, "run", str(flow)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = tmp_path / "out" / "all.jsonl"
    wait_for_lines(out, 20_000, process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr.decode()
    data = out.read_bytes()
    assert data.endswith(b"\n")
    stamps = [json.loads(line)["meta"]["ts"] for line in data.splitlines()]
    assert len(stamps) >= 20_000
    # One capture pass spans 999 s and each pass shifts by that span, so the stream is
    # 1_700_000_000 + k with k rising by 1 and repeating once at every pass boundary.
    expected: list[float] = []
    k = 0
    while len(expected) < len(stamps):
        expected.extend(1_700_000_000.0 + k + i for i in range(1000))
        k += 999
    assert stamps == expected[: len(stamps)]
    assert b"SIGTERM received" in stderr


def test_finite_run_exits_0_by_itself(tmp_path: Path) -> None:
    make_capture(tmp_path / "capture.jsonl", 100)
    flow = tmp_path / "finite.yaml"
    flow.write_text("""
version: 1
nodes:
  - id: src
    type: zigbee-replay
    path: capture.jsonl
    wires: [save]
  - id: save
    type: file
    path: out.jsonl
""")
    completed = subprocess.run([*FLOWENGINE, "run", str(flow)], capture_output=True, timeout=60, check=False)
    assert completed.returncode == 0, completed.stderr.decode()
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 100
    assert (tmp_path / ".flowengine" / "finite.db").exists()


def test_run_refuses_an_invalid_flow_and_starts_nothing(tmp_path: Path) -> None:
    make_capture(tmp_path / "capture.jsonl", 10)
    flow = tmp_path / "bad.yaml"
    flow.write_text("version: 1\nnodes:\n  - id: src\n    type: zigbee-replay\n    path: capture.jsonl\n"
                    "    wires: [save]\n  - id: save\n    type: file\n    path: out.jsonl\n    mode: w\n")
    completed = subprocess.run([*FLOWENGINE, "run", str(flow)], capture_output=True, timeout=60, check=False)
    assert completed.returncode == 1
    assert f"{flow}:10:5: node 'save': unknown config key 'mode'" in completed.stdout.decode()
    assert not (tmp_path / "out.jsonl").exists()


def test_missing_capture_is_one_clear_line_and_exit_1(tmp_path: Path) -> None:
    flow = tmp_path / "missing.yaml"
    flow.write_text("version: 1\nstate: memory\nnodes:\n  - id: src\n    type: zigbee-replay\n"
                    "    path: nowhere.jsonl\n    wires: [drop]\n  - id: drop\n    type: discard\n")
    completed = subprocess.run([*FLOWENGINE, "run", str(flow)], capture_output=True, timeout=60, check=False)
    assert completed.returncode == 1
    assert completed.stdout.decode().splitlines() == [
        f"{flow}:6:11: node 'src': path: capture file {tmp_path / 'nowhere.jsonl'} does not exist"]
    assert "Traceback" not in completed.stderr.decode()


def test_graph_prints_mermaid_and_dot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flow = tmp_path / "g.yaml"
    (tmp_path / "c.jsonl").touch()
    flow.write_text("version: 1\nnodes:\n  - id: src\n    type: zigbee-replay\n    path: c.jsonl\n"
                    "    wires: [save, drop]\n  - id: save\n    type: file\n    path: out.jsonl\n"
                    "  - id: drop\n    type: discard\n")
    assert main(["graph", str(flow)]) == 0
    mermaid = capsys.readouterr().out
    assert mermaid.startswith("flowchart LR")
    assert "n_src --> n_save" in mermaid
    assert "n_src --> n_drop" in mermaid
    assert main(["graph", str(flow), "--format", "dot"]) == 0
    dot = capsys.readouterr().out
    assert '"src" -> "save";' in dot
    assert dot.rstrip().endswith("}")


def test_schema_covers_every_node_type(registry: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    node_types = set(schema["properties"]["nodes"]["items"]["properties"]["type"]["enum"])
    assert node_types == set(Registry.from_entry_points().names())
    branch = next(b for b in schema["properties"]["nodes"]["items"]["allOf"]
                  if b["if"]["properties"]["type"]["const"] == "zigbee-replay")
    assert {"path", "speed", "loop", "resume", "wires", "id"} <= set(branch["then"]["properties"])
    assert branch["then"]["additionalProperties"] is False


def test_nodes_lists_every_type_with_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nodes", "--json"]) == 0
    described = json.loads(capsys.readouterr().out)
    assert {d["type"] for d in described} == set(Registry.from_entry_points().names())
    assert all(d["example"] for d in described)


def test_validate_stays_light(tmp_path: Path) -> None:
    flow = tmp_path / "light.yaml"
    (tmp_path / "c.jsonl").touch()
    flow.write_text("version: 1\nnodes:\n  - id: src\n    type: zigbee-replay\n    path: c.jsonl\n"
                    "    wires: [drop]\n  - id: drop\n    type: discard\n")
    code = ("import sys; from flowengine.cli import main; rc = main(['validate', sys.argv[1]]); "
            "heavy = [m for m in ('zigpy', 'zigpy_deconz', 'aiomqtt', 'flowengine_nodes.devices.decode', "
            "'flowengine_nodes.mqtt') "
            "if m in sys.modules]; print('HEAVY', heavy); raise SystemExit(rc)")
    completed = subprocess.run([sys.executable, "-c", code, str(flow)], capture_output=True, timeout=60,
                               check=False, env={**os.environ})
    assert completed.returncode == 0, completed.stderr.decode()
    assert "HEAVY []" in completed.stdout.decode()
