"""The interface of a rule kind: what :class:`~flowengine_nodes.keyed.node.KeyedRule` asks of a strategy."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from flowengine import Message

if TYPE_CHECKING:
    from flowengine_nodes.keyed.node import KeyedRule

#: What a kind holds per key (a window, a pending timer, a sequence under way).
E = TypeVar("E")


class RuleKind(ABC, Generic[E]):
    """One kind of keyed rule (count, absence, …): the per-key state it keeps and when it fires.

    The node owns everything kinds share — the key of a message, cooldowns, the firing and
    its message, the changes to commit to durable state, the timers (``rule.schedule``) and
    the expiry heap (``rule.expiry``) — and calls the kind for each message, when the node
    starts (entries of its state to restore) and when event time passes an expiry the kind
    pushed. A kind reports what it fires with :meth:`KeyedRule.fire` and records state
    changes in ``rule.changes`` under its :attr:`prefix` (``rule.DELETE`` deletes). What it
    holds in memory is in :attr:`held`, by key text.
    """

    #: Prefix of this kind's entries in the node's durable state ("" when it keeps none).
    prefix: ClassVar[str] = ""

    def __init__(self, rule: KeyedRule) -> None:
        self.rule = rule
        self.spec = rule.spec
        #: What this kind holds in memory, by key text.
        self.held: dict[str, E] = {}

    @abstractmethod
    def handle(self, msg: Message, ts: float) -> None:
        """Take one message of event time ``ts`` (the node has run the timers and expiries due)."""

    def restore(self, skey: str, value: Any) -> None:
        """Take back one entry of this kind's state (key text ``skey``) when the node starts."""

    def forget(self, skey: str, now: float) -> int:
        """Forget what of ``skey`` has expired by ``now``; return how many entries were forgotten."""
        return 0

    def __len__(self) -> int:
        """Return how many keys hold state of this kind in memory."""
        return len(self.held)
