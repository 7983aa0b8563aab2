"""``rule``: stateful rules over message streams, in event time, kept across restarts (CONTRACT §5).

A rule is one of four kinds, each per key (``key``, an expression; default ``meta.ieee``):

* **when** alone: fires for every message ``when`` matches;
* **count**: ``count: N`` matching messages with ``ts`` inside ``(ts - within, ts]``;
* **absence**: a ``when`` message starts (restarts) a timer, an ``unless`` message cancels it,
  and at ``ts + within`` the rule fires;
* **sequence**: messages matching ``sequence[0]``, ``sequence[1]``, … in order, the last within
  ``within`` of the first.

``cooldown`` suppresses firings of a key until ``cooldown`` after its last emitted one.

Durability: the windows, sequences, cooldowns and pending absence timers of every key live in
the flow's ``state`` (:class:`~flowengine.state.NodeState`, SQLite, committed per call). A firing
is recorded in the same transaction that clears its window or timer, right after the message
leaves the node (no ``await`` in between), so a restarted run neither repeats nor loses it. In
:meth:`Rule.start` pending timers are scheduled again: on a wall clock an overdue one fires at
once, with ``meta.ts`` = its original deadline; on an event clock when the data passes it (or
when the finite replay ends). Memory is bounded: windows whose time has passed are forgotten
(and deleted from the state) as event time moves on.

The user reference is ``docs/rules.md``.
"""

from __future__ import annotations

import hashlib
from bisect import insort
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar, Literal

import orjson
from pydantic import Field, model_validator

from flowengine import (
    Comparison,
    Duration,
    Expiry,
    Expr,
    Expression,
    Message,
    NodeConfig,
    NodeContext,
    RuleTemplate,
    Template,
    Timer,
    Transform,
    event_time,
    format_text,
    json_safe,
    key_text,
    message_from_state,
    message_to_state,
)

Kind = Literal["when", "count", "absence", "sequence"]

#: State key prefixes: count windows, absence timers, sequences, cooldowns; and the guard key.
_COUNT, _ABSENCE, _SEQUENCE, _COOLDOWN = "c:", "a:", "s:", "d:"
_GUARD = "guard"
_DELETE = object()


class RuleEmit(NodeConfig):
    """What a firing emits: templates that also see ``count``, ``key``, ``first`` and ``last``."""

    topic: RuleTemplate | None = Field(
        None, description="Topic template; default: the triggering message's topic.")
    payload: RuleTemplate | None = Field(
        None, description="Payload template (a mapping of templates, usually); default: the triggering "
                          "message's payload.")


class RuleConfig(NodeConfig):
    """Config of ``rule`` (CONTRACT §5): ``when`` and at most one of ``count``, ``unless``, ``sequence``."""

    when: Expr | None = Field(
        None, description="Messages the rule looks at. Alone: the rule fires for each. Required except with "
                          "`sequence` (where it pre-filters).")
    count: int | None = Field(
        None, ge=1, description="Fire when this many `when` messages of one key fall within `within`.")
    unless: Expr | None = Field(
        None, description="Absence: a `when` message starts a timer of `within`; a message matching this "
                          "cancels it; at the deadline the rule fires.")
    sequence: list[Expr] | None = Field(
        None, min_length=2, description="Conditions that messages of one key must match in order, the last "
                                        "within `within` of the first.")
    within: Duration | None = Field(
        None, description="Window of `count` and `sequence`, timer of `unless` (e.g. 60s, 5m).")
    cooldown: Duration | None = Field(
        None, description="After an emitted firing, suppress firings of the same key for this long.")
    key: Expr = Field(
        "meta.ieee", validate_default=True,
        description="Expression giving the key state is kept per (default: the device, meta.ieee).")
    emit: RuleEmit | None = Field(
        None, description="{topic, payload} templates of the message a firing emits; without it the "
                          "triggering message passes on.")

    @model_validator(mode="after")
    def _one_kind(self) -> RuleConfig:
        given = [name for name in ("count", "unless", "sequence") if getattr(self, name) is not None]
        if len(given) > 1:
            raise ValueError(f"a rule has at most one of count, unless, sequence; this one has {' and '.join(given)}")
        if self.when is None and self.sequence is None:
            raise ValueError("a rule needs `when` (or a `sequence`)")
        if given and self.within is None:
            raise ValueError(f"`{given[0]}` needs `within` (e.g. within: 60s)")
        if not given and self.within is not None:
            raise ValueError("`within` only makes sense with count, unless or sequence")
        if self.within is not None and self.within <= 0:
            raise ValueError("`within` must be longer than 0s")
        return self

    @property
    def kind(self) -> Kind:
        """``when``, ``count``, ``absence`` or ``sequence``."""
        if self.count is not None:
            return "count"
        if self.unless is not None:
            return "absence"
        if self.sequence is not None:
            return "sequence"
        return "when"


