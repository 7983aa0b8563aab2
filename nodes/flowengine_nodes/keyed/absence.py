"""The ``absence`` kind: a ``when`` message starts (restarts) a timer, ``unless`` cancels it, the deadline fires.

``trigger`` is this kind with every message a ``when`` message and nothing that cancels.
With ``repeat`` (a reminder) a timer that ran out starts again, ``repeat`` later, on the node's
repeat schedule, until an ``unless`` message cancels it.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from flowengine import Message, Schedule, Timer, message_from_state, message_to_state
from flowengine_nodes.keyed.kind import RuleKind


class _Pending:
    """A pending absence timer of one key."""

    __slots__ = ("count", "deadline", "first", "key", "last", "schedule", "start", "timer")

    def __init__(self, key: Any, start: float, deadline: float, first: Message, last: Message, count: int) -> None:
        self.key = key
        self.start = start
        self.deadline = deadline
        self.first = first
        self.last = last
        self.count = count
        self.timer: Timer | None = None
        #: The schedule ``timer`` is on (the node's, or its repeat schedule).
        self.schedule: Schedule | None = None


class Absence(RuleKind[_Pending]):
    """One pending timer per key; counts ``cancelled`` timers."""

    prefix = "a:"

    def handle(self, msg: Message, ts: float) -> None:
        """Cancel the key's timer on an ``unless`` message; start or restart it on a ``when`` message."""
        unless = self.spec.unless
        when = self.spec.when
        matches_unless = unless is not None and unless(msg)
        matches_when = when is None or when(msg)
        if not (matches_unless or matches_when):
            return
        rule = self.rule
        key, skey = rule.key_of(msg)
        pending = self.held.get(skey)
        if matches_unless and pending is not None and ts >= pending.start:
            self._cancel(skey, pending)
            pending = None
        if not matches_when:
            return
        deadline = ts + self.spec.within
        if pending is None:
            pending = self.held[skey] = _Pending(key, ts, deadline, msg, msg, 1)
        elif ts >= pending.start:
            # A newer `when` message restarts the timer; `first` and `count` keep the run's history.
            pending.start, pending.deadline, pending.last = ts, deadline, msg
            pending.count += 1
            if pending.timer is not None and pending.schedule is not None:
                pending.schedule.cancel(pending.timer)
        else:
            return  # older than the message that started the timer: it changes nothing
        pending.timer = rule.schedule.add(deadline, partial(self._on_deadline, skey))
        pending.schedule = rule.schedule
        self._record(skey, pending)

    def _record(self, skey: str, pending: _Pending) -> None:
        if self.rule.durable:
            self.rule.changes[self.prefix + skey] = {
                "key": pending.key, "start": pending.start, "deadline": pending.deadline, "count": pending.count,
                "first": message_to_state(pending.first), "last": message_to_state(pending.last)}

    def restore(self, skey: str, value: Any) -> None:
        """Take back a pending timer and schedule it again."""
        pending = _Pending(value["key"], float(value["start"]), float(value["deadline"]),
                           message_from_state(value["first"]), message_from_state(value["last"]),
                           int(value["count"]))
        self.held[skey] = pending
        pending.timer = self.rule.schedule.add(pending.deadline, partial(self._on_deadline, skey))
        pending.schedule = self.rule.schedule

    def _cancel(self, skey: str, pending: _Pending) -> None:
        rule = self.rule
        if pending.timer is not None and pending.schedule is not None:
            pending.schedule.cancel(pending.timer)
        del self.held[skey]
        rule.changes[self.prefix + skey] = rule.DELETE
        rule.counters["cancelled"] += 1

    def _on_deadline(self, skey: str) -> None:
        """A timer ran out: fire with the `when` message that started it, at its deadline."""
        repeat = self.spec.repeat
        pending = self.held.get(skey) if repeat is not None else self.held.pop(skey, None)
        if pending is None:
            return
        rule = self.rule
        deadline = pending.deadline
        if deadline > rule.now:
            rule.now = deadline
        if repeat is not None:  # a reminder: the timer starts again
            pending.deadline = deadline + repeat
            pending.timer = rule.repeats.add(pending.deadline, partial(self._on_deadline, skey))
            pending.schedule = rule.repeats
            self._record(skey, pending)
        else:
            rule.changes[self.prefix + skey] = rule.DELETE
        rule.fire(pending.last, pending.key, skey, deadline, pending.count, pending.first, pending.last)
        rule.commit()
