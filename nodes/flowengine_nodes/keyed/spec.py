"""A keyed rule as the engine runs it, and the ``emit`` templates of a node's config."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from flowengine import Expression, Message, NodeConfig, RuleTemplate, Template

#: The kinds of rule (one module each in this room).
Kind = Literal["when", "count", "absence", "sequence"]


class RuleEmit(NodeConfig):
    """What a firing emits: templates that also see ``count``, ``key``, ``first`` and ``last``."""

    topic: RuleTemplate | None = Field(
        None, description="Topic template; default: the triggering message's topic.")
    payload: RuleTemplate | None = Field(
        None, description="Payload template (a mapping of templates, usually); default: the triggering "
                          "message's payload.")


@dataclass(frozen=True)
class RuleSpec:
    """A rule as :class:`~flowengine_nodes.keyed.node.KeyedRule` runs it (``rule`` and ``trigger`` build one)."""

    kind: Kind
    when: Callable[[Message], Any] | None
    key: Expression
    within: float = 0.0
    count: int = 1
    unless: Callable[[Message], Any] | None = None
    sequence: tuple[Callable[[Message], Any], ...] = ()
    cooldown: float | None = None
    #: Absence only: after firing, fire again every ``repeat`` seconds until cancelled.
    repeat: float | None = None
    emit_topic: Template | None = None
    emit_payload: Template | None = None
    keep_payload: bool = True

    @classmethod
    def emitting(cls, emit: RuleEmit | None, **fields: Any) -> RuleSpec:
        """Build a spec whose firings emit ``emit`` (None: the triggering message passes on)."""
        return cls(
            emit_topic=emit.topic if emit is not None else None,
            emit_payload=emit.payload if emit is not None else None,
            keep_payload=emit is None or "payload" not in emit.model_fields_set,
            **fields,
        )
