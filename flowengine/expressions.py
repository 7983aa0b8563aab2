"""Expressions: a safe subset of Python expression syntax, compiled once into closures (CONTRACT §5).

An expression such as ``payload.action in ['finger_not_match', 'password_not_match']``
is parsed with :func:`ast.parse`, every node of the tree is vetted against a small
whitelist, and the tree is turned into nested Python closures. Nothing is ever handed to
``eval``/``exec`` and no bytecode is generated from user text, so an expression can only
do what the closures below do: read the message, compare, compute, and call the
documented pure functions of :data:`FUNCTIONS`.

Evaluation follows *null semantics*: a missing key or attribute is ``None``, an ordering
comparison involving ``None`` (or values of incomparable types) is ``False``, ``x in
None`` is ``False``, and arithmetic with ``None`` (or arithmetic that Python would reject)
gives ``None``. So evaluation never raises on JSON-like data, and a broken expression is
reported when the flow loads, with its line and column, instead of failing per message.

The user reference is ``docs/expressions.md``.
"""

from __future__ import annotations

import ast
import difflib
import io
import json
import math
import operator
import re
import tokenize
import warnings
from collections.abc import Callable, Collection, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache, partial
from types import MappingProxyType
from typing import Any, Final, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from flowengine.errors import FlowError
from flowengine.message import Message

__all__ = [
    "CONSTANT_NAMES",
    "FUNCTIONS",
    "MESSAGE_NAMES",
    "RULE_NAMES",
    "Comparison",
    "Evaluator",
    "Expression",
    "ExpressionError",
    "FunctionSpec",
    "compile_expression",
    "format_json",
    "format_text",
    "property_getter",
    "validate_names",
]

#: The names every expression can read: the message's parts and the message itself.
MESSAGE_NAMES: Final = ("payload", "topic", "meta", "msg")
#: JSON spellings accepted beside Python's ``True``, ``False`` and ``None``.
CONSTANT_NAMES: Final[Mapping[str, Any]] = MappingProxyType({"true": True, "false": False, "null": None})
#: The extra names a ``rule`` node's ``emit`` templates see (CONTRACT §5).
RULE_NAMES: Final = ("count", "key", "first", "last")

#: Longest accepted expression source, in characters.
MAX_SOURCE_LENGTH: Final = 10_000
#: Deepest accepted nesting of the expression tree (each level is one closure call).
MAX_DEPTH: Final = 100
#: Longest string or list that ``*`` may build by repetition; longer gives ``None``.
MAX_REPEAT: Final = 100_000
#: Largest integer result of ``**``, in bits; larger gives ``None``.
MAX_POWER_BITS: Final = 10_000
#: Largest ``ndigits`` accepted by ``round``.
MAX_ROUND_DIGITS: Final = 100

#: The compiled form of an expression: ``fn(extra_names, message) -> value``. Never raises
#: on JSON-like data. (Extra names come first so that ``functools.partial(fn, {})`` is a
#: one-argument function of the message that runs without a Python-level frame of its own.)
Evaluator = Callable[[Mapping[str, Any], Message], Any]

_EMPTY: Final[Mapping[str, Any]] = MappingProxyType({})
_ROOT_INDEX: Final = {"topic": 0, "payload": 1, "meta": 2}
_MESSAGE_FIELDS: Final = ("topic", "payload", "meta")


class ExpressionError(FlowError, ValueError):
    """An expression is outside the supported subset or does not parse.

    Also a :class:`ValueError`, so that a pydantic validator calling
    :func:`compile_expression` reports it as a validation error by itself.

    Attributes:
        message: What is wrong, without the position.
        line: 1-based line within the expression's source (or template string).
        column: 0-based character offset within that line.
        source: The text that was being compiled.
        path: For a member of a mapping or list template, the keys and indexes that lead
            to the offending string (``("payload", "event")``); empty otherwise.
    """

    def __init__(
        self,
        message: str,
        *,
        line: int = 1,
        column: int = 0,
        source: str = "",
        path: tuple[str | int, ...] = (),
    ) -> None:
        self.message = message
        self.line = line
        self.column = column
        self.source = source
        self.path = path
        super().__init__(f"line {line}, column {column}: {message}")

    def relocated(self, *, line: int, column: int, source: str, path: tuple[str | int, ...]) -> ExpressionError:
        """Return a copy of this error at another position (used for expressions in templates)."""
        return type(self)(self.message, line=line, column=column, source=source, path=path)


class Comparison(NamedTuple):
    """A comparison of a message property with a constant, found by :meth:`Expression.comparisons`.

    ``path`` is the property (``("payload", "action")``; ``msg.payload.x`` is normalised to
    ``("payload", "x")``), ``op`` one of ``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``in``,
    ``not in``, ``is``, ``is not`` (the property always on the left: ``3 < payload.n`` is
    reported as ``>``), or ``contains`` / ``not contains`` for ``'x' in payload.list``.
    ``constant`` is the constant's value (a list, tuple or frozenset for ``in``).
    ``line``/``column`` locate the property within the expression source.
    """

    path: tuple[Hashable, ...]
    op: str
    constant: Any
    line: int
    column: int


