"""Judging a flow test: what arrived against what was expected, and a readable account of the difference.

Only the parts an expected message gives are compared (``topic``, ``payload``, the listed
``meta`` keys); numbers within 1e-6, since event times are sums of floats.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterator
from typing import Any

import orjson

from flowengine.flowtest.cases import Observed
from flowengine.message import Message


def same(expected: Any, actual: Any) -> bool:
    """Compare JSON values; numbers within 1e-6 (event times are sums of floats)."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return math.isclose(expected, actual, rel_tol=1e-12, abs_tol=1e-6)
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(same(value, actual[key]) for key, value in expected.items())
    if isinstance(expected, list | tuple) and isinstance(actual, list | tuple):
        return len(expected) == len(actual) and all(same(e, a) for e, a in zip(expected, actual, strict=True))
    return bool(expected == actual)


def project(msg: Message, shape: dict[str, Any]) -> dict[str, Any]:
    """Keep of ``msg`` what ``shape`` (an expected message) compares: topic, payload, listed meta keys."""
    shown: dict[str, Any] = {}
    if "topic" in shape:
        shown["topic"] = msg.topic
    if "payload" in shape:
        shown["payload"] = msg.payload
    if "meta" in shape:
        shown["meta"] = {key: msg.meta.get(key) for key in shape["meta"]}
    return shown


def _default_shape(expected: list[dict[str, Any]]) -> dict[str, Any]:
    shape: dict[str, Any] = {}
    meta: dict[str, None] = {}
    for entry in expected:
        shape.update(dict.fromkeys(key for key in entry if key != "meta"))
        meta.update(dict.fromkeys(entry.get("meta", {})))
    if not shape and not meta:
        return {"topic": None, "payload": None, "meta": {"ts": None}}
    if meta:
        shape["meta"] = meta
    return shape


def _plain(value: Any) -> Any:
    """``62.0`` as ``62`` for display, so a diff shows only real differences."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {key: _plain(member) for key, member in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(member) for member in value]
    return value


def _line(value: Any) -> str:
    return orjson.dumps(_plain(value), option=orjson.OPT_SORT_KEYS, default=str).decode()


def first_difference(expected: Any, actual: Any, path: str = "") -> str | None:
    """Return ``path: expected X, got Y`` for the first place two JSON values differ, or None."""
    if same(expected, actual):
        return None
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in sorted(expected.keys() | actual.keys(), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in actual:
                return f"{where}: expected {_line(expected[key])}, missing"
            if key not in expected:
                return f"{where}: not expected, got {_line(actual[key])}"
            found = first_difference(expected[key], actual[key], where)
            if found is not None:
                return found
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        for index, (e, a) in enumerate(zip(expected, actual, strict=True)):
            found = first_difference(e, a, f"{path}[{index}]")
            if found is not None:
                return found
    return f"{path or 'value'}: expected {_line(expected)}, got {_line(actual)}"


def judge(observed: Observed, messages: list[Message]) -> Iterator[str]:
    """Yield what is wrong with ``messages`` as seen at ``observed`` (nothing when they are as expected)."""
    expected = observed.expected
    fallback = _default_shape(expected)
    shapes = [expected[index] if index < len(expected) else fallback for index in range(len(messages))]
    actual = [project(msg, shape) for msg, shape in zip(messages, shapes, strict=True)]
    if len(actual) == len(expected) and all(same(e, a) for e, a in zip(expected, actual, strict=True)):
        return
    where = f"at '{observed.label}'"
    if len(actual) != len(expected):
        yield f"{where}: expected {len(expected)} message(s), got {len(actual)}"
    else:
        wrong = next(index for index, (e, a) in enumerate(zip(expected, actual, strict=True)) if not same(e, a))
        yield f"{where}: message {wrong + 1} differs: {first_difference(expected[wrong], actual[wrong])}"
    diff = difflib.unified_diff([_line(e) for e in expected], [_line(a) for a in actual],
                                "expected", "actual", lineterm="", n=2)
    yield from ("  " + line for line in diff)
