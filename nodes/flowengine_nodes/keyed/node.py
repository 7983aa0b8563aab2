"""``KeyedRule``: the transform under ``rule`` and ``trigger`` — keys, cooldowns, durable state, firings.

Durability: the state of every key lives in the flow's ``state`` (``NodeState``, SQLite,
committed per call). A firing is recorded in the same transaction that clears its window or
timer, right after the message leaves the node (no ``await`` in between), so a restarted run
neither repeats nor loses it. In :meth:`KeyedRule.start` pending timers are scheduled again:
on a wall clock an overdue one fires at once, with ``meta.ts`` = its original deadline; on an
event clock when the data passes it (or when the finite replay ends). Memory is bounded: what
has expired is forgotten (and deleted from the state) as event time moves on.

What differs between kinds (the window of ``count``, the timer of an absence, …) is in one
module per kind, behind :class:`~flowengine_nodes.keyed.kind.RuleKind`.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from flowengine import (
    EventClock,
    Expiry,
    Message,
    NodeContext,
    Schedule,
    Transform,
    event_time,
    format_text,
    json_safe,
    key_text,
)
from flowengine_nodes.keyed.absence import Absence
from flowengine_nodes.keyed.count import Count
from flowengine_nodes.keyed.dataclock import DataClock
from flowengine_nodes.keyed.kind import RuleKind
from flowengine_nodes.keyed.sequence import Sequence
from flowengine_nodes.keyed.spec import Kind, RuleSpec
from flowengine_nodes.keyed.when import When

#: The strategy of each kind of rule.
KINDS: dict[Kind, type[RuleKind[Any]]] = {"when": When, "count": Count, "absence": Absence, "sequence": Sequence}
#: State key prefix of cooldowns, and the key of the redelivery guard.
COOLDOWN = "d:"
GUARD = "guard"


def _fingerprint(msg: Message) -> str:
    """Identify a message (topic, payload, ts) to recognise it when a restarted source sends it again."""
    data = orjson.dumps([msg.topic, msg.payload, msg.meta.get("ts")], default=str, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(data, digest_size=12).hexdigest()


class KeyedRule(Transform[Any]):
    """The engine of ``rule`` and ``trigger``: per-key windows and timers, durable, in event time.

    Subclasses set ``config_model`` and implement :meth:`build_spec`; the spec's ``kind``
    chooses the strategy (:data:`KINDS`). Counters: ``fired`` (emitted), ``suppressed`` (by
    ``cooldown``), ``expired`` (entries forgotten), ``redelivered`` (a message seen again after
    a restart, ignored), and the kinds' own (``cancelled``).
    """

    #: In :attr:`changes`: delete this state key.
    DELETE: Any = object()

    def __init__(self, config: Any, context: NodeContext) -> None:
        super().__init__(config, context)
        self.spec = self.build_spec(config)
        #: Whether state is kept (``state: memory`` keeps none).
        self.durable = context.state.durable
        #: The node's timers, on the flow's clock.
        self.schedule = Schedule(context.clock, self._timer_failed)
        #: Repeating timers (absence ``repeat``): on the wall clock live, run only by data on an
        #: event clock, so the end of a finite replay (which runs every timer) stays finite.
        repeat_clock = DataClock(context.clock) if isinstance(context.clock, EventClock) else context.clock
        self.repeats = Schedule(repeat_clock, self._timer_failed)
        #: When a key's entries may be forgotten (kinds and cooldowns push to it).
        self.expiry = Expiry()
        #: Latest event time seen.
        self.now = float("-inf")
        #: Changes to commit, by state key; :attr:`DELETE` deletes (the last change of a key wins).
        self.changes: dict[str, Any] = {}
        self._order = 0
        self._cooldowns: dict[str, tuple[Any, float]] = {}
        self._revisit: list[str] = []
        self._guard: str | None = None
        self.kind = KINDS[self.spec.kind](self)
        self._handle = self.kind.handle

    def build_spec(self, config: Any) -> RuleSpec:
        """Return the rule this node runs."""
        raise NotImplementedError

    # Lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Restore the kind's entries, cooldowns and timers from the flow's state; schedule the timers."""
        state = self.context.state
        if not state.durable:
            return
        restored = 0
        kept = self.kind.prefix or None
        stale: list[str] = []
        for name, value in state.items():
            if name == GUARD:
                self._guard = str(value)
                continue
            prefix, skey = name[:2], name[2:]
            if prefix == kept:
                self.kind.restore(skey, value)
            elif prefix == COOLDOWN and self.spec.cooldown is not None:
                self._cooldowns[skey] = (value["key"], float(value["last"]))
                self.expiry.push(float(value["last"]) + self.spec.cooldown, skey)
            else:
                stale.append(name)  # left by an earlier version of this rule (another kind, no cooldown now)
                continue
            restored += 1
        if stale:
            state.update({}, stale)
            self.logger.info("rule '%s': dropped %d state entries of an earlier version of the rule", self.id,
                             len(stale))
        if restored:
            self.logger.info("rule '%s': restored %d entries (%d pending timers) from the flow's state",
                             self.id, restored, len(self.schedule))

    def flush(self) -> None:
        """The input has ended: every pending timer fires at its deadline (CONTRACT §5)."""
        self.schedule.run_all()

    # Introspection (tests, diagnostics) ---------------------------------------------------

    def live_keys(self) -> int:
        """Return how many keys hold state in memory (the kind's, and cooldowns)."""
        return len(self.kind) + len(self._cooldowns)

    def pending_timers(self) -> int:
        """Return how many timers are scheduled."""
        return len(self.schedule) + len(self.repeats)

    # Hot path ----------------------------------------------------------------------------

    def process(self, msg: Message) -> Message | None:
        """Handle one message; firings leave through ``out`` (this returns None)."""
        ts = event_time(msg, self.context.clock)
        if ts > self.now:
            self.now = ts
            if self.repeats:
                self._run_repeats(ts)
            self.schedule.run_due(ts)
            if self.expiry.due(ts):
                self._evict(ts)
        if self._guard is not None:
            guard, self._guard = self._guard, None
            if _fingerprint(msg) == guard:
                self.counters["redelivered"] += 1
                self.logger.info("rule '%s': ignored a message processed before the restart", self.id)
                return None
        self._handle(msg, ts)
        if self.changes:
            if self.durable:
                self.changes[GUARD] = _fingerprint(msg)
            self.commit()
        return None

    def _run_repeats(self, ts: float) -> None:
        """Run the repeats due by ``ts`` with the other timers due before each, in deadline order."""
        while True:
            due = self.repeats.next_deadline()
            if due is None or due > ts:
                return
            self.schedule.run_due(due)
            self.repeats.run_due(due)

    # For the kinds ---------------------------------------------------------------------

    def key_of(self, msg: Message) -> tuple[Any, str]:
        """Return the key of ``msg`` and its text (the state key suffix)."""
        value = self.spec.key.function(msg)
        return value, key_text(value)

    def next_order(self) -> int:
        """Return a number larger than every one returned before (orders messages of equal time)."""
        self._order += 1
        return self._order

    def revisit(self, skey: str) -> None:
        """From :meth:`RuleKind.forget`: look at ``skey`` again at the next expiry check."""
        self._revisit.append(skey)

    def fire(self, trigger: Message, key: Any, skey: str, ts: float, count: int, first: Message,
             last: Message) -> None:
        """Emit the firing of ``key`` at ``ts`` unless a cooldown suppresses it; record it for commit."""
        cooldown = self.spec.cooldown
        if cooldown is not None:
            previous = self._cooldowns.get(skey)
            if previous is not None and ts < previous[1] + cooldown:
                self.counters["suppressed"] += 1
                return
            self._cooldowns[skey] = (key, ts)
            self.expiry.push(ts + cooldown, skey)
            if self.durable:
                self.changes[COOLDOWN + skey] = {"key": key, "last": ts}
        self.counters["fired"] += 1
        self.emit(self._build(trigger, key, ts, count, first, last))

    def commit(self) -> None:
        """Write what changed in one transaction (nothing is written with ``state: memory``)."""
        changes = self.changes
        if not changes:
            return
        self.changes = {}
        if self.durable:
            delete = self.DELETE
            values = {name: value for name, value in changes.items() if value is not delete}
            deletes = [name for name, value in changes.items() if value is delete]
            try:
                self.context.state.update(values, deletes)
            except TypeError:  # a payload JSON cannot hold (bytes from mqtt-in): store it as text
                self.context.state.update(json_safe(values), deletes)

    # Firing and eviction -------------------------------------------------------------------

    def _build(self, trigger: Message, key: Any, ts: float, count: int, first: Message, last: Message) -> Message:
        spec = self.spec
        topic = trigger.topic
        payload = trigger.payload
        if spec.emit_topic is not None or not spec.keep_payload:
            extra = {"count": count, "key": key, "first": first, "last": last}
            if spec.emit_topic is not None:
                rendered = spec.emit_topic.render(trigger, extra)
                topic = rendered if type(rendered) is str else format_text(rendered)
            if not spec.keep_payload:
                payload = None if spec.emit_payload is None else spec.emit_payload.render(trigger, extra)
        meta = {**trigger.meta, "ts": ts, "rule": self.id}
        return Message(topic, payload, meta)

    def _evict(self, now: float) -> None:
        """Forget the kind's entries and cooldowns whose time has passed (bounded memory)."""
        cooldown = self.spec.cooldown
        forget = self.kind.forget
        forgotten = 0
        for skey in self.expiry.expired(now):
            forgotten += forget(skey, now)
            cooled = self._cooldowns.get(skey)
            if cooled is not None and cooldown is not None and cooled[1] + cooldown <= now:
                del self._cooldowns[skey]
                self.changes[COOLDOWN + skey] = self.DELETE
                forgotten += 1
        if self._revisit:
            for skey in self._revisit:
                self.expiry.push(now, skey)
            self._revisit.clear()
        if forgotten:
            self.counters["expired"] += forgotten
        self.commit()

    def _timer_failed(self, exc: BaseException) -> None:
        self.counters["errors"] += 1
        self.logger.error("node '%s': a timer failed: %s: %s", self.id, type(exc).__name__, exc)
