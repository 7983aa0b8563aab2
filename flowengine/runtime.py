"""Running one flow: instantiate nodes, wire them, drive their lifecycle.

A :class:`FlowRun` owns one ``asyncio.TaskGroup``. Transforms are called directly on the
hot path: wiring compiles every port into a plain function that calls the next node, so
a message crosses a chain of transforms without a queue hop. Sinks sit behind bounded
:class:`~flowengine.channel.Channel` s and are fed in batches by one task each.

Lifecycle, all inside the task group: start sinks → transforms → sources (a node's own
tasks are spawned into the group through its context); run sources until they are all
done (a finite input is exhausted) or a stop is requested; at the end of input fire
pending timers and flush transforms; close the channels and wait, each sink within its
``drain_timeout``, for what is in flight to be written; close every node with its
``close_timeout``; cancel what the nodes left (timers, tasks).

:meth:`FlowRun.apply` is Node-RED's "modified nodes" deploy: while the flow runs it
replaces only the nodes whose type or config changed (and those added or removed) and
re-binds the wires; every other node keeps its instance, state, connections, timers and
counters.

Counting is folded into the wiring (:mod:`flowengine.inputs`, one :class:`Traffic` per
node): a reload node by node builds a fresh :class:`Traffic` for each new or changed node
and re-derives the counting of the kept ones, which keep what they counted; readiness
(:mod:`flowengine.health`) forgets the replaced nodes' connections and learns the new ones'
as they start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Coroutine
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
from flowengine.node import ERRORS_PORT, LOGGED_FAILURES, OUT_PORT, Node, NodeContext, Sink, Source, Transform
from flowengine.sinkwrite import write_durably
from flowengine.state import StateStore
from flowengine.traffic import Traffic

logger = logging.getLogger("flowengine.runtime")

Deliver = Callable[[Message], object]
#: Seconds after which :func:`cancel_and_wait` asks a task that is still running to stop again.
CANCEL_RETRY = 1.0
__all__ = ["LOGGED_FAILURES", "FlowRun", "RunSummary", "cancel_and_wait", "changed_nodes", "fan_out"]
#: Longest run of transforms a message crosses by direct calls before it is handed to a
#: trampoline (each node costs a few Python frames; the interpreter allows about 1,000).
FORWARD_DEPTH = 64


async def cancel_and_wait(*tasks: asyncio.Future[Any]) -> None:
    """Cancel helper tasks and wait until they have finished (no task outlives its owner).

    A task still running after :data:`CANCEL_RETRY` seconds is cancelled again: on Python
    3.11 ``asyncio.wait_for`` (which client libraries use) can swallow a cancellation that
    arrives just as its future completes, and the task would then run on.
    """
    for task in tasks:
        task.cancel()
    pending = {task for task in tasks if not task.done()}
    while pending:
        _, pending = await asyncio.wait(pending, timeout=CANCEL_RETRY)
        for task in pending:
            task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


def changed_nodes(old: FlowGraph, new: FlowGraph) -> set[str]:
    """Return the ids of nodes to (re)start when ``old`` becomes ``new``: changed, added or removed.

    A node changed when its type, config or ``disabled`` flag did; a change of its wires
    alone does not restart it (the engine re-binds its ports).
    """
    changed = set()
    for node_id in set(old.nodes) | set(new.nodes):
        before, after = old.nodes.get(node_id), new.nodes.get(node_id)
        if before is None or after is None or not _same_node(before, after):
            changed.add(node_id)
    return changed


def _same_node(before: NodeSpec, after: NodeSpec) -> bool:
    """True when a node's type, config and ``disabled`` flag are as they were (its wires aside)."""
    return (before.type, before.config, before.disabled) == (after.type, after.config, after.disabled)


