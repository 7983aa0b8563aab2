"""``delay`` across a node-by-node reload: the messages it held stay in the flow's state and the new one holds them."""

from __future__ import annotations

import asyncio
from pathlib import Path

from flowengine import Message
from flowengine.clock import EventClock
from flowengine.registry import Registry
from flowengine.runtime import FlowRun
from flowengine.testing import Capture, load_text, run_sync
from flowengine_nodes.stream.delay import Delay
from tests.engine.test_lifecycle import Feed

FLOW = """
version: 1
state: state.db
nodes:
  - id: src
    type: feed
    wires: [later]
  - id: later
    type: delay
    for: {hold}
    wires: [seen]
  - id: seen
    type: capture
"""


def test_a_replaced_delay_hands_what_it_held_to_the_new_one(tmp_path: Path) -> None:
    registry = Registry()
    for name, node_class in (("feed", Feed), ("delay", Delay), ("capture", Capture)):
        registry.register(name, node_class)
    first = load_text(tmp_path, FLOW.format(hold="10s"), registry=registry).graph
    second = load_text(tmp_path, FLOW.format(hold="20s"), registry=registry, name="second.yaml").graph
    assert first is not None
    assert second is not None
    second = type(second)(first.file, second.name, second.state_path, second.nodes, second.graph, second.secrets)

    async def scenario() -> tuple[int, list[tuple[str, float]]]:
        run = FlowRun(first, clock=EventClock(0.0))
        stop = asyncio.Event()
        running = asyncio.ensure_future(run.run(stop))
        source = run.nodes["src"]
        assert isinstance(source, Feed)
        await source.running.wait()
        source.queue.put_nowait(Message("a", 1, {"ts": 1.0}))
        await source.queue.join()
        old = run.nodes["later"]
        await run.apply(second)
        new = run.nodes["later"]
        assert new is not old
        assert isinstance(new, Delay)
        held = new.pending()
        source.queue.put_nowait(Message("b", 2, {"ts": 30.0}))  # event time passes a's release (1 + 10 s)
        await source.queue.join()
        stop.set()
        await running
        seen = run.nodes["seen"]
        assert isinstance(seen, Capture)
        return held, [(m.topic, m.meta["ts"]) for m in seen.messages]

    held, seen = run_sync(scenario())
    assert held == 1
    assert seen == [("a", 11.0)]  # released by the new delay at the time the old one set
