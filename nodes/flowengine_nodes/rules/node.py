"""``rule``: stateful rules over message streams, in event time, kept across restarts (CONTRACT §5).

A rule is one of four kinds, each per key (``key``, an expression; default ``meta.ieee``):

* **when** alone: fires for every message ``when`` matches;
* **count**: ``count: N`` matching messages with ``ts`` inside ``(ts - within, ts]``;
* **absence**: a ``when`` message starts (restarts) a timer, an ``unless`` message cancels it,
  and at ``ts + within`` the rule fires;
* **sequence**: messages matching ``sequence[0]``, ``sequence[1]``, … in order, the last within
  ``within`` of the first.

``cooldown`` suppresses firings of a key until ``cooldown`` after its last emitted one.

This module is the node type: its config and how the config becomes a
:class:`~flowengine_nodes.keyed.spec.RuleSpec`. The engine that runs it (keys, durable state,
cooldowns, firings) and one module per kind are in :mod:`flowengine_nodes.keyed`, which
``trigger`` shares. The user reference is ``docs/rules.md``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, model_validator

from flowengine import Comparison, Duration, Expr, Expression, NodeConfig
from flowengine_nodes.keyed.node import KeyedRule
from flowengine_nodes.keyed.spec import Kind, RuleEmit, RuleSpec

__all__ = ["Rule", "RuleConfig", "RuleEmit", "spec_of"]


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
    repeat: Duration | None = Field(
        None, description="Absence only: after firing, fire again every `repeat` until an `unless` message "
                          "cancels the timer (a reminder).")
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
        if self.repeat is not None and (self.unless is None or self.repeat <= 0):
            raise ValueError("`repeat` needs `unless` (an absence rule) and must be longer than 0s")
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


def spec_of(config: RuleConfig) -> RuleSpec:
    """Build the :class:`RuleSpec` of a ``rule`` config."""
    return RuleSpec.emitting(
        config.emit,
        kind=config.kind,
        when=config.when.function if config.when is not None else None,
        key=config.key,
        within=config.within or 0.0,
        count=config.count or 1,
        unless=config.unless.function if config.unless is not None else None,
        sequence=tuple(condition.function for condition in config.sequence or ()),
        cooldown=config.cooldown,
        repeat=config.repeat,
    )


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
    emitted one. ``repeat`` (absence only) fires again every ``repeat`` after the deadline
    until an ``unless`` message cancels the timer: on an event clock the repeats run as later
    messages carry time past them (none is invented after a finite replay ends).

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
