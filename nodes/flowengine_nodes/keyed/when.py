"""The ``when`` kind: fire for every message ``when`` matches (per key only for ``cooldown``)."""

from __future__ import annotations

from flowengine import Message
from flowengine_nodes.keyed.kind import RuleKind


class When(RuleKind[None]):
    """Fires for every matching message; keeps no state of its own."""

    def handle(self, msg: Message, ts: float) -> None:
        """Fire when ``when`` matches (or is not given)."""
        when = self.spec.when
        if when is not None and not when(msg):
            return
        key, skey = self.rule.key_of(msg)
        self.rule.fire(msg, key, skey, ts, 1, msg, msg)
