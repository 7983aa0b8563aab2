"""Clocks owned by the runtime: the wall clock live, event time in replays and tests.

Nodes never call ``time.time()`` or ``loop.call_later`` for flow logic; they ask
``context.clock`` so that a replayed capture gives the same result as living through it.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from abc import ABC, abstractmethod
from collections.abc import Callable


class TimerHandle:
    """A scheduled callback; :meth:`cancel` stops it from running."""

    __slots__ = ("_cancel", "cancelled", "when")

    def __init__(self, when: float, cancel: Callable[[], None] | None = None) -> None:
        self.when = when
        self.cancelled = False
        self._cancel = cancel

    def cancel(self) -> None:
        """Stop the callback from running (a no-op once it has run)."""
        self.cancelled = True
        if self._cancel is not None:
            self._cancel()
            self._cancel = None


class Clock(ABC):
    """Time as a flow sees it, in float seconds since the epoch."""

    #: How long after a deadline the timers of event-time nodes (a
    #: :class:`~flowengine.scheduling.Schedule`) run from this clock. Sources stamp data when
    #: it arrives, so a message stamped just before a deadline can still be on its way through
    #: the flow when the deadline passes; waiting this long lets it be handled first, so the
    #: output keeps event-time order, as a replay of the same data gives it. Zero where time
    #: follows the data (nothing stamped earlier can come later).
    lateness: float = 0.0

    @abstractmethod
    def now(self) -> float:
        """Return the current time of the flow."""

    @abstractmethod
    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        """Run ``callback`` (synchronously, on the flow's loop) once time reaches ``when``."""

    def observe(self, ts: float) -> None:  # noqa: B027 - deliberately a no-op unless time follows data
        """A source saw data stamped ``ts``: event time moves to it (wall time ignores this)."""

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        """Run ``callback`` ``delay`` seconds from :meth:`now`."""
        return self.call_at(self.now() + delay, callback)


class WallClock(Clock):
    """The real time; timers run on the asyncio loop while no message arrives."""

    #: Far above the usual transit from a source to a node (well under a millisecond; tens of
    #: milliseconds on a loaded machine) and short beside any timeout a flow sets.
    lateness = 0.1

    def now(self) -> float:
        """Return ``time.time()``."""
        return time.time()

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        """Schedule ``callback`` on the running loop at wall-clock time ``when``."""
        loop = asyncio.get_running_loop()
        handle = TimerHandle(when)

        def fire() -> None:
            if not handle.cancelled:
                handle.cancelled = True
                callback()

        delay = max(0.0, when - time.time())
        loop_handle = loop.call_at(loop.time() + delay, fire)
        handle._cancel = loop_handle.cancel  # noqa: SLF001 - the wall clock fills its own handle
        return handle


class EventClock(Clock):
    """Time that moves only when told: by the data (replays) or by a test (virtual time).

    :meth:`advance` runs every timer due at or before the new time, in deadline order,
    before returning, so a timer fires before the message that carried time past it.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._timers: list[tuple[float, int, TimerHandle, Callable[[], None]]] = []
        self._sequence = itertools.count()

    def now(self) -> float:
        """Return the latest time seen."""
        return self._now

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        """Schedule ``callback`` for event time ``when``."""
        handle = TimerHandle(when)
        heapq.heappush(self._timers, (when, next(self._sequence), handle, callback))
        return handle

    def advance(self, to: float) -> None:
        """Move time forward to ``to`` (never backwards), running the timers due by then."""
        timers = self._timers
        while timers and timers[0][0] <= to:
            when, _, handle, callback = heapq.heappop(timers)
            if handle.cancelled:
                continue
            handle.cancelled = True
            self._now = max(self._now, when)
            callback()
        self._now = max(self._now, to)

    def observe(self, ts: float) -> None:
        """Event time follows the data: advance to ``ts``."""
        if ts > self._now or (self._timers and self._timers[0][0] <= ts):
            self.advance(ts)

    def run_all(self) -> None:
        """Run every pending timer at its deadline (a finite replay has ended)."""
        while self._timers:
            self.advance(self._timers[0][0])

    def pending(self) -> int:
        """Return how many timers are still scheduled (cancelled ones excluded)."""
        return sum(1 for entry in self._timers if not entry[2].cancelled)
