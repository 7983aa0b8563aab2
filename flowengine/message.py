"""The message that travels along a flow's wires (CONTRACT §2)."""

from __future__ import annotations

from typing import Any, NamedTuple


class Message(NamedTuple):
    """One message: a topic, a JSON-like payload and provenance in ``meta``.

    A message is immutable: a node that changes something builds a new one with
    :meth:`evolve`. ``meta`` is a plain ``dict`` for speed; nodes must treat the
    dict they receive as read-only and copy it before changing it (``{**meta, "k": v}``),
    because the same message may be delivered to several nodes.

    Well-known ``meta`` keys: ``ts`` (event time, float seconds since the epoch),
    ``ieee`` (the originating device), ``source`` (the id of the source node),
    ``model`` and ``friendly_name`` (added by ``decode``), ``rule`` (added by ``rule``),
    ``error`` (on messages routed to an ``errors`` port).
    """

    topic: str
    payload: Any
    meta: dict[str, Any]

    def evolve(self, **changes: Any) -> Message:
        """Return a copy with the given fields (``topic``, ``payload``, ``meta``) replaced."""
        return Message(
            changes.get("topic", self.topic),
            changes.get("payload", self.payload),
            changes.get("meta", self.meta),
        )

    def to_json_obj(self) -> dict[str, Any]:
        """Return the ``{"topic", "payload", "meta"}`` mapping the ``file`` sink writes."""
        return {"topic": self.topic, "payload": self.payload, "meta": self.meta}
