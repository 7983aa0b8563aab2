"""The node lifecycle the engine owns: tasks in the flow's group, readiness, timers, drain, reload (issue 14)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

from flowengine import Holding, Message, NodeConfig, NodeContext, NodeError, Sink, Source, TaskStatus, Transform
from flowengine.clock import EventClock
from flowengine.health import Health, report_connection
from flowengine.registry import Registry
from flowengine.runtime import FlowRun
from flowengine.stats import node_stats
from flowengine.testing import Capture, load_text, run_sync


class FeedConfig(NodeConfig):
    """Nothing to configure."""


class Feed(Source[FeedConfig]):
    """A live source the test drives: what it puts in ``queue`` goes out."""

    config_model: ClassVar[type[NodeConfig]] = FeedConfig

    def __init__(self, config: FeedConfig, context: NodeContext) -> None:
        super().__init__(config, context)
        self.queue: asyncio.Queue[Message] = asyncio.Queue()
        self.running = asyncio.Event()

    async def run(self) -> None:
        self.running.set()
        while True:
            self.emit(await self.queue.get())
            self.queue.task_done()


class HoldConfig(NodeConfig):
    """How long to hold each message."""

    after: float = 10.0


class Hold(Transform[HoldConfig]):
    """Emits each message ``after`` seconds later, on an engine-owned timer."""

    config_model: ClassVar[type[NodeConfig]] = HoldConfig

    def __init__(self, config: HoldConfig, context: NodeContext) -> None:
        super().__init__(config, context)
        self.schedule = context.schedule()

    def process(self, msg: Message) -> None:
        self.schedule.add(self.context.clock.now() + self.config.after, lambda: self.emit(msg))


class Count(Transform[FeedConfig]):
    """Counts what passes, in memory (state a restart would lose)."""

    config_model: ClassVar[type[NodeConfig]] = FeedConfig

    def __init__(self, config: FeedConfig, context: NodeContext) -> None:
        super().__init__(config, context)
        self.seen = 0

    def process(self, msg: Message) -> Message:
        self.seen += 1
        return msg


class LinkConfig(NodeConfig):
    """Whether the link comes up when the node starts."""

    up: bool = False


class Link(Transform[LinkConfig]):
    """Passes messages on; reports one connection while it starts: ``old`` still connecting, or ``new`` up."""

    config_model: ClassVar[type[NodeConfig]] = LinkConfig

    async def start(self) -> None:
        if self.config.up:
            report_connection("new", "connected", "")
        else:
            report_connection("old", "connecting", "")

    def process(self, msg: Message) -> Message:
        return msg


class ReadyConfig(NodeConfig):
    """How the background task behaves before it is ready."""

    mode: str = "ready"


class Ready(Sink[ReadyConfig]):
    """A sink whose ``start`` waits for its background task (the readiness handshake)."""

    config_model: ClassVar[type[NodeConfig]] = ReadyConfig
    inline = True

    def __init__(self, config: ReadyConfig, context: NodeContext) -> None:
        super().__init__(config, context)
        self.failing = asyncio.Event()

    async def start(self) -> None:
        self.port = await self.context.start_task(self._serve, name=f"{self.id}:serve")

    async def _serve(self, task_status: TaskStatus) -> None:
        if self.config.mode == "raise":
            raise OSError("port in use")
        if self.config.mode == "ready":
            task_status.started(1883)
            await asyncio.Event().wait()
        if self.config.mode == "fail-later":
            task_status.started(1883)
            self.failing.set()
            raise RuntimeError("lost it")

    def write_now(self, msg: Message) -> None:
        pass


class Stuck(Sink[FeedConfig]):
    """A sink that never finishes a write: the drain deadline ends it."""

    config_model: ClassVar[type[NodeConfig]] = FeedConfig
    drain_timeout = 0.05

    def __init__(self, config: FeedConfig, context: NodeContext) -> None:
        super().__init__(config, context)
        self.writing = asyncio.Event()

    async def write(self, batch: Sequence[Message]) -> None:
        self.writing.set()
        await asyncio.Event().wait()


@pytest.fixture
def registry() -> Registry:
    registry = Registry()
    for name, node_class in (("feed", Feed), ("hold", Hold), ("count", Count), ("capture", Capture),
                             ("ready", Ready), ("stuck", Stuck), ("link", Link)):
        registry.register(name, node_class)
    return registry


FLOW = """
version: 1
state: memory
nodes:
  - id: src
    type: feed
    wires: [hold, count]
  - id: hold
    type: hold
    after: {after}
    wires: [late]
  - id: count
    type: count
    wires: [seen]
  - id: late
    type: capture
  - id: seen
    type: capture
