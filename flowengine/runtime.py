"""Running one flow: instantiate nodes, wire them, drive their lifecycle (STYLE.md conventions 3-5).

A :class:`FlowRun` owns one ``asyncio.TaskGroup``. Transforms are called directly on the
hot path: wiring compiles every port into a plain function that calls the next node, so
a message crosses a chain of transforms without a queue hop. Sinks sit behind bounded
:class:`~flowengine.channel.Channel` s and are fed in batches by one task each.

Lifecycle: start sinks → transforms → sources; run sources until they are all done (a
finite input is exhausted) or a stop is requested; at the end of input fire pending
timers and flush transforms; close the channels so sinks drain; close every node with
a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from flowengine.acks import Acknowledgements
from flowengine.channel import Channel
from flowengine.clock import Clock, EventClock, WallClock
from flowengine.errors import NodeError
from flowengine.graph import FlowGraph, NodeSpec
from flowengine.health import FlowHealth, current_node
from flowengine.inputs import Upstream, channel_input, fan_out, inline_sink_input, nothing, transform_input
from flowengine.message import Message
from flowengine.node import ERRORS_PORT, OUT_PORT, Node, NodeContext, Sink, Source, Transform
from flowengine.sinkwrite import write_durably
from flowengine.state import StateStore
from flowengine.traffic import Traffic

logger = logging.getLogger("flowengine.runtime")

Deliver = Callable[[Message], object]
#: How many failures of one node are logged in full; the rest are counted (see the summary).
LOGGED_FAILURES = 20
#: Deadline for one node's ``start`` and ``aclose`` unless the node asks for more.
LIFECYCLE_TIMEOUT = 30.0


async def cancel_and_wait(*tasks: asyncio.Future[Any]) -> None:
    """Cancel helper tasks and wait until they have finished (no task outlives its owner)."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


@dataclass
class RunSummary:
    """What a finished run reports: per-node counters and how it ended."""

    flow: str
    counters: dict[str, dict[str, int]] = field(default_factory=dict)
    end_of_input: bool = False
    seconds: float = 0.0


