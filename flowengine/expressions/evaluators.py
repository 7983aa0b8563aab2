"""The closures compiled expressions are made of: constants, property readers, calls, comparisons."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from flowengine.expressions.base import _EMPTY, _ROOT_INDEX, Evaluator
from flowengine.expressions.semantics import _COMPARE_BY_SYMBOL, _FLIPPED, _RAW_ORDER, _item, _membership
from flowengine.message import Message


@dataclass(frozen=True, slots=True)
class _Code:
    """A compiled node: its function, whether it is a constant, and its property path."""

    fn: Evaluator
    constant: bool = False
    value: Any = None
    #: ``(root, key, key, ...)`` when the node is a plain property path with constant keys.
    path: tuple[Hashable, ...] | None = None


def _constant(value: Any) -> _Code:
    def constant(x: Mapping[str, Any], m: Message) -> Any:
        return value

    return _Code(constant, constant=True, value=value)


def _path_evaluator(path: tuple[Hashable, ...]) -> Evaluator:
    """Build the fastest reader for ``path``: a message part or extra name, then constant keys."""
    root, keys = path[0], path[1:]
    index = _ROOT_INDEX.get(root) if isinstance(root, str) else None
    if index is None:
        if root == "msg":

            def read_message(x: Mapping[str, Any], m: Message) -> Any:
                return m

            return read_message

        def read_extra(x: Mapping[str, Any], m: Message) -> Any:
            value = x.get(root)  # type: ignore[call-overload]
            for key in keys:
                value = value.get(key) if type(value) is dict else _item(value, key)
            return value

        return read_extra
    if not keys:

        def read_part(x: Mapping[str, Any], m: Message) -> Any:
            return m[index]

        return read_part
    if len(keys) == 1:
        (key,) = keys

        def read_one(x: Mapping[str, Any], m: Message) -> Any:
            value: Any = m[index]
            if type(value) is dict:
                return value.get(key)
            return _item(value, key)

        return read_one
    if len(keys) == 2:
        first, second = keys

        def read_two(x: Mapping[str, Any], m: Message) -> Any:
            value: Any = m[index]
            value = value.get(first) if type(value) is dict else _item(value, first)
            return value.get(second) if type(value) is dict else _item(value, second)

        return read_two

    def read_many(x: Mapping[str, Any], m: Message) -> Any:
        value: Any = m[index]
        for key in keys:
            value = value.get(key) if type(value) is dict else _item(value, key)
        return value

    return read_many


def property_getter(path: Iterable[Hashable]) -> Callable[[Message], Any]:
    """Return a fast reader of a property path such as ``("payload", "a", "b")``.

    The first part is ``topic``, ``payload`` or ``meta``; the rest are keys (or list
    indexes). A missing key reads as ``None``, as in expressions. Nodes with a ``property``
    option (``switch``, ``dedupe``) use this on the hot path.
    """
    parts = tuple(path)
    if not parts or parts[0] not in _ROOT_INDEX:
        raise ValueError(f"a property path starts with topic, payload or meta, not {parts[:1]!r}")
    return partial(_path_evaluator(parts), _EMPTY)


def _path_key(code: _Code) -> Hashable | None:
    """The constant key of a subscript when it may extend a property path (str or int)."""
    if code.constant and type(code.value) in (str, int):
        return code.value  # type: ignore[no-any-return]
    return None


def _is_singleton(code: _Code) -> bool:
    return code.constant and (code.value is None or code.value is True or code.value is False)


def _call(impl: Callable[..., Any], readers: tuple[Evaluator, ...]) -> Evaluator:
    """Build the call of ``impl`` on the values of ``readers``, specialised by arity."""
    if len(readers) == 1:
        (read,) = readers

        def call_one(x: Mapping[str, Any], m: Message) -> Any:
            return impl(read(x, m))

        return call_one
    if len(readers) == 2:
        first, second = readers

        def call_two(x: Mapping[str, Any], m: Message) -> Any:
            return impl(first(x, m), second(x, m))

        return call_two

    def call_many(x: Mapping[str, Any], m: Message) -> Any:
        return impl(*[read(x, m) for read in readers])

    return call_many


def _compare_one(symbol: str, function: Callable[[Any, Any], bool], left: _Code, right: _Code) -> Evaluator:
    """Build a single comparison, specialised for a property against a constant."""
    if left.constant and not right.constant and symbol in _FLIPPED:
        symbol = _FLIPPED[symbol]  # 3 < payload.n  is  payload.n > 3
        function = _COMPARE_BY_SYMBOL[symbol]
        left, right = right, left
    if right.constant and not left.constant:
        constant = right.value
        path = left.path
        if path is not None and len(path) == 2 and path[0] in _ROOT_INDEX:
            special = _compare_key(symbol, _ROOT_INDEX[path[0]], path[1], constant)
            if special is not None:
                return special
        return _compare_constant(symbol, function, left.fn, constant)
    read_left, read_right = left.fn, right.fn

    def compare(x: Mapping[str, Any], m: Message) -> Any:
        return function(read_left(x, m), read_right(x, m))

    return compare


def _compare_constant(symbol: str, function: Callable[[Any, Any], bool], read: Evaluator, constant: Any) -> Evaluator:
    """A comparison of any value with a constant."""
    if symbol in ("in", "not in"):
        test = _membership(constant)
        if symbol == "in":

            def member(x: Mapping[str, Any], m: Message) -> Any:
                return test(read(x, m))

            return member

        def not_member(x: Mapping[str, Any], m: Message) -> Any:
            return not test(read(x, m))

        return not_member
    if symbol == "==":

        def equal(x: Mapping[str, Any], m: Message) -> Any:
            return read(x, m) == constant

        return equal
    if symbol == "is":

        def identical(x: Mapping[str, Any], m: Message) -> Any:
            return read(x, m) is constant

        return identical
    if symbol == "is not":

        def not_identical(x: Mapping[str, Any], m: Message) -> Any:
            return read(x, m) is not constant

        return not_identical

    def against_constant(x: Mapping[str, Any], m: Message) -> Any:
        return function(read(x, m), constant)

    return against_constant


def _compare_key(symbol: str, index: int, key: Any, constant: Any) -> Evaluator | None:
    """The hottest shape, ``payload.action == 'x'``: one key of a message part against a constant.

    The lookup is inlined (no call for the property, none for the operator), which is what
    makes a filter on ``payload.action`` cost little more than a dict lookup.
    """
    if symbol == "==":

        def equal_key(x: Mapping[str, Any], m: Message) -> Any:
            value: Any = m[index]
            if type(value) is dict:
                return value.get(key) == constant
            return _item(value, key) == constant

        return equal_key
    if symbol == "!=":

        def differ_key(x: Mapping[str, Any], m: Message) -> Any:
            value: Any = m[index]
            if type(value) is dict:
                return value.get(key) != constant
            return _item(value, key) != constant

        return differ_key
    order = _RAW_ORDER.get(symbol)
    if order is not None and constant is not None:

        def order_key(x: Mapping[str, Any], m: Message) -> Any:
            value: Any = m[index]
            value = value.get(key) if type(value) is dict else _item(value, key)
            if value is None:
                return False
            try:
                return order(value, constant)
            except TypeError:
                return False

        return order_key
    if symbol in ("in", "not in") and isinstance(constant, list | tuple | set | frozenset):
        members = tuple(constant)
        try:
            hashed = frozenset(members)
        except TypeError:
            return None
        negate = symbol == "not in"

        def member_key(x: Mapping[str, Any], m: Message) -> Any:
            value: Any = m[index]
            value = value.get(key) if type(value) is dict else _item(value, key)
            try:
                return (value in hashed) is not negate
            except TypeError:  # an unhashable value may still equal no member
                return (value in members) is not negate

        return member_key
    return None
