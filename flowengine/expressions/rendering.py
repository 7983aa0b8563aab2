"""Rendering values as text and JSON (shared with templates and the ``str()``/``json()`` functions)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, Final

import orjson

from flowengine.message import Message

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
