"""The node API: config models and the three role contracts.

A node type is one module holding a config model (a subclass of :class:`NodeConfig`)
and a node class (a subclass of :class:`Source`, :class:`Transform` or :class:`Sink`)
whose docstring contains a complete, runnable YAML example in a ``yaml`` code fence.
The engine builds the node with its validated config and a :class:`NodeContext`,
wires its output ports, and drives it:

* ``await start()`` on every node, sinks first, then transforms, then sources, inside
  the flow's task group: a node's long-lived tasks are spawned with
  :meth:`NodeContext.spawn` (or :meth:`NodeContext.start_task`, which waits until the
  task says it is ready) and belong to the flow, not to the node's whims;
  a source is ready to produce once ``start`` has returned;
* sources ``await run()``, pushing messages with :meth:`Node.emit` until their input is
  exhausted (finite sources return) or they are cancelled (stop);
* transforms have :meth:`Transform.process` called directly, synchronously, for each
  message: no queue hop on the hot path;
* sinks receive batches through :meth:`Sink.write` from a bounded channel the engine
  owns, or, for an ``inline`` sink, each message through :meth:`Sink.write_now`;
* when the input has ended, :meth:`Transform.flush` (emit what is pending), then the
  sinks drain what is in flight (each within its ``drain_timeout``); finally
  ``await aclose()`` on every node, each with its ``close_timeout``, and the engine
  cancels the node's timers (:meth:`NodeContext.schedule`) and spawned tasks.

What a node type declares about itself is a class attribute on the base classes below
(``live``, ``allows_cycles``, ``passes_payload``, ``start_timeout``, ``close_timeout``,
``inline``, ``capacity``, ``batch_limit``, ``drain_timeout``); the engine reads them, it never
probes.

Nodes import only this public API (``flowengine``), never the runtime's insides.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from flowengine.errors import NodeError
from flowengine.message import Message

if TYPE_CHECKING:
    from flowengine.acks import Holding
    from flowengine.clock import Clock
    from flowengine.hints import Comparison, PayloadValues
    from flowengine.scheduling import Schedule
    from flowengine.state import NodeState

Role = Literal["source", "transform", "sink"]
ERRORS_PORT = "errors"
OUT_PORT = "out"
#: How many failures of one node are logged in full; the rest are counted (see the summary).
LOGGED_FAILURES = 20
#: The default deadline of one node's ``start``, ``aclose`` and a sink's drain, in seconds.
LIFECYCLE_TIMEOUT = 30.0

T = TypeVar("T")


def error_message(msg: Message, node_id: str, exc: BaseException, **details: Any) -> Message:
    """Return ``msg`` for the ``errors`` port: ``meta.error`` = ``{node, type, message}`` (CONTRACT §1).

    The one place the error record is built; nodes call :meth:`Node.fail`, which uses it.
    ``details`` are further keys of the record a node adds (a command's ``device``, …).
    """
    error = {"node": node_id, "type": type(exc).__name__, "message": str(exc), **details}
    return msg.evolve(meta={**msg.meta, "error": error})


def expand_home(path: str | Path) -> Path:
    """Return ``path`` with a leading ``~`` or ``~user`` expanded to that home folder.

    Unlike :meth:`pathlib.Path.expanduser`, a home that cannot be found (a ``~user``
    who is not a user of this machine, or ``~`` with neither ``HOME`` nor a user
    entry) is a :class:`ValueError` saying so, which a config validator reports as a
    positioned bad-flow line rather than an internal error.

    Raises:
        ValueError: the home folder of the leading ``~`` part cannot be determined.
    """
    try:
        return Path(path).expanduser()
    except RuntimeError:  # pathlib's "Could not determine home directory."
        first = str(path).split("/")[0]
        raise ValueError(f"cannot expand '{first}': no such user's home on this machine") from None


class NodeConfig(BaseModel):
    """Base of every node type's config model: frozen, unknown keys refused.

    Field docstrings (``Field(description=...)``) become the JSON Schema descriptions
    editors show, so write them for users.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, validate_default=True)


