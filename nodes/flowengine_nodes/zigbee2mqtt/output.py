"""Zigbee2MQTT 2.x's ``advanced.last_seen`` and ``advanced.output`` for device state messages.

Zigbee2MQTT (its controller's ``publishEntityState``) adds ``last_seen`` to every device message
when ``advanced.last_seen`` is not ``disable``: the time the device last sent anything, as
``ISO_8601`` (UTC with milliseconds, ``2019-03-01T15:32:45.941Z``), ``ISO_8601_local`` (local time
with the offset, no milliseconds, ``2019-03-01T16:32:45+01:00``) or ``epoch`` (milliseconds, a
number). ``advanced.output`` chooses how the message goes out: ``json`` (one JSON object on
``<base>/<name>``), ``attribute`` (each key on ``<base>/<name>/<key>``), or both
(``attribute_and_json``, the JSON first). Attribute payloads are rendered as its
``iteratePayloadAttributeOutput`` does: a string as it is; null as an empty payload; a list as
its items joined by ``,`` (each as a JavaScript template literal writes it); an object recursed
into with ``<key>-`` prefixed to its keys (``color-x``), except a ``color`` with ``r``, ``g`` and
``b``, which is the list ``r,g,b``; anything else (numbers, booleans) as JSON.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from flowengine_nodes.zigbee2mqtt.settings import LastSeen


def epoch_ms(seconds: float) -> int:
    """The event time in whole milliseconds, as JavaScript's ``Date.now()`` gives it."""
    return round(seconds * 1000)


def format_last_seen(ms: int, mode: LastSeen) -> str | int:
    """Return Zigbee2MQTT's ``formatDate(ms, mode)`` for a time in milliseconds since the epoch."""
    if mode == "epoch":
        return ms
    if mode == "ISO_8601":
        moment = datetime.fromtimestamp(ms / 1000, UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
    # ISO_8601_local: local time to the second, then the offset as ±HH:MM (no milliseconds).
    local = datetime.fromtimestamp(ms // 1000).astimezone()
    offset = local.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "+" if minutes >= 0 else "-"
    return local.strftime("%Y-%m-%dT%H:%M:%S") + f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _template(value: Any) -> str:
    """``${value}`` in JavaScript: what a list item becomes in an attribute payload."""
    from flowengine_nodes.devices.jsvalues import number_to_string

    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return number_to_string(value)
    if isinstance(value, list):  # Array.prototype.toString: join, null items empty
        return ",".join("" if item is None else _template(item) for item in value)
    return "[object Object]"


def _scalar(value: Any) -> bytes:
    """Zigbee2MQTT's ``stringify`` of a number or boolean (a JSON text)."""
    from flowengine_nodes.devices.jsvalues import number_to_string

    if isinstance(value, int | float) and value is not True and value is not False:
        text = number_to_string(value)
        return b"null" if text in ("NaN", "Infinity", "-Infinity") else text.encode()
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def attribute_payloads(root: str, payload: Mapping[str, Any]) -> Iterator[tuple[str, bytes]]:
    """Yield ``(topic, payload)`` for each key of a device state, as ``output: attribute`` publishes it.

    ``root`` is ``<base>/<name>/`` (and ``<base>/<name>/<key>-`` inside an object).
    """
    for key, value in payload.items():
        if key == "color" and isinstance(value, Mapping) and all(c in value for c in "rgb"):
            value = [value["r"], value["g"], value["b"]]
        if value is None:
            yield f"{root}{key}", b""
        elif isinstance(value, list):
            yield f"{root}{key}", ",".join(_template(item) for item in value).encode()
        elif isinstance(value, Mapping):
            yield from attribute_payloads(f"{root}{key}-", value)
        elif isinstance(value, str):
            yield f"{root}{key}", value.encode()
        else:
            yield f"{root}{key}", _scalar(value)
