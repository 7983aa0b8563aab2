"""Decodes per second through ``zigbee-replay → decode → discard`` (issue: ZNMS11LM decoder).

Replays a generated capture of realistic ZNMS11LM reports (openings, failed fingerprints,
the bell, user added) in one process on event time, with the decoder's state cache on
(the default) and off, and prints messages/s and µs per message. The source alone is
measured too, so the decoder's own share can be read off.
Run: ``.venv/bin/python benchmarks/decode.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

from flowengine.flow import load_flow_or_raise
from flowengine.registry import Registry
from flowengine.runtime import FlowRun

#: Frames a real ZNMS11LM sends (LOCK_EXAMPLES.md): opens by fingerprint and password,
#: a failed fingerprint with its repeat count, the bell, a fingerprint added.
FRAMES = [
    "1c5f11ee0a10ff2300000011",  # finger_open_admin_id0
    "1c5f11ef0a10ff2310000022",  # password_open_user_id1
    "1c5f114c0a11ff2300040010",  # failed fingerprint, repeat 1
    "1c5f11500a11ff2300000010",  # bell
    "108c0a01ff42060123100000" + "12",  # finger_add via 0xFF01 MI_STRUCT
]


def make_capture(path: Path, count: int) -> None:
    """Write ``count`` raw reports cycling over :data:`FRAMES` and eight locks."""
    with path.open("w") as out:
        for index in range(count):
            out.write(json.dumps({
                "ts": 1_732_435_200.0 + index * 0.01, "ieee": f"00:15:8d:00:01:02:03:{index % 8:02x}",
                "nwk": "0x1a2b", "model": "lumi.lock.aq1", "manufacturer": "LUMI", "endpoint": 1,
                "profile": 260, "cluster": 257, "lqi": 40 + index % 200, "rssi": -60,
                "frame": FRAMES[index % len(FRAMES)]}) + "\n")


def run_once(directory: Path, registry: Registry, decode: str | None) -> tuple[float, float]:
    """Return (wall, CPU) seconds for one run; ``decode`` is the decode node's extra config."""
    nodes = ["  - id: replay", "    type: zigbee-replay", "    path: capture.jsonl"]
    if decode is None:
        nodes += ["    wires: [sink]"]
    else:
        nodes += ["    wires: [decode]", "  - id: decode", "    type: decode", f"    {decode}",
                  "    wires: {out: [sink], events: [sink]}"]
    nodes += ["  - id: sink", "    type: discard"]
    flow = directory / "decode-bench.yaml"
    flow.write_text("version: 1\nstate: memory\nnodes:\n" + "\n".join(nodes) + "\n")
    run = FlowRun(load_flow_or_raise(flow, registry))
    cpu0, wall0 = time.process_time(), time.perf_counter()
    summary = asyncio.run(run.run())
    assert summary.end_of_input
    assert not summary.counters.get("decode", {}).get("errors")
    return time.perf_counter() - wall0, time.process_time() - cpu0


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    registry = Registry.from_entry_points()
    variants = {
        "zigbee-replay → discard (source alone)": None,
        "zigbee-replay → decode → discard (cache_state: true)": "cache_state: true",
        "zigbee-replay → decode → discard (cache_state: false)": "cache_state: false",
        "zigbee-replay → decode → discard (compat: 2)": "compat: 2",
    }
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        make_capture(directory / "capture.jsonl", args.messages)
        print(f"{args.messages} ZNMS11LM reports, best of {args.repeat}, one process, event time")
        print(f"{'pipeline':56} {'msg/s':>9} {'µs/msg':>7} {'CPU µs/msg':>10}")
        for name, decode in variants.items():
            wall, cpu = min(run_once(directory, registry, decode) for _ in range(args.repeat))
            print(f"{name:56} {args.messages / wall:>9,.0f} {wall / args.messages * 1e6:>7.2f} "
                  f"{cpu / args.messages * 1e6:>10.2f}")


if __name__ == "__main__":
    main()
