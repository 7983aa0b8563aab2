"""A clock whose timers only the data runs: how a rule's repeats wait for messages on an event clock."""

from __future__ import annotations

from collections.abc import Callable

from flowengine import Clock, TimerHandle


class DataClock(Clock):
    """The flow's time, but timers are never run by the clock itself.

    A repeating absence timer (``repeat``) on the flow's event clock would make the end of a
    finite replay, which runs every pending timer, endless. On this clock a rule runs its
    repeats itself as later messages carry event time past them (``Schedule.run_due``), each
    with its own deadline as ``meta.ts``; none is invented beyond the data.
    """

    def __init__(self, clock: Clock) -> None:
        """Read the time from ``clock``."""
        self._clock = clock

    def now(self) -> float:
        """The flow clock's time."""
        return self._clock.now()

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        """Schedule nothing: the owner runs its timers as messages pass ``when``."""
        return TimerHandle(when)
