"""The ``count`` kind: fire when ``count`` matching messages of one key fall inside ``(ts - within, ts]``."""

from __future__ import annotations

from bisect import insort
from typing import Any

from flowengine import Message, message_from_state, message_to_state
from flowengine_nodes.keyed.kind import RuleKind


class _Window:
    """A count window of one key: ``(ts, order, message)`` entries sorted by time."""

    __slots__ = ("entries", "key")

    def __init__(self, key: Any) -> None:
        self.key = key
        self.entries: list[tuple[float, int, Message]] = []

    def expires(self, within: float) -> float:
        return self.entries[-1][0] + within if self.entries else float("-inf")


class Count(RuleKind[_Window]):
    """A sliding window per key; a firing empties it (emitted or suppressed, the count starts again)."""

    prefix = "c:"

    def handle(self, msg: Message, ts: float) -> None:
        """Add a matching message to its key's window; fire when the window holds ``count``."""
        when = self.spec.when
        if when is not None and not when(msg):
            return
        rule = self.rule
        key, skey = rule.key_of(msg)
        within = self.spec.within
        window = self.held.get(skey)
        if window is None:
            window = self.held[skey] = _Window(key)
        entries = window.entries
        floor = ts - within
        if entries and entries[0][0] <= floor:
            entries[:] = [entry for entry in entries if entry[0] > floor]
        insort(entries, (ts, rule.next_order(), msg))
        inside = [entry for entry in entries if entry[0] <= ts]
        if len(inside) >= self.spec.count:
            # The count starts again from zero, whether the firing is emitted or suppressed.
            del self.held[skey]
            rule.changes[self.prefix + skey] = rule.DELETE
            rule.fire(msg, key, skey, ts, len(inside), inside[0][2], msg)
            return
        if rule.durable:
            rule.changes[self.prefix + skey] = {
                "key": key, "entries": [[t, message_to_state(m)] for t, _, m in entries]}
        rule.expiry.push(window.expires(within), skey)

    def restore(self, skey: str, value: Any) -> None:
        """Take back a stored window."""
        window = _Window(value["key"])
        for ts, stored in value["entries"]:
            window.entries.append((float(ts), self.rule.next_order(), message_from_state(stored)))
        self.held[skey] = window
        self.rule.expiry.push(window.expires(self.spec.within), skey)

    def forget(self, skey: str, now: float) -> int:
        """Forget the window of ``skey`` once its newest message has left it."""
        window = self.held.get(skey)
        if window is None or window.expires(self.spec.within) > now:
            return 0
        del self.held[skey]
        self.rule.changes[self.prefix + skey] = self.rule.DELETE
        return 1