class Trampoline:
    """Bounds the call depth of forwarding on long chains, at no cost on short ones.

    Wiring calls the next node directly, so a message crossing N transforms nests N calls.
    On a chain longer than :data:`FORWARD_DEPTH`, the inputs of the nodes where a message
    enters a new block of that many hops are wrapped by :meth:`wrap`: the first wrapped
    input reached runs the message and then drains, in order, what deeper wrapped inputs
    queued meanwhile; the deeper ones only queue. The stack stays bounded whatever the
    chain's length, every message is still delivered before the source's ``emit`` returns,
    and the order along each path is kept (a FIFO). Flows shorter than the block size
    wrap nothing, so their hot path is the plain direct call.
    """

    __slots__ = ("_pending", "_running")

    def __init__(self) -> None:
        self._pending: deque[tuple[Deliver, Message]] = deque()
        self._running = False

    def wrap(self, deliver: Deliver) -> Deliver:
        """Return ``deliver`` behind the trampoline."""
        pending = self._pending

        def bounce(msg: Message) -> None:
            pending.append((deliver, msg))
            if self._running:
                return
            self._running = True
            try:
                while pending:
                    target, queued = pending.popleft()
                    target(queued)
            finally:
                self._running = False

        return bounce


def _bounced(factory: Callable[[Upstream], Deliver], trampoline: Trampoline) -> Callable[[Upstream], Deliver]:
    """Return ``factory`` with every input function it builds wrapped by ``trampoline``."""
    return lambda upstream: trampoline.wrap(factory(upstream))


def block_entries(specs: list[NodeSpec], block: int = FORWARD_DEPTH) -> set[str]:
    """The ids of the nodes where some path enters a new block of ``block`` hops.

    ``specs`` are in wiring order (upstream first); a node's depth is its longest distance
    from a node nothing feeds, ignoring wires back to an earlier node (allowed cycles go
    through a late-bound call anyway). Along any path the depth rises by at least one per
    hop, so a path never runs more than ``block`` hops without crossing an entry.
    """
    order = {spec.id: index for index, spec in enumerate(specs)}
    depth = dict.fromkeys(order, 0)
    entries: set[str] = set()
    for spec in specs:
        for targets in spec.wires.values():
            for target in targets:
                if order.get(target, -1) > order[spec.id]:
                    depth[target] = max(depth[target], depth[spec.id] + 1)
    for spec in specs:
        for targets in spec.wires.values():
            for target in targets:
                if order.get(target, -1) > order[spec.id] and depth[target] // block != depth[spec.id] // block:
                    entries.add(target)
    return entries


@dataclass
class RunSummary:
    """What a finished run reports: per-node counters and how it ended."""

    flow: str
    counters: dict[str, dict[str, int]] = field(default_factory=dict)
    end_of_input: bool = False
    seconds: float = 0.0
    #: Sources that stopped because of an error (their ids); a run with any did not succeed.
    failed_sources: list[str] = field(default_factory=list)


