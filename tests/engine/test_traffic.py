"""Counting is exact: messages in, out per port, errors, drops; the same with the tap on; kept over a reload."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import pytest

from flowengine import Message, NodeConfig, Sink, Source
from flowengine.health import FlowHealth, Health, current_node
from flowengine.registry import Registry
from flowengine.runtime import FlowRun
from flowengine.stats import NodeStats, node_stats
from flowengine.supervision import Backoff, supervise
from flowengine.testing import load_text, registry_with_capture, run_sync
from tests.engine.test_runtime import Explode, make_capture, replay_flow

FLOW = replay_flow("""    wires: [keep]
  - id: keep
    type: filter
    when: "payload.lqi % 2 == 0"
    wires: [boom]
  - id: boom
    type: explode
    every: 10
    wires: {out: [route], errors: [failed]}
  - id: route
    type: switch
    property: payload.lqi
    rules:
      - {lt: 50, port: low}
    wires: {low: [low]}
  - id: low
    type: capture
  - id: failed
    type: file
    path: failed.jsonl
""")


@pytest.fixture
def exploding_registry() -> Registry:
    registry = registry_with_capture()
    registry.register("explode", Explode)
    return registry


def run_counted(tmp_path: Path, registry: Registry, *, tap: bool, previous: FlowRun | None = None,
                text: str = FLOW) -> tuple[FlowRun, FlowHealth]:
    loaded = load_text(tmp_path, text, registry=registry)
    assert loaded.graph is not None, loaded.errors
    health = Health().flow(loaded.graph.name)
    run = FlowRun(loaded.graph, health=health, tap=tap, previous=previous)
    if tap:  # somebody watches every node, as /api/tap would
        for traffic in run.traffic.values():
            traffic.open_tap()
    run_sync(run.run())
    return run, health


@pytest.mark.parametrize("tap", [False, True])
def test_every_count_is_exact(tmp_path: Path, exploding_registry: Registry, tap: bool) -> None:
    make_capture(tmp_path / "capture.jsonl", 200)  # lqi = index: 100 even
    run, health = run_counted(tmp_path, exploding_registry, tap=tap)
    stats = {s.node: s for s in node_stats(health)}
    assert stats["src"].received == 200
    assert stats["src"].sent == {"out": 200, "errors": 0}
    assert stats["keep"].received == 200
    assert stats["keep"].sent == {"out": 100, "errors": 0}
    assert stats["boom"].received == 100
    assert stats["boom"].sent == {"out": 90, "errors": 10}
    assert stats["boom"].errors == 10
    # lqi even and < 50, minus every 10th that exploded: 25 even values below 50, 2 of them exploded.
    low = len(run.nodes["low"].messages)  # type: ignore[attr-defined]
    assert stats["route"].received == 90
    assert stats["route"].sent == {"low": low, "errors": 0}
    assert stats["route"].events["unmatched"] == 90 - low
    assert stats["low"].received == low
    assert stats["failed"].received == 10
    assert (tmp_path / "failed.jsonl").read_text().count("\n") == 10
    recent = run.traffic["boom"].recent
    if tap:
        assert len(recent) == 20
        assert recent[-1][0] in ("out", "errors")
        assert run.traffic["boom"].taps == 100
        assert [port for port, _ in run.traffic["failed"].recent] == ["in"] * 10
        assert [port for port, _ in run.traffic["low"].recent] == ["in"] * min(low, 20)
        assert run.traffic["src"].taps == 200
    else:
        assert not recent


def test_counters_survive_a_reload_for_unchanged_nodes(tmp_path: Path, exploding_registry: Registry) -> None:
    make_capture(tmp_path / "capture.jsonl", 200)
    first, _ = run_counted(tmp_path, exploding_registry, tap=True)
    changed = FLOW.replace("every: 10", "every: 5")
    second, health = run_counted(tmp_path, exploding_registry, tap=True, previous=first, text=changed)
    stats = {s.node: s for s in node_stats(health)}
    assert stats["src"].received == 400
    assert stats["keep"].sent["out"] == 200
    assert stats["failed"].received == 10 + 20
    assert stats["boom"].received == 100  # changed: counts start again
    assert stats["boom"].errors == 20
    assert second.nodes["keep"].counters is first.nodes["keep"].counters


class Burst(Source[NodeConfig]):
    """Emits 50 messages in one go, never waiting for room (test node)."""

    config_model: ClassVar[type[NodeConfig]] = NodeConfig
    live: ClassVar[bool] = False

    async def run(self) -> None:
        for number in range(50):
            self.emit(Message("burst", number, {}))


class Tiny(Sink[NodeConfig]):
    """A sink with a 4-message channel (test node)."""

    config_model: ClassVar[type[NodeConfig]] = NodeConfig
    capacity = 4  # the base class declares it (an int the engine reads per node)
    written: ClassVar[list[object]] = []

    async def write(self, batch: Sequence[Message]) -> None:
        self.written.extend(msg.payload for msg in batch)


def test_channel_drops_are_counted_by_reason(tmp_path: Path, registry: Registry) -> None:
    registry.register("burst", Burst)
    registry.register("tiny", Tiny)
    text = "version: 1\nstate: memory\nnodes:\n  - {id: src, type: burst, wires: [out]}\n  - {id: out, type: tiny}\n"
    loaded = load_text(tmp_path, text, registry=registry)
    assert loaded.graph is not None, loaded.errors
    root = Health()
    health = root.flow(loaded.graph.name)
    run = FlowRun(loaded.graph, health=health)
    live: list[NodeStats] = []

    async def go() -> None:
        task = asyncio.ensure_future(run.run())
        while not health.ended:
            await root.wait_change()
            live.extend(s for s in node_stats(health) if s.node == "out")
        await task

    run_sync(go())
    assert Tiny.written == [0, 1, 2, 3]
    assert live[-1].dropped == {"queue_full": 46}  # while running: read from the channel
    final = next(s for s in node_stats(health) if s.node == "out")
    assert final.received == 50
    assert final.dropped == {"queue_full": 46}
    assert run.nodes["out"].counters["dropped"] == 46


def test_supervise_reports_to_the_health_of_the_node_running_it() -> None:
    health = Health()
    flow = health.flow("f")
    flow.mark_started()
    assert health.ready
    seen: list[str] = []
    health.listen(lambda: seen.append(health.summary()))

    async def go() -> None:
        gate = asyncio.Event()

        async def serve(connected: object) -> None:
            assert callable(connected)
            connected()
            await gate.wait()
            raise ConnectionError("broker gone")

        current_node.set((flow, "in"))
        task = asyncio.ensure_future(supervise(serve, name="mqtt-in 'in'", logger=logging.getLogger("t"),
                                               backoff=Backoff(base=10, cap=10)))
        await health.wait_ready()
        while flow.connected("in") is not True:
            await health.wait_change()
        gate.set()
        while flow.connected("in"):
            await health.wait_change()
        assert not health.ready
        assert health.reasons() == ["node 'in': mqtt-in 'in' disconnected (broker gone)"]
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run_sync(go())
    assert any(line.startswith("not ready: node 'in'") for line in seen), seen
    assert flow.connected("other") is None
