"""Null semantics: the operators of the language, total on JSON-like values (a failure is ``None``)."""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from typing import Any, Final

from flowengine.expressions.base import _MESSAGE_FIELDS, MAX_POWER_BITS, MAX_REPEAT, MAX_VALUE_SIZE
from flowengine.expressions.sizes import ValueTooLargeError, size_of
from flowengine.message import Message


def _item(container: Any, key: Any) -> Any:
    """Look ``key`` up in ``container`` the expression way: ``None`` instead of any error."""
    try:
        if type(container) is dict:
            return container.get(key)
        if isinstance(container, Message):
            return getattr(container, key) if key in _MESSAGE_FIELDS else None
        if isinstance(container, Mapping):
            return container.get(key)
        if isinstance(container, list | tuple | str) and type(key) is int:
            return container[key] if -len(container) <= key < len(container) else None
    except TypeError:  # unhashable key
        return None
    return None


def _lt(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return False
    try:
        return bool(a < b)
    except TypeError:
        return False


def _le(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return False
    try:
        return bool(a <= b)
    except TypeError:
        return False


def _gt(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return False
    try:
        return bool(a > b)
    except TypeError:
        return False


def _ge(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return False
    try:
        return bool(a >= b)
    except TypeError:
        return False


def _in(a: Any, b: Any) -> bool:
    if b is None:
        return False
    try:
        return a in b
    except TypeError:
        return False


def _not_in(a: Any, b: Any) -> bool:
    return not _in(a, b)


def _is(a: Any, b: Any) -> bool:
    return a is b


def _is_not(a: Any, b: Any) -> bool:
    return a is not b


_COMPARE: Final[dict[type[ast.cmpop], tuple[str, Callable[[Any, Any], bool]]]] = {
    ast.Eq: ("==", operator.eq),
    ast.NotEq: ("!=", operator.ne),
    ast.Lt: ("<", _lt),
    ast.LtE: ("<=", _le),
    ast.Gt: (">", _gt),
    ast.GtE: (">=", _ge),
    ast.In: ("in", _in),
    ast.NotIn: ("not in", _not_in),
    ast.Is: ("is", _is),
    ast.IsNot: ("is not", _is_not),
}
_COMPARE_BY_SYMBOL: Final = dict(_COMPARE.values())
_RAW_ORDER: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_FLIPPED: Final = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


def _membership(container: Any) -> Callable[[Any], bool]:
    """Return a fast ``value in container`` test for a constant ``container``, null-safe."""
    if container is None or isinstance(container, bool | int | float):
        return lambda value: False
    if isinstance(container, str):
        return lambda value: type(value) is str and value in container
    if isinstance(container, dict):
        return lambda value: _in(value, container)
    members = tuple(container)
    try:
        hashed = frozenset(members)
    except TypeError:
        return lambda value: value in members

    def test(value: Any) -> bool:
        try:
            return value in hashed
        except TypeError:  # an unhashable value may still equal no member
            return value in members

    return test


def _arith(op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def apply(a: Any, b: Any) -> Any:
        if a is None or b is None:
            return None
        try:
            return op(a, b)
        except (TypeError, ZeroDivisionError, OverflowError, ValueError):
            return None

    return apply


def _mul(a: Any, b: Any) -> Any:
    """``a * b``; a repetition is measured first (items and size) and refused when too large."""
    if isinstance(a, int) and isinstance(b, str | list | tuple):
        a, b = b, a
    if isinstance(a, str | list | tuple) and isinstance(b, int) and not isinstance(b, bool) and b > 1:
        if len(a) * b > MAX_REPEAT:
            unit = "characters" if isinstance(a, str) else "items"
            raise ValueTooLargeError(f"repeating {b:,} times", len(a) * b, limit=MAX_REPEAT, unit=unit)
        size = (len(a) if isinstance(a, str) else size_of(a)) * b
        if size > MAX_VALUE_SIZE:
            raise ValueTooLargeError(f"repeating a value {b:,} times", size)
    return a * b


def _add(a: Any, b: Any) -> Any:
    """``a + b``; a concatenation of texts or lists is measured first."""
    kind = type(a)
    if kind is int or kind is float:  # numbers first: the common case, nothing to measure
        return a + b
    if isinstance(a, str) and isinstance(b, str):
        if len(a) + len(b) > MAX_VALUE_SIZE:
            raise ValueTooLargeError("joining two texts", len(a) + len(b))
    elif isinstance(a, list | tuple) and isinstance(b, list | tuple):
        size = size_of(a) + size_of(b)
        if size > MAX_VALUE_SIZE:
            raise ValueTooLargeError("joining two lists", size)
    return a + b


def _mod(a: Any, b: Any) -> Any:
    if isinstance(a, str | bytes):  # printf-style formatting is not part of the language
        return None
    return a % b


def _pow(a: Any, b: Any) -> Any:
    if not isinstance(a, int | float) or not isinstance(b, int | float):
        return None
    if isinstance(a, int) and isinstance(b, int) and b > 0 and max(a.bit_length(), 1) * b > MAX_POWER_BITS:
        return None
    result = a**b
    return None if isinstance(result, complex) else result


_BINARY: Final[dict[type[ast.operator], tuple[str, Callable[[Any, Any], Any]]]] = {
    ast.Add: ("+", _arith(_add)),
    ast.Sub: ("-", _arith(operator.sub)),
    ast.Mult: ("*", _arith(_mul)),
    ast.Div: ("/", _arith(operator.truediv)),
    ast.FloorDiv: ("//", _arith(operator.floordiv)),
    ast.Mod: ("%", _arith(_mod)),
    ast.Pow: ("**", _arith(_pow)),
}
_REFUSED_OPERATORS: Final[dict[type[ast.AST], str]] = {
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.BitAnd: "&",
    ast.Invert: "~",
}


def _negate(value: Any) -> Any:
    if value is None or not isinstance(value, int | float):
        return None
    return -value


def _plus(value: Any) -> Any:
    if value is None or not isinstance(value, int | float):
        return None
    return +value
