"""``run --watch``: a valid edit swaps the flow without losing a message; an invalid one is refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from tests.engine.test_cli import FLOWENGINE, wait_for_lines
from tests.engine.test_runtime import make_capture

FLOW = """
version: 1
state: state.db
nodes:
  - id: src
    type: zigbee-replay
    path: capture.jsonl
    speed: 400
    loop: true
    resume: true
    wires: [save]
  - id: save
    type: file
    path: {output}
"""


def rewrite(path: Path, text: str) -> None:
    path.write_text(text)
    stamp = time.time() + 5  # a clearly newer mtime, whatever the file system's resolution
    os.utime(path, (stamp, stamp))


def stamps(path: Path) -> list[float]:
    return [json.loads(line)["meta"]["ts"] for line in path.read_text().splitlines()]


def test_watch_swaps_on_valid_edit_keeps_old_on_invalid_and_loses_nothing(tmp_path: Path) -> None:
    make_capture(tmp_path / "capture.jsonl", 100_000)
    flow = tmp_path / "watched.yaml"
    flow.write_text(FLOW.format(output="first.jsonl"))
    process = subprocess.Popen([*FLOWENGINE, "run", "--watch", str(flow)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for_lines(tmp_path / "first.jsonl", 50, process)
        rewrite(flow, FLOW.format(output="second.jsonl"))
        wait_for_lines(tmp_path / "second.jsonl", 50, process)
        rewrite(flow, FLOW.format(output="third.jsonl").replace("speed: 400", "sped: 400"))
        before = (tmp_path / "second.jsonl").read_bytes().count(b"\n")
        wait_for_lines(tmp_path / "second.jsonl", before + 600, process)  # still running: > 1 s later
        assert not (tmp_path / "third.jsonl").exists()
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr.decode()
    text = stderr.decode()
    assert "changed: reloaded flow 'watched'" in text
    assert "does not validate; the running flow is kept" in text
    assert "unknown config key 'sped'" in text
    first, second = stamps(tmp_path / "first.jsonl"), stamps(tmp_path / "second.jsonl")
    together = first + second
    # The capture is 1 s apart: across the swap, every record exactly once, in order.
    assert together == [1_700_000_000.0 + i for i in range(len(together))]


def test_secrets_are_redacted_from_validation_errors(tmp_path: Path) -> None:
    (tmp_path / "secrets.yaml").write_text("capture_name: hunter2-capture.jsonl\n")
    flow = tmp_path / "secret.yaml"
    flow.write_text("version: 1\nstate: memory\nnodes:\n  - id: src\n    type: zigbee-replay\n"
                    "    path: !secret capture_name\n    wires: [drop]\n  - id: drop\n    type: discard\n")
    completed = subprocess.run([*FLOWENGINE, "run", str(flow)], capture_output=True, timeout=60, check=False)
    assert completed.returncode == 1
    out = completed.stdout.decode()
    assert "capture file" in out
    assert "***" in out
    assert "hunter2" not in out + completed.stderr.decode()
