"""Throughput of ``zigbee-replay → decode → rule → discard`` with the intrusion rule (issue 6).

Generates a capture of real ZNMS11LM lock frames from 16 locks — openings, bells, doors closed,
and failed fingerprints and passwords (a quarter of the reports) — and replays it as fast as
possible on event time, in this process. Rows: the decoder alone (baseline), then the intrusion
rule (``count: 3`` within 60 s, cooldown 5 m) with ``state: memory`` and with a state file (every
matching message commits its window to SQLite), then an absence rule with a state file.
Run: ``.venv/bin/python benchmarks/rules.py [--messages N] [--repeat R]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import tempfile
import time
from pathlib import Path

from flowengine.flow import load_flow_or_raise
from flowengine.registry import Registry
from flowengine.runtime import FlowRun

#: Real ZNMS11LM frames (public vectors, LOCK_EXAMPLES.md) and how often each occurs.
FRAMES = {
    "1c5f11250a10ff239bbdba22": 4,  # password_open
    "10260a10ff23c586da11": 6,  # finger_open
    "1c5f112c0a10ff23f0050032": 4,  # door_closed
    "182f0a11ff230070d0e7": 1,  # ring_bell
    "182d0a11ff2300d42221": 4,  # finger_not_match
    "1c5f112e0a11ff2320a02317": 1,  # password_not_match
}

HEAD = """\
version: 1
state: {state}
nodes:
  - id: replay
    type: zigbee-replay
    path: capture.jsonl
    wires: [decode]
  - id: decode
    type: decode
    legacy: false
"""
RULES = {
    "decode only": """\
    wires: {events: [sink]}
""",
    "intrusion rule": """\
    wires: {events: [intrusion]}
  - id: intrusion
    type: rule
    when: "payload.event in ['finger_not_match', 'password_not_match']"
    count: 3
    within: 60s
    cooldown: 5m
    emit:
      topic: "alerts/{{ meta.friendly_name }}/intrusion"
      payload: {attempts: "{{ count }}", first_at: "{{ first.meta.ts }}"}
    wires: [sink]
""",
    "absence rule": """\
    wires: {events: [left_open]}
  - id: left_open
    type: rule
    when: "payload.event in ['finger_open', 'password_open']"
    unless: "payload.event == 'door_closed'"
    within: 5m
    emit: {topic: "alerts/{{ meta.friendly_name }}/left_open"}
    wires: [sink]
""",
}
TAIL = """\
  - id: sink
    type: discard
"""


def make_capture(path: Path, count: int) -> None:
    """Write ``count`` raw reports from 16 locks, one every 50 ms of event time."""
    chooser = random.Random(6)
    frames, weights = list(FRAMES), list(FRAMES.values())
    with path.open("w") as out:
        for index in range(count):
            out.write(json.dumps({
                "ts": round(1_732_435_200.0 + index * 0.05, 3), "ieee": f"00:15:8d:00:01:02:03:{index % 16:02x}",
                "nwk": "0x1a2b", "model": "lumi.lock.aq1", "manufacturer": "LUMI", "endpoint": 1, "profile": 260,
                "cluster": 257, "lqi": chooser.randrange(20, 255), "rssi": -60,
                "frame": chooser.choices(frames, weights)[0]}) + "\n")


def measure(directory: Path, rule: str, state: str, registry: Registry) -> tuple[float, float, dict[str, int]]:
    """Return (wall seconds, CPU seconds, the rule's counters) of one run on a fresh state."""
    for stale in directory.glob("state.db*"):
        stale.unlink()
    flow = directory / "bench.yaml"
    flow.write_text(HEAD.format(state=state) + RULES[rule] + TAIL)
    run = FlowRun(load_flow_or_raise(flow, registry))
    cpu0, wall0 = time.process_time(), time.perf_counter()
    summary = asyncio.run(run.run())
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    assert summary.end_of_input
    counters = next((summary.counters[n] for n in ("intrusion", "left_open") if n in summary.counters), {})
    return wall, cpu, counters


def main() -> None:
    """Run every variant a few times and print the best of each."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    registry = Registry.from_entry_points()
    variants = [("decode only", "memory"), ("intrusion rule", "memory"), ("intrusion rule", "state.db"),
                ("absence rule", "state.db")]
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        make_capture(directory / "capture.jsonl", args.messages)
        print(f"{args.messages} lock reports (16 locks), best of {args.repeat} runs, one process, event time")
        print(f"{'pipeline':54} {'state':9} {'msg/s':>9} {'µs/msg':>7} {'CPU µs':>7}  rule counters")
        for rule, state in variants:
            runs = [measure(directory, rule, state, registry) for _ in range(args.repeat)]
            wall, cpu, counters = min(runs, key=lambda r: r[0])
            name = "zigbee-replay → decode → " + ("" if rule == "decode only" else f"{rule} → ") + "discard"
            shown = ", ".join(f"{k}={v}" for k, v in sorted(counters.items()))
            print(f"{name:54} {'file' if state != 'memory' else state:9} {args.messages / wall:>9,.0f} "
                  f"{wall / args.messages * 1e6:>7.1f} {cpu / args.messages * 1e6:>7.1f}  {shown}")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"\npeak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main()
