"""Occupancy timeouts in event time: what Zigbee2MQTT's ``occupancy_with_timeout`` timer does, for ``decode``.

A motion sensor such as RTCGQ11LM reports motion and never its end: Zigbee2MQTT starts (or
restarts) a timer of ``occupancy_timeout`` seconds (default 90; 0: none) on every detection
and publishes ``{"occupancy": false}`` when it runs out. :class:`OccupancyTimers` does the
same on the flow's clock (the wall clock live, event time in replays), so a replay of a
capture gives what the live run gave: the clearing message carries ``meta.ts`` = the
deadline (last detection + timeout), whenever it is actually computed.

Every pending timer is kept in the flow's durable state (one entry per device, written when
it is set, deleted when it fires or a new detection replaces it), so a restarted runner
schedules it again: overdue on a wall clock, it fires at once with its original deadline as
``meta.ts``; on an event clock when the data passes the deadline or the finite input ends.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from flowengine import Clock, NodeState, Schedule, Timer, json_safe

#: Durable state key prefix of a pending timer (followed by the device's normalized address).
STATE_PREFIX = "occupancy:"

#: Called when a timer runs out: (device address as reported, deadline, timeout, meta of the detection).
Clear = Callable[[str, float, float, dict[str, Any]], None]


class OccupancyTimers:
    """One ``decode`` node's occupancy timers, one per device, durable, on the flow's clock.

    ``clear`` is called (synchronously, on the flow's loop) for each timer that runs out; it
    publishes. Exceptions raised by ``clear`` from a clock callback go to ``on_error``.
    """

    def __init__(self, clock: Clock, state: NodeState, clear: Clear,
                 on_error: Callable[[BaseException], None] | None = None) -> None:
        self._state = state
        self._durable = state.durable
        self._clear = clear
        self._schedule = Schedule(clock, on_error)
        #: Pending timers by device; the node tests this dict's truth on its hot path (no call).
        self.timers: dict[str, Timer] = {}

    def __len__(self) -> int:
        """Return the number of pending timers."""
        return len(self.timers)

    def restore(self) -> int:
        """Schedule again the timers a previous run left in the durable state; return how many."""
        if not self._durable:
            return 0
        restored = 0
        for name, value in self._state.items(STATE_PREFIX):
            key = name[len(STATE_PREFIX):]
            try:
                deadline = float(value["deadline"])
                timeout = float(value["timeout"])
                ieee = str(value["ieee"])
                meta = dict(value["meta"])
            except (KeyError, TypeError, ValueError):
                self._state.delete(name)  # not ours to understand: an older format
                continue
            self._add(key, ieee, deadline, timeout, meta)
            restored += 1
        return restored

    def detected(self, key: str, ieee: str, ts: float, timeout: float, meta: dict[str, Any]) -> None:
        """Motion at event time ``ts``: (re)start the device's timer, or stop it when ``timeout`` is 0.

        ``key`` identifies the device (its normalized address); ``meta`` is the detection's
        meta, which the clearing message keeps (with ``ts`` = the deadline).
        """
        timer = self.timers.pop(key, None)
        if timer is not None:
            self._schedule.cancel(timer)
        if timeout <= 0:
            if timer is not None and self._durable:
                self._state.delete(STATE_PREFIX + key)
            return
        deadline = ts + timeout
        if self._durable:
            entry = {"deadline": deadline, "timeout": timeout, "ieee": ieee, "meta": meta}
            try:
                self._state.set(STATE_PREFIX + key, entry)
            except TypeError:  # a meta value JSON cannot hold: keep it as text
                self._state.set(STATE_PREFIX + key, json_safe(entry))
        self._add(key, ieee, deadline, timeout, meta)

    def run_due(self, now: float) -> None:
        """Run the timers due at or before event time ``now`` (before a message stamped ``now``)."""
        self._schedule.run_due(now)

    def run_all(self) -> None:
        """The input has ended: every pending timer runs at its deadline."""
        self._schedule.run_all()

    def _add(self, key: str, ieee: str, deadline: float, timeout: float, meta: dict[str, Any]) -> None:
        self.timers[key] = self._schedule.add(deadline, partial(self._fire, key, ieee, deadline, timeout, meta))

    def _fire(self, key: str, ieee: str, deadline: float, timeout: float, meta: dict[str, Any]) -> None:
        self.timers.pop(key, None)
        self._clear(ieee, deadline, timeout, meta)
        # Deleted after the message has left (no await in between): a crash before this line
        # clears occupancy again after a restart rather than never.
        if self._durable:
            self._state.delete(STATE_PREFIX + key)