@dataclass(frozen=True)
class RuleSpec:
    """A rule as the engine below runs it (``rule`` and ``trigger`` both build one)."""

    kind: Kind
    when: Callable[[Message], Any] | None
    key: Expression
    within: float = 0.0
    count: int = 1
    unless: Callable[[Message], Any] | None = None
    sequence: tuple[Callable[[Message], Any], ...] = ()
    cooldown: float | None = None
    emit_topic: Template | None = None
    emit_payload: Template | None = None
    keep_payload: bool = True


def spec_of(config: RuleConfig) -> RuleSpec:
    """Build the :class:`RuleSpec` of a ``rule`` config."""
    emit = config.emit
    return RuleSpec(
        kind=config.kind,
        when=config.when.function if config.when is not None else None,
        key=config.key,
        within=config.within or 0.0,
        count=config.count or 1,
        unless=config.unless.function if config.unless is not None else None,
        sequence=tuple(condition.function for condition in config.sequence or ()),
        cooldown=config.cooldown,
        emit_topic=emit.topic if emit is not None else None,
        emit_payload=emit.payload if emit is not None else None,
        keep_payload=emit is None or "payload" not in emit.model_fields_set,
    )


class _Window:
    """A count window of one key: ``(ts, order, message)`` entries sorted by time."""

    __slots__ = ("entries", "key")

    def __init__(self, key: Any) -> None:
        self.key = key
        self.entries: list[tuple[float, int, Message]] = []

    def expires(self, within: float) -> float:
        return self.entries[-1][0] + within if self.entries else float("-inf")


class _Pending:
    """A pending absence timer of one key."""

    __slots__ = ("count", "deadline", "first", "key", "last", "start", "timer")

    def __init__(self, key: Any, start: float, deadline: float, first: Message, last: Message, count: int) -> None:
        self.key = key
        self.start = start
        self.deadline = deadline
        self.first = first
        self.last = last
        self.count = count
        self.timer: Timer | None = None


class _Progress:
    """A sequence under way for one key: how many conditions are met, since when."""

    __slots__ = ("first", "key", "last", "start", "step")

    def __init__(self, key: Any, start: float, first: Message) -> None:
        self.key = key
        self.start = start
        self.first = first
        self.last = first
        self.step = 1


