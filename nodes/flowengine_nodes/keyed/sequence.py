"""The ``sequence`` kind: conditions met in order by one key's messages, the last within ``within`` of the first."""

from __future__ import annotations

from typing import Any

from flowengine import Message, message_from_state, message_to_state
from flowengine_nodes.keyed.kind import RuleKind


class _Progress:
    """A sequence under way for one key: how many conditions are met, since when."""

    __slots__ = ("first", "key", "last", "start", "step")

    def __init__(self, key: Any, start: float, first: Message) -> None:
        self.key = key
        self.start = start
        self.first = first
        self.last = first
        self.step = 1


class Sequence(RuleKind[_Progress]):
    """One sequence under way per key; messages in between that match nothing are ignored."""

    prefix = "s:"

    def handle(self, msg: Message, ts: float) -> None:
        """Continue the key's sequence, complete it (fire), or start one with its first condition."""
        when = self.spec.when
        if when is not None and not when(msg):
            return
        rule = self.rule
        conditions = self.spec.sequence
        key, skey = rule.key_of(msg)
        progress = self.held.get(skey)
        if progress is not None and (ts - progress.start > self.spec.within or ts < progress.start):
            if ts - progress.start > self.spec.within:  # its time has run out: drop it
                del self.held[skey]
                rule.changes[self.prefix + skey] = rule.DELETE
                progress = None
            else:
                return  # older than the sequence's first message: it cannot continue it
        if progress is not None and conditions[progress.step](msg):
            progress.step += 1
            progress.last = msg
            if progress.step == len(conditions):
                del self.held[skey]
                rule.changes[self.prefix + skey] = rule.DELETE
                rule.fire(msg, key, skey, ts, progress.step, progress.first, msg)
                return
        elif conditions[0](msg):
            progress = self.held[skey] = _Progress(key, ts, msg)
            rule.expiry.push(ts + self.spec.within, skey)
        else:
            return
        if rule.durable:
            rule.changes[self.prefix + skey] = {
                "key": key, "start": progress.start, "step": progress.step,
                "first": message_to_state(progress.first), "last": message_to_state(progress.last)}

    def restore(self, skey: str, value: Any) -> None:
        """Take back a sequence under way."""
        progress = _Progress(value["key"], float(value["start"]), message_from_state(value["first"]))
        progress.last = message_from_state(value["last"])
        progress.step = int(value["step"])
        self.held[skey] = progress
        self.rule.expiry.push(progress.start + self.spec.within, skey)

    def forget(self, skey: str, now: float) -> int:
        """Forget a sequence whose time has run out (one that ends exactly now is looked at again later)."""
        progress = self.held.get(skey)
        if progress is None:
            return 0
        end = progress.start + self.spec.within
        if end < now:
            del self.held[skey]
            self.rule.changes[self.prefix + skey] = self.rule.DELETE
            return 1
        if end == now:
            # A message stamped exactly now may still complete it: look again later.
            self.rule.revisit(skey)
        return 0
