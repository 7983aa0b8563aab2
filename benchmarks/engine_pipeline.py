"""In-process throughput of the engine's hot path (issue: engine core).

Runs ``zigbee-replay → filter → switch → change → discard`` (and the same ending in
``file``) over a generated capture, on event time, in this process, and prints
messages/s, µs per message, and the marginal cost of each node (measured by running
the chain cut after each node). Run: ``.venv/bin/python benchmarks/engine_pipeline.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import tempfile
import time
from pathlib import Path
from typing import ClassVar

from flowengine import Message, NodeConfig, Transform
from flowengine.flow import load_flow_or_raise
from flowengine.registry import Registry
from flowengine.runtime import FlowRun

ACTIONS = ["finger_open", "finger_not_match", "password_open", "ring_bell", "lock_opened_outside"]

STAGES = {
    "filter": """
  - id: keep
    type: filter
    when: "payload.cluster == 257 and payload.lqi > 10"
    wires: [{next}]""",
    "switch": """
  - id: route
    type: switch
    property: payload.lqi
    rules:
      - {{gt: 50, port: strong}}
      - {{lt: 51, port: weak}}
    wires: {{strong: [{next}], weak: [{next}]}}""",
    "change": """
  - id: reshape
    type: change
    set:
      topic: "alerts/{{{{ meta.ieee }}}}"
      payload: {{lqi: "{{{{ payload.lqi }}}}", frame: "{{{{ payload.frame }}}}"}}
    wires: [{next}]""",
}
IDS = {"filter": "keep", "switch": "route", "change": "reshape"}


class PassConfig(NodeConfig):
    """No config."""


class Pass(Transform[PassConfig]):
    """A transform that does nothing: what remains is the engine's own per-node cost."""

    config_model: ClassVar[type[NodeConfig]] = PassConfig

    def process(self, msg: Message) -> Message | None:
        """Return the message unchanged."""
        return msg


def pass_chain(length: int) -> str:
    """A flow of replay, ``length`` no-op transforms, discard."""
    ids = [f"p{i}" for i in range(length)] + ["sink"]
    body = ["version: 1", "state: memory", "nodes:", "  - id: replay", "    type: zigbee-replay",
            "    path: capture.jsonl", f"    wires: [{ids[0]}]"]
    for i in range(length):
        body += [f"  - id: p{i}", "    type: pass", f"    wires: [{ids[i + 1]}]"]
    body += ["  - id: sink", "    type: discard"]
    return "\n".join(body) + "\n"


def make_capture(path: Path, count: int) -> None:
    """Write ``count`` raw reports shaped like the lock's."""
    with path.open("w") as out:
        for index in range(count):
            out.write(json.dumps({
                "ts": 1_732_435_200.0 + index * 0.01, "ieee": f"00:15:8d:00:01:02:03:{index % 16:02x}",
                "nwk": "0x1a2b", "model": "lumi.lock.aq1", "manufacturer": "LUMI", "endpoint": 1,
                "profile": 260, "cluster": 257, "lqi": index % 256, "rssi": -60,
                "frame": "1c5f11ee0a10ff2300000011"}) + "\n")


def flow_text(stages: list[str], sink: str) -> str:
    """Build the flow: replay, the given stages in order, then the sink."""
    ids = [IDS[s] for s in stages] + ["sink"]
    body = ["version: 1", "state: memory", "nodes:", "  - id: replay", "    type: zigbee-replay",
            "    path: capture.jsonl", f"    wires: [{ids[0]}]"]
    for position, stage in enumerate(stages):
        body.append(STAGES[stage].format(next=ids[position + 1]).strip("\n"))
    body += ["  - id: sink", f"    type: {sink}"]
    if sink == "file":
        body.append("    path: out.jsonl")
    return "\n".join(body) + "\n"


def measure(directory: Path, stages: list[str], sink: str, count: int, registry: Registry,
            text: str | None = None) -> tuple[float, float]:
    """Return (wall seconds, CPU seconds) of one run."""
    flow = directory / "bench.yaml"
    flow.write_text(text or flow_text(stages, sink))
    (directory / "out.jsonl").unlink(missing_ok=True)
    graph = load_flow_or_raise(flow, registry)
    run = FlowRun(graph)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    summary = asyncio.run(run.run())
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    assert summary.end_of_input
    return wall, cpu


def main() -> None:
    """Run every variant a few times and print the best of each."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    registry = Registry.from_entry_points()
    registry.register("pass", Pass)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        make_capture(directory / "capture.jsonl", args.messages)
        chains = [[], ["filter"], ["filter", "switch"], ["filter", "switch", "change"]]
        results: dict[str, float] = {}
        print(f"{args.messages} messages, best of {args.repeat} runs, one process, event time")
        print(f"{'pipeline':58} {'msg/s':>10} {'µs/msg':>8} {'CPU µs/msg':>11}")
        for sink in ("discard", "file"):
            for chain in chains:
                runs = [measure(directory, chain, sink, args.messages, registry) for _ in range(args.repeat)]
                wall, cpu = min(runs)
                name = " → ".join(["zigbee-replay", *chain, sink])
                results[name] = wall
                print(f"{name:58} {args.messages / wall:>10,.0f} {wall / args.messages * 1e6:>8.2f} "
                      f"{cpu / args.messages * 1e6:>11.2f}")
        print("\nmarginal cost per node (µs/msg, from the differences above, into discard):")
        previous = "zigbee-replay → discard"
        print(f"  zigbee-replay + discard (parse a JSON line, build the message): "
              f"{results[previous] / args.messages * 1e6:.2f}")
        for length in range(1, 4):
            name = " → ".join(["zigbee-replay", *chains[length], "discard"])
            cost = (results[name] - results[previous]) / args.messages * 1e6
            print(f"  {chains[length][-1]:8}: {cost:.2f}")
            previous = name
        print("\nengine overhead per node (no-op transforms chained, CPU µs/msg):")
        lengths = (0, 4, 8)
        cpu_of = {}
        for length in lengths:
            cpu_of[length] = min(measure(directory, [], "discard", args.messages, registry, pass_chain(length))[1]
                                 for _ in range(args.repeat)) / args.messages * 1e6
            print(f"  {length} no-op nodes: {cpu_of[length]:.2f}")
        print(f"  → {(cpu_of[8] - cpu_of[0]) / 8:.3f} µs per node")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"\npeak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main()
