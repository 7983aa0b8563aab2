"""Durations in flow files: ``500ms``, ``60s``, ``5m``, ``2h``, ``1d``, ``1h30m``, or seconds (CONTRACT §5).

A duration is a non-negative number of seconds (``90``, ``0.5``) or a text of one or more
``<number><unit>`` parts with the units ``ms``, ``s``, ``m``, ``h``, ``d`` and ``w``
(weeks), largest first and each at most once: ``1h30m``, ``1m 30s``, ``1.5h``. A text
that is only a number (``"90"``) is seconds too. Units are lower case: ``5M`` is refused
rather than guessed (minutes? months?).
"""

from __future__ import annotations

import math
import re
from typing import Final

__all__ = ["DURATION_PATTERN", "UNITS", "format_duration", "parse_duration"]

#: Seconds per unit, largest first (the order parts must come in).
UNITS: Final = {"w": 604_800.0, "d": 86_400.0, "h": 3_600.0, "m": 60.0, "s": 1.0, "ms": 0.001}

_NUMBER: Final = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_PLAIN: Final = re.compile(rf"{_NUMBER}(?:[eE][+-]?[0-9]+)?")
_PART: Final = re.compile(rf"\s*({_NUMBER})\s*([A-Za-zµ]+)\s*")
#: A JSON Schema (ECMA 262) pattern accepted by :func:`parse_duration` (it does not check
#: the order of units, which parse_duration does).
DURATION_PATTERN: Final = rf"^\s*(?:{_NUMBER}(?:[eE][+-]?[0-9]+)?|(?:{_NUMBER}\s*(?:ms|s|m|h|d|w)\s*)+)\s*$"
_SPELLED: Final = {
    "milli": "ms",
    "msec": "ms",
    "millisecond": "ms",
    "sec": "s",
    "second": "s",
    "min": "m",
    "minute": "m",
    "hr": "h",
    "hour": "h",
    "day": "d",
    "week": "w",
}
_EXAMPLES: Final = "e.g. 500ms, 60s, 5m, 2h, 1d, 1h30m or a number of seconds"


def _checked(seconds: float, shown: object) -> float:
    if math.isnan(seconds) or math.isinf(seconds):
        raise ValueError(f"{shown!r} is not a duration: it must be a finite number of seconds")
    if seconds < 0:
        raise ValueError(f"{shown!r} is not a duration: a duration cannot be negative")
    return seconds


def parse_duration(value: str | int | float) -> float:
    """Return the duration ``value`` in seconds.

    Args:
        value: A number of seconds, or a text such as ``500ms``, ``60s``, ``5m``, ``2h``,
            ``1d``, ``1w``, ``1h30m``, ``1m 30s``, ``1.5h`` or ``"90"``.

    Returns:
        The duration in seconds, a non-negative finite float.

    Raises:
        ValueError: ``value`` is negative, not finite, a boolean, or text that is not a
            duration; the message says what was expected.
    """
    # Booleans are ints in Python; ``for: true`` in YAML is surely a mistake.
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration ({_EXAMPLES})")  # noqa: TRY004 (pydantic wants ValueError)
    if isinstance(value, int | float):
        try:
            seconds = float(value)
        except OverflowError:  # an integer beyond any float: no repr either (it may be huge)
            raise ValueError("the number is too large to be a duration") from None
        return _checked(seconds, value)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a duration ({_EXAMPLES})")  # noqa: TRY004 (pydantic wants ValueError)
    text = value.strip()
    if not text:
        raise ValueError(f"an empty text is not a duration ({_EXAMPLES})")
    if text.startswith("-"):
        raise ValueError(f"{value!r} is not a duration: a duration cannot be negative")
    if _PLAIN.fullmatch(text):
        return _checked(float(text), value)
    total = 0.0
    position = 0
    previous = ""
    while position < len(text):
        match = _PART.match(text, position)
        if match is None:
            raise ValueError(f"{value!r} is not a duration ({_EXAMPLES})")
        number, unit = match.groups()
        if unit not in UNITS:
            lower = unit.lower()
            meant = lower if lower in UNITS else _SPELLED.get(lower.rstrip("s") or lower)
            hint = f" (did you mean '{meant}'?)" if meant else ""
            raise ValueError(
                f"{value!r} is not a duration: unknown unit '{unit}'{hint}; the units are ms, s, m, h, d, w"
            )
        if previous and list(UNITS).index(unit) <= list(UNITS).index(previous):
            raise ValueError(f"{value!r} is not a duration: units must come largest first, each once (like 1h30m)")
        total += float(number) * UNITS[unit]
        previous = unit
        position = match.end()
    return _checked(total, value)


def format_duration(seconds: float) -> str:
    """Return ``seconds`` as the shortest usual text: ``1h30m``, ``500ms``, ``2.25s``, ``0s``.

    ``parse_duration(format_duration(s)) == s`` for every whole number of milliseconds.

    Raises:
        ValueError: ``seconds`` is negative or not finite.
    """
    _checked(float(seconds), seconds)
    milliseconds = round(seconds * 1000)
    if milliseconds == 0 and seconds == 0:
        return "0s"
    if abs(milliseconds - seconds * 1000) > 1e-6 * max(1.0, abs(seconds * 1000)):
        return f"{seconds!r}s"
    parts: list[str] = []
    for unit in ("w", "d", "h", "m", "s"):
        size = round(UNITS[unit] * 1000)
        count, milliseconds = divmod(milliseconds, size)
        if count:
            parts.append(f"{count}{unit}")
    if milliseconds:
        parts.append(f"{milliseconds}ms")
    return "".join(parts) or "0s"