class Expression:
    """A compiled expression: call it with a message to get its value.

    Build one with :func:`compile_expression`. Instances are immutable, hashable and
    compare equal when their source and extra names are equal.
    """

    __slots__ = ("_code", "_comparisons", "_fn", "_paths", "function", "names", "source")

    source: str
    names: tuple[str, ...]
    #: The fastest way to evaluate: a plain one-argument function of the message (extra
    #: names read as ``None``). Nodes on the hot path may fetch it once and keep it.
    function: Callable[[Message], Any]

    def __init__(
        self,
        source: str,
        names: tuple[str, ...],
        code: _Code,
        paths: tuple[tuple[Hashable, ...], ...],
        comparisons: tuple[Comparison, ...],
    ) -> None:
        self.source = source
        self.names = names
        self._code = code
        self._fn = code.fn
        self._paths = paths
        self._comparisons = comparisons
        self.function = partial(code.fn, _EMPTY)

    def __call__(self, msg: Message) -> Any:
        """Evaluate against ``msg`` (extra names read as ``None``). Never raises on JSON data."""
        return self._fn(_EMPTY, msg)

    def evaluate(self, msg: Message, extra: Mapping[str, Any]) -> Any:
        """Evaluate against ``msg`` with values for the extra ``names`` given at compile time.

        A name missing from ``extra`` reads as ``None``.
        """
        return self._fn(extra, msg)

    @property
    def evaluator(self) -> Evaluator:
        """The raw compiled function ``fn(extra, msg)`` (templates compose these)."""
        return self._code.fn

    @property
    def is_constant(self) -> bool:
        """True when the value does not depend on the message (``1 + 1``, ``'a'``)."""
        return self._code.constant

    @property
    def constant_value(self) -> Any:
        """The value of a constant expression (``None`` when :attr:`is_constant` is false)."""
        return self._code.value

    def referenced_paths(self) -> list[tuple[Hashable, ...]]:
        """Return the property paths the expression reads, in source order, without repeats.

        ``payload.a.b == 1 and meta['ts'] > 0`` gives ``[("payload", "a", "b"), ("meta", "ts")]``.
        A path stops where a key is computed (``payload[topic]`` reads ``("payload",)`` and
        ``("topic",)``). Paths may start with extra names (``("first", "payload")``).
        """
        return list(self._paths)

    def comparisons(self) -> Iterator[Comparison]:
        """Yield every comparison of a property path with a constant, for the capability lint.

        ``payload.action == 'x'`` yields ``Comparison(("payload", "action"), "==", "x", ...)``;
        ``payload.action in ['a', 'b']`` yields ``op="in"`` with the list as constant.
        """
        return iter(self._comparisons)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Expression):
            return NotImplemented
        return self.source == other.source and self.names == other.names

    def __hash__(self) -> int:
        return hash((Expression, self.source, self.names))

    def __repr__(self) -> str:
        return (
            f"Expression({self.source!r})" if not self.names else f"Expression({self.source!r}, names={self.names!r})"
        )

    def __copy__(self) -> Expression:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Expression:
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.source, self.names))


def _rebuild(source: str, names: tuple[str, ...]) -> Expression:
    return compile_expression(source, names=names)


# --------------------------------------------------------------------------------------
# Rendering values as text and JSON (shared with templates and the str()/json() functions)

_JSON_OPTIONS: Final = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def _json_default(value: Any) -> Any:
    if isinstance(value, Message):
        return value.to_json_obj()
    if isinstance(value, set | frozenset):
        try:
            return sorted(value)
        except TypeError:
            return list(value)
    if isinstance(value, Mapping):
        return dict(value)
    return str(value)


