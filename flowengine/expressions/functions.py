"""The pure functions an expression may call (``len``, ``str``, ``hour``, ``matches``, ...)."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flowengine.expressions.base import MAX_ROUND_DIGITS
from flowengine.expressions.regex import RegexError, compile_regex
from flowengine.expressions.rendering import format_json, format_text
from flowengine.expressions.semantics import _in
from flowengine.expressions.sizes import check_size
from flowengine.message import Message


def _fn_len(value: Any) -> int | None:
    if isinstance(value, str | list | tuple | dict | set | frozenset) and not isinstance(value, Message):
        return len(value)
    if isinstance(value, Mapping):
        return len(value)
    return None


def _fn_str(value: Any) -> str | None:
    if value is None:
        return None
    kind = type(value)
    if kind is not str and kind is not int and kind is not float and kind is not bool:
        check_size(value, "str()")  # a container: measured before it is rendered
    return format_text(value)


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


def _regex(pattern: str) -> Callable[[str], bool] | None:
    try:
        return compile_regex(pattern)
    except RegexError:
        return None


def _search(search: Callable[[str], bool], value: Any) -> bool:
    if value is None or isinstance(value, dict | list | tuple | set | frozenset):
        return False
    return search(value if isinstance(value, str) else format_text(value))


def _fn_matches(value: Any, pattern: Any) -> bool:
    search = _regex(pattern) if isinstance(pattern, str) else None
    return search is not None and _search(search, value)


def _fn_json(value: Any) -> str:
    return format_json(check_size(value, "json()"))


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
