"""A Zigbee2MQTT ``/set`` or ``/get`` request run through a definition's toZigbee converters.

This is Zigbee2MQTT 2.x's publish extension: the payload is parsed (JSON, or a bare ``ON``/``OFF``/
``TOGGLE``..., or the value of ``/set/<attribute>``), Home Assistant's redundant ``state`` is dropped
when only colour changes on a light that is on, ``state``/``brightness`` go last when switching on and
first when switching off, each converter runs once per request, and the optimistic states the
converters return are merged over the cached state: that merge is what Zigbee2MQTT publishes. Errors
are Zigbee2MQTT's texts, one per key; the other keys still run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Literal

from flowengine_nodes.devices.definitions import ToZigbee
from flowengine_nodes.devices.to_zigbee import CommandError, Meta, Target, js_json

__all__ = ["Outcome", "parse_request", "run_request"]

#: Bare payloads Zigbee2MQTT takes as ``{"state": payload}``.
STATE_VALUES = ("on", "off", "toggle", "open", "close", "stop", "lock", "unlock")

Kind = Literal["set", "get"]


@dataclass
class Outcome:
    """What a request did.

    Attributes:
        published: the device's state to publish (cache merged with the optimistic state), or None
            when no converter returned a state (a /get, a failure, a step without a cached level).
        errors: Zigbee2MQTT's error text for each key that failed or has no converter.
    """

    published: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)


def parse_request(raw: str | bytes, attribute: str | None = None) -> dict[str, Any] | None:
    """Parse a request payload as Zigbee2MQTT does; None when it is not a request at all.

    ``/set/<attribute>`` takes the payload as that attribute's value (JSON if it parses, else the
    text). Otherwise the payload is a JSON object, or a bare state word; a JSON array counts its
    indexes as keys (as JavaScript's ``Object.entries`` does); other JSON values are refused.
    """
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    try:
        value = json.loads(text)
    except ValueError:
        if attribute is not None:
            return {attribute: text}
        return {"state": text} if text.lower() in STATE_VALUES else None
    if attribute is not None:
        return {attribute: value}
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        return {str(index): item for index, item in enumerate(value)}
    return None


def _order(message: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """State and brightness last when switching on (colour first), first when switching off.

    Zigbee2MQTT sorts with a comparator that looks at one side only, so the result depends on the
    sort algorithm: this is V8's (TimSort: the first run, then binary insertion, for short arrays).
    """
    state = message.get("state")
    sorter = 1 if isinstance(state, str) and state.lower() == "off" else -1
    first = ("state", "brightness", "brightness_percent")

    def compare(a: tuple[str, Any], b: tuple[str, Any]) -> int:
        return sorter if a[0] in first else -sorter

    items = list(message.items())
    if len(items) < 2:
        return items
    run, descending = 2, compare(items[1], items[0]) < 0
    previous = items[1]
    for current in items[2:]:
        order = compare(current, previous)
        if (descending and order >= 0) or (not descending and order < 0):
            break
        previous, run = current, run + 1
    if descending:
        items[:run] = reversed(items[:run])
    for start in range(run, len(items)):
        pivot, left, right = items[start], 0, start
        while left < right:
            middle = left + ((right - left) >> 1)
            if compare(pivot, items[middle]) < 0:
                right = middle
            else:
                left = middle + 1
        items[left + 1:start + 1] = items[left:start]
        items[left] = pivot
    return items


def _value_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return js_json(value)


async def run_request(kind: Kind, message: dict[str, Any], *, name: str, converters: tuple[ToZigbee, ...],
                      target: Target, state: Mapping[str, Any], options: Mapping[str, Any], model: str,
                      store: MutableMapping[str, Any], homeassistant: bool = False,
                      ) -> Outcome:
    """Run ``message`` (parsed) as a ``kind`` request for the device ``name``.

    Args:
        kind: ``set`` or ``get``.
        message: the parsed request (key -> value).
        name: the device's friendly name (for the error texts).
        converters: the definition's toZigbee converters.
        target: the endpoint the frames go to.
        state: the device's cached state.
        options: the device options.
        model: the definition's model.
        store: the device's converter store (kept by the caller between requests).
        homeassistant: Home Assistant integration on (drops a redundant ``state``).

    Returns:
        The outcome; frames went to ``target`` as the converters ran.
    """
    message = dict(message)
    if homeassistant and state.get("state") == "ON" and (
            "color_temp" in message or "color" in message) and "brightness" not in message:
        message.pop("state", None)
    used: list[ToZigbee] = []
    optimistic: dict[str, Any] = {}
    outcome = Outcome()
    for key, value in _order(message):
        converter = next((c for c in converters if key in c.keys), None)
        if kind == "set" and converter is not None and converter in used:
            continue
        if converter is None:
            outcome.errors.append(f"No converter available for '{key}' on '{name}': ({js_json(message[key])})")
            continue
        if converter.convert_set is None and converter.convert_get is None:
            outcome.errors.append(f"'{key}' on '{name}' is a Zigbee2MQTT command flowengine does not serve")
            continue
        meta = Meta(dict(message), state, options, model, store)
        try:
            if kind == "set" and converter.convert_set is not None:
                result = await converter.convert_set(target, key, value, meta)
                if result and result.get("state"):
                    optimistic.update(result["state"])
            elif kind == "get" and converter.convert_get is not None:
                await converter.convert_get(target, key, meta)
            else:
                outcome.errors.append(f"No converter available for '{kind}' '{key}' ({_value_text(message[key])})")
                continue
        except CommandError as error:
            outcome.errors.append(f"Publish '{kind}' '{key}' to '{name}' failed: '{error}'")
        used.append(converter)
    if optimistic:
        outcome.published = {**state, **optimistic}
    return outcome