class Counters(dict[str, int]):
    """Named counters of one node (``errors``, ``dropped``, ``unmatched``, …).

    A plain ``dict`` so that ``counters["x"] += 1`` is as cheap as it can be; missing
    names read as 0. ``errors`` and ``dropped`` are exported as metrics
    (``flowengine_errors_total``, ``flowengine_dropped_total``); count drops with
    :meth:`drop` so that the metric can say why. A source counts ``received`` (messages
    taken from outside) when that differs from what it emits.
    """

    def __init__(self) -> None:
        super().__init__()
        #: Drops by reason (a short snake_case word); their sum is at most ``self["dropped"]``.
        self.dropped_by: dict[str, int] = {}

    def __missing__(self, key: str) -> int:
        return 0

    def drop(self, count: int, reason: str) -> None:
        """Count ``count`` messages lost for ``reason`` (``queue_full``, ``not_connected``, …)."""
        self["dropped"] += count
        self.dropped_by[reason] = self.dropped_by.get(reason, 0) + count


Emitter = Callable[[Message], object]


class NodeContext:
    """What the engine gives a node: identity, paths, clock, durable state, logging, timers, tasks.

    Created by the runtime; nodes read it, they do not build it (tests may, through
    :mod:`flowengine.testing`). Timers (:meth:`schedule`) and tasks (:meth:`spawn`,
    :meth:`start_task`) made through it are owned by the engine: they end when the node does.
    """

    def __init__(
        self,
        *,
        node_id: str,
        flow_name: str,
        flow_dir: Path,
        clock: Clock,
        state: NodeState,
        logger: logging.Logger | None = None,
    ) -> None:
        self.node_id = node_id
        self.flow_name = flow_name
        self.flow_dir = flow_dir
        self.clock = clock
        self.state = state
        self.logger = logger or logging.getLogger(f"flowengine.node.{node_id}")
        self.counters = Counters()
        self._group: asyncio.TaskGroup | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._readiness: dict[asyncio.Task[Any], asyncio.Future[Any]] = {}
        self._schedules: list[Schedule] = []

    def resolve_path(self, path: str | Path) -> Path:
        """Resolve a path from the flow's config against the folder of the flow file."""
        candidate = expand_home(path)
        return candidate if candidate.is_absolute() else self.flow_dir / candidate

    # Engine-owned timers and tasks --------------------------------------------------------

    def schedule(self, clock: Clock | None = None) -> Schedule:
        """Return a new :class:`~flowengine.scheduling.Schedule` on the flow's clock, owned by the engine.

        ``clock``: another clock to schedule on (one derived from the flow's, like the rules'
        data clock for repeating timers); the flow's by default. A timer callback that raises
        is counted in ``counters["errors"]`` and logged; the flow goes on. When the node stops
        (end of the flow, or a reload that replaces it) the engine cancels every timer still
        pending, so a replaced node never fires late.
        """
        from flowengine.scheduling import Schedule

        schedule = Schedule(clock or self.clock, self._timer_failed)
        self._schedules.append(schedule)
        return schedule

    def _timer_failed(self, exc: BaseException) -> None:
        self.counters["errors"] += 1
        self.logger.error("node '%s': a timer failed: %s: %s", self.node_id, type(exc).__name__, exc)

    def spawn(self, coroutine: Coroutine[Any, Any, Any], *, name: str | None = None) -> asyncio.Task[Any]:
        """Run ``coroutine`` as a long-lived task of this node, in the flow's task group.

        Call it from :meth:`Node.start` (or later). The task is cancelled and awaited when
        the node stops, after its ``aclose``; an exception it raises is logged and counted
        (``errors``), never fatal to the flow.
        """
        wrapped = self._guard(coroutine)
        task_name = name or f"{self.node_id}:task"
        task = self._group.create_task(wrapped, name=task_name) if self._group is not None else \
            asyncio.get_running_loop().create_task(wrapped, name=task_name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        # A task cancelled before its first step never ran ``coroutine``: close it (no warning).
        task.add_done_callback(lambda _: coroutine.close())
        return task

    async def start_task(self, func: Callable[[TaskStatus], Coroutine[Any, Any, Any]], *,
                         name: str | None = None) -> Any:
        """Spawn ``func(task_status)`` like :meth:`spawn` and wait until it calls ``task_status.started()``.

        The readiness handshake (AnyIO's ``task_status`` idea): a node's ``start`` returns
        only once its task is ready (a subscription made, a port open). Returns the value
        given to ``started``; raises what the task raised before it was ready, or
        :class:`NodeError` when it ended without saying so.
        """
        ready: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        status = TaskStatus(ready)
        task = self.spawn(func(status), name=name)
        self._readiness[task] = ready
        await asyncio.wait({ready, task}, return_when=asyncio.FIRST_COMPLETED)
        self._readiness.pop(task, None)
        if ready.done():
            return ready.result()
        ready.cancel()
        raise NodeError(self.node_id, f"task {task.get_name()!r} ended before it was ready")

    async def _guard(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        try:
            await coroutine
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            task = asyncio.current_task()
            pending = self._readiness.get(task) if task is not None else None
            if pending is not None and not pending.done():
                pending.set_exception(exc)
                return
            self.counters["errors"] += 1
            self.logger.exception("node '%s': a task failed", self.node_id)

    def attach(self, group: asyncio.TaskGroup | None) -> None:
        """Engine side: spawn this node's tasks into ``group`` (the flow's task group)."""
        self._group = group

    async def release(self) -> None:
        """Engine side: the node has stopped; cancel its timers and its tasks and wait for them."""
        for schedule in self._schedules:
            schedule.clear()
        self._schedules.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise


class TaskStatus:
    """Handed to a task started with :meth:`NodeContext.start_task`: call :meth:`started` once ready."""

    __slots__ = ("_ready",)

    def __init__(self, ready: asyncio.Future[Any]) -> None:
        self._ready = ready

    def started(self, value: Any = None) -> None:
        """Say the task is ready; ``value`` is what ``start_task`` returns (later calls are ignored)."""
        if not self._ready.done():
            self._ready.set_result(value)


C = TypeVar("C", bound=NodeConfig)


def _unwired(msg: Message) -> None:
    """Stand-in emitter for a port nothing is wired to: the message ends here."""


class Node(Generic[C]):
    """Base of every node type.

    Subclasses set ``config_model`` (their :class:`NodeConfig` subclass) and, when
    their outputs are not just ``out``, ``outputs`` or :meth:`output_ports`.
    ``errors`` is an output of every node and is never listed.
    """

    role: ClassVar[Role]
    config_model: ClassVar[type[NodeConfig]]
    outputs: ClassVar[tuple[str, ...]] = (OUT_PORT,)
    #: A cycle through this node is accepted by the graph check (CONTRACT §1).
    allows_cycles: ClassVar[bool] = False
    #: Messages leave this node with their payload unchanged (``filter``, ``switch``): the
    #: capability lint (:mod:`flowengine.lint`) looks through it to the nodes behind.
    passes_payload: ClassVar[bool] = False
    #: A live source (radio, broker) runs the flow on the wall clock; only sources set it.
    live: ClassVar[bool] = False
    #: Deadline of :meth:`start`, in seconds. A class sets the default; an instance may
    #: assign its own in ``__init__`` (from its config).
    start_timeout: float = LIFECYCLE_TIMEOUT
    #: Deadline of :meth:`aclose`, in seconds (class default, or per instance like ``start_timeout``).
    close_timeout: float = LIFECYCLE_TIMEOUT

    def __init__(self, config: C, context: NodeContext) -> None:
        self.config = config
        self.context = context
        self.id = context.node_id
        self.logger = context.logger
        self.counters = context.counters
        self._emitters: dict[str, Emitter] = {}
        #: Set by the engine: takes an acknowledgement checkpoint (:mod:`flowengine.acks`).
        self._checkpoint: Callable[[Callable[[], object]], None] | None = None

    @classmethod
    def output_ports(cls, config: Any) -> tuple[str, ...]:
        """Return the output ports a node with this config has (``errors`` excluded)."""
        return cls.outputs

    @classmethod
    def payload_values(cls, config: Any, port: str, node_id: str) -> PayloadValues | None:
        """Capability lint hook for producers: the closed value sets of payload keys on ``port``."""
        return None

    @classmethod
    def comparisons(cls, config: Any) -> list[Comparison]:
        """Capability lint hook for consumers: the constants payload properties are compared with."""
        return []

    def bind_output(self, port: str, emitter: Emitter) -> None:
        """Connect ``port`` to ``emitter``; called by the engine while wiring the flow."""
        self._emitters[port] = emitter

    def emitter(self, port: str = OUT_PORT) -> Emitter:
        """Return the function that delivers a message on ``port`` (a no-op when unwired).

        Nodes that emit often may fetch this once in :meth:`start` and keep it.
        """
        return self._emitters.get(port, _unwired)

    def gauges(self) -> dict[str, int]:
        """Return the node's own levels for the metrics, read when scraped (never on the hot path).

        Known names: ``queue_depth`` (messages waiting inside the node, e.g. a receive
        buffer), ``outbox_depth`` (messages stored, not yet acknowledged) and
        ``timers_pending``. The default counts the timers of every
        :class:`~flowengine.scheduling.Schedule` and pending :class:`~flowengine.clock.TimerHandle`
        the node holds as an attribute; override to report more.
        """
        from flowengine.clock import TimerHandle
        from flowengine.scheduling import Schedule

        timers = 0
        for value in vars(self).values():
            if isinstance(value, Schedule):
                timers += len(value)
            elif isinstance(value, TimerHandle) and not value.cancelled:
                timers += 1
        return {"timers_pending": timers}

    def when_durable(self, callback: Callable[[], object]) -> None:
        """Call ``callback`` once everything emitted so far is durable (docs/delivery.md).

        Durable means: every sink that a message emitted before this call (by any node),
        or anything derived from it, reached has written it durably (the file synced, the
        outbox committed). Callbacks run in the order they were asked for, on the event
        loop; a source commits there what lets it skip input after a restart (a replay
        position, an MQTT PUBACK), a node that held a message in its state (``delay``)
        forgets it there. Run outside an engine (unit tests), the callback runs at once.
        """
        if self._checkpoint is None:
            callback()
        else:
            self._checkpoint(callback)

    def emit(self, msg: Message, port: str = OUT_PORT) -> None:
        """Deliver ``msg`` on ``port`` now, synchronously, to everything wired to it."""
        self._emitters.get(port, _unwired)(msg)

    def rewired(self) -> None:
        """The engine re-bound this node's ports (a reload changed a node downstream).

        A node that keeps emitters fetched with :meth:`emitter` fetches them again here;
        the default does nothing, which is right for nodes that call :meth:`emit`.
        """

    def fail(self, msg: Message, exc: BaseException, *, counter: str = "errors",
             level: int = logging.WARNING) -> None:
        """This node failed on ``msg``: count it, log it (the first few), send it to ``errors``.

        The message leaves on the ``errors`` port with ``meta.error`` set by
        :func:`error_message`. ``counter`` names the counter to raise (``errors`` unless
        the failure has a more telling name, like ``unparsed``); ``level`` the log level.
        """
        counters = self.counters
        counters[counter] += 1
        seen = counters[counter]
        if seen <= LOGGED_FAILURES:
            self.logger.log(level, "node '%s' failed on a message (topic %r): %s: %s", self.id,
                            msg.topic, type(exc).__name__, exc)
            if seen == LOGGED_FAILURES:
                self.logger.log(level, "node '%s': further failures are counted, not logged", self.id)
        self._emitters.get(ERRORS_PORT, _unwired)(error_message(msg, self.id, exc))

    async def start(self) -> None:
        """Open resources (files, connections). Import heavy libraries here, not at module level."""

    async def aclose(self) -> None:
        """Release resources. Called once, with a deadline, after the node has stopped."""


class Source(Node[C]):
    """A node that produces messages by itself (a radio, a broker, a capture file).

    ``run`` pushes messages with :meth:`Node.emit` until its input is exhausted (a finite
    source returns) or it is cancelled (the flow stops). A source that produces many
    messages in a burst should ``await self.backpressure()`` every so often, so that
    sinks keep up instead of overflowing their channels.
    """

    role: ClassVar[Role] = "source"
    #: Live sources (radio, broker) run the flow on the wall clock; finite replays on event time.
    live: ClassVar[bool] = True
    #: A source that takes messages wired into it (the ``zigbee`` node's commands): the engine calls
    #: :meth:`receive` for each; otherwise a wire into a source delivers nothing.
    accepts_input: ClassVar[bool] = False
    #: Set in ``__init__`` by a source that may keep an input before it takes it (a
    #: :class:`~flowengine.acks.Holding`): the engine makes it a place of every checkpoint, so the
    #: input's upstream source is acknowledged only once it is released (docs/delivery.md).
    holding: Holding | None = None
    _backpressure: Callable[[], Any] | None = None

    def receive(self, msg: Message) -> None:
        """Take one message wired into this source (only when ``accepts_input``); must not block.

        An exception refuses the message: the engine counts it, logs it and routes it to ``errors``.
        """
        raise NotImplementedError

    async def run(self) -> None:
        """Produce messages until done (return) or cancelled."""
        raise NotImplementedError

    def is_finite(self) -> bool:
        """Return True when :meth:`run` returns by itself once its input is exhausted."""
        return not self.live

    @classmethod
    def replay_config(cls, config: Any, capture: Path | None) -> NodeConfig | None:
        """Capability used by ``flowengine test``: this source's config for replaying a capture.

        Return the config that reads ``capture`` (None: the source's own input) once, from the
        top, as fast as possible; or None, the default, when this type cannot replay one (a live
        source such as a radio or a broker, which a test replaces by its own input).
        """
        return None

    def progress(self) -> tuple[int, int] | None:
        """Return ``(records done, records in all)`` for a finite input of known size, else None.

        The command line polls it a few times a second to draw a progress bar on a terminal,
        so it must be cheap; None (the default) draws nothing for this source.
        """
        return None

    async def backpressure(self) -> None:
        """Wait until every channel downstream has room again; returns at once when it has."""
        if self._backpressure is not None:
            await self._backpressure()


class Transform(Node[C]):
    """A node that maps one message to zero or more messages.

    :meth:`process` returns the message for ``out`` (or ``None`` to filter it out); a
    transform with other ports, or more than one result, calls :meth:`Node.emit` for them.
    An exception raised by ``process`` is caught by the engine: logged with the node id,
    counted in ``counters["errors"]``, and the message goes to the ``errors`` port.
    """

    role: ClassVar[Role] = "transform"

    def process(self, msg: Message) -> Message | None:
        """Handle one message; return the message for ``out`` or ``None``."""
        raise NotImplementedError

    def flush(self) -> None:
        """The flow's input has ended (finite sources done): emit whatever is pending."""


class Sink(Node[C]):
    """A node that writes messages somewhere; it has no output but ``errors``.

    The engine puts a bounded channel in front of a sink and calls :meth:`write` with
    batches, in order. An ``inline`` sink (cheap and synchronous, like ``discard``)
    skips the channel: :meth:`write_now` is called on the hot path instead.
    """

    role: ClassVar[Role] = "sink"
    outputs: ClassVar[tuple[str, ...]] = ()
    #: Skip the channel: the engine calls :meth:`write_now` on the hot path. A class sets the
    #: default; an instance may choose per config by assigning ``self.inline`` in ``__init__``.
    inline: bool = False
    #: Capacity of the channel in front of the sink, in messages (class default, or per
    #: instance from the config, like ``inline``).
    capacity: int = 10_000
    #: Most messages the engine hands :meth:`write` at once (fewer when fewer wait). A sink whose
    #: write has a fixed cost per call (a sync to disk, a transaction) may raise it.
    batch_limit: int = 512
    #: At the end of a run, how long the engine waits for this sink to write what is still
    #: in its channel, in seconds; what is left then is counted as ``dropped``.
    drain_timeout: float = LIFECYCLE_TIMEOUT

    async def write(self, batch: Sequence[Message]) -> None:
        """Write a batch of messages; raising fails the batch (counted, sent to ``errors``)."""
        raise NotImplementedError

    def write_now(self, msg: Message) -> None:
        """Write one message synchronously (only for ``inline`` sinks)."""
        raise NotImplementedError