def format_json(value: Any) -> str:
    """Render ``value`` as compact JSON with sorted keys, as Zigbee2MQTT publishes.

    Never raises: a message becomes its ``{"topic","payload","meta"}`` object, a set a
    sorted list, NaN and infinities ``null``, and anything else unknown its ``str()``.
    """
    try:
        return orjson.dumps(value, default=_json_default, option=_JSON_OPTIONS).decode()
    except TypeError:
        pass  # integers beyond 64 bits, mixed key types or very deep nesting: stdlib below
    try:
        return json.dumps(value, default=_json_default, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return "null"


def format_text(value: Any) -> str:
    """Render ``value`` as template text (CONTRACT §5).

    ``None`` is empty, booleans ``true``/``false``, numbers JSON numbers (``3``, ``2.5``,
    ``1e+16``; NaN and infinities are empty, as they are ``null`` in JSON), strings as they
    are, and mappings, lists and messages compact JSON with sorted keys. Never raises.
    """
    kind = type(value)
    if kind is str:
        return value  # type: ignore[no-any-return]
    if value is None:
        return ""
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        try:
            return str(value)
        except ValueError:  # beyond sys.get_int_max_str_digits()
            return ""
    if kind is float:
        return repr(value) if math.isfinite(value) else ""
    if isinstance(value, str):
        return str(value)
    rendered = format_json(value)
    return "" if rendered == "null" else rendered


# --------------------------------------------------------------------------------------
# Runtime helpers implementing null semantics


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


def _repeat_size(a: Any, b: Any) -> int | None:
    if isinstance(a, str | list | tuple) and isinstance(b, int):
        return len(a) * b
    if isinstance(b, str | list | tuple) and isinstance(a, int):
        return len(b) * a
    return None


def _mul(a: Any, b: Any) -> Any:
    size = _repeat_size(a, b)
    if size is not None and size > MAX_REPEAT:
        return None
    return a * b


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
    ast.Add: ("+", _arith(operator.add)),
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


# --------------------------------------------------------------------------------------
# The functions an expression may call


def _fn_len(value: Any) -> int | None:
    if isinstance(value, str | list | tuple | dict | set | frozenset) and not isinstance(value, Message):
        return len(value)
    if isinstance(value, Mapping):
        return len(value)
    return None


def _fn_str(value: Any) -> str | None:
    return None if value is None else format_text(value)


def _fn_int(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, int):
        return int(value)
    try:
        if isinstance(value, float):
            return int(value)
        if isinstance(value, str):
            text = value.strip()
            for base in (10, 0):
                try:
                    return int(text, base)
                except ValueError:
                    continue
            return int(float(text))
    except (ValueError, OverflowError):
        return None
    return None


def _fn_float(value: Any) -> float | None:
    if value is None:
        return None
    try:
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            return float(value.strip())
    except (ValueError, OverflowError):
        return None
    return None


def _fn_bool(value: Any) -> bool:
    return bool(value)


def _fn_round(value: Any, digits: Any = None) -> Any:
    if not isinstance(value, int | float):
        return None
    try:
        if digits is None:
            return round(value)
        if type(digits) is not int or abs(digits) > MAX_ROUND_DIGITS:
            return None
        return round(value, digits)
    except (ValueError, OverflowError):
        return None


def _fn_abs(value: Any) -> Any:
    return abs(value) if isinstance(value, int | float) else None


def _aggregate(function: Callable[[Any], Any], args: tuple[Any, ...]) -> Any:
    values = args[0] if len(args) == 1 else args
    if not isinstance(values, list | tuple | set | frozenset | str | dict) or isinstance(values, Message):
        return None
    try:
        return function(values)
    except (TypeError, ValueError, OverflowError):
        return None


def _fn_min(*args: Any) -> Any:
    return _aggregate(min, args)


def _fn_max(*args: Any) -> Any:
    return _aggregate(max, args)


def _fn_sum(*args: Any) -> Any:
    if len(args) == 1 and isinstance(args[0], str | dict):
        return None
    return _aggregate(sum, args)


def _fn_lower(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) else None


def _fn_upper(value: Any) -> str | None:
    return value.upper() if isinstance(value, str) else None


def _fn_strip(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) else None


def _fn_contains(container: Any, value: Any) -> bool:
    return _in(value, container)


def _affixes(affix: Any) -> str | tuple[str, ...] | None:
    if isinstance(affix, str):
        return affix
    if isinstance(affix, list | tuple) and all(isinstance(item, str) for item in affix):
        return tuple(affix)
    return None


def _fn_startswith(value: Any, prefix: Any) -> bool:
    affix = _affixes(prefix)
    return isinstance(value, str) and affix is not None and value.startswith(affix)


def _fn_endswith(value: Any, suffix: Any) -> bool:
    affix = _affixes(suffix)
    return isinstance(value, str) and affix is not None and value.endswith(affix)


@lru_cache(maxsize=64)
def _regex(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:
        return None


def _search(regex: re.Pattern[str], value: Any) -> bool:
    if value is None or isinstance(value, dict | list | tuple | set | frozenset):
        return False
    return regex.search(value if isinstance(value, str) else format_text(value)) is not None


def _fn_matches(value: Any, pattern: Any) -> bool:
    regex = _regex(pattern) if isinstance(pattern, str) else None
    return regex is not None and _search(regex, value)


def _fn_json(value: Any) -> str:
    return format_json(value)


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo | None:
    """Return the IANA zone ``name`` (cached), or ``None`` when there is no such zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


_LOCAL: Final = object()  # marker: the machine's local zone


def _zone_of(tz: Any) -> ZoneInfo | object | None:
    """Resolve a ``tz`` argument: the local marker for ``None``, a zone, or ``None`` if invalid."""
    if tz is None:
        return _LOCAL
    if isinstance(tz, str):
        return _zone(tz)
    return None


def _datetime(ts: Any, zone: ZoneInfo | object | None) -> datetime | None:
    """Return ``ts`` (epoch seconds or an ISO 8601 string) as an aware datetime in ``zone``."""
    if zone is None:
        return None
    target = zone if isinstance(zone, ZoneInfo) else None
    try:
        if isinstance(ts, int | float) and not isinstance(ts, bool):
            if target is None:
                return datetime.fromtimestamp(ts).astimezone()
            return datetime.fromtimestamp(ts, target)
        if isinstance(ts, str):
            parsed = datetime.fromisoformat(ts.strip())
            if parsed.tzinfo is None:  # a naive time is wall time in the zone asked for
                return parsed.astimezone() if target is None else parsed.replace(tzinfo=target)
            return parsed.astimezone(target)
    except (ValueError, OverflowError, OSError):
        return None
    return None


def _fn_hour(ts: Any, tz: Any = None) -> int | None:
    moment = _datetime(ts, _zone_of(tz))
    return None if moment is None else moment.hour


def _fn_minute(ts: Any, tz: Any = None) -> int | None:
    moment = _datetime(ts, _zone_of(tz))
    return None if moment is None else moment.minute


def _fn_weekday(ts: Any, tz: Any = None) -> int | None:
    moment = _datetime(ts, _zone_of(tz))
    return None if moment is None else moment.isoweekday()


def _fn_date(ts: Any, tz: Any = None) -> str | None:
    moment = _datetime(ts, _zone_of(tz))
    return None if moment is None else moment.date().isoformat()


def _fn_isoformat(ts: Any, tz: Any = None) -> str | None:
    moment = _datetime(ts, _zone_of(tz))
    return None if moment is None else moment.isoformat()


def _fn_coalesce(*values: Any) -> Any:
    for value in values:
        if value is not None:
            return value
    return None


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """One function an expression may call.

    Attributes:
        impl: The implementation; total (never raises) on JSON-like values.
        params: Parameter names, usable as keywords (``hour(meta.ts, tz='UTC')``).
        required: How many leading parameters must be given.
        variadic: Accepts any number (at least ``required``) of positional arguments.
        summary: One line for the documentation and error messages.
    """

    impl: Callable[..., Any]
    params: tuple[str, ...]
    required: int
    variadic: bool = False
    summary: str = ""

    def signature(self, name: str) -> str:
        """Return ``name(a, b=None)`` as shown in messages and docs."""
        if self.variadic:
            return f"{name}({', '.join(self.params)}, ...)"
        shown = [p if i < self.required else f"{p}=None" for i, p in enumerate(self.params)]
        return f"{name}({', '.join(shown)})"


#: Every function an expression may call, by name. Each is pure and null-safe.
FUNCTIONS: Final[Mapping[str, FunctionSpec]] = MappingProxyType(
    {
        "len": FunctionSpec(_fn_len, ("value",), 1, summary="length of a string, list or mapping"),
        "str": FunctionSpec(_fn_str, ("value",), 1, summary="value as template text (null stays null)"),
        "int": FunctionSpec(_fn_int, ("value",), 1, summary="integer from a number or text ('12', '0x1a', '3.7')"),
        "float": FunctionSpec(_fn_float, ("value",), 1, summary="float from a number or text"),
        "bool": FunctionSpec(_fn_bool, ("value",), 1, summary="truthiness, as Python"),
        "round": FunctionSpec(_fn_round, ("value", "digits"), 1, summary="round half to even"),
        "abs": FunctionSpec(_fn_abs, ("value",), 1, summary="absolute value"),
        "min": FunctionSpec(_fn_min, ("values",), 1, True, summary="smallest of the arguments or of a list"),
        "max": FunctionSpec(_fn_max, ("values",), 1, True, summary="largest of the arguments or of a list"),
        "sum": FunctionSpec(_fn_sum, ("values",), 1, True, summary="sum of the arguments or of a list"),
        "lower": FunctionSpec(_fn_lower, ("text",), 1, summary="text in lower case"),
        "upper": FunctionSpec(_fn_upper, ("text",), 1, summary="text in upper case"),
        "strip": FunctionSpec(_fn_strip, ("text",), 1, summary="text without surrounding whitespace"),
        "contains": FunctionSpec(_fn_contains, ("container", "value"), 2, summary="value in container"),
        "startswith": FunctionSpec(_fn_startswith, ("text", "prefix"), 2, summary="text begins with prefix"),
        "endswith": FunctionSpec(_fn_endswith, ("text", "suffix"), 2, summary="text ends with suffix"),
        "matches": FunctionSpec(
            _fn_matches, ("value", "pattern"), 2, summary="regular expression search (pattern a literal)"
        ),
        "coalesce": FunctionSpec(_fn_coalesce, ("values",), 1, True, summary="first argument that is not null"),
        "json": FunctionSpec(_fn_json, ("value",), 1, summary="compact JSON text with sorted keys"),
        "hour": FunctionSpec(_fn_hour, ("ts", "tz"), 1, summary="hour 0-23 of a time"),
        "minute": FunctionSpec(_fn_minute, ("ts", "tz"), 1, summary="minute 0-59 of a time"),
        "weekday": FunctionSpec(_fn_weekday, ("ts", "tz"), 1, summary="ISO weekday, 1 = Monday ... 7 = Sunday"),
        "date": FunctionSpec(_fn_date, ("ts", "tz"), 1, summary="calendar date as YYYY-MM-DD"),
        "isoformat": FunctionSpec(_fn_isoformat, ("ts", "tz"), 1, summary="ISO 8601 date and time with offset"),
    }
)
#: What each time function takes from the moment, for the variant with a literal ``tz``.
_TIME_FIELDS: Final[dict[str, Callable[[datetime], Any]]] = {
    "hour": operator.attrgetter("hour"),
    "minute": operator.attrgetter("minute"),
    "weekday": operator.methodcaller("isoweekday"),
    "date": lambda moment: moment.date().isoformat(),
    "isoformat": operator.methodcaller("isoformat"),
}
_TIME_FUNCTIONS: Final = frozenset(_TIME_FIELDS)


# --------------------------------------------------------------------------------------
# Compilation


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


_REFUSED_NODES: Final[dict[type[ast.AST], str]] = {
    ast.Lambda: "lambda functions are not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "generator expressions are not allowed",
    ast.NamedExpr: "assignment expressions (:=) are not allowed",
    ast.JoinedStr: "f-strings are not supported; use a template ('{{ ... }}') or str() and +",
    ast.FormattedValue: "f-strings are not supported; use a template ('{{ ... }}') or str() and +",
    ast.Await: "'await' is not allowed",
    ast.Yield: "'yield' is not allowed",
    ast.YieldFrom: "'yield' is not allowed",
    ast.Starred: "'*' unpacking is not allowed",
    ast.Slice: "slices are not supported",
}


def _suggest(word: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


class _Compiler:
    """Vets one parsed expression and turns it into closures; records paths and comparisons."""

    def __init__(self, source: str, lines: list[str], names: tuple[str, ...]) -> None:
        self.source = source
        self.lines = lines
        self.names = names
        self.name_set = frozenset(names)
        self.paths: dict[tuple[Hashable, ...], None] = {}
        self.comparisons: list[Comparison] = []

    # -- positions and errors ---------------------------------------------------------

    def _char_column(self, line: int, byte_offset: int) -> int:
        text = self.lines[line - 1]
        return len(text.encode("utf-8")[:byte_offset].decode("utf-8", errors="ignore"))

    def position(self, node: ast.AST) -> tuple[int, int]:
        """The 1-based line and 0-based character column of ``node`` in the user's source."""
        line = getattr(node, "lineno", 2) - 1  # line 1 of the parsed text is the wrapping '('
        if line < 1:
            return 1, 0
        if line > len(self.lines):
            return len(self.lines), len(self.lines[-1])
        return line, self._char_column(line, getattr(node, "col_offset", 0))

    def end_position(self, node: ast.AST, back: int = 0) -> tuple[int, int]:
        """The position ``back`` characters before the end of ``node`` (an attribute's name)."""
        line = (getattr(node, "end_lineno", None) or 2) - 1
        if not 1 <= line <= len(self.lines):
            return self.position(node)
        column = self._char_column(line, getattr(node, "end_col_offset", 0) or 0)
        return line, max(column - back, 0)

    def error(self, node: ast.AST | tuple[int, int], message: str) -> ExpressionError:
        line, column = node if isinstance(node, tuple) else self.position(node)
        return ExpressionError(message, line=line, column=column, source=self.source)

    # -- dispatch -----------------------------------------------------------------------

    def compile(self, node: ast.AST, depth: int) -> _Code:
        """Compile ``node`` as a value; a property path used as a value is recorded."""
        code = self._compile(node, depth)
        if code.path is not None:
            self.paths.setdefault(code.path)
        return code

    def _compile(self, node: ast.AST, depth: int) -> _Code:
        if depth > MAX_DEPTH:
            raise self.error(node, f"the expression is nested too deeply (more than {MAX_DEPTH} levels)")
        handler = getattr(self, f"_compile_{type(node).__name__}", None)
        if handler is not None:
            return handler(node, depth + 1)  # type: ignore[no-any-return]
        message = _REFUSED_NODES.get(type(node))
        if message is None:
            message = f"{type(node).__name__} is not supported in expressions"
        raise self.error(node, message)

    # -- leaves -------------------------------------------------------------------------

    def _compile_Constant(self, node: ast.Constant, depth: int) -> _Code:
        value = node.value
        if value is None or isinstance(value, bool | int | float | str):
            return _constant(value)
        if isinstance(value, bytes):
            raise self.error(node, "bytes literals are not supported; use a string")
        if isinstance(value, complex):
            raise self.error(node, "complex numbers are not supported")
        raise self.error(node, f"the literal {ast.unparse(node)} is not supported")

    def _compile_Name(self, node: ast.Name, depth: int) -> _Code:
        name = node.id
        if name.startswith("_"):
            raise self.error(node, f"names beginning with '_' are not allowed: '{name}'")
        if name in _ROOT_INDEX or name == "msg" or name in self.name_set:
            path = (name,)
            return _Code(_path_evaluator(path), path=path)
        if name in CONSTANT_NAMES:
            return _constant(CONSTANT_NAMES[name])
        if name in FUNCTIONS:
            raise self.error(node, f"'{name}' is a function: call it, as in {name}(payload)")
        allowed = (*MESSAGE_NAMES, *self.names)
        hint = _suggest(name, (*allowed, *CONSTANT_NAMES))
        raise self.error(node, f"unknown name '{name}'{hint}; the names are {', '.join(allowed)}")

    # -- property access ----------------------------------------------------------------

    def _extend(self, node: ast.AST, base: _Code, key: Hashable, key_position: tuple[int, int]) -> _Code:
        """Extend the property path ``base`` by ``key``; ``msg.payload`` becomes ``payload``."""
        assert base.path is not None
        if base.path == ("msg",):
            if key not in _MESSAGE_FIELDS:
                hint = _suggest(str(key), _MESSAGE_FIELDS) if isinstance(key, str) else ""
                raise self.error(key_position, f"a message has only topic, payload and meta, not {key!r}{hint}")
            path: tuple[Hashable, ...] = (key,)
        else:
            path = (*base.path, key)
        return _Code(_path_evaluator(path), path=path)

    def _compile_Attribute(self, node: ast.Attribute, depth: int) -> _Code:
        name_position = self.end_position(node, back=len(node.attr))
        if node.attr.startswith("_"):
            raise self.error(
                name_position,
                f"attributes beginning with '_' are not allowed: '{node.attr}' "
                f"(for a key that begins with '_', write ['{node.attr}'])",
            )
        base = self._compile(node.value, depth)
        if base.path is not None:
            return self._extend(node, base, node.attr, name_position)
        return self._item(base, _constant(node.attr))

    def _compile_Subscript(self, node: ast.Subscript, depth: int) -> _Code:
        if isinstance(node.slice, ast.Slice):
            raise self.error(node.slice, _REFUSED_NODES[ast.Slice])
        base = self._compile(node.value, depth)
        key = self.compile(node.slice, depth)
        path_key = _path_key(key)
        if base.path is not None and path_key is not None:
            return self._extend(node, base, path_key, self.position(node.slice))
        if base.path is not None:
            self.paths.setdefault(base.path)
        return self._item(base, key)

    def _item(self, base: _Code, key: _Code) -> _Code:
        if base.constant and key.constant:
            return _constant(_item(base.value, key.value))
        read_base = base.fn
        if key.constant:
            constant_key = key.value

            def item_constant(x: Mapping[str, Any], m: Message) -> Any:
                return _item(read_base(x, m), constant_key)

            return _Code(item_constant)
        read_key = key.fn

        def item_computed(x: Mapping[str, Any], m: Message) -> Any:
            return _item(read_base(x, m), read_key(x, m))

        return _Code(item_computed)

    # -- comparisons --------------------------------------------------------------------

    def _compile_Compare(self, node: ast.Compare, depth: int) -> _Code:
        operands = [self.compile(node.left, depth)]
        operand_nodes: list[ast.expr] = [node.left, *node.comparators]
        for comparator in node.comparators:
            operands.append(self.compile(comparator, depth))
        steps: list[tuple[str, Callable[[Any, Any], bool]]] = []
        for index, op in enumerate(node.ops):
            symbol, function = _COMPARE[type(op)]
            left, right = operands[index], operands[index + 1]
            if symbol in ("is", "is not") and not (_is_singleton(right) or _is_singleton(left)):
                raise self.error(
                    operand_nodes[index + 1],
                    f"'{symbol}' compares only with None, True or False; use "
                    f"{'==' if symbol == 'is' else '!='} to compare values",
                )
            self._record_comparison(symbol, left, right, operand_nodes[index], operand_nodes[index + 1])
            steps.append((symbol, function))

        if all(code.constant for code in operands):
            left_value = operands[0].value
            result = True
            for (_, function), code in zip(steps, operands[1:], strict=True):
                if not function(left_value, code.value):
                    result = False
                    break
                left_value = code.value
            return _constant(result)
        if len(steps) == 1:
            return _Code(_compare_one(steps[0][0], steps[0][1], operands[0], operands[1]))
        functions = tuple(step[1] for step in steps)
        readers = tuple(code.fn for code in operands)

        def chain(x: Mapping[str, Any], m: Message) -> Any:
            left = readers[0](x, m)
            for function, read in zip(functions, readers[1:], strict=True):
                right = read(x, m)
                if not function(left, right):
                    return False
                left = right
            return True

        return _Code(chain)

    def _record_comparison(
        self, symbol: str, left: _Code, right: _Code, left_node: ast.expr, right_node: ast.expr
    ) -> None:
        if left.path is not None and right.constant:
            line, column = self.position(left_node)
            self.comparisons.append(Comparison(left.path, symbol, right.value, line, column))
        elif right.path is not None and left.constant:
            line, column = self.position(right_node)
            if symbol in ("in", "not in"):
                flipped = "contains" if symbol == "in" else "not contains"
            else:
                flipped = _FLIPPED.get(symbol, symbol)
            self.comparisons.append(Comparison(right.path, flipped, left.value, line, column))

    # -- boolean logic, arithmetic, conditionals ----------------------------------------

    def _compile_BoolOp(self, node: ast.BoolOp, depth: int) -> _Code:
        codes = [self.compile(value, depth) for value in node.values]
        is_and = isinstance(node.op, ast.And)
        if all(code.constant for code in codes):
            result = codes[0].value
            for code in codes[1:]:
                if (not result) if is_and else result:
                    break
                result = code.value
            return _constant(result)
        if len(codes) == 2:
            first, second = codes[0].fn, codes[1].fn
            if is_and:

                def and_two(x: Mapping[str, Any], m: Message) -> Any:
                    return first(x, m) and second(x, m)

                return _Code(and_two)

            def or_two(x: Mapping[str, Any], m: Message) -> Any:
                return first(x, m) or second(x, m)

            return _Code(or_two)
        readers = tuple(code.fn for code in codes)
        if is_and:

            def and_many(x: Mapping[str, Any], m: Message) -> Any:
                value: Any = True
                for read in readers:
                    value = read(x, m)
                    if not value:
                        return value
                return value

            return _Code(and_many)

        def or_many(x: Mapping[str, Any], m: Message) -> Any:
            value: Any = False
            for read in readers:
                value = read(x, m)
                if value:
                    return value
            return value

        return _Code(or_many)

    def _compile_UnaryOp(self, node: ast.UnaryOp, depth: int) -> _Code:
        if isinstance(node.op, ast.Invert):
            raise self.error(node, "the operator '~' is not supported")
        operand = self.compile(node.operand, depth)
        function: Callable[[Any], Any]
        if isinstance(node.op, ast.Not):
            function = operator.not_
        elif isinstance(node.op, ast.USub):
            function = _negate
        else:
            function = _plus
        if operand.constant:
            return _constant(function(operand.value))
        read = operand.fn

        def unary(x: Mapping[str, Any], m: Message) -> Any:
            return function(read(x, m))

        return _Code(unary)

    def _compile_BinOp(self, node: ast.BinOp, depth: int) -> _Code:
        refused = _REFUSED_OPERATORS.get(type(node.op))
        if refused is not None:
            raise self.error(node, f"the operator '{refused}' is not supported")
        _, function = _BINARY[type(node.op)]
        left = self.compile(node.left, depth)
        right = self.compile(node.right, depth)
        if left.constant and right.constant:
            return _constant(function(left.value, right.value))
        read_left, read_right = left.fn, right.fn
        if right.constant:
            constant_right = right.value

            def binary_constant(x: Mapping[str, Any], m: Message) -> Any:
                return function(read_left(x, m), constant_right)

            return _Code(binary_constant)

        def binary(x: Mapping[str, Any], m: Message) -> Any:
            return function(read_left(x, m), read_right(x, m))

        return _Code(binary)

    def _compile_IfExp(self, node: ast.IfExp, depth: int) -> _Code:
        test = self.compile(node.test, depth)
        body = self.compile(node.body, depth)
        orelse = self.compile(node.orelse, depth)
        if test.constant:
            return body if test.value else orelse
        read_test, read_body, read_else = test.fn, body.fn, orelse.fn

        def conditional(x: Mapping[str, Any], m: Message) -> Any:
            return read_body(x, m) if read_test(x, m) else read_else(x, m)

        return _Code(conditional)

    # -- displays -----------------------------------------------------------------------

    def _elements(self, nodes: list[ast.expr], depth: int) -> list[_Code]:
        return [self.compile(element, depth) for element in nodes]

    def _compile_List(self, node: ast.List, depth: int) -> _Code:
        codes = self._elements(node.elts, depth)
        if all(code.constant for code in codes):
            return _constant([code.value for code in codes])
        readers = tuple(code.fn for code in codes)

        def build_list(x: Mapping[str, Any], m: Message) -> Any:
            return [read(x, m) for read in readers]

        return _Code(build_list)

    def _compile_Tuple(self, node: ast.Tuple, depth: int) -> _Code:
        codes = self._elements(node.elts, depth)
        if all(code.constant for code in codes):
            return _constant(tuple(code.value for code in codes))
        readers = tuple(code.fn for code in codes)

        def build_tuple(x: Mapping[str, Any], m: Message) -> Any:
            return tuple([read(x, m) for read in readers])

        return _Code(build_tuple)

    def _compile_Set(self, node: ast.Set, depth: int) -> _Code:
        codes = self._elements(node.elts, depth)
        if all(code.constant for code in codes):
            try:
                return _constant(frozenset(code.value for code in codes))
            except TypeError:
                return _constant(None)
        readers = tuple(code.fn for code in codes)

        def build_set(x: Mapping[str, Any], m: Message) -> Any:
            try:
                return frozenset([read(x, m) for read in readers])
            except TypeError:
                return None

        return _Code(build_set)

    def _compile_Dict(self, node: ast.Dict, depth: int) -> _Code:
        for key_node, value_node in zip(node.keys, node.values, strict=True):
            if key_node is None:
                raise self.error(value_node, "'**' unpacking is not allowed")
        keys = self._elements([key for key in node.keys if key is not None], depth)
        values = self._elements(node.values, depth)
        pairs = tuple((key.fn, value.fn) for key, value in zip(keys, values, strict=True))
        if all(code.constant for code in (*keys, *values)):
            try:
                return _constant({key.value: value.value for key, value in zip(keys, values, strict=True)})
            except TypeError:
                return _constant(None)

        def build_dict(x: Mapping[str, Any], m: Message) -> Any:
            try:
                return {read_key(x, m): read_value(x, m) for read_key, read_value in pairs}
            except TypeError:  # an unhashable key
                return None

        return _Code(build_dict)

    # -- calls --------------------------------------------------------------------------

    def _compile_Call(self, node: ast.Call, depth: int) -> _Code:
        func = node.func
        if isinstance(func, ast.Attribute):
            if func.attr in FUNCTIONS:
                suggestion = f"{func.attr}({ast.unparse(func.value)}"
                suggestion += ", ...)" if (node.args or node.keywords) else ")"
                message = f"method calls are not allowed; write {suggestion}"
            else:
                message = "method calls are not allowed; only the functions listed in docs/expressions.md"
            raise self.error(self.end_position(func, back=len(func.attr)), message)
        if not isinstance(func, ast.Name):
            raise self.error(node, "only the functions listed in docs/expressions.md can be called, by name")
        name = func.id
        spec = FUNCTIONS.get(name)
        if spec is None:
            if name in _ROOT_INDEX or name == "msg" or name in self.name_set or name in CONSTANT_NAMES:
                raise self.error(func, f"'{name}' is not a function")
            if name.startswith("_"):
                raise self.error(func, f"names beginning with '_' are not allowed: '{name}'")
            hint = _suggest(name, FUNCTIONS)
            raise self.error(func, f"unknown function '{name}'{hint}; the functions are {', '.join(sorted(FUNCTIONS))}")
        nodes = self._bind(node, name, spec)
        if name == "matches":
            return self._compile_matches(node, nodes, depth)
        if name in _TIME_FUNCTIONS and len(nodes) == 2 and nodes[1] is not None:
            return self._compile_time(name, spec, nodes, depth)
        codes = [self.compile(arg, depth) if arg is not None else _constant(None) for arg in nodes]
        if name == "coalesce":
            return self._compile_coalesce(codes)
        impl = spec.impl
        if all(code.constant for code in codes):
            return _constant(impl(*(code.value for code in codes)))
        return _Code(_call(impl, tuple(code.fn for code in codes)))

    def _bind(self, node: ast.Call, name: str, spec: FunctionSpec) -> list[ast.expr | None]:
        """Match positional and keyword arguments to ``spec``'s parameters, at compile time."""
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise self.error(arg, _REFUSED_NODES[ast.Starred])
        if spec.variadic:
            if node.keywords:
                raise self.error(node.keywords[0].value, f"{name}() takes no keyword arguments")
            if len(node.args) < spec.required:
                raise self.error(node, f"{spec.signature(name)} needs at least {spec.required} argument(s)")
            return list(node.args)
        if len(node.args) > len(spec.params):
            raise self.error(node.args[len(spec.params)], f"too many arguments: {spec.signature(name)}")
        bound: list[ast.expr | None] = [*node.args, *([None] * (len(spec.params) - len(node.args)))]
        for keyword in node.keywords:
            if keyword.arg is None:
                raise self.error(keyword.value, "'**' unpacking is not allowed")
            if keyword.arg not in spec.params:
                hint = _suggest(keyword.arg, spec.params)
                raise self.error(
                    keyword.value, f"{name}() has no parameter '{keyword.arg}'{hint}: {spec.signature(name)}"
                )
            index = spec.params.index(keyword.arg)
            if bound[index] is not None:
                raise self.error(keyword.value, f"{name}() got '{keyword.arg}' twice")
            bound[index] = keyword.value
        missing = [spec.params[i] for i in range(spec.required) if bound[i] is None]
        if missing:
            raise self.error(node, f"{spec.signature(name)} is missing '{missing[0]}'")
        while bound and bound[-1] is None:
            bound.pop()
        return bound

    def _compile_matches(self, node: ast.Call, nodes: list[ast.expr | None], depth: int) -> _Code:
        pattern_node = nodes[1]
        assert pattern_node is not None
        if not (isinstance(pattern_node, ast.Constant) and isinstance(pattern_node.value, str)):
            raise self.error(pattern_node, "the pattern of matches() must be a string literal")
        try:
            regex = re.compile(pattern_node.value)
        except re.error as exc:
            raise self.error(pattern_node, f"invalid regular expression: {exc}") from exc
        assert nodes[0] is not None
        value = self.compile(nodes[0], depth)

        def match(candidate: Any) -> bool:
            return _search(regex, candidate)

        if value.constant:
            return _constant(match(value.value))
        return _Code(_call(match, (value.fn,)))

    def _compile_time(self, name: str, spec: FunctionSpec, nodes: list[ast.expr | None], depth: int) -> _Code:
        """A time function with a ``tz``: a literal zone is checked now and looked up once."""
        ts_node, tz_node = nodes
        assert ts_node is not None
        assert tz_node is not None
        ts = self.compile(ts_node, depth)
        tz = self.compile(tz_node, depth)
        if not tz.constant:
            impl = spec.impl
            return _Code(_call(impl, (ts.fn, tz.fn)))
        if tz.value is not None and (not isinstance(tz.value, str) or _zone(tz.value) is None):
            raise self.error(tz_node, f"unknown time zone {tz.value!r}{_zone_hint(tz.value)}")
        zone = _zone_of(tz.value)
        field = _TIME_FIELDS[name]

        def in_zone(stamp: Any) -> Any:
            moment = _datetime(stamp, zone)
            return None if moment is None else field(moment)

        if ts.constant:
            return _constant(in_zone(ts.value))
        return _Code(_call(in_zone, (ts.fn,)))

    def _compile_coalesce(self, codes: list[_Code]) -> _Code:
        readers = tuple(code.fn for code in codes)

        def coalesce(x: Mapping[str, Any], m: Message) -> Any:
            for read in readers:
                value = read(x, m)
                if value is not None:
                    return value
            return None

        if all(code.constant for code in codes):
            return _constant(_fn_coalesce(*(code.value for code in codes)))
        return _Code(coalesce)


def _zone_hint(name: Any) -> str:
    return _suggest(name, _zone_names()) if isinstance(name, str) else ""


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    from zoneinfo import available_timezones  # slow (walks the zone files): only on an error

    return frozenset(available_timezones())


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


# --------------------------------------------------------------------------------------
# Parsing

_DETECTED_AT = re.compile(r"\(detected at line (\d+)\)")
_OPENERS: Final = {"(": ")", "[": "]", "{": "}"}
_CLOSERS: Final = {")": "(", "]": "[", "}": "{"}


def validate_names(names: Collection[str]) -> tuple[str, ...]:
    """Check extra names for :func:`compile_expression`; return them as a tuple without repeats.

    Raises:
        ValueError: A name is not an identifier, begins with ``_``, or hides a built-in name.
    """
    checked: list[str] = []
    for name in names:
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
            raise ValueError(f"invalid extra name {name!r}: a Python identifier not beginning with '_'")
        if name in MESSAGE_NAMES or name in FUNCTIONS or name in CONSTANT_NAMES:
            raise ValueError(f"the extra name {name!r} would hide a built-in name")
        if name not in checked:
            checked.append(name)
    return tuple(checked)


def _check_brackets(wrapped: str, lines: list[str], source: str) -> None:
    """Report unbalanced brackets at the user's bracket (the wrapping '(' would blur them)."""
    closing_line = len(lines) + 2
    stack: list[tuple[str, int, int]] = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(wrapped).readline):
            if token.type == tokenize.ERRORTOKEN:
                return  # an unterminated string: the parser says it better
            if token.type != tokenize.OP:
                continue
            line, column = token.start[0] - 1, token.start[1]
            if token.start == (closing_line, 0):
                if len(stack) > 1:
                    char, open_line, open_column = stack[-1]
                    raise ExpressionError(
                        f"'{char}' was never closed", line=open_line, column=open_column, source=source
                    )
                return
            if token.string in _OPENERS:
                stack.append((token.string, line, column))
            elif token.string in _CLOSERS:
                if len(stack) <= 1:
                    raise ExpressionError(f"unmatched '{token.string}'", line=line, column=column, source=source)
                char, _, _ = stack.pop()
                if _OPENERS[char] != token.string:
                    raise ExpressionError(
                        f"closing '{token.string}' does not match opening '{char}'",
                        line=line,
                        column=column,
                        source=source,
                    )
    except (tokenize.TokenError, SyntaxError):
        return


def _syntax_error(exc: SyntaxError, lines: list[str], source: str) -> ExpressionError:
    message = exc.msg or "invalid syntax"
    message = _DETECTED_AT.sub(lambda match: f"(detected at line {int(match.group(1)) - 1})", message)
    line = (exc.lineno or 2) - 1
    column = (exc.offset or 1) - 1
    if line > len(lines):
        line, column = len(lines), len(lines[-1])
        if message == "invalid syntax":
            message = "unexpected end of expression"
    elif line < 1:
        line, column = 1, 0
    column = max(0, min(column, len(lines[line - 1])))
    return ExpressionError(message, line=line, column=column, source=source)


def _parse(source: str) -> tuple[ast.expr, list[str]]:
    if len(source) > MAX_SOURCE_LENGTH:
        raise ExpressionError(f"an expression is limited to {MAX_SOURCE_LENGTH} characters", source=source)
    text = source.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        column = lines[line - 1].index("\x00")
        raise ExpressionError("NUL characters are not allowed", line=line, column=column, source=source)
    if not text.strip() or all(not line.strip() or line.lstrip().startswith("#") for line in lines):
        raise ExpressionError("empty expression", source=source)
    # Wrapping in brackets lets an expression span lines (YAML block scalars) and start
    # with blanks; line 1 of the parsed text is the '(' so user line N is parsed line N+1.
    wrapped = f"(\n{text}\n)"
    _check_brackets(wrapped, lines, source)
    try:
        with warnings.catch_warnings():
            # '\d' in a regex literal or '1if x else 2' draw warnings from Python's parser
            # about its own future; they mean what they say today, so they are accepted.
            warnings.simplefilter("ignore", SyntaxWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            tree = ast.parse(wrapped, mode="eval")
    except SyntaxError as exc:
        raise _syntax_error(exc, lines, source) from exc
    except (RecursionError, MemoryError) as exc:
        raise ExpressionError("the expression is too complex", source=source) from exc
    return tree.body, lines


def compile_expression(source: str, *, names: Collection[str] = ()) -> Expression:
    """Compile an expression of the language of CONTRACT §5 (reference: docs/expressions.md).

    Args:
        source: The expression text; it may span lines and carry ``#`` comments.
        names: Extra names the expression may read besides ``payload``, ``topic``, ``meta``
            and ``msg`` (a rule's templates use ``count``, ``key``, ``first``, ``last``);
            their values are given to :meth:`Expression.evaluate`.

    Returns:
        The compiled :class:`Expression`.

    Raises:
        ExpressionError: The text does not parse or uses something outside the language;
            ``line``/``column`` locate the problem within ``source``.
        ValueError: An extra name is not an identifier or hides a built-in name.
        TypeError: ``source`` is not a string.
    """
    if not isinstance(source, str):
        raise TypeError(f"an expression is a string, not {type(source).__name__}")
    extra = validate_names(names)
    body, lines = _parse(source)
    compiler = _Compiler(source, lines, extra)
    try:
        code = compiler.compile(body, 0)
    except RecursionError as exc:
        raise ExpressionError("the expression is too complex", source=source) from exc
    return Expression(source, extra, code, tuple(compiler.paths), tuple(compiler.comparisons))
