"""Durations (CONTRACT §5): units, combinations, seconds, and clear refusals."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flowengine.durations import DURATION_PATTERN, format_duration, parse_duration

PARSED = [
    ("500ms", 0.5),
    ("60s", 60.0),
    ("5m", 300.0),
    ("2h", 7200.0),
    ("1d", 86400.0),
    ("1w", 604800.0),
    ("1h30m", 5400.0),
    ("1m 30s", 90.0),
    ("2d12h", 216000.0),
    ("1h1m1s1ms", 3661.001),
    ("1.5h", 5400.0),
    (".5s", 0.5),
    ("0s", 0.0),
    ("0", 0.0),
    ("90", 90.0),
    (" 2.5 ", 2.5),
    ("1e3", 1000.0),
    (0, 0.0),
    (3, 3.0),
    (1.5, 1.5),
]


@pytest.mark.parametrize(("value", "seconds"), PARSED)
def test_parse(value: str | float, seconds: float) -> None:
    result = parse_duration(value)
    assert result == pytest.approx(seconds)
    assert type(result) is float


REFUSED = [
    ("-5s", "cannot be negative"),
    (-1, "cannot be negative"),
    (-0.5, "cannot be negative"),
    ("abc", "is not a duration (e.g. 500ms"),
    ("", "empty text"),
    ("   ", "empty text"),
    ("5M", "unknown unit 'M' (did you mean 'm'?)"),
    ("5 mins", "unknown unit 'mins' (did you mean 'm'?)"),
    ("10seconds", "unknown unit 'seconds' (did you mean 's'?)"),
    ("2 hours", "(did you mean 'h'?)"),
    ("5y", "unknown unit 'y'; the units are ms, s, m, h, d, w"),
    ("30m1h", "largest first"),
    ("1h1h", "largest first"),
    ("1h30", "is not a duration"),
    ("h", "is not a duration"),
    ("1.2.3s", "is not a duration"),
    ("1e400", "finite"),
    (math.nan, "finite"),
    (math.inf, "finite"),
    (True, "is not a duration"),
    (None, "is not a duration"),
    ([1], "is not a duration"),
    ("\u0663s", "is not a duration"),  # digits are ASCII digits
]


@pytest.mark.parametrize(("value", "fragment"), REFUSED, ids=repr)
def test_refused(value: Any, fragment: str) -> None:
    with pytest.raises(ValueError, match=re.escape(fragment)):
        parse_duration(value)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.5, "500ms"),
        (60, "1m"),
        (90, "1m30s"),
        (5400, "1h30m"),
        (86400, "1d"),
        (2.25, "2s250ms"),
        (1e-4, "0.0001s"),
        (694861.001, "1w1d1h1m1s1ms"),
    ],
)
def test_format(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == pytest.approx(seconds)


def test_format_refuses_negative() -> None:
    with pytest.raises(ValueError, match="negative"):
        format_duration(-1)


@given(st.integers(min_value=0, max_value=10**10))
def test_format_and_parse_round_trip_whole_milliseconds(milliseconds: int) -> None:
    seconds = milliseconds / 1000
    text = format_duration(seconds)
    assert parse_duration(text) == pytest.approx(seconds, abs=1e-9)
    assert re.match(DURATION_PATTERN, text)


@given(st.text(max_size=12))
def test_junk_is_a_value_error_or_a_duration(text: str) -> None:
    try:
        seconds = parse_duration(text)
    except ValueError:
        return
    assert seconds >= 0
    assert math.isfinite(seconds)
    assert re.match(DURATION_PATTERN, text), text  # the schema pattern accepts what parses


@pytest.mark.parametrize("text", ["500ms", "1h30m", "1m 30s", "90", "2.5", ".5s", "1e3"])
def test_schema_pattern_accepts_durations(text: str) -> None:
    assert re.match(DURATION_PATTERN, text)


@pytest.mark.parametrize("text", ["abc", "-5s", "5M", "", "1h30"])
def test_schema_pattern_rejects_junk(text: str) -> None:
    assert not re.match(DURATION_PATTERN, text)