"""


def _node(run: FlowRun, node_id: str) -> Any:
    return run.nodes[node_id]


def test_apply_replaces_only_the_changed_node_and_cancels_its_timers(tmp_path: Path, registry: Registry) -> None:
    first = load_text(tmp_path, FLOW.format(after=10), registry=registry).graph
    second = load_text(tmp_path, FLOW.format(after=20), registry=registry, name="second.yaml").graph
    assert first is not None
    assert second is not None
    second = type(second)(first.file, second.name, second.state_path, second.nodes, second.graph, second.secrets)
    clock = EventClock(0.0)

    async def scenario() -> tuple[list[Message], int, set[str], dict[str, dict[str, int]]]:
        run = FlowRun(first, clock=clock)
        stop = asyncio.Event()
        running = asyncio.ensure_future(run.run(stop))
        source, count, seen = _node(run, "src"), _node(run, "count"), _node(run, "seen")
        await source.running.wait()
        source.queue.put_nowait(Message("a", 1, {}))
        await source.queue.join()
        old_hold = _node(run, "hold")
        changed = await run.apply(second)
        assert _node(run, "hold") is not old_hold
        assert _node(run, "count") is count
        assert _node(run, "seen") is seen
        assert _node(run, "src") is source
        clock.advance(15.0)  # the old hold's timer (due at 10) was cancelled with it
        early = list(_node(run, "late").messages)
        source.queue.put_nowait(Message("b", 2, {}))
        await source.queue.join()
        clock.advance(35.0)  # the new hold's timer: 15 + 20
        stop.set()
        summary = await running
        assert early == []
        return _node(run, "late").messages, count.seen, changed, summary.counters

    late, counted, changed, counters = run_sync(scenario())
    assert changed == {"hold"}
    assert [m.topic for m in late] == ["b"]
    assert counted == 2
    assert set(counters) == {"src", "hold", "count", "late", "seen"}


LINKED = """
version: 1
state: memory
nodes:
  - id: src
    type: feed
    wires: [count]
  - id: count
    type: count
    wires: [link]
  - id: link
    type: link
    up: {up}
    wires: [seen]
  - id: seen
    type: capture
