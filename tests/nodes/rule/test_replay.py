"""Replays give the same rule output at any speed and on every fresh run (issue 6, acceptance 1)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from flowengine.testing import run_flow

T0 = 1_732_435_200.0
FRONT = "00:15:8d:08:29:4b:42:2c"
BACK = "00:15:8d:00:01:02:03:04"
#: Real ZNMS11LM frames of the public vectors (LOCK_EXAMPLES.md).
FRAMES = {
    "finger_not_match": "182d0a11ff2300d42221",
    "password_not_match": "1c5f112e0a11ff2320a02317",
    "finger_open": "10260a10ff23c586da11",
    "password_open": "1c5f11250a10ff239bbdba22",
    "door_closed": "1c5f112c0a10ff23f0050032",
    "ring_bell": "182f0a11ff230070d0e7",
    "finger_add": "1c5f11310a01ff4209012390030011032812",
}

FLOW = """\
version: 1
name: replay
state: {state}
nodes:
  - id: radio
    type: zigbee-replay
    path: capture.jsonl
    speed: {speed}
    wires: [decode, silent]
  - id: decode
    type: decode
    friendly_names: {{"{front}": front_door, "{back}": back_door}}
    wires: {{events: [intrusion, left_open, suspicious, every_bell, quiet]}}
  - id: intrusion
    type: rule
    when: "payload.event in ['finger_not_match', 'password_not_match']"
    count: 3
    within: 2s
    cooldown: 3s
    emit:
      topic: "alerts/{{{{ meta.friendly_name }}}}/intrusion"
      payload: {{attempts: "{{{{ count }}}}", first: "{{{{ first.meta.ts }}}}", last: "{{{{ last.meta.ts }}}}"}}
    wires: [alerts]
  - id: left_open
    type: rule
    when: "payload.event in ['finger_open', 'password_open']"
    unless: "payload.event == 'door_closed'"
    within: 1500ms
    emit: {{topic: "alerts/{{{{ meta.friendly_name }}}}/left_open", payload: {{opened: "{{{{ count }}}}"}}}}
    wires: [alerts]
  - id: suspicious
    type: rule
    sequence: ["payload.event == 'finger_not_match'", "payload.event == 'finger_add'"]
    within: 2s
    wires: [alerts]
  - id: every_bell
    type: rule
    when: "payload.event == 'ring_bell'"
    key: "meta.friendly_name"
    cooldown: 1s
    wires: [limited]
  - id: limited
    type: rate-limit
    rate: 2
    per: 3s
    overflow: delay
    wires: [alerts]
  - id: quiet
    type: debounce
    for: 700ms
    wires: [alerts]
  - id: silent
    type: trigger
    within: 1200ms
    emit: {{topic: "alerts/{{{{ key }}}}/silent", payload: {{reports: "{{{{ count }}}}"}}}}
    wires: [alerts]
  - id: alerts
    type: file
    path: out/alerts.jsonl
"""


def write_capture(path: Path, count: int = 400, seed: int = 6) -> float:
    """A capture of ``count`` reports from two locks over about two minutes of event time; return its span."""
    chooser = random.Random(seed)
    events = list(FRAMES)
    weights = [6, 3, 3, 2, 2, 2, 1]
    ts = T0
    with path.open("w") as capture:
        for _ in range(count):
            ts += chooser.choice([0.0, 0.01, 0.05, 0.1, 0.1, 0.2, 0.5, 1.3])
            event = chooser.choices(events, weights)[0]
            ieee = chooser.choice([FRONT, FRONT, BACK])
            capture.write(json.dumps({
                "ts": round(ts, 3), "ieee": ieee, "nwk": "0x1a2b", "model": "lumi.lock.aq1", "manufacturer": "LUMI",
                "endpoint": 1, "profile": 260, "cluster": 257, "lqi": chooser.randrange(20, 255), "rssi": -60,
                "frame": FRAMES[event]}) + "\n")
    return ts - T0


def replay(folder: Path, speed: float, state: str = "memory") -> bytes:
    folder.mkdir()
    write_capture(folder / "capture.jsonl")
    result = run_flow(folder, FLOW.format(speed=speed, state=state, front=FRONT, back=BACK))
    assert result.summary.end_of_input
    assert not any(counters.get("errors") for counters in result.summary.counters.values())
    return (folder / "out" / "alerts.jsonl").read_bytes()


@pytest.fixture(scope="module")
def at_speed_zero(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return replay(tmp_path_factory.mktemp("replay") / "speed0", 0)


def test_the_capture_exercises_every_rule(at_speed_zero: bytes) -> None:
    topics = {json.loads(line)["topic"].split("/")[-1] for line in at_speed_zero.splitlines()}
    assert {"intrusion", "left_open", "silent", "event"} <= topics
    rules = {json.loads(line)["meta"].get("rule") for line in at_speed_zero.splitlines()}
    assert {"intrusion", "left_open", "suspicious", "every_bell", "silent"} <= rules
    assert len(at_speed_zero.splitlines()) > 50


def test_two_fresh_replays_are_byte_identical(tmp_path: Path, at_speed_zero: bytes) -> None:
    assert replay(tmp_path / "again", 0) == at_speed_zero
    assert replay(tmp_path / "durable", 0, state="state.db") == at_speed_zero


def test_a_faster_than_real_time_replay_gives_the_same_output(tmp_path: Path, at_speed_zero: bytes) -> None:
    assert replay(tmp_path / "speed50", 50) == at_speed_zero