class FlowRun:
    """One flow, instantiated and wired, ready to :meth:`run` once."""

    def __init__(self, flow: FlowGraph, *, clock: Clock | None = None,
                 store: StateStore | None = None, health: FlowHealth | None = None,
                 tap: bool = False, previous: FlowRun | None = None) -> None:
        """Instantiate every enabled node of ``flow`` and wire the ports.

        ``clock`` defaults to the wall clock when any source is live, else to event time;
        ``store`` defaults to the flow's ``state`` file. ``health`` receives readiness and
        the connection states of the nodes; ``tap`` keeps each node's latest messages (the
        HTTP debug tap); ``previous`` is the run this one replaces (a hot reload): its
        unchanged nodes keep their counters.
        """
        self.flow = flow
        specs = list(flow.enabled())
        self.specs = {spec.id: spec for spec in specs}
        live = any(spec.role == "source" and getattr(spec.node_class, "live", True) for spec in specs)
        self.clock: Clock = clock or (WallClock() if live else EventClock())
        self.store = store or StateStore(flow.state_path)
        self.nodes: dict[str, Node[Any]] = {}
        self.channels: dict[str, Channel[Message]] = {}
        self.health = health
        self.traffic: dict[str, Traffic] = {}
        self._channel_drops_counted = False
        for spec in specs:
            context = NodeContext(node_id=spec.id, flow_name=flow.name, flow_dir=flow.flow_dir,
                                  clock=self.clock, state=self.store.node(spec.id),
                                  logger=logging.getLogger(f"flowengine.{flow.name}.{spec.id}"))
            ports = (*spec.node_class.output_ports(spec.config), ERRORS_PORT)
            traffic = self.traffic[spec.id] = Traffic(ports, tap=tap)
            kept = previous.nodes.get(spec.id) if previous is not None else None
            if previous is not None and kept is not None and _unchanged(previous.specs[spec.id], spec):
                context.counters = kept.counters
                traffic.carry(previous.traffic[spec.id])
            self.nodes[spec.id] = spec.node_class(spec.config, context)
        self._wire(specs)
        # Delivery (docs/delivery.md): sources' checkpoints over every sink channel's watermarks.
        self.acks = Acknowledgements(list(self.channels.values()))
        for node in self.nodes.values():
            node._checkpoint = self.acks.checkpoint  # noqa: SLF001 - delivery hook (flowengine.acks)

    # Wiring -----------------------------------------------------------------------------

    def _wire(self, specs: list[NodeSpec]) -> None:
        """Bind every port straight to the next nodes' input functions (counting folded in: :mod:`inputs`)."""
        factories: dict[str, Callable[[Upstream], Deliver]] = {}
        plain: dict[str, Deliver] = {}
        inputs = Counter(target for spec in specs for targets in spec.wires.values() for target in targets
                         if target in self.specs)

        def targets_of(spec: NodeSpec, traffic: Traffic, port: str) -> Deliver:
            wired = [t for t in spec.wires.get(port, ()) if t in self.specs]
            if not wired:
                return traffic.counting(port, nothing)  # counted even when it goes nowhere
            found: list[Deliver] = []
            for index, target in enumerate(wired):
                upstream: Upstream = (traffic, port) if index == 0 else None  # one edge counts the port
                if target in factories:
                    target_traffic = self.traffic[target]
                    if (upstream is not None and inputs[target] == 1 and target_traffic.channel is None
                            and not target_traffic.tappable):
                        target_traffic.derive_from(traffic, port)  # its only input: counted once
                    found.append(factories[target](upstream))
                    continue
                late = self._late(plain, target)
                found.append(traffic.counting(port, late) if upstream is not None else late)
            return fan_out(found)

        # Downstream first, so that each port binds straight to the next node's function.
        for spec in reversed(specs):
            node = self.nodes[spec.id]
            traffic = self.traffic[spec.id]
            out: Deliver = nothing
            for port in (*spec.node_class.output_ports(spec.config), ERRORS_PORT):
                deliver = targets_of(spec, traffic, port)
                if port == OUT_PORT:
                    out = deliver
                node.bind_output(port, deliver)
            factory = self._input_factory(spec, node, traffic, out)
            factories[spec.id] = factory
            plain[spec.id] = factory(None)

    @staticmethod
    def _late(plain: dict[str, Deliver], target: str) -> Deliver:
        """A trampoline for a wire into a node not built yet (only on allowed cycles)."""
        return lambda msg: plain[target](msg)

    def _input_factory(self, spec: NodeSpec, node: Node[Any], traffic: Traffic, out: Deliver
                       ) -> Callable[[Upstream], Deliver]:
        """Return what builds the node's input function for one incoming edge."""
        fail = self._failure_handler(spec.id, node)
        if isinstance(node, Transform):
            return lambda upstream: transform_input(node, traffic, out, fail, upstream)
        if isinstance(node, Sink):
            if node.inline:
                return lambda upstream: inline_sink_input(node, traffic, fail, upstream)
            capacity = int(getattr(node.config, "capacity", None) or node.capacity)
            channel: Channel[Message] = Channel(capacity, "drop_newest")
            self.channels[spec.id] = channel
            traffic.channel = channel  # the channel counts what the sink is offered; the feeder taps it
            return lambda upstream: channel_input(channel, upstream)
        # A source fed by a wire (allowed by no built-in) ignores its input.
        return lambda upstream: upstream[0].counting(upstream[1], nothing) if upstream is not None else nothing

    def _failure_handler(self, node_id: str, node: Node[Any]) -> Callable[[Message, Exception], None]:
        counters = node.counters
        node_logger = node.logger

        def fail(msg: Message, exc: Exception) -> None:
            counters["errors"] += 1
            seen = counters["errors"]
            if seen <= LOGGED_FAILURES:
                node_logger.warning("node '%s' failed on a message (topic %r): %s: %s", node_id,
                                    msg.topic, type(exc).__name__, exc)
                if seen == LOGGED_FAILURES:
                    node_logger.warning("node '%s': further failures are counted, not logged", node_id)
            error = {"node": node_id, "type": type(exc).__name__, "message": str(exc)}
            node.emitter(ERRORS_PORT)(msg.evolve(meta={**msg.meta, "error": error}))

        return fail

    # Running ----------------------------------------------------------------------------

    async def backpressure(self) -> None:
        """Wait while any sink channel is more than half full; otherwise just yield once."""
        waited = False
        for channel in self.channels.values():
            if channel.is_busy():
                waited = True
                await channel.wait_for_room()
        if not waited:
            await asyncio.sleep(0)

    def _by_role(self, role: str) -> list[Node[Any]]:
        return [self.nodes[s.id] for s in self.specs.values() if s.role == role]

    async def run(self, stop: asyncio.Event | None = None) -> RunSummary:
        """Run the flow until its finite sources are done or ``stop`` is set; then drain and close.

        Raises :class:`NodeError` when a node fails to start (nothing is left running).
        """
        stop = stop or asyncio.Event()
        began = time.monotonic()
        summary = RunSummary(self.flow.name)
        started: list[Node[Any]] = []
        health = self.health
        if health is not None:
            health.begin(self)
        self.acks.attach_store(self.store, asyncio.get_running_loop())  # delivery hook: group commit
        try:
            for role in ("sink", "transform", "source"):
                for node in self._by_role(role):
                    await self._start(node)
                    started.append(node)
            async with asyncio.TaskGroup() as group:
                sink_tasks = [group.create_task(self._feed_sink(node, self.channels[node.id]),
                                                name=f"sink:{node.id}")
                              for node in self._by_role("sink")
                              if isinstance(node, Sink) and node.id in self.channels]
                sources = [n for n in self._by_role("source") if isinstance(n, Source)]
                for source in sources:
                    source._backpressure = self.backpressure  # noqa: SLF001 - the engine wires a source's backpressure
                source_tasks = [group.create_task(self._run_source(s), name=f"source:{s.id}")
                                for s in sources]
                if health is not None:
                    await asyncio.sleep(0)  # each source reaches its first await: its connections are known
                    health.mark_started()
                summary.end_of_input = await self._wait_sources(source_tasks, stop)
                if summary.end_of_input:
                    self._end_of_input()
                for channel in self.channels.values():
                    channel.close()
                await self._drain(sink_tasks)
        finally:
            if health is not None:
                health.mark_ended()
            await self._close_all(started)
            for node_id, node in self.nodes.items():
                feed = self.channels.get(node_id)
                if feed is not None and feed.dropped:
                    node.counters.drop(feed.dropped, "queue_full")
                summary.counters[node_id] = dict(node.counters)
            self._channel_drops_counted = True
            self.store.close()
            summary.seconds = time.monotonic() - began
        return summary

    def channel_drops_pending(self, node_id: str) -> int:
        """Drops of a sink's channel not yet added to its counters (they are at the end of the run)."""
        channel = self.channels.get(node_id)
        if channel is None or self._channel_drops_counted:
            return 0
        return channel.dropped

    async def _start(self, node: Node[Any]) -> None:
        token = current_node.set((self.health, node.id) if self.health is not None else None)
        try:
            await self._start_node(node)
        finally:
            current_node.reset(token)

    async def _start_node(self, node: Node[Any]) -> None:
        try:
            async with asyncio.timeout(float(getattr(node, "start_timeout", LIFECYCLE_TIMEOUT))):
                await node.start()
        except TimeoutError as exc:
            raise NodeError(node.id, "did not start in time") from exc
        except NodeError:
            raise
        except Exception as exc:
            raise NodeError(node.id, f"cannot start: {exc}") from exc

    async def _run_source(self, source: Source[Any]) -> None:
        if self.health is not None:
            current_node.set((self.health, source.id))  # this task's own context
        try:
            await source.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            source.counters["errors"] += 1
            source.logger.exception("source '%s' stopped after an error", source.id)

    async def _wait_sources(self, tasks: list[asyncio.Task[None]], stop: asyncio.Event) -> bool:
        """Wait for every source or for ``stop``; True when the input ended by itself."""
        if not tasks:
            return True
        stopper = asyncio.ensure_future(stop.wait())
        try:
            pending: set[asyncio.Future[Any]] = set(tasks)
            while pending:
                done, _ = await asyncio.wait({*pending, stopper}, return_when=asyncio.FIRST_COMPLETED)
                pending -= done
                if stopper in done:
                    break
        finally:
            await cancel_and_wait(stopper)
        if not pending:
            return True
        await cancel_and_wait(*pending)
        return False

    def _end_of_input(self) -> None:
        """Finite input is exhausted: fire every pending timer, then let transforms flush."""
        transforms = [n for n in self._by_role("transform") if isinstance(n, Transform)]
        for _ in range(3):
            if isinstance(self.clock, EventClock):
                self.clock.run_all()
            for node in transforms:
                try:
                    node.flush()
                except Exception:
                    node.counters["errors"] += 1
                    node.logger.exception("node '%s' failed to flush", node.id)
            if not isinstance(self.clock, EventClock) or not self.clock.pending():
                break

    async def _feed_sink(self, sink: Sink[Any], channel: Channel[Message]) -> None:
        fail = self._failure_handler(sink.id, sink)
        traffic = self.traffic[sink.id]
        while (batch := await channel.get_batch()) is not None:
            if traffic.recording is not None:  # tapped per batch, off the hot path
                for msg in batch:
                    traffic.record("in", msg)
            await write_durably(sink, batch, fail)  # delivery hook: retried until durable (flowengine.sinkwrite)
            channel.settled += len(batch)
            self.acks.advance()

    async def _drain(self, sink_tasks: Iterable[asyncio.Task[None]]) -> None:
        tasks = list(sink_tasks)
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=LIFECYCLE_TIMEOUT)
        for task in late:
            logger.error("flow '%s': a sink did not drain within %.0f s; cancelling it",
                         self.flow.name, LIFECYCLE_TIMEOUT)
            task.cancel()

    async def _close_all(self, started: list[Node[Any]]) -> None:
        # Sources first, sinks last: the reverse of the start order.
        for node in reversed(started):
            timeout = float(getattr(node, "close_timeout", LIFECYCLE_TIMEOUT))
            try:
                async with asyncio.timeout(timeout):
                    await node.aclose()
            except TimeoutError:
                node.logger.error("node '%s' did not close within %.0f s", node.id, timeout)
            except Exception:
                node.logger.exception("node '%s' failed to close", node.id)


def _unchanged(before: NodeSpec, after: NodeSpec) -> bool:
    """True when a reload kept a node as it was (same type, config and wires): it keeps its counters."""
    return (before.type, before.config, before.wires, before.disabled) == (
        after.type, after.config, after.wires, after.disabled)
