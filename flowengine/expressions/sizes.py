"""The size budget of values that expressions and templates build (checked before allocation).

Every operation that can make a value larger than its inputs — repetition (``*``),
concatenation (``+``), list, tuple, set and mapping displays, ``str()``, ``json()`` and
text templates — first computes the size of what it would build and refuses when that
exceeds :data:`~flowengine.expressions.base.MAX_VALUE_SIZE`, raising
:class:`ValueTooLargeError`. So ``[('x' * 99999)] * 99999`` (about 10 GB once rendered)
is refused at once: when the flow loads if it is a constant (an error with its line and
column), else when a message makes it (the node fails on that message, which is
counted, logged with the node's id and sent to its ``errors`` port).

The size of a value is the length of its compact JSON text, approximately: a string
counts its characters plus two, a number or ``null`` a few characters, a container two
plus its members and their separators. Shared members count every time they appear (that
is what rendering would write) but are measured once, so measuring costs time in
proportion to the distinct objects, never to the expanded size.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flowengine.errors import FlowError
from flowengine.expressions.base import MAX_VALUE_SIZE
from flowengine.message import Message

__all__ = ["ValueTooLargeError", "check_size", "size_of"]


class ValueTooLargeError(FlowError):
    """An expression or template would build a value over the size limit (nothing was built)."""

    def __init__(self, what: str, size: int, *, limit: int = MAX_VALUE_SIZE, unit: str = "characters") -> None:
        self.what = what
        self.size = size
        super().__init__(f"{what} would build about {size:,} {unit} (the limit is {limit:,})")


def size_of(value: Any, limit: int = MAX_VALUE_SIZE) -> int:
    """Return the approximate JSON size of ``value``; counting stops once past ``limit``."""
    kind = type(value)
    if kind is list or kind is tuple:  # the usual display: a few texts and numbers, no walk needed
        total = 2
        for item in value:
            item_kind = type(item)
            if item_kind is str:  # the same counts as walk() below, plus one separator each
                total += len(item) + 3
            elif item_kind is int:
                total += 3 + item.bit_length() // 3
            elif item is None or item_kind is float or item_kind is bool:
                total += 6
            else:
                break
        else:
            return total
    memo: dict[int, int] = {}

    def walk(item: Any) -> int:
        kind = type(item)
        if kind is str:
            return len(item) + 2
        if item is None or kind is bool or kind is float:
            return 5
        if kind is int:
            return int(2 + item.bit_length() // 3)
        key = id(item)
        known = memo.get(key)
        if known is not None:
            return known
        total = 2
        if isinstance(item, Message):
            total += walk(item.topic) + walk(item.payload) + walk(item.meta) + 30
        elif isinstance(item, Mapping):
            for member_key, member in item.items():
                total += walk(member_key) + walk(member) + 2
                if total > limit:
                    break
        elif isinstance(item, list | tuple | set | frozenset):
            for member in item:
                total += walk(member) + 1
                if total > limit:
                    break
        elif isinstance(item, str):
            total = len(item) + 2
        else:
            total = 16
        memo[key] = total
        return total

    try:
        return walk(value)
    except RecursionError:
        return limit + 1


def check_size(value: Any, what: str) -> Any:
    """Return ``value`` when its size is within the limit, else raise :class:`ValueTooLargeError`."""
    size = size_of(value)
    if size > MAX_VALUE_SIZE:
        raise ValueTooLargeError(what, size)
    return value