def _fingerprint(msg: Message) -> str:
    """Identify a message (topic, payload, ts) to recognise it when a restarted source sends it again."""
    data = orjson.dumps([msg.topic, msg.payload, msg.meta.get("ts")], default=str, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(data, digest_size=12).hexdigest()


class KeyedRule(Transform[Any]):
    """The engine of ``rule`` and ``trigger``: per-key windows and timers, durable, in event time.

    Subclasses set ``config_model`` and implement :meth:`build_spec`. Counters:
    ``fired`` (emitted), ``suppressed`` (by ``cooldown``), ``expired`` (windows forgotten),
    ``redelivered`` (a message seen again after a restart, ignored).
    """

    def __init__(self, config: Any, context: NodeContext) -> None:
        super().__init__(config, context)
        self.spec = self.build_spec(config)
        self._durable = context.state.durable
        self._schedule = context.schedule()
        self._expiry = Expiry()
        self._order = 0
        self._now = float("-inf")
        self._windows: dict[str, _Window] = {}
        self._pending: dict[str, _Pending] = {}
        self._progress: dict[str, _Progress] = {}
        self._cooldowns: dict[str, tuple[Any, float]] = {}
        #: Changes to commit, by state key; ``_DELETE`` deletes (the last change of a key wins).
        self._changes: dict[str, Any] = {}
        self._guard: str | None = None
        handlers: dict[Kind, Callable[[Message, float], None]] = {
            "when": self._on_when, "count": self._on_count, "absence": self._on_absence,
            "sequence": self._on_sequence}
        self._handle = handlers[self.spec.kind]

    def build_spec(self, config: Any) -> RuleSpec:
        """Return the rule this node runs."""
        raise NotImplementedError

    # Lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Restore windows, sequences, cooldowns and timers from the flow's state; schedule the timers."""
        state = self.context.state
        if not state.durable:
            return
        restored = 0
        kept = {"count": _COUNT, "absence": _ABSENCE, "sequence": _SEQUENCE}.get(self.spec.kind)
        stale: list[str] = []
        for name, value in state.items():
            if name == _GUARD:
                self._guard = str(value)
                continue
            prefix, skey = name[:2], name[2:]
            if (prefix != kept and prefix != _COOLDOWN) or (prefix == _COOLDOWN and self.spec.cooldown is None):
                stale.append(name)  # left by an earlier version of this rule (another kind, no cooldown now)
                continue
            restored += 1
            if prefix == _COUNT:
                window = _Window(value["key"])
                for ts, stored in value["entries"]:
                    window.entries.append((float(ts), self._next_order(), message_from_state(stored)))
                self._windows[skey] = window
                self._expiry.push(window.expires(self.spec.within), skey)
            elif prefix == _ABSENCE:
                pending = _Pending(value["key"], float(value["start"]), float(value["deadline"]),
                                   message_from_state(value["first"]), message_from_state(value["last"]),
                                   int(value["count"]))
                self._pending[skey] = pending
                pending.timer = self._schedule.add(pending.deadline, partial(self._on_deadline, skey))
            elif prefix == _SEQUENCE:
                progress = _Progress(value["key"], float(value["start"]), message_from_state(value["first"]))
                progress.last = message_from_state(value["last"])
                progress.step = int(value["step"])
                self._progress[skey] = progress
                self._expiry.push(progress.start + self.spec.within, skey)
            elif prefix == _COOLDOWN:
                self._cooldowns[skey] = (value["key"], float(value["last"]))
                if self.spec.cooldown is not None:
                    self._expiry.push(float(value["last"]) + self.spec.cooldown, skey)
        if stale:
            state.update({}, stale)
            self.logger.info("rule '%s': dropped %d state entries of an earlier version of the rule", self.id,
                             len(stale))
        if restored:
            self.logger.info("rule '%s': restored %d entries (%d pending timers) from the flow's state",
                             self.id, restored, len(self._pending))

    def flush(self) -> None:
        """The input has ended: every pending timer fires at its deadline (CONTRACT §5)."""
        self._schedule.run_all()

    # Introspection (tests, diagnostics) ---------------------------------------------------

    def live_keys(self) -> int:
        """Return how many keys hold state in memory (windows, timers, sequences, cooldowns)."""
        return len(self._windows) + len(self._pending) + len(self._progress) + len(self._cooldowns)

    def pending_timers(self) -> int:
        """Return how many timers are scheduled."""
        return len(self._schedule)

    # Hot path ----------------------------------------------------------------------------

    def process(self, msg: Message) -> Message | None:
        """Handle one message; firings leave through ``out`` (this returns None)."""
        ts = event_time(msg, self.context.clock)
        if ts > self._now:
            self._now = ts
            self._schedule.run_due(ts)
            if self._expiry.due(ts):
                self._evict(ts)
        if self._guard is not None:
            guard, self._guard = self._guard, None
            if _fingerprint(msg) == guard:
                self.counters["redelivered"] += 1
                self.logger.info("rule '%s': ignored a message processed before the restart", self.id)
                return None
        self._handle(msg, ts)
        if self._changes:
            if self._durable:
                self._changes[_GUARD] = _fingerprint(msg)
            self._commit()
        return None

    def _key(self, msg: Message) -> tuple[Any, str]:
        value = self.spec.key.function(msg)
        return value, key_text(value)

    def _next_order(self) -> int:
        self._order += 1
        return self._order

    def _on_when(self, msg: Message, ts: float) -> None:
        when = self.spec.when
        if when is not None and not when(msg):
            return
        key, skey = self._key(msg)
        self._fire(msg, key, skey, ts, 1, msg, msg)

    def _on_count(self, msg: Message, ts: float) -> None:
        when = self.spec.when
        if when is not None and not when(msg):
            return
        key, skey = self._key(msg)
        within = self.spec.within
        window = self._windows.get(skey)
        if window is None:
            window = self._windows[skey] = _Window(key)
        entries = window.entries
        floor = ts - within
        if entries and entries[0][0] <= floor:
            entries[:] = [entry for entry in entries if entry[0] > floor]
        insort(entries, (ts, self._next_order(), msg))
        inside = [entry for entry in entries if entry[0] <= ts]
        if len(inside) >= self.spec.count:
            # The count starts again from zero, whether the firing is emitted or suppressed.
            del self._windows[skey]
            self._changes[_COUNT + skey] = _DELETE
            self._fire(msg, key, skey, ts, len(inside), inside[0][2], msg)
            return
        if self._durable:
            self._changes[_COUNT + skey] = {
                "key": key, "entries": [[t, message_to_state(m)] for t, _, m in entries]}
        self._expiry.push(window.expires(within), skey)

    def _on_absence(self, msg: Message, ts: float) -> None:
        unless = self.spec.unless
        when = self.spec.when
        matches_unless = unless is not None and unless(msg)
        matches_when = when is None or when(msg)
        if not (matches_unless or matches_when):
            return
        key, skey = self._key(msg)
        pending = self._pending.get(skey)
        if matches_unless and pending is not None and ts >= pending.start:
            self._cancel(skey, pending)
            pending = None
        if not matches_when:
            return
        deadline = ts + self.spec.within
        if pending is None:
            pending = self._pending[skey] = _Pending(key, ts, deadline, msg, msg, 1)
        elif ts >= pending.start:
            # A newer `when` message restarts the timer; `first` and `count` keep the run's history.
            pending.start, pending.deadline, pending.last = ts, deadline, msg
            pending.count += 1
            if pending.timer is not None:
                self._schedule.cancel(pending.timer)
        else:
            return  # older than the message that started the timer: it changes nothing
        pending.timer = self._schedule.add(deadline, partial(self._on_deadline, skey))
        if self._durable:
            self._changes[_ABSENCE + skey] = {
                "key": key, "start": pending.start, "deadline": pending.deadline, "count": pending.count,
                "first": message_to_state(pending.first), "last": message_to_state(pending.last)}

    def _cancel(self, skey: str, pending: _Pending) -> None:
        if pending.timer is not None:
            self._schedule.cancel(pending.timer)
        del self._pending[skey]
        self._changes[_ABSENCE + skey] = _DELETE
        self.counters["cancelled"] += 1

    def _on_deadline(self, skey: str) -> None:
        """An absence timer ran out: fire with the `when` message that started it, at its deadline."""
        pending = self._pending.pop(skey, None)
        if pending is None:
            return
        if pending.deadline > self._now:
            self._now = pending.deadline
        self._changes[_ABSENCE + skey] = _DELETE
        self._fire(pending.last, pending.key, skey, pending.deadline, pending.count, pending.first, pending.last)
        self._commit()

    def _on_sequence(self, msg: Message, ts: float) -> None:
        when = self.spec.when
        if when is not None and not when(msg):
            return
        conditions = self.spec.sequence
        key, skey = self._key(msg)
        progress = self._progress.get(skey)
        if progress is not None and (ts - progress.start > self.spec.within or ts < progress.start):
            if ts - progress.start > self.spec.within:  # its time has run out: drop it
                del self._progress[skey]
                self._changes[_SEQUENCE + skey] = _DELETE
                progress = None
            else:
                return  # older than the sequence's first message: it cannot continue it
        if progress is not None and conditions[progress.step](msg):
            progress.step += 1
            progress.last = msg
            if progress.step == len(conditions):
                del self._progress[skey]
                self._changes[_SEQUENCE + skey] = _DELETE
                self._fire(msg, key, skey, ts, progress.step, progress.first, msg)
                return
        elif conditions[0](msg):
            progress = self._progress[skey] = _Progress(key, ts, msg)
            self._expiry.push(ts + self.spec.within, skey)
        else:
            return
        if self._durable:
            self._changes[_SEQUENCE + skey] = {
                "key": key, "start": progress.start, "step": progress.step,
                "first": message_to_state(progress.first), "last": message_to_state(progress.last)}

    # Firing, state, eviction -------------------------------------------------------------

    def _fire(self, trigger: Message, key: Any, skey: str, ts: float, count: int, first: Message,
              last: Message) -> None:
        """Emit the firing of ``key`` at ``ts`` unless a cooldown suppresses it; record it for commit."""
        cooldown = self.spec.cooldown
        if cooldown is not None:
            previous = self._cooldowns.get(skey)
            if previous is not None and ts < previous[1] + cooldown:
                self.counters["suppressed"] += 1
                return
            self._cooldowns[skey] = (key, ts)
            self._expiry.push(ts + cooldown, skey)
            if self._durable:
                self._changes[_COOLDOWN + skey] = {"key": key, "last": ts}
        self.counters["fired"] += 1
        self.emit(self._build(trigger, key, ts, count, first, last))

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

    def _commit(self) -> None:
        """Write what changed in one transaction (nothing is written with ``state: memory``)."""
        changes = self._changes
        if not changes:
            return
        self._changes = {}
        if self._durable:
            values = {name: value for name, value in changes.items() if value is not _DELETE}
            deletes = [name for name, value in changes.items() if value is _DELETE]
            try:
                self.context.state.update(values, deletes)
            except TypeError:  # a payload JSON cannot hold (bytes from mqtt-in): store it as text
                self.context.state.update(json_safe(values), deletes)

    def _evict(self, now: float) -> None:
        """Forget windows, sequences and cooldowns whose time has passed (bounded memory)."""
        within = self.spec.within
        cooldown = self.spec.cooldown
        forgotten = 0
        again: list[str] = []
        for skey in self._expiry.expired(now):
            window = self._windows.get(skey)
            if window is not None and window.expires(within) <= now:
                del self._windows[skey]
                self._changes[_COUNT + skey] = _DELETE
                forgotten += 1
            progress = self._progress.get(skey)
            if progress is not None:
                if progress.start + within < now:
                    del self._progress[skey]
                    self._changes[_SEQUENCE + skey] = _DELETE
                    forgotten += 1
                elif progress.start + within == now:
                    # A message stamped exactly now may still complete it: look again later.
                    again.append(skey)
            cooled = self._cooldowns.get(skey)
            if cooled is not None and cooldown is not None and cooled[1] + cooldown <= now:
                del self._cooldowns[skey]
                self._changes[_COOLDOWN + skey] = _DELETE
                forgotten += 1
        for skey in again:
            self._expiry.push(now, skey)
        if forgotten:
            self.counters["expired"] += forgotten
        self._commit()



class Rule(KeyedRule):
    """Stateful rule over a message stream: count, absence, sequence or every match; per key, in event time.

    ``when`` alone fires for every matching message. ``count: N`` + ``within`` fires when N
    matching messages of one key fall inside ``(ts - within, ts]`` (then counts from zero
    again). ``unless`` + ``within`` (absence): a ``when`` message starts or restarts a timer,
    an ``unless`` message cancels it, and at ``ts + within`` the rule fires — a message
    matching both cancels and starts anew. ``sequence`` + ``within``: conditions met in
    order by one key's messages (others in between ignored), the last within ``within`` of
    the first; a message that does not continue a sequence but matches its first condition
    restarts it. ``cooldown`` suppresses a key's firings until ``cooldown`` after its last
    emitted one.

    A firing emits ``emit`` (``topic`` and ``payload`` templates seeing the triggering message
    and ``count``, ``key``, ``first``, ``last``) or the triggering message itself, with the
    triggering message's ``meta`` plus ``meta.ts`` = the firing time (absence: the deadline)
    and ``meta.rule`` = this node's id. Event time is ``meta.ts``. State is durable in the
    flow's ``state`` file: after a restart windows continue and overdue timers fire once.

    Example:
        ```yaml
        version: 1
        nodes:
          - id: capture
            type: zigbee-replay
            path: captures/front_door.jsonl
            wires: [decode]
          - id: decode
            type: decode
            wires: {events: [intrusion]}
          - id: intrusion
            type: rule
            when: "payload.event in ['finger_not_match', 'password_not_match']"
            count: 3
            within: 60s
            cooldown: 5m
            emit:
              topic: "alerts/{{ meta.friendly_name }}/intrusion"
              payload: {attempts: "{{ count }}", since: "{{ first.meta.ts }}", last: "{{ payload.event }}"}
            wires: [alerts]
          - id: alerts
            type: file
            path: out/alerts.jsonl
        ```
    """

    config_model: ClassVar[type[NodeConfig]] = RuleConfig

    def build_spec(self, config: Any) -> RuleSpec:
        """Return the rule of this node's config."""
        assert isinstance(config, RuleConfig)
        return spec_of(config)

    @classmethod
    def comparisons(cls, config: Any) -> list[Comparison]:
        """The constants ``when``, ``unless`` and the ``sequence`` conditions compare properties with."""
        found: list[Comparison] = []
        conditions: list[tuple[tuple[str | int, ...], Expression]] = []
        if config.when is not None:
            conditions.append((("when",), config.when))
        if config.unless is not None:
            conditions.append((("unless",), config.unless))
        for index, condition in enumerate(config.sequence or ()):
            conditions.append((("sequence", index), condition))
        for where, expression in conditions:
            found.extend(Comparison(tuple(str(part) for part in c.path), c.op, c.constant, where)
                         for c in expression.comparisons())
        return found