class FlowRun:
    """One flow, instantiated and wired, ready to :meth:`run` once."""

    def __init__(self, flow: FlowGraph, *, clock: Clock | None = None,
                 store: StateStore | None = None, health: FlowHealth | None = None,
                 tap: bool = False, previous: FlowRun | None = None) -> None:
        """Instantiate every enabled node of ``flow`` and wire the ports.

        ``clock`` defaults to the wall clock when any source is live, else to event time;
        ``store`` defaults to the flow's ``state`` file. ``health`` receives readiness and
        the connection states of the nodes; ``tap`` keeps each node's latest messages (the
        HTTP debug tap); ``previous`` is the run this one replaces (a whole-flow reload): its
        unchanged nodes keep their counters.
        """
        self.flow = flow
        specs = list(flow.enabled())
        self.specs = {spec.id: spec for spec in specs}
        self.clock: Clock = clock or (WallClock() if _is_live(flow) else EventClock())
        self.store = store or StateStore(flow.state_path)
        self.nodes: dict[str, Node[Any]] = {}
        self.channels: dict[str, Channel[Message]] = {}
        self._failed_sources: list[str] = []
        self.health = health
        self.traffic: dict[str, Traffic] = {}
        self._tap = tap
        self._channel_drops_counted = False
        self._group: asyncio.TaskGroup | None = None
        self._started: list[Node[Any]] = []
        self._source_tasks: dict[str, asyncio.Task[None]] = {}
        self._sink_tasks: dict[str, asyncio.Task[None]] = {}
        self._sources_changed = asyncio.Event()
        #: Held by :meth:`apply` and, from the end of the input on, by :meth:`run`: a reload never
        #: overlaps the shutdown.
        self._changing = asyncio.Lock()
        self._closing = False
        #: Counters of nodes a reload replaced, added to the summary's (``<id>`` until the end).
        self._retired: dict[str, dict[str, int]] = {}
        # Delivery (docs/delivery.md): sources' checkpoints over every sink channel's watermarks.
        self.acks = Acknowledgements(())
        for spec in specs:
            self.nodes[spec.id] = self._build(spec, previous)
        self._wire(specs)
        self.acks.track(self._places())

    def _places(self) -> list[Any]:
        """What checkpoints wait for: every sink channel and every source's holding (docs/delivery.md)."""
        sources = [node for node in self.nodes.values() if isinstance(node, Source)]
        return [*self.channels.values(), *(node.holding for node in sources if node.holding is not None)]

    def _build(self, spec: NodeSpec, previous: FlowRun | None = None) -> Node[Any]:
        """Instantiate one node with a fresh :class:`Traffic` (carried over from ``previous`` when unchanged)."""
        context = NodeContext(node_id=spec.id, flow_name=self.flow.name, flow_dir=self.flow.flow_dir,
                              clock=self.clock, state=self.store.node(spec.id),
                              logger=logging.getLogger(f"flowengine.{self.flow.name}.{spec.id}"))
        ports = (*spec.node_class.output_ports(spec.config), ERRORS_PORT)
        traffic = Traffic(ports, tap=self._tap)
        kept = previous.nodes.get(spec.id) if previous is not None else None
        if previous is not None and kept is not None and _unchanged(previous.specs[spec.id], spec):
            context.counters = kept.counters
            traffic.carry(previous.traffic[spec.id])
        node = spec.node_class(spec.config, context)
        node._checkpoint = self.acks.checkpoint  # noqa: SLF001 - delivery hook (flowengine.acks)
        if isinstance(node, Source) and node.holding is not None:
            node.holding.on_settled = self.acks.advance
        self.traffic[spec.id] = traffic
        return node

    # Wiring -----------------------------------------------------------------------------

    def _wire(self, specs: list[NodeSpec]) -> None:
        """Bind every port straight to the next nodes' input functions (counting folded in: :mod:`inputs`)."""
        factories: dict[str, Callable[[Upstream], Deliver]] = {}
        plain: dict[str, Deliver] = {}
        inputs = Counter(target for spec in specs for targets in spec.wires.values() for target in targets
                         if target in self.specs)
        for spec in specs:
            self.traffic[spec.id].settle()  # a rewiring (reload) re-derives the counting below
        entries = block_entries(specs)
        trampoline = Trampoline()

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
            if spec.id in entries:  # a long chain: this node's inputs go through the trampoline
                factory = _bounced(factory, trampoline)
            factories[spec.id] = factory
            plain[spec.id] = factory(None)

    @staticmethod
    def _late(plain: dict[str, Deliver], target: str) -> Deliver:
        """A trampoline for a wire into a node not built yet (only on allowed cycles)."""
        return lambda msg: plain[target](msg)

    def _input_factory(self, spec: NodeSpec, node: Node[Any], traffic: Traffic, out: Deliver
                       ) -> Callable[[Upstream], Deliver]:
        """Return what builds the node's input function for one incoming edge."""
        fail = node.fail
        if isinstance(node, Transform):
            return lambda upstream: transform_input(node, traffic, out, fail, upstream)
        if isinstance(node, Sink):
            if node.inline:
                return lambda upstream: inline_sink_input(node, traffic, fail, upstream)
            channel = self.channels.get(spec.id)
            if channel is None:  # a rewiring keeps the channel of a sink it does not replace
                channel = self.channels[spec.id] = Channel(node.capacity, "drop_newest")
            traffic.channel = channel  # the channel counts what the sink is offered; the feeder taps it
            return lambda upstream: channel_input(channel, upstream)
        if isinstance(node, Source) and node.accepts_input:
            receive = node.receive

            def take(msg: Message) -> None:
                traffic.received += 1
                try:
                    receive(msg)
                except Exception as exc:  # noqa: BLE001 - a refused message is routed, not fatal
                    fail(msg, exc)

            return lambda upstream: upstream[0].counting(upstream[1], take) if upstream is not None else take
        # A source fed by a wire that takes no input ignores it.
        return lambda upstream: upstream[0].counting(upstream[1], nothing) if upstream is not None else nothing

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
        failure: NodeError | None = None
        health = self.health
        if health is not None:
            health.begin(self)
        self.acks.attach_store(self.store, asyncio.get_running_loop())  # delivery hook: group commit
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                try:
                    await self._start_all(list(self.nodes.values()))
                except NodeError as exc:
                    failure = exc  # raised once the group is closed (not wrapped in a group error)
                else:
                    if health is not None:
                        await asyncio.sleep(0)  # each source reaches its first await: its connections are known
                        health.mark_started()
                    summary.end_of_input = await self._wait_sources(stop)
                    async with self._changing:
                        self._closing = True
                        if summary.end_of_input:
                            self._end_of_input()
                        await self._drain(list(self._sink_tasks))
                finally:
                    self._closing = True
                    if health is not None:
                        health.mark_ended()
                    await self._close(self._started)
                    self._group = None
        finally:
            for node_id, node in self.nodes.items():
                feed = self.channels.get(node_id)
                if feed is not None and feed.dropped:
                    node.counters.drop(feed.dropped, "queue_full")
                summary.counters[node_id] = dict(node.counters)
            self._channel_drops_counted = True
            for node_id, counters in self._retired.items():
                merged = summary.counters.setdefault(node_id, {})
                for name, value in counters.items():
                    merged[name] = merged.get(name, 0) + value
            self.store.close()
            summary.failed_sources = list(self._failed_sources)
            summary.seconds = time.monotonic() - began
        if failure is not None:
            raise failure
        return summary

    def channel_drops_pending(self, node_id: str) -> int:
        """Drops of a sink's channel not yet added to its counters (they are at the end of the run)."""
        channel = self.channels.get(node_id)
        if channel is None or self._channel_drops_counted:
            return 0
        return channel.dropped

    async def _start_all(self, nodes: list[Node[Any]]) -> None:
        """Start ``nodes`` (sinks, then transforms, then sources) and the tasks that feed and run them."""
        for role in ("sink", "transform", "source"):
            for node in nodes:
                if node.role == role:
                    await self._start(node)
        for node in nodes:
            if isinstance(node, Sink) and node.id in self.channels:
                self._sink_tasks[node.id] = self._spawn(self._feed_sink(node, self.channels[node.id]),
                                                        f"sink:{node.id}")
            elif isinstance(node, Source):
                node._backpressure = self.backpressure  # noqa: SLF001 - the engine wires a source's backpressure
                self._source_tasks[node.id] = self._spawn(self._run_source(node), f"source:{node.id}")
                self._sources_changed.set()

    def _spawn(self, coroutine: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        assert self._group is not None, "the flow is not running"
        return self._group.create_task(coroutine, name=name)

    async def _start(self, node: Node[Any]) -> None:
        """Start ``node`` with :data:`current_node` set, so that its connections report to the flow's health."""
        token = current_node.set((self.health, node.id) if self.health is not None else None)
        try:
            await self._start_node(node)
        finally:
            current_node.reset(token)

    async def _start_node(self, node: Node[Any]) -> None:
        node.context.attach(self._group)
        self._started.append(node)
        try:
            async with asyncio.timeout(node.start_timeout):
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
            self._failed_sources.append(source.id)
            source.logger.exception("source '%s' stopped after an error", source.id)

    async def _wait_sources(self, stop: asyncio.Event) -> bool:
        """Wait for every source (those a reload adds too) or for ``stop``; True when the input ended."""
        stopper = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                running = {task for task in self._source_tasks.values() if not task.done()}
                if not running and not self._changing.locked():
                    break
                self._sources_changed.clear()
                changed = asyncio.ensure_future(self._sources_changed.wait())
                try:
                    await asyncio.wait({*running, stopper, changed}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    await cancel_and_wait(changed)
        finally:
            await cancel_and_wait(stopper)
        running = {task for task in self._source_tasks.values() if not task.done()}
        if not running:
            return True
        await cancel_and_wait(*running)
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
        fail = sink.fail
        traffic = self.traffic[sink.id]
        limit = sink.batch_limit
        while (batch := await channel.get_batch(limit)) is not None:
            if traffic.recording is not None:  # tapped per batch, off the hot path
                for msg in batch:
                    traffic.record("in", msg)
            await write_durably(sink, batch, fail)  # delivery hook: retried until durable (flowengine.sinkwrite)
            channel.settled += len(batch)
            self.acks.advance()

    async def _drain(self, sink_ids: list[str]) -> None:
        """Close the channels of ``sink_ids`` and wait until each sink wrote what was in flight.

        Each sink has its own deadline (its ``drain_timeout``); the wait ends as soon as
        every sink is done. What a late sink still holds is counted as ``dropped``.
        """
        waits = []
        for sink_id in sink_ids:
            channel = self.channels.get(sink_id)
            task = self._sink_tasks.get(sink_id)
            if channel is not None:
                channel.close()
            if task is not None:
                waits.append(self._drain_one(self.nodes[sink_id], channel, task))
        await asyncio.gather(*waits)

    async def _drain_one(self, sink: Node[Any], channel: Channel[Message] | None, task: asyncio.Task[None]
                         ) -> None:
        timeout = sink.drain_timeout if isinstance(sink, Sink) else 0.0
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if done:
            return
        left = len(channel) if channel is not None else 0
        logger.error("flow '%s': sink '%s' did not write what it held within %.1f s; %d message(s) dropped",
                     self.flow.name, sink.id, timeout, left)
        sink.counters.drop(left, "drain_timeout")
        await cancel_and_wait(task)

    async def _close(self, nodes: list[Node[Any]]) -> None:
        """Close ``nodes`` in the reverse of their start order, then cancel their timers and tasks."""
        for node in list(reversed(nodes)):
            timeout = node.close_timeout
            try:
                async with asyncio.timeout(timeout):
                    await node.aclose()
            except TimeoutError:
                node.logger.error("node '%s' did not close within %.0f s", node.id, timeout)
            except Exception:
                node.logger.exception("node '%s' failed to close", node.id)
            await node.context.release()
            if node in self._started:
                self._started.remove(node)

    # Modified-nodes deploy ------------------------------------------------------------------

    def can_apply(self, new: FlowGraph) -> bool:
        """Return True when ``new`` can replace the running flow node by node (else restart it all).

        The flow's name, state file and kind of clock (wall or event time) must stay.
        """
        return (self._group is not None and not self._closing and new.name == self.flow.name
                and new.state_path == self.flow.state_path
                and _is_live(new) == isinstance(self.clock, WallClock))

    async def apply(self, new: FlowGraph) -> set[str]:
        """Replace only the nodes that changed (type, config, added, removed) and re-bind the wires.

        Unchanged nodes keep their instance: state, connections, timers and counters. The
        replaced nodes stop as at the end of a run (sources cancelled, sinks drained, every
        one closed), then the new ones start. Returns the ids restarted. Call it only while
        :meth:`run` runs and :meth:`can_apply` is true.
        """
        async with self._changing:
            if self._closing:
                return set()
            try:
                return await self._apply(new)
            finally:
                self._sources_changed.set()

    async def _apply(self, new: FlowGraph) -> set[str]:
        old = self.flow
        changed = changed_nodes(old, new)
        specs = list(new.enabled())
        stopping = [self.nodes[node_id] for node_id in changed if node_id in self.nodes]
        # 1. The replaced sources stop producing.
        for node in stopping:
            task = self._source_tasks.pop(node.id, None)
            if task is not None:
                await cancel_and_wait(task)
        # 2. New instances, and every port bound to the new wiring (no message reaches a replaced node now).
        self.flow = new
        self.specs = {spec.id: spec for spec in specs}
        fresh: list[Node[Any]] = []
        for spec in specs:
            if spec.id in changed:
                fresh.append(self._build(spec))
        old_channels = {node.id: self.channels.pop(node.id) for node in stopping if node.id in self.channels}
        for node in stopping:
            del self.nodes[node.id]
            if node.id not in self.specs:
                del self.traffic[node.id]  # removed (a replaced node got its fresh Traffic in _build)
        for node in fresh:
            self.nodes[node.id] = node
        order = {spec.id: index for index, spec in enumerate(specs)}
        self.nodes = dict(sorted(self.nodes.items(), key=lambda item: order.get(item[0], len(order))))
        self._wire(specs)
        self.acks.track(self._places())  # new sinks' channels; the replaced ones stay in older checkpoints
        for node_id, node in self.nodes.items():
            if node_id not in changed:
                node.rewired()
        # 3. The replaced transforms and sinks finish what they hold, and close.
        old_feeds = {}
        for node in stopping:
            task = self._sink_tasks.pop(node.id, None)
            if task is not None:
                old_feeds[node.id] = (node, task)
        for node_id, (node, task) in old_feeds.items():
            channel = old_channels.get(node_id)
            if channel is not None:
                channel.close()
            await self._drain_one(node, channel, task)
        for channel in old_channels.values():  # what a replaced sink left is dropped (counted): no checkpoint waits
            channel.close()
            channel.settled = channel.accepted
        for node in stopping:  # what a replaced source held is given up with it
            if isinstance(node, Source) and node.holding is not None:
                node.holding.settled = node.holding.accepted
        self.acks.advance()
        await self._close([node for node in self._started if node in stopping])
        if self.health is not None:  # after the close: what the old nodes reported while closing goes too
            self.health.restarted(node.id for node in stopping)
        for node in stopping:
            feed = old_channels.get(node.id)
            if feed is not None and feed.dropped:
                node.counters.drop(feed.dropped, "queue_full")
            retired = self._retired.setdefault(node.id, {})
            for name, value in node.counters.items():
                retired[name] = retired.get(name, 0) + value
        # 4. The new nodes start, sinks first. One that cannot start stays out; the flow goes on.
        try:
            await self._start_all(fresh)
        except NodeError as exc:
            logger.error("flow '%s': %s; the rest of the flow keeps running", new.name, exc)
        logger.info("flow '%s': restarted %s; %d node(s) kept running", new.name,
                    ", ".join(sorted(changed)) or "no node", len(self.nodes) - len(fresh))
        return changed


def _is_live(flow: FlowGraph) -> bool:
    """True when a live source (radio, broker) is enabled: the flow runs on the wall clock."""
    return any(spec.role == "source" and spec.node_class.live for spec in flow.enabled())


def _unchanged(before: NodeSpec, after: NodeSpec) -> bool:
    """True when a reload kept a node as it was (same type, config and wires): it keeps its counters."""
    return _same_node(before, after) and before.wires == after.wires