"""


def test_apply_counts_on_the_new_wiring_keeps_the_kept_nodes_counts_and_tells_health(
        tmp_path: Path, registry: Registry) -> None:
    first = load_text(tmp_path, LINKED.format(up="false"), registry=registry).graph
    second = load_text(tmp_path, LINKED.format(up="true"), registry=registry, name="second.yaml").graph
    assert first is not None
    assert second is not None
    second = type(second)(first.file, second.name, second.state_path, second.nodes, second.graph, second.secrets)
    health = Health().flow(first.name)

    async def send(run: FlowRun, topic: str) -> None:
        source = _node(run, "src")
        source.queue.put_nowait(Message(topic, 1, {}))
        await source.queue.join()

    async def scenario() -> None:
        run = FlowRun(first, clock=EventClock(0.0), health=health)
        stop = asyncio.Event()
        running = asyncio.ensure_future(run.run(stop))
        await _node(run, "src").running.wait()
        await send(run, "a")
        await send(run, "b")
        assert health.reasons() == ["node 'link': old connecting"]
        kept = {node_id: run.traffic[node_id] for node_id in ("src", "count", "seen")}
        old_link = run.traffic["link"]
        assert old_link.received_now() == 2
        assert await run.apply(second) == {"link"}
        assert health.ready  # the new link reported while it started; the old one's connection is gone
        assert set(health.connections["link"]) == {"new"}
        await send(run, "c")
        stats = {s.node: s for s in node_stats(health)}
        assert all(run.traffic[node_id] is traffic for node_id, traffic in kept.items())
        assert run.traffic["link"] is not old_link
        assert stats["src"].sent["out"] == 3
        assert stats["count"].received == 3
        assert stats["count"].sent["out"] == 3
        assert stats["link"].received == 1  # the new instance counts from its start
        assert stats["link"].sent["out"] == 1
        assert stats["seen"].received == 3  # fed by the old link, then by the new one
        stop.set()
        await running

    run_sync(scenario())


def test_start_task_returns_what_the_task_says_once_ready(tmp_path: Path, registry: Registry) -> None:
    loaded = load_text(tmp_path, "version: 1\nstate: memory\nnodes:\n  - id: src\n    type: feed\n"
                                 "    wires: [sink]\n  - id: sink\n    type: ready\n", registry=registry)
    graph = loaded.graph
    assert graph is not None  # a name, not the attribute: the narrowing reaches scenario()

    async def scenario() -> int:
        run = FlowRun(graph, clock=EventClock(0.0))
        stop = asyncio.Event()
        running = asyncio.ensure_future(run.run(stop))
        await _node(run, "src").running.wait()
        port = int(_node(run, "sink").port)
        stop.set()
        await running  # the waiting task is cancelled with its node: run_sync checks none is left
        return port

    assert run_sync(scenario()) == 1883


@pytest.mark.parametrize(("mode", "reason"), [("raise", "port in use"), ("end", "ended before it was ready")])
def test_a_task_that_fails_before_ready_fails_the_start(tmp_path: Path, registry: Registry, mode: str,
                                                        reason: str) -> None:
    loaded = load_text(tmp_path, f"version: 1\nstate: memory\nnodes:\n  - id: src\n    type: feed\n"
                                 f"    wires: [sink]\n  - id: sink\n    type: ready\n    mode: {mode}\n",
                       registry=registry)
    assert loaded.graph is not None
    with pytest.raises(NodeError, match=reason):
        run_sync(FlowRun(loaded.graph, clock=EventClock(0.0)).run())


def test_a_task_failing_after_ready_is_counted_not_fatal(tmp_path: Path, registry: Registry) -> None:
    loaded = load_text(tmp_path, "version: 1\nstate: memory\nnodes:\n  - id: src\n    type: feed\n"
                                 "    wires: [sink]\n  - id: sink\n    type: ready\n    mode: fail-later\n",
                       registry=registry)
    graph = loaded.graph
    assert graph is not None

    async def scenario() -> dict[str, int]:
        run = FlowRun(graph, clock=EventClock(0.0))
        stop = asyncio.Event()
        running = asyncio.ensure_future(run.run(stop))
        sink = _node(run, "sink")
        await _node(run, "src").running.wait()
        await sink.failing.wait()  # the task raised right after: counted in the same step
        stop.set()
        return (await running).counters["sink"]

    assert run_sync(scenario()) == {"errors": 1}


def test_a_sink_that_cannot_drain_is_cut_at_its_deadline_and_counts_what_it_held(
    tmp_path: Path, registry: Registry
) -> None:
    loaded = load_text(tmp_path, "version: 1\nstate: memory\nnodes:\n  - id: src\n    type: feed\n"
                                 "    wires: [sink]\n  - id: sink\n    type: stuck\n", registry=registry)
    graph = loaded.graph
    assert graph is not None

    async def scenario() -> dict[str, int]:
        run = FlowRun(graph, clock=EventClock(0.0))
        stop = asyncio.Event()
        running = asyncio.ensure_future(run.run(stop))
        source = _node(run, "src")
        await source.running.wait()
        for number in range(5):
            source.queue.put_nowait(Message("t", number, {}))
        await source.queue.join()
        await _node(run, "sink").writing.wait()  # the first batch is taken; its write never ends
        source.queue.put_nowait(Message("t", 5, {}))
        await source.queue.join()
        stop.set()
        return (await running).counters["sink"]

    counters = run_sync(scenario())
    assert counters == {"dropped": 1}


class GateConfig(NodeConfig):
    """A tag, so that a reload that changes it replaces the sink."""

    tag: int = 0


class Gate(Sink[GateConfig]):
    """A channel-fed sink whose writes wait until the test opens ``gate`` (never, for a stuck one)."""

    config_model: ClassVar[type[NodeConfig]] = GateConfig
    drain_timeout = 0.05

    def __init__(self, config: GateConfig, context: NodeContext) -> None:
        super().__init__(config, context)
        self.gate = asyncio.Event()
        self.written: list[Message] = []

    async def write(self, batch: Sequence[Message]) -> None:
        await self.gate.wait()
        self.written.extend(batch)


GATED = """
version: 1
state: memory
nodes:
  - id: src
    type: feed
    wires: [out]
  - id: out
    type: gate
    tag: {tag}
