"""What the event-time nodes share: timers on the flow's clock, event time, expiry, stored messages.

* :class:`Schedule` keeps one node's timers in deadline order. Each timer is also put on
  the flow's clock (``context.clock.call_at``), so it fires while no message arrives
  (wall clock, live flows) or as data carries event time past it (event clock, replays).
  :meth:`Schedule.run_due` fires the node's own timers that a message's ``meta.ts`` has
  passed *before* that message is handled, so the result follows event time even if a
  clock callback is late; the clock's callback comes the clock's ``lateness`` after the
  deadline (0.1 s on the wall clock), so data stamped before the deadline and still on its
  way is handled first. A timer runs at most once, whichever path reaches it first.
* :class:`Expiry` is a lazy min-heap of "this key may be forgotten at t", for nodes that
  keep per-key windows: it bounds memory by the keys active within one window.
* :func:`event_time` reads ``meta.ts`` (the clock's time when there is none).
* :func:`message_to_state` / :func:`message_from_state` store a message in a node's
  durable state (JSON) and read it back.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from flowengine import Clock, Message, TimerHandle
from flowengine.expressions import format_json

#: Compact the timer heap when it holds this many more dead entries than live ones.
COMPACT_SLACK = 1024


def event_time(msg: Message, clock: Clock) -> float:
    """Return the message's event time: ``meta.ts`` when it is a finite number, else the clock's now."""
    meta = msg.meta
    ts = meta.get("ts") if type(meta) is dict else None
    if (type(ts) is float or type(ts) is int) and math.isfinite(ts):
        return float(ts)
    return clock.now()


def key_text(value: Any) -> str:
    """Return the text a key value is stored under: its compact JSON (``"00:15:8d:…"`` with quotes)."""
    if type(value) is str:
        return '"' + value + '"' if '"' not in value and "\\" not in value else format_json(value)
    return format_json(value)


def _fallback(value: Any) -> Any:
    """JSON for what has none: bytes as hex text (as the ``file`` sink writes them), others as text."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return str(value)


def json_safe(value: Any) -> Any:
    """Return ``value`` with everything JSON cannot hold turned into text (bytes as hex).

    For durable state: most values are JSON already, so callers try the value first and
    fall back to this when storing it raises ``TypeError``.
    """
    return orjson.loads(orjson.dumps(value, default=_fallback, option=orjson.OPT_NON_STR_KEYS))


def message_to_state(msg: Message) -> list[Any]:
    """Return ``msg`` as a JSON-ready ``[topic, payload, meta]`` for durable state."""
    return [msg.topic, msg.payload, msg.meta]


def message_from_state(value: Any) -> Message:
    """Rebuild a message stored by :func:`message_to_state`."""
    topic, payload, meta = value
    return Message(str(topic), payload, dict(meta) if isinstance(meta, dict) else {})


class Timer:
    """One scheduled callback of a :class:`Schedule` (ordered by deadline, then creation)."""

    __slots__ = ("active", "callback", "handle", "sequence", "when")

    def __init__(self, when: float, sequence: int, callback: Callable[[], None]) -> None:
        self.when = when
        self.sequence = sequence
        self.callback = callback
        self.active = True
        self.handle: TimerHandle | None = None

    def __lt__(self, other: Timer) -> bool:
        return (self.when, self.sequence) < (other.when, other.sequence)


class Schedule:
    """The timers of one node, in deadline order, on the flow's clock and fired by data too.

    Callbacks run synchronously on the flow's loop (from the clock, or from
    :meth:`run_due` / :meth:`run_all` called by the node). A callback that raises is not
    caught here: the caller decides (the clock path is guarded by :meth:`_guard`).
    """

    def __init__(self, clock: Clock, on_error: Callable[[BaseException], None] | None = None) -> None:
        """Schedule on ``clock``; ``on_error`` receives exceptions raised by callbacks run by the clock."""
        self._clock = clock
        self._heap: list[Timer] = []
        self._sequence = itertools.count()
        self._active = 0
        self._on_error = on_error

    def __len__(self) -> int:
        """Return the number of timers still to run."""
        return self._active

    def add(self, when: float, callback: Callable[[], None]) -> Timer:
        """Run ``callback`` once event time reaches ``when``; return the timer (for :meth:`cancel`).

        Data stamped at or after ``when`` (:meth:`run_due`) runs it at once; the clock runs it
        its :attr:`~flowengine.Clock.lateness` after ``when``, so that data stamped before
        ``when`` but still in transit is handled first.
        """
        timer = Timer(when, next(self._sequence), callback)
        heapq.heappush(self._heap, timer)
        self._active += 1
        timer.handle = self._clock.call_at(when + self._clock.lateness, lambda: self._from_clock(timer))
        if len(self._heap) > 2 * self._active + COMPACT_SLACK:
            self._heap = [t for t in self._heap if t.active]
            heapq.heapify(self._heap)
        return timer

    def cancel(self, timer: Timer) -> None:
        """Stop ``timer`` from running (a no-op once it has run or was cancelled)."""
        if timer.active:
            timer.active = False
            self._active -= 1
            if timer.handle is not None:
                timer.handle.cancel()

    def clear(self) -> None:
        """Cancel every pending timer (the node stops; the engine calls this)."""
        for timer in self._heap:
            self.cancel(timer)
        self._heap.clear()

    def next_deadline(self) -> float | None:
        """Return the earliest deadline still to run, or None."""
        heap = self._heap
        while heap and not heap[0].active:
            heapq.heappop(heap)
        return heap[0].when if heap else None

    def run_due(self, now: float) -> None:
        """Run, in deadline order, every timer due at or before ``now``."""
        heap = self._heap
        while heap and heap[0].when <= now:
            timer = heapq.heappop(heap)
            if timer.active:
                self._run(timer)

    def run_all(self) -> None:
        """Run every pending timer, in deadline order (the input has ended)."""
        self.run_due(math.inf)

    def _run(self, timer: Timer) -> None:
        timer.active = False
        self._active -= 1
        if timer.handle is not None:
            timer.handle.cancel()
        timer.callback()

    def _from_clock(self, timer: Timer) -> None:
        if not timer.active:
            return
        # Timers of this node due before this one run first (a wall clock may fire them out of order).
        try:
            self.run_due(timer.when)
            if timer.active:
                self._run(timer)
        except Exception as exc:
            if self._on_error is None:
                raise
            self._on_error(exc)


class Expiry:
    """A lazy min-heap of ``(expires_at, key)``: which per-key entries may be forgotten, and when.

    Push a key each time its expiry moves; :meth:`expired` yields the keys whose pushed
    time has passed. An entry superseded by a later push is yielded too: the caller checks
    the key's current expiry before forgetting it.
    """

    __slots__ = ("_heap", "_sequence")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, str]] = []
        self._sequence = itertools.count()

    def __len__(self) -> int:
        """Return the number of entries (live and superseded)."""
        return len(self._heap)

    def push(self, expires_at: float, key: str) -> None:
        """Note that ``key`` may be forgotten at ``expires_at`` (unless pushed again later)."""
        heapq.heappush(self._heap, (expires_at, next(self._sequence), key))

    def due(self, now: float) -> bool:
        """Return True when some entry expires at or before ``now`` (cheap; call before :meth:`expired`)."""
        return bool(self._heap) and self._heap[0][0] <= now

    def expired(self, now: float) -> Iterator[str]:
        """Pop and yield the keys of entries that expire at or before ``now``."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            yield heapq.heappop(heap)[2]

    def clear(self) -> None:
        """Forget every entry."""
        self._heap.clear()
