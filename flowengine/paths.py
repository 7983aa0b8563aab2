"""Property paths into a message (``topic``, ``payload.a.b``, ``meta.x``): read, set, delete.

Used by nodes that name a property in their config (``switch``'s ``property``, ``change``'s
``set``/``delete``/``move``, ``dedupe``). Reading never fails: a missing key reads as ``None``.
Writing copies every mapping along the path, so the incoming message is never changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flowengine.message import Message

ROOTS = ("topic", "payload", "meta")
Path = tuple[str, ...]


def parse_path(text: str) -> Path:
    """Split ``payload.a.b`` into ``("payload", "a", "b")``; raise ValueError when malformed."""
    parts = tuple(text.split("."))
    if parts[0] not in ROOTS:
        raise ValueError(f"a path starts with one of {', '.join(ROOTS)}, not '{parts[0]}'")
    if parts[0] == "topic" and len(parts) > 1:
        raise ValueError("'topic' is a string and has no members")
    if any(not part or part.startswith("_") for part in parts):
        raise ValueError(f"'{text}' is not a valid path (empty part, or a part starting with '_')")
    return parts


def compile_getter(path: Path) -> Callable[[Message], Any]:
    """Return a fast function reading ``path`` from a message (``None`` when missing)."""
    root, rest = path[0], path[1:]
    index = ROOTS.index(root)
    if not rest:
        return lambda msg: msg[index]
    if len(rest) == 1:
        key = rest[0]

        def get_one(msg: Message) -> Any:
            container = msg[index]
            return container.get(key) if type(container) is dict else None

        return get_one

    def get_deep(msg: Message) -> Any:
        value = msg[index]
        for key in rest:
            if type(value) is not dict:
                return None
            value = value.get(key)
        return value

    return get_deep


_MISSING = object()


def with_key(container: Any, keys: Path, value: Any) -> dict[str, Any]:
    """Return a copy of ``container`` (a new dict when it is not one) with ``keys`` set to ``value``."""
    copy = dict(container) if isinstance(container, dict) else {}
    head = keys[0]
    if len(keys) == 1:
        if value is _MISSING:
            copy.pop(head, None)
        else:
            copy[head] = value
    else:
        copy[head] = with_key(copy.get(head), keys[1:], value)
    return copy


def _replace_root(msg: Message, root: str, value: Any) -> Message:
    if root == "payload":
        return Message(msg.topic, value, msg.meta)
    if not isinstance(value, dict):
        raise TypeError("meta must stay a mapping")
    return Message(msg.topic, msg.payload, value)


def set_path(msg: Message, path: Path, value: Any) -> Message:
    """Return ``msg`` with ``path`` set to ``value`` (``topic`` is turned into a string)."""
    root, rest = path[0], path[1:]
    if root == "topic":
        return Message("" if value is None else str(value), msg.payload, msg.meta)
    if not rest:
        return _replace_root(msg, root, value)
    return _replace_root(msg, root, with_key(getattr(msg, root), rest, value))


def delete_path(msg: Message, path: Path) -> Message:
    """Return ``msg`` without ``path`` (``payload`` alone becomes null, ``topic`` empty)."""
    root, rest = path[0], path[1:]
    if root == "topic":
        return Message("", msg.payload, msg.meta)
    if not rest:
        return _replace_root(msg, root, {} if root == "meta" else None)
    container = getattr(msg, root)
    if not isinstance(container, dict):
        return msg
    return _replace_root(msg, root, with_key(container, rest, _MISSING))