"""


def test_apply_gives_new_nodes_the_acknowledgement_hook_and_retires_the_old_channel(
        tmp_path: Path, registry: Registry) -> None:
    """A checkpoint over a replaced sink's channel passes once it is dropped; the new sink's hold it back."""
    registry.register("gate", Gate)
    first = load_text(tmp_path, GATED.format(tag=1), registry=registry).graph
    second = load_text(tmp_path, GATED.format(tag=2), registry=registry, name="second.yaml").graph
    assert first is not None
    assert second is not None
    second = type(second)(first.file, second.name, second.state_path, second.nodes, second.graph, second.secrets)

    async def scenario() -> tuple[list[str], list[Message], list[Message], list[str]]:
        run = FlowRun(first, clock=EventClock(0.0))
        stop = asyncio.Event()
        running = asyncio.ensure_future(run.run(stop))
        source = _node(run, "src")
        await source.running.wait()
        acked: list[str] = []
        before, after = asyncio.Event(), asyncio.Event()

        def ack(name: str, done: asyncio.Event | None = None) -> None:
            acked.append(name)
            if done is not None:
                done.set()

        source.queue.put_nowait(Message("a", 1, {}))  # the old sink never writes it
        await source.queue.join()
        source.when_durable(lambda: ack("before", before))
        assert acked == []
        old = _node(run, "out")
        await run.apply(second)
        await asyncio.wait_for(before.wait(), 5)  # the old channel was settled (its rest dropped)
        new = _node(run, "out")
        assert new is not old
        source.queue.put_nowait(Message("b", 2, {}))
        await source.queue.join()
        new.when_durable(lambda: ack("new sink"))
        source.when_durable(lambda: ack("source", after))
        held = list(acked)
        new.gate.set()
        await asyncio.wait_for(after.wait(), 5)
        stop.set()
        await running
        return held, new.written, old.written, acked

    held, written, old_written, acked = run_sync(scenario())
    assert held == ["before"]  # the new sink's and the source's callbacks waited for the new sink's write
    assert [m.topic for m in written] == ["b"]
    assert old_written == []  # "a" never became durable, yet its checkpoint did not block the flow
    assert acked == ["before", "new sink", "source"]


class Taker(Source[FeedConfig]):
    """A source that takes messages wired into it, keeping each (held) until the test takes it."""

    config_model: ClassVar[type[NodeConfig]] = FeedConfig
    accepts_input: ClassVar[bool] = True
    holding: Holding

    def __init__(self, config: FeedConfig, context: NodeContext) -> None:
        super().__init__(config, context)
        self.holding = Holding()
        self.kept: list[Message] = []

    def receive(self, msg: Message) -> None:
        self.kept.append(msg)
        self.holding.hold()

    async def run(self) -> None:
        await asyncio.Event().wait()


HELD = """
version: 1
state: memory
nodes:
  - id: src
    type: feed
    wires: [taker]
  - id: taker
    type: taker
"""


def test_a_source_is_acknowledged_only_once_what_a_wired_source_holds_is_released(
        tmp_path: Path, registry: Registry) -> None:
    """``Source.holding`` is a place of every checkpoint: the feed's acknowledgement waits for the release."""
    registry.register("taker", Taker)
    graph = load_text(tmp_path, HELD, registry=registry).graph
    assert graph is not None

    async def scenario() -> list[str]:
        run = FlowRun(graph, clock=EventClock(0.0))
        stop = asyncio.Event()
        running = asyncio.ensure_future(run.run(stop))
        source, taker = _node(run, "src"), _node(run, "taker")
        await source.running.wait()
        acked: list[str] = []
        released = asyncio.Event()
        for name in ("a", "b"):
            source.queue.put_nowait(Message(name, 1, {}))
            await source.queue.join()
            source.when_durable(lambda name=name: acked.append(name))
        assert [m.topic for m in taker.kept] == ["a", "b"]
        assert acked == []  # both held
        source.when_durable(released.set)
        taker.holding.release()
        assert acked == ["a"]  # the first taken: its checkpoint passes, the second's still waits
        taker.holding.release()
        await asyncio.wait_for(released.wait(), 5)
        stop.set()
        await running
        return acked

    assert run_sync(scenario()) == ["a", "b"]
