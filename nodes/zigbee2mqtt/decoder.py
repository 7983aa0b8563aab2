"""Zigbee2MQTT-compatible decoding of raw Zigbee reports (CONTRACT §3) into device state payloads.

:class:`Decoder` is the whole pipeline of LOCK_REFERENCE.md section 4 for one report: parse the
ZCL frame (:mod:`nodes.zigbee2mqtt.zcl`), find the device definition, run every matching
converter, merge, round, add ``linkquality``, apply the state cache; beside it the typed lock
event. It is synchronous, allocation-light and free of I/O, so the ``decode`` node, the
``flowengine decode`` command and tests share it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final, Literal, NamedTuple

from nodes.zigbee2mqtt.devices import CONVERTER_FAILURES, ConvertInput, Definition, Registry, default_registry
from nodes.zigbee2mqtt.events import LockEvent, event_from_result
from nodes.zigbee2mqtt.jsvalues import UNDEFINED, JsBigInt, JsObject, StructElement
from nodes.zigbee2mqtt.zcl import ERA_1X, ERA_2X, ZclError, parse_frame

Compat = Literal[1, 2]

DEFAULT_BASE_TOPIC: Final = "zigbee2mqtt"


class DecodeResult(NamedTuple):
    """What one raw report yields.

    Attributes:
        payload: the state object Zigbee2MQTT publishes (keys sorted, ``linkquality`` included),
            or None when it publishes nothing.
        event: the typed lock event, or None.
        error: why the report could not be decoded (the reference's parser rejected the frame,
            or the record is not a raw report), or None. With an error, payload and event are None.
        model: the Zigbee2MQTT model of the definition used (``ZNMS11LM``), or None.
        friendly_name: the device's friendly name (``0x`` + IEEE without separators by default).
        topic: ``<base_topic>/<friendly name>``.
    """

    payload: dict[str, Any] | None
    event: LockEvent | None
    error: str | None
    model: str | None
    friendly_name: str
    topic: str


def normalize_ieee(ieee: str) -> str:
    """Return the 16 lowercase hex digits of an IEEE address in any usual form.

    ``00:15:8D:00:01:02:03:04``, ``00-15-8d-…``, ``0x00158d0001020304`` and ``00158d0001020304``
    all give ``00158d0001020304``; anything else is returned lowercased without separators.
    """
    text = ieee.strip().lower()
    if text.startswith("0x"):
        text = text[2:]
    return text.replace(":", "").replace("-", "")


def to_json_value(value: Any) -> Any:
    """Return a converter value as Zigbee2MQTT serialises it (NaN -> null, BigInt -> string, …)."""
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, JsBigInt):
        return str(int(value))
    if isinstance(value, bytes):
        return {"type": "Buffer", "data": list(value)}
    if isinstance(value, dict):
        return {str(k): to_json_value(v) for k, v in value.items() if v is not UNDEFINED and v is not None}
    if isinstance(value, list):
        return [None if v is None else to_json_value(v) for v in value]
    if isinstance(value, StructElement):
        return {"elmType": value.type, "elmVal": to_json_value(value.value)}
    if isinstance(value, JsObject):
        return {k: v for k, v in value.fields.items()}
    return value


class Decoder:
    """Turns raw reports into Zigbee2MQTT payloads and typed lock events.

    Args:
        compat: 1 (default) reproduces Zigbee2MQTT 1.42 (converters 20.58, zigbee-herdsman
            2.1.9) and honours ``legacy``; 2 reproduces Zigbee2MQTT 2.x, which has no ``legacy``.
        legacy: the device option ``legacy`` (default True); ignored with ``compat=2``.
        cache_state: merge each payload into the device's cached state, as Zigbee2MQTT's
            ``cache_state`` does (``action`` and ``action_*`` are never cached).
        model: decode every report with this definition (a Zigbee model id such as
            ``lumi.lock.aq1`` or a Zigbee2MQTT model such as ``ZNMS11LM``); None chooses from
            each report's ``model``.
        base_topic: the first topic level (Zigbee2MQTT's ``mqtt.base_topic``).
        friendly_names: IEEE address (any usual form) -> friendly name.
        registry: the device definitions (default: the built-in ones).

    Raises:
        ValueError: an unknown ``model`` or ``compat``.
    """

    def __init__(
        self,
        *,
        compat: int = 1,
        legacy: bool = True,
        cache_state: bool = True,
        model: str | None = None,
        base_topic: str = DEFAULT_BASE_TOPIC,
        friendly_names: Mapping[str, str] | None = None,
        registry: Registry | None = None,
    ) -> None:
        if compat not in (1, 2):
            raise ValueError(f"compat must be 1 or 2, not {compat!r}")
        self.compat: Compat = 1 if compat == 1 else 2
        self.legacy = legacy
        self.cache_state = cache_state
        self.base_topic = base_topic
        self.registry = registry or default_registry()
        self._era = ERA_1X if compat == 1 else ERA_2X
        self._fixed: Definition | None = None
        if model is not None:
            self._fixed = self.registry.find(model)
            if self._fixed is None:
                raise ValueError(f"unknown device model {model!r}")
        self._names = {normalize_ieee(k): v for k, v in (friendly_names or {}).items()}
        self._devices: dict[str, tuple[str, str, str]] = {}
        self._states: dict[str, dict[str, Any]] = {}

    @property
    def model(self) -> Definition | None:
        """The definition every report is decoded with, or None (chosen per report)."""
        return self._fixed

    def identity(self, ieee: str | None) -> tuple[str, str, str]:
        """Return ``(friendly_name, topic, normalized address)`` for a device (cached per address)."""
        key = ieee or ""
        known = self._devices.get(key)
        if known is None:
            normalized = normalize_ieee(key)
            name = self._names.get(normalized) or ("0x" + normalized if normalized else "unknown")
            known = (name, f"{self.base_topic}/{name}", normalized)
            self._devices[key] = known
        return known

    def state_of(self, ieee: str) -> dict[str, Any]:
        """Return a copy of the cached state of a device (empty when nothing is cached)."""
        return dict(self._states.get(normalize_ieee(ieee), {}))

    def reset(self) -> None:
        """Forget every device's cached state."""
        self._states.clear()

    def decode(self, record: Mapping[str, Any]) -> DecodeResult:
        """Decode one raw report record (CONTRACT §3).

        Never raises for bad input: a record that is not a raw report, a frame that is not hex,
        and a frame the reference parser rejects all give a result with ``error`` set.
        """
        if not isinstance(record, Mapping):
            name, topic, _ = self.identity(None)
            return DecodeResult(None, None, "invalid record: not an object", None, name, topic)
        ieee = record.get("ieee")
        if type(ieee) is not str:
            ieee = None
        frame_text = record.get("frame")
        cluster = record.get("cluster")
        lqi = record.get("lqi")
        problem = None
        if type(frame_text) is not str:
            problem = "invalid record: no frame"
        elif type(cluster) is not int:
            problem = "invalid record: cluster is not an integer"
        elif type(lqi) is not int:
            problem = "invalid record: lqi is not an integer"
        else:
            try:
                frame = bytes.fromhex(frame_text.replace(" ", "") if " " in frame_text else frame_text)
            except ValueError:
                problem = "invalid record: frame is not hex"
        if problem is not None:
            name, topic, _ = self.identity(ieee)
            return DecodeResult(None, None, problem, None, name, topic)
        model = record.get("model")
        return self._decode(frame, cluster, lqi, model if type(model) is str else None, ieee)  # type: ignore[arg-type]

    def decode_frame(
        self, frame: bytes, *, cluster: int, lqi: int, model: str | None = None, ieee: str | None = None
    ) -> DecodeResult:
        """Decode one ZCL frame from a device; see :meth:`decode` (which validates a record first)."""
        return self._decode(frame, cluster, lqi, model, ieee)

    def _decode(self, frame: bytes, cluster: int, lqi: int, model: str | None, ieee: str | None) -> DecodeResult:
        name, topic, device = self._devices.get(ieee or "") or self.identity(ieee)
        try:
            parsed = parse_frame(frame, cluster, self._era)
        except ZclError as exc:
            return DecodeResult(None, None, f"ZCL frame rejected: {exc}", None, name, topic)
        definition = self._fixed or (self.registry.find(model) if model else None)
        if definition is None:
            return DecodeResult(None, None, None, None, name, topic)
        msg_type = parsed.msg_type
        result: dict[str, Any] | None = None
        for converter in definition.converters:
            if converter.cluster != cluster or msg_type not in converter.types:
                continue
            try:
                converted = converter.convert(
                    ConvertInput(definition.model, msg_type, parsed.data, self.compat, self.legacy)
                )
            except CONVERTER_FAILURES:
                continue  # a throwing converter contributes nothing, as in Zigbee2MQTT
            if converted:
                if result is None:
                    result = converted
                else:
                    result.update(converted)
        if not result:
            return DecodeResult(None, None, None, definition.model, name, topic)
        for key, decimals in definition.precision.items():
            value = result.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, (bool, JsBigInt)):
                result[key] = _precision_round(value, decimals)
        event = event_from_result(result)
        result["linkquality"] = lqi
        if self.cache_state:
            result = self._merge_state(device, result)
        payload: dict[str, Any] = {}
        for key in sorted(result):
            value = result[key]
            kind = type(value)
            if kind is str or kind is int or value is None or kind is bool:
                payload[key] = value
            elif value is not UNDEFINED:
                payload[key] = to_json_value(value)
        return DecodeResult(payload, event, None, definition.model, name, topic)

    def _merge_state(self, device: str, result: dict[str, Any]) -> dict[str, Any]:
        """Publish the cached state merged with ``result``; cache everything but actions."""
        state = self._states.get(device)
        if state is None:
            state = self._states[device] = {}
        merged = {**state, **result}
        for key, value in result.items():
            if key == "action" or key[:7] == "action_":
                continue  # Zigbee2MQTT never caches actions
            if value is UNDEFINED:
                state.pop(key, None)
            else:
                state[key] = value
        return merged


def _precision_round(value: float, decimals: int) -> float:
    """Zigbee2MQTT's ``precisionRound``: ``Math.round(value * 10**d) / 10**d``."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return value
    factor = 10**decimals
    scaled = value * factor
    floor = math.floor(scaled)
    rounded = floor + 1 if scaled - floor >= 0.5 else floor
    result = rounded / factor
    return int(result) if isinstance(value, int) and result.is_integer() else result
