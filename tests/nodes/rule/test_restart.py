"""SIGKILL the runner mid-window and mid-timer, restart it: every alert fires exactly once (acceptance 2).

The flow replays a capture at four times real time with ``resume: true`` and a state file, and writes
both the raw reports and the alerts to one file (``out.jsonl``): the raw line of a report is written
after the alerts that report caused, so the number of raw lines tells how far the run got. The test
waits for a given count, kills the process with SIGKILL (no drain, no close), and starts it again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

T0 = 1_732_435_200.0
IEEE = "00:15:8d:08:29:4b:42:2c"
FAIL = "182d0a11ff2300d42221"  # finger_not_match (real ZNMS11LM frame)
OPEN = "10260a10ff23c586da11"  # finger_open
CLOSED = "1c5f112c0a10ff23f0050032"  # door_closed
BELL = "182f0a11ff230070d0e7"  # ring_bell

#: (event time offset, frame); kill after the reports marked True.
CAPTURE = [
    (0, FAIL, False),
    (1, FAIL, True),  # kill 1: an intrusion window holds two of three failures
    (2, FAIL, False),  # -> intrusion at 2
    (3, OPEN, False),  # absence timer, deadline 7
    (4, BELL, True),  # kill 2: the timer is pending
    (8, FAIL, False),  # -> left_open at 7 fires first, when the replay passes 7
    (9, FAIL, False),
    (10, FAIL, True),  # -> intrusion at 10; kill 3 right after an alert
    (11, OPEN, False),  # deadline 15
    (12, CLOSED, False),  # cancelled
    (13, OPEN, False),  # deadline 17: the capture ends first -> fires at 17
]
EXPECTED = [("alerts/intrusion", T0 + 2), ("alerts/left_open", T0 + 7), ("alerts/intrusion", T0 + 10),
            ("alerts/left_open", T0 + 17)]

FLOW = """\
version: 1
name: restart
state: state.db
nodes:
  - id: radio
    type: zigbee-replay
    path: capture.jsonl
    speed: 4
    resume: true
    wires: [decode, out]
  - id: decode
    type: decode
    wires: {events: [intrusion, left_open]}
  - id: intrusion
    type: rule
    when: "payload.event == 'finger_not_match'"
    count: 3
    within: 10s
    emit: {topic: alerts/intrusion, payload: {first: "{{ first.meta.ts }}", attempts: "{{ count }}"}}
    wires: [out]
  - id: left_open
    type: rule
    when: "payload.event == 'finger_open'"
    unless: "payload.event == 'door_closed'"
    within: 4s
    emit: {topic: alerts/left_open, payload: {since: "{{ meta.ts }}"}}
    wires: [out]
  - id: out
    type: file
    path: out.jsonl
    fsync: never  # the replay's position follows the line at once: a kill after it sees no duplicate
"""


def lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def reports(path: Path) -> int:
    return sum(1 for line in lines(path) if line["topic"].startswith("zigbee/"))


def run(folder: Path, run_number: int, kill_at: int | None) -> int:
    """Run the flow; with ``kill_at``, SIGKILL it once that many reports are out. Return the exit code.

    The output file is the only progress signal the runner gives, so it is polled.
    """
    log = folder / f"run{run_number}.log"
    with log.open("wb") as stderr, subprocess.Popen(
            [sys.executable, "-m", "flowengine.cli", "run", "flow.yaml"], cwd=folder,
            stdout=subprocess.DEVNULL, stderr=stderr) as process:
        if kill_at is None:
            code = process.wait(60)
            assert code == 0, log.read_text()
            return code
        deadline = time.monotonic() + 60
        while reports(folder / "out.jsonl") < kill_at:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the runner made no progress"
            time.sleep(0.005)
        os.kill(process.pid, signal.SIGKILL)
        return process.wait(10)


def test_alerts_fire_exactly_once_across_kills(tmp_path: Path) -> None:
    (tmp_path / "flow.yaml").write_text(FLOW)
    with (tmp_path / "capture.jsonl").open("w") as capture:
        for offset, frame, _ in CAPTURE:
            capture.write(json.dumps({"ts": T0 + offset, "ieee": IEEE, "nwk": "0x208f", "model": "lumi.lock.aq1",
                                      "manufacturer": "LUMI", "endpoint": 1, "profile": 260, "cluster": 257,
                                      "lqi": 100, "rssi": -60, "frame": frame}) + "\n")
    out = tmp_path / "out.jsonl"
    kill_points = [index + 1 for index, (_, _, kill) in enumerate(CAPTURE) if kill]
    for number, count in enumerate(kill_points):
        assert run(tmp_path, number, kill_at=count) == -signal.SIGKILL
        # The kill came between two reports: the next one was neither processed nor written.
        assert reports(out) == count
    run(tmp_path, len(kill_points), kill_at=None)

    written = lines(out)
    assert [line["payload"]["ts"] - T0 for line in written if line["topic"].startswith("zigbee/")] == [
        offset for offset, _, _ in CAPTURE]
    alerts = [(line["topic"], line["meta"]["ts"]) for line in written if line["topic"].startswith("alerts/")]
    assert alerts == EXPECTED
    by_topic = {line["meta"]["ts"] - T0: line["payload"] for line in written if line["topic"].startswith("alerts/")}
    assert by_topic[2] == {"first": T0, "attempts": 3}
    assert by_topic[7] == {"since": T0 + 3}
    assert by_topic[10] == {"first": T0 + 8, "attempts": 3}
