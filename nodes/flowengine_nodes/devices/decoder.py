"""Zigbee2MQTT-compatible decoding of raw Zigbee reports (CONTRACT §3) into device state payloads.

:class:`Decoder` is the whole pipeline of Zigbee2MQTT's receive path (docs/decoder.md) for one report: parse the
ZCL frame (:mod:`flowengine_nodes.devices.zcl`), find the device definition, run every matching
converter, merge, round, add ``linkquality``, apply the state cache; beside it the typed lock
event. It is synchronous, allocation-light and free of I/O, so the ``decode`` node, the
``flowengine decode`` command and tests share it.

Speed. Everything from the frame text to the converter result and the typed event is a pure
function of (frame, cluster, model) for a decoder's mode, and a lock sends the same few frames
over and over; :meth:`Decoder.decode` therefore memoises it (:class:`_Decoded`, a bounded dict)
and only does per report what truly depends on the report: ``linkquality``, the device and its
cached state. :meth:`Decoder._decode` is the plain, unmemoised pipeline; the memoised path is
held to give exactly its results (tests/nodes/decode/test_memo.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from math import floor as _floor
from typing import Any, Final, Literal, NamedTuple

from flowengine_nodes.devices.converters import calibrate_and_round, precision_round
from flowengine_nodes.devices.definitions import (
    CONVERTER_FAILURES,
    Converter,
    ConvertInput,
    Definition,
    EventInput,
    Registry,
    SingleForm,
    default_registry,
)
from flowengine_nodes.devices.events import DeviceEvent
from flowengine_nodes.devices.jsvalues import UNDEFINED, JsBigInt, JsObject, StructElement, number_to_string
from flowengine_nodes.devices.zcl import (
    ATTRIBUTE_REPORT,
    DROPPED,
    ERA_1X,
    ERA_2X,
    MAX_FRAME_BYTES,
    ReportLayout,
    SingleRecord,
    ZclError,
    parse_frame,
    post_read,
    read_mi_struct,
    report_layout,
    single_record,
)

Compat = Literal[1, 2]

DEFAULT_BASE_TOPIC: Final = "zigbee2mqtt"

#: Entries each memo level holds before it starts again from empty (see ``Decoder._memo_miss``).
#: A lock repeats a handful of frames (the sequence number aside), so a few thousand entries
#: hold a whole fleet; clearing at the bound costs nothing per report, unlike an LRU, and the
#: bound caps the memory junk input can take.
MEMO_LIMIT: Final = 4096
#: Frame texts longer than this are decoded without the memo (real reports are far shorter;
#: 4,096 keys of up to 65 KB of hex each would hold over 250 MB).
MEMO_TEXT_LIMIT: Final = 512
#: Most address spellings remembered (each maps to its device); beyond, the table starts again.
SPELLING_LIMIT: Final = 4096
#: Most devices (normalized addresses with a cached state) kept; beyond, the oldest is dropped.
#: A coordinator holds a few hundred devices at most, so only made-up addresses ever reach it.
DEVICE_LIMIT: Final = 4096
#: Addresses longer than this are not remembered at all (an IEEE address is 16 hex digits).
ADDRESS_LIMIT: Final = 64


_HEX_DIGITS: Final = "0123456789abcdefABCDEF"
#: The second hex digit of a frame text (the frame control's low nibble) -> where the sequence
#: number's two digits start: after the manufacturer code when bit 2 (manufacturer-specific) is set.
_SEQUENCE_AT: Final = {digit: 6 if int(digit, 16) & 0x04 else 2 for digit in _HEX_DIGITS}
#: Every two-digit hex string, in either case.
_HEX_PAIRS: Final = frozenset(a + b for a in _HEX_DIGITS for b in _HEX_DIGITS)


class DecodeResult(NamedTuple):
    """What one raw report yields.

    Attributes:
        payload: the state object Zigbee2MQTT publishes (keys sorted, ``linkquality`` included),
            or None when it publishes nothing.
        event: the typed device event (:mod:`flowengine_nodes.devices.events`), or None. It can
            come with a None payload: a motion report the reference publishes nothing for still
            says ``motion_detected`` with its timeout.
        error: why the report could not be decoded (the reference's parser rejected the frame,
            or the record is not a raw report), or None. With an error, payload and event are None.
        model: the Zigbee2MQTT model of the definition used (``ZNMS11LM``), or None.
        friendly_name: the device's friendly name (``0x`` + IEEE without separators by default).
        topic: ``<base_topic>/<friendly name>``.
    """

    payload: dict[str, Any] | None
    event: DeviceEvent | None
    error: str | None
    model: str | None
    friendly_name: str
    topic: str


#: Builds a DecodeResult without the NamedTuple's Python-level ``__new__`` (half the cost, same
#: object), on the two hot returns: ``_result(DecodeResult, (payload, event, …))``.
_result = tuple.__new__
#: The same for the other NamedTuples built per report on the cold path.
_new = tuple.__new__


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
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value  # the usual member of a nested object (a JsBigInt is an int of another type)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return None
        if _BIG_INTEGRAL <= abs(value) < 1e21 and value.is_integer():
            return int(number_to_string(value))  # JavaScript prints these as integers: 603890362668407900
        return value
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
        return {k: to_json_value(v) for k, v in value.fields.items()}
    return value


#: Value types a payload carries exactly as the converter returned them (no copy, no change).
_AS_IS: Final = frozenset({str, int, bool, type(None)})
#: Value types a memo entry may hold: immutable, so one entry can serve every report.
_SCALARS: Final = frozenset({str, int, bool, float, JsBigInt, type(None), type(UNDEFINED)})


#: Integers below this (in magnitude) come out of ``precision_round`` unchanged.
_INT_EXACT: Final = 2**50
#: Integral floats from here up are printed by JavaScript with all their digits (an int in JSON).
_BIG_INTEGRAL: Final = 2.0**53


def _is_as_is(value: Any) -> bool:
    """True when :func:`to_json_value` returns ``value`` itself and it is immutable."""
    kind = type(value)
    return kind in _AS_IS or (kind is float and math.isfinite(value) and abs(value) < _BIG_INTEGRAL)


def _published(result: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``result`` as published: keys sorted, values as JSON, ``undefined`` members dropped."""
    payload: dict[str, Any] = {}
    for key in sorted(result):
        value = result[key]
        kind = type(value)
        if kind is str or kind is int or value is None or kind is bool:
            payload[key] = value
        elif kind is float and value - value == 0 and -_BIG_INTEGRAL < value < _BIG_INTEGRAL:
            payload[key] = value  # a finite float JSON prints as it is (to_json_value's first case)
        elif kind is float and value != value:
            payload[key] = None  # NaN: null, as to_json_value gives
        elif value is not UNDEFINED:
            payload[key] = to_json_value(value)
    return payload


def _beside_linkquality(key: str, value: Any, lqi: Any) -> dict[str, Any] | None:
    """The payload of a one-key result as :func:`_published` makes it, with ``linkquality``; None: a value to convert.

    The usual payload has one key besides ``linkquality``: two keys need no sort, and a plain
    value (text, integer, boolean, null, a finite float, NaN as null) no conversion.
    """
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None or (
            kind is float and value - value == 0 and -_BIG_INTEGRAL < value < _BIG_INTEGRAL):
        pass
    elif kind is float and value != value:
        value = None  # NaN: null
    else:
        return None
    if key < "linkquality":
        return {key: value, "linkquality": lqi}
    if key > "linkquality":
        return {"linkquality": lqi, key: value}
    return {key: lqi}  # the converter's own linkquality is replaced


class _Converted(NamedTuple):
    """The pure part of decoding one frame: what the parser and the converters make of it."""

    error: str | None
    model: str | None  # the definition's model, None when no definition applies
    result: dict[str, Any] | None  # converter result, rounded, without linkquality; None: nothing
    event: DeviceEvent | None


class _Decoded(NamedTuple):
    """A memo entry: a :class:`_Converted` prepared so a report costs a few dict operations.

    Only results made of immutable scalars are memoised (see :func:`_memo_entry`), so sharing
    an entry between reports can never alias a mutable value into two payloads.
    """

    error: str | None
    model: str | None
    event: DeviceEvent | None
    #: The whole payload without the state cache, ``linkquality`` holding a placeholder at its
    #: sorted place (assigning an existing key keeps its position); None: nothing published.
    template: dict[str, Any] | None
    #: ``action``/``action_*`` members as published (never cached, so merged per report).
    actions: dict[str, Any]
    #: The action keys joined: which per-device key layout the payload takes (a str, whose
    #: hash Python caches, keys that layout cache cheaply).
    action_keys: str
    #: Cached members set by the report (values as the converter returned them, for ``state_of``).
    sets: dict[str, Any]
    #: True when every value of ``sets`` is published as is (no conversion, immutable).
    sets_as_is: bool
    #: Cached members the report sets to ``undefined``: removed from the cache.
    pops: tuple[str, ...]
    #: The keys popped and the keys set, joined: with the state's :class:`_Shape` it determines
    #: the state's next shape (a str, so its hash is cached).
    transition: str


def _memo_entry(converted: _Converted) -> _Decoded | None:
    """Prepare ``converted`` for the memo, or None when it must not be shared between reports.

    A result holding a container (a Buffer, an array, a structure) would hand the same mutable
    object to every payload made from the entry, and one whose converter set ``linkquality``
    would need that key's odd place: both stay on the plain path. One pass over the result, as
    a miss costs this on top of the plain pipeline.
    """
    error, model, result, event = converted
    if result is None:
        return _Decoded(error, model, event, None, {}, "", {}, True, (), "")
    actions: dict[str, Any] = {}
    sets: dict[str, Any] = {}
    pops: list[str] = []
    sets_as_is = True
    for key, value in result.items():
        kind = type(value)
        if kind not in _SCALARS or key == "linkquality":
            return None
        if key == "action" or key[:7] == "action_":  # published, never cached (Zigbee2MQTT)
            if value is not UNDEFINED:
                actions[key] = value if kind in _AS_IS else to_json_value(value)
        elif value is UNDEFINED:
            pops.append(key)
        else:
            sets[key] = value
            if sets_as_is and not _is_as_is(value):
                sets_as_is = False
    template = _published({**result, "linkquality": 0})
    action_keys = "\0".join(sorted(actions))
    transition = "\0".join(pops) + "\1" + "\0".join(sets)
    return _Decoded(error, model, event, template, actions, action_keys, sets, sets_as_is, tuple(pops), transition)


#: Bound of each shape's ``layouts`` and ``next``, and of a decoder's shapes: converters publish
#: a few fixed keys, so these stay tiny; the bound only guards against pathological input.
_SHAPE_LIMIT: Final = 256
#: Layouts one :class:`_Single` remembers (one per frame length) before it starts again from empty.
_LAYOUT_LIMIT: Final = 16


class _Shape:
    """One set of cached keys, shared by every device whose state has exactly these keys.

    The payload of a cached report has the state's keys plus the report's actions, sorted.
    Sorting per report is what cost most, so a shape keeps, per set of action keys, a
    ``layout``: a dict holding the payload's keys in sorted order (values unused). Copying it
    and updating the copy with the state and the actions builds the sorted payload in C.

    A report changes a state's keys in a way that depends only on the keys it had and on the
    keys the report pops and sets, so ``next`` remembers, per entry ``transition``, the shape the
    state has afterwards: no set is built and no key is sorted per report.
    """

    __slots__ = ("keys", "layouts", "next")

    def __init__(self, keys: frozenset[str]) -> None:
        self.keys = keys
        self.layouts: dict[str, dict[str, Any]] = {}
        self.next: dict[str, _Shape] = {}

    def layout(self, actions: Mapping[str, Any], action_keys: str) -> dict[str, Any]:
        """Return (and remember) the sorted key layout of this state plus ``actions``."""
        layout = self.layouts.get(action_keys)
        if layout is None:
            if len(self.layouts) >= _SHAPE_LIMIT:
                self.layouts.clear()
            layout = self.layouts[action_keys] = dict.fromkeys(sorted({*self.keys, *actions}))
        return layout


class _Device:
    """One device (one normalized IEEE address): its identity and its cached state.

    Every spelling of an address maps to the same object, so the cache is shared as before.
    ``shape`` is the :class:`_Shape` of the state's keys (kept equal to them at all times).
    ``as_is`` says whether every cached value is published as is; when not, payloads take
    the converting path.
    """

    __slots__ = ("as_is", "name", "normalized", "shape", "state", "topic")

    def __init__(self, name: str, topic: str, normalized: str, state: dict[str, Any], shape: _Shape) -> None:
        self.name = name
        self.topic = topic
        self.normalized = normalized
        self.state = state
        self.shape = shape
        self.as_is = all(_is_as_is(v) for v in state.values())


class _Plan(NamedTuple):
    """What decoding needs of one definition, prepared once per decoder (its options fixed).

    Attributes:
        name: the Zigbee2MQTT model.
        meta: the definition's ``meta``.
        dispatch: cluster -> message type -> the converters' functions that listen, in order.
        events: the definition's event function, or None.
        post_steps: post-processed key -> (key, default decimals, no option touches it and the
            decimals are a plain count, 10 ** decimals).
        reporters: cluster -> the converters that listen to its attribute reports, in order.
    """

    name: str
    meta: Mapping[str, Any]
    dispatch: dict[int, dict[str, tuple[Callable[[ConvertInput], dict[str, Any] | None], ...]]]
    events: Callable[[EventInput], DeviceEvent | None] | None
    post_steps: dict[str, tuple[str, int, bool, int]]
    reporters: dict[int, tuple[Converter, ...]]

    def single_forms(self, cluster: int, attr_id: int) -> tuple[SingleForm, ...] | None:
        """The single forms that convert a report of ``attr_id`` alone, or None (``convert`` must run)."""
        forms: list[SingleForm] = []
        for converter in self.reporters.get(cluster, ()):
            if attr_id not in converter.single:
                return None
            form = converter.single[attr_id]
            if form is not None:
                forms.append(form)
        return tuple(forms)

    @classmethod
    def of(cls, definition: Definition, options: Mapping[str, Any]) -> _Plan:
        """Prepare the plan of ``definition`` for decoders with these ``options``."""
        dispatch: dict[int, dict[str, tuple[Callable[[ConvertInput], dict[str, Any] | None], ...]]] = {}
        reporters: dict[int, tuple[Converter, ...]] = {}
        for converter in definition.converters:
            by_type = dispatch.setdefault(converter.cluster, {})
            for msg_type in converter.types:
                by_type[msg_type] = (*by_type.get(msg_type, ()), converter.convert)
            if ATTRIBUTE_REPORT in converter.types:
                reporters[converter.cluster] = (*reporters.get(converter.cluster, ()), converter)
        steps = {
            key: (key, decimals, f"{key}_calibration" not in options and f"{key}_precision" not in options
                  and type(decimals) is int and decimals >= 0, 10 ** max(0, int(decimals)))
            for key, decimals in definition.precision.items()
        }
        return cls(definition.model, definition.meta, dispatch, definition.events, steps, reporters)


def _post_process(
    result: dict[str, Any], steps: Mapping[str, tuple[str, int, bool, int]], options: Mapping[str, Any]
) -> None:
    """Zigbee2MQTT's post-processing of a converter result, in place: calibration and precision rounding.

    ``steps`` is the plan's (post-processed key -> (key, default decimals, no option touches it,
    10 ** decimals)).
    """
    # The steps of the keys present: walk the smaller side (the keys are independent; values
    # are replaced in place, no key is added or removed, so iterating the result is safe).
    for key in steps if len(steps) < len(result) else result:
        step = steps.get(key)
        if step is not None and key in result:
            value = result[key]
            if type(value) is not int or not step[2]:  # (a small int with the default precision stays itself)
                result[key] = _post_value(value, step, options)


def _post_value(value: Any, step: tuple[str, int, bool, int], options: Mapping[str, Any]) -> Any:
    """One value of :func:`_post_process`: ``value`` calibrated and rounded by its key's ``step``."""
    kind = type(value)
    if kind is float:
        if step[2]:  # no calibration, default precision: only precisionRound, inlined (same results)
            exact = step[3]
            product: float = value * exact
            if product - product == 0:  # finite
                floor = _floor(product)
                rounded = (floor + 1 if product - floor >= 0.5 else floor) / exact
                return int(rounded) if rounded.is_integer() and -_BIG_INTEGRAL < rounded < _BIG_INTEGRAL else rounded
            return product / exact  # NaN or an infinity: Math.round keeps it, divided back by 10**d >= 1
    elif kind is not int:
        return value
    elif step[2]:
        return value if -_INT_EXACT < value < _INT_EXACT else precision_round(value, step[1])
    try:
        return calibrate_and_round(value, options, step[0], step[1])
    except CONVERTER_FAILURES:
        return value  # Zigbee2MQTT logs a bad calibration option and keeps the value


class _Single(NamedTuple):
    """How :meth:`Decoder.decode_frame` converts a one-record report of one shape (model, cluster, record header).

    The first eight fields are the value's :class:`~flowengine_nodes.devices.zcl.SingleRecord`
    reader (flat: one unpacking per report).

    Attributes:
        plan: the model's plan (event, post-processing).
        forms: the single forms of the converters that publish something for this attribute.
        message: what the forms see as ``msg`` (its ``data`` empty: forms take the value).
        layouts: frame length -> the layout of the last report of several records that began
            with this record and had that length (see :meth:`Decoder._records`).
    """

    attr_id: int
    width: int
    unpack: Any
    attribute: Any
    invalid: int | None
    bounded: bool
    low: float
    high: float
    plan: _Plan
    forms: tuple[SingleForm, ...]
    message: ConvertInput
    layouts: dict[int, ReportLayout]


#: A report with no definition: nothing, no error.
_NOTHING: Final = _Converted(None, None, None, None)


class Decoder:
    """Turns raw reports into Zigbee2MQTT payloads and typed lock events.

    The options are fixed at construction (read-only attributes): the memo of decoded frames
    depends on them.

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
        options: device options for every device decoded (Zigbee2MQTT's ``devices.<ieee>`` keys:
            ``occupancy_timeout``, ``temperature_precision``, ``power_calibration``,
            ``state_action``, …); a missing key takes Zigbee2MQTT's default, a key a model does
            not know is ignored. See each definition's ``options``.
        live_timers: how RTCGQ11LM's occupancy/illuminance reports publish. False (default)
            reproduces the reference vectors: zigbee-herdsman-converters' timer store rejects the
            reference harness's endpoints, so those reports publish nothing. True publishes
            ``{occupancy: true}`` (+ ``illuminance``) as a live Zigbee2MQTT does. Either way the
            typed event says ``motion_detected`` with the occupancy timeout, for whoever clears
            occupancy on the engine's clock.

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
        options: Mapping[str, Any] | None = None,
        live_timers: bool = False,
    ) -> None:
        if compat not in (1, 2):
            raise ValueError(f"compat must be 1 or 2, not {compat!r}")
        self._compat: Compat = 1 if compat == 1 else 2
        self._legacy = legacy
        self._cache_state = cache_state
        self._base_topic = base_topic
        self._registry = registry or default_registry()
        self._options: dict[str, Any] = dict(options or {})
        #: Model id or model -> its decoding plan (None: unknown model), see ``_plan``.
        self._plans: dict[str, _Plan | None] = {}
        if live_timers:
            self._options["live_timers"] = True
        self._era = ERA_1X if compat == 1 else ERA_2X
        self._fixed: Definition | None = None
        self._fixed_plan: _Plan | None = None
        if model is not None:
            self._fixed = self._registry.find(model)
            if self._fixed is None:
                raise ValueError(f"unknown device model {model!r}")
            self._fixed_plan = _Plan.of(self._fixed, self._options)
        self._names = {normalize_ieee(k): v for k, v in (friendly_names or {}).items()}
        #: Address as given (``""`` for none) -> device; several spellings share one device.
        self._devices: dict[str, _Device] = {}
        #: Normalized address -> device.
        self._by_address: dict[str, _Device] = {}
        #: Normalized address -> cached state (the same dicts as the devices').
        self._states: dict[str, dict[str, Any]] = {}
        #: Key set -> its shape (see :class:`_Shape`).
        self._shapes: dict[frozenset[str], _Shape] = {}
        #: (frame text, cluster, model or None) -> decoded frame; see :meth:`_memo_miss` and
        #: :data:`MEMO_LIMIT`.
        self._memo: dict[tuple[str, int, str | None], _Decoded] = {}
        #: (frame text before and after the sequence number, cluster, model or None) -> decoded frame.
        self._by_content: dict[tuple[str, str, int, str | None], _Decoded] = {}
        #: (model, cluster, record shape) -> how to read a one-record report of that shape and
        #: the plan that converts it, or None (the full parser); see :meth:`_single`.
        self._singles: dict[tuple[str | None, int, bytes], _Single | None] = {}
        #: (cluster, record header without a manufacturer code) -> the record's reader, or None
        #: (the full parser); see :meth:`_records`.
        self._readers: dict[tuple[int, bytes], SingleRecord | None] = {}

    @property
    def compat(self) -> Compat:
        """1 (Zigbee2MQTT 1.x) or 2 (Zigbee2MQTT 2.x)."""
        return self._compat

    @property
    def legacy(self) -> bool:
        """The device option ``legacy`` (only read with ``compat`` 1)."""
        return self._legacy

    @property
    def cache_state(self) -> bool:
        """Whether payloads are merged with each device's cached state."""
        return self._cache_state

    @property
    def base_topic(self) -> str:
        """The first topic level."""
        return self._base_topic

    @property
    def options(self) -> Mapping[str, Any]:
        """The device options every report is decoded with (``live_timers`` included when set)."""
        return self._options

    @property
    def registry(self) -> Registry:
        """The device definitions."""
        return self._registry

    @property
    def model(self) -> Definition | None:
        """The definition every report is decoded with, or None (chosen per report)."""
        return self._fixed

    def _device(self, ieee: str | None) -> _Device:
        """Return the device of an address as given (created and cached on first sight)."""
        key = ieee or ""
        device = self._devices.get(key)
        if device is None:
            normalized = normalize_ieee(key)
            if len(normalized) > ADDRESS_LIMIT:  # not an address: a device for this report only
                topic = f"{self._base_topic}/unknown"
                return _Device("unknown", topic, normalized[:ADDRESS_LIMIT], {}, self._shape(()))
            device = self._by_address.get(normalized)
            if device is None:
                if len(self._by_address) >= DEVICE_LIMIT:
                    self._forget_oldest_device()
                name = self._names.get(normalized) or ("0x" + normalized if normalized else "unknown")
                state = self._states.setdefault(normalized, {})
                device = _Device(name, f"{self._base_topic}/{name}", normalized, state, self._shape(state))
                self._by_address[normalized] = device
            if len(self._devices) >= SPELLING_LIMIT:
                self._devices.clear()  # spellings are found again through the normalized address
            self._devices[key] = device
        return device

    def _forget_oldest_device(self) -> None:
        """Drop the device seen first, and its cached state (bounded tables; see DEVICE_LIMIT)."""
        oldest = next(iter(self._by_address))
        del self._by_address[oldest]
        self._states.pop(oldest, None)
        self._devices.clear()  # some spellings may name the dropped device

    def _shape(self, keys: Iterable[str]) -> _Shape:
        """Return the shape of a set of keys (one object per set, while the bound allows)."""
        frozen = frozenset(keys)
        shape = self._shapes.get(frozen)
        if shape is None:
            if len(self._shapes) >= _SHAPE_LIMIT:
                self._shapes.clear()  # devices keep theirs: a shape stays right for its keys
            shape = self._shapes[frozen] = _Shape(frozen)
        return shape

    def identity(self, ieee: str | None) -> tuple[str, str, str]:
        """Return ``(friendly_name, topic, normalized address)`` for a device (cached per address)."""
        device = self._device(ieee)
        return device.name, device.topic, device.normalized

    def state_of(self, ieee: str) -> dict[str, Any]:
        """Return a copy of the cached state of a device (empty when nothing is cached)."""
        return dict(self._states.get(normalize_ieee(ieee), {}))

    def publish(self, ieee: str, values: Mapping[str, Any]) -> tuple[dict[str, Any], str, str]:
        """Return ``(payload, friendly_name, topic)`` for keys a converter publishes by itself.

        Zigbee2MQTT's converters call ``publish(values)`` from their timers (the motion
        sensors' ``occupancy: false``); it goes out as a state update: merged into the
        device's cached state with ``cache_state`` (and cached), as it is otherwise. No
        ``linkquality`` is added: no frame was received.
        """
        device = self._device(ieee)
        result = dict(values)
        if self._cache_state:
            result = self._merge_state(device, result)
        return _published(result), device.name, device.topic

    def cached_states(self) -> dict[str, dict[str, Any]]:
        """Return a copy of every non-empty cached state, by normalized address (what a restart keeps)."""
        return {address: dict(state) for address, state in self._states.items() if state}

    def reset(self) -> None:
        """Forget every device's cached state."""
        for device in self._by_address.values():
            device.state.clear()  # in place: the device and ``_states`` share this dict
            device.shape = self._shape(())
            device.as_is = True

    def decode(self, record: Mapping[str, Any]) -> DecodeResult:
        """Decode one raw report record (CONTRACT §3).

        Never raises for bad input: a record that is not a raw report, a frame that is not hex,
        and a frame the reference parser rejects all give a result with ``error`` set.
        """
        # An exact-type test first: ``isinstance`` against an ABC costs a few hundred ns.
        if type(record) is not dict and not isinstance(record, Mapping):
            device = self._device(None)
            return DecodeResult(None, None, "invalid record: not an object", None, device.name, device.topic)
        get = record.get
        frame_text = get("frame")
        cluster = get("cluster")
        lqi = get("lqi")
        ieee = get("ieee")
        if type(ieee) is not str:
            ieee = None
        if type(frame_text) is not str or type(cluster) is not int or type(lqi) is not int:
            problem = (
                "invalid record: no frame" if type(frame_text) is not str
                else "invalid record: cluster is not an integer" if type(cluster) is not int
                else "invalid record: lqi is not an integer"
            )
            device = self._device(ieee)
            return DecodeResult(None, None, problem, None, device.name, device.topic)
        model = get("model")
        if type(model) is not str:
            model = None
        device = self._devices.get(ieee or "") or self._device(ieee)
        if self._fixed is not None:
            model = None  # a forced model decides: the report's does not matter
        entry = self._memo.get((frame_text, cluster, model))
        if entry is None:
            found = self._memo_miss(frame_text, cluster, model)
            if isinstance(found, _Converted):  # not shareable: finish this report on the plain path
                return self._finish(found, lqi, device)
            entry = found
        return self._publish(entry, lqi, device)

    def _memo_miss(self, frame_text: str, cluster: int, model: str | None) -> _Decoded | _Converted:
        """Find or make the memo entry of a frame text not in the memo (its converted form if unshareable).

        Two levels: ``_memo`` is keyed by the exact text (the cheapest key to build, so the hot
        path uses it), ``_by_content`` by the text without its sequence number, the one byte that
        changes from report to report (nothing downstream of the parser reads it). A lock's
        repeated report thus misses the first level once per sequence number, then hits the
        second instead of being decoded again. The digits are only cut where their place is
        certain (no whitespace before them) and where they are hex (so cutting them cannot hide
        a "not hex" error).
        """
        if len(frame_text) > MEMO_TEXT_LIMIT:
            return self._convert_text(frame_text, cluster, model)
        at = _SEQUENCE_AT.get(frame_text[1:2])
        content: tuple[str, str, int, str | None] | None = None
        if at is not None and frame_text[at : at + 2] in _HEX_PAIRS and frame_text[:at].isalnum():
            content = (frame_text[:at], frame_text[at + 2 :], cluster, model)
        entry = self._by_content.get(content) if content is not None else None
        if entry is None:
            converted = self._convert_text(frame_text, cluster, model)
            entry = _memo_entry(converted)
            if entry is None:
                return converted
            if content is not None:
                if len(self._by_content) >= MEMO_LIMIT:
                    self._by_content.clear()
                self._by_content[content] = entry
        if len(self._memo) >= MEMO_LIMIT:
            self._memo.clear()
        self._memo[(frame_text, cluster, model)] = entry
        return entry

    def _convert_text(self, frame_text: str, cluster: int, model: str | None) -> _Converted:
        """:meth:`_convert` of a frame given as hex text (too long a text is refused before it is read)."""
        if len(frame_text) > 3 * MAX_FRAME_BYTES:  # two digits and a space per byte at most
            return _Converted(f"ZCL frame rejected: a frame text of {len(frame_text):,} characters is longer than "
                              f"any Zigbee frame can be ({MAX_FRAME_BYTES:,} bytes)", None, None, None)
        try:
            frame = bytes.fromhex(frame_text.replace(" ", "") if " " in frame_text else frame_text)
        except ValueError:
            return _Converted("invalid record: frame is not hex", None, None, None)
        return self._convert(frame, cluster, model)

    def decode_frame(
        self, frame: bytes, *, cluster: int, lqi: int, model: str | None = None, ieee: str | None = None
    ) -> DecodeResult:
        """Decode one ZCL frame from a device; see :meth:`decode` (which validates a record first).

        Never consults the memo: every call parses and converts (the cold path). A Report
        Attributes frame of one record of a fixed-size type, or of the Xiaomi 0xFF01 structure,
        is read at its fixed place with the reader and the converters' single forms of its
        :class:`_Single` (made once per model, cluster and record header) instead of the full
        parser and ``convert``; anything unusual (another length, a value the attribute's
        post-read rejects, a malformed structure) takes the full path, which gives the
        reference's answer, errors included.
        """
        device = self._devices.get(ieee or "") or self._device(ieee)
        size = len(frame)
        if size > 6:
            # The record's shape (manufacturer code, attribute id, data type): where it starts
            # depends on the manufacturer-specific bit; only global Report Attributes qualify.
            control = frame[0] & 0x07
            at = 0
            if control == 0:
                if frame[2] == 0x0A:
                    at, shape = 6, frame[3:6]
            elif control == 0x04 and size > 8 and frame[4] == 0x0A:
                at, shape = 8, frame[1:3] + frame[5:8]
            if at:
                try:
                    single = self._singles[model, cluster, shape]
                except KeyError:
                    single = self._single_entry(model, cluster, shape)
                if single is not None:
                    decoded = self._single(single, frame, at, cluster, lqi, device)
                    if decoded is not None:
                        return decoded
        return self._finish(self._convert(frame, cluster, model), lqi, device)

    def _single(
        self, single: _Single, frame: bytes, at: int, cluster: int, lqi: int, device: _Device
    ) -> DecodeResult | None:
        """Decode a one-record report whose value starts at ``at`` (None: the full path decides).

        The whole pipeline in one place (the forms, the event, the post-processing, the
        payload): :meth:`_run` and :meth:`_finish` do the same for the full path.
        """
        attr_id, width, unpack, attribute, invalid, bounded, low, high, plan, forms, message, _ = single
        if width:
            if len(frame) != at + width:
                # More records after this one (the weather sensor's pressure report)?
                if at == 6 and len(frame) > at + width:
                    records = self._records(single, frame, at, cluster)
                    return None if records is None else self._finish(records, lqi, device)
                return None
            value = unpack(frame, at)[0]
            # A number within the attribute's bounds, not its sentinel: the post-read keeps it.
            if attribute is not None and (value == invalid or (bounded and not low <= value <= high)):
                value = post_read(attribute, value)
                if value is DROPPED:
                    return None
        else:
            try:
                value, end = read_mi_struct(frame, at, self._era)
            except ZclError:
                return None
            if end != len(frame):
                return None
            if attribute is not None and bounded:  # else post-read keeps it (a structure is no sentinel)
                value = post_read(attribute, value)
                if value is DROPPED:
                    return None
        result: dict[str, Any] | None = None
        for form in forms:
            try:
                converted = form(value, message)
            except CONVERTER_FAILURES:
                continue  # a throwing converter contributes nothing, as in Zigbee2MQTT
            if converted:
                if result is None:
                    result = converted
                else:
                    result.update(converted)
        events = plan.events
        event: DeviceEvent | None = None
        if events is not None:
            try:
                event = events(_new(EventInput, (cluster, ATTRIBUTE_REPORT, {attr_id: value}, result or None,
                                                 message.options)))
            except CONVERTER_FAILURES:
                event = None
        if not result:
            return _result(DecodeResult, (None, event, None, plan.name, device.name, device.topic))
        steps = plan.post_steps
        if len(result) == 1 and not self._cache_state:
            # The usual payload: one key and linkquality (post-processed by its key's step alone).
            [(key, value)] = result.items()
            step = steps.get(key)
            if step is not None:
                value = result[key] = _post_value(value, step, message.options)
            payload = _beside_linkquality(key, value, lqi)
            if payload is not None:
                return _result(DecodeResult, (payload, event, None, plan.name, device.name, device.topic))
        elif steps:
            _post_process(result, steps, message.options)
        result["linkquality"] = lqi
        if self._cache_state:
            result = self._merge_state(device, result)
        return _result(DecodeResult, (_published(result), event, None, plan.name, device.name, device.topic))

    def _records(self, single: _Single, frame: bytes, at: int, cluster: int) -> _Converted | None:
        """Convert a report of several records of fixed-size types, the first read by ``single`` (None: the full path).

        A frame of a layout seen before (:class:`~flowengine_nodes.devices.zcl.ReportLayout`,
        remembered per frame length in ``single.layouts``) is read in one unpacking; otherwise
        each further record's reader is chosen by its header (:attr:`_readers`) and the layout is
        remembered. Either way the values go through the post-read as the full parser's do, and
        the converters run as for any message. Only frames without a manufacturer code come here
        (``at`` is 6).
        """
        layout = single.layouts.get(len(frame))
        if layout is None or int.from_bytes(frame, "big") & layout.mask != layout.headers:
            walked = self._walk_records(single, frame, at, cluster)
            if walked is None:
                return None
            if len(single.layouts) >= _LAYOUT_LIMIT:
                single.layouts.clear()
            layout = single.layouts[len(frame)] = report_layout(frame, walked)
        values = layout.unpack(frame, at)
        if not layout.checked and layout.sentinels.isdisjoint(values):
            # The post-read keeps every value. (One value per id by construction: strict=True would
            # only add a third to this line's cost.)
            data: dict[Any, Any] = dict(zip(layout.ids, values, strict=False))
        else:
            data = {}
            for value, (attr_id, _, _, attribute, invalid, bounded, low, high) in zip(
                    values, layout.records, strict=True):
                if attribute is not None and (value == invalid or (bounded and not low <= value <= high)):
                    value = post_read(attribute, value)
                    if value is DROPPED:
                        continue  # a rejected value leaves the attribute's earlier one, as in the parser
                data[attr_id] = value
        return self._run(single.plan, cluster, ATTRIBUTE_REPORT, data)

    def _walk_records(
        self, single: _Single, frame: bytes, at: int, cluster: int
    ) -> list[tuple[int, SingleRecord]] | None:
        """The records of ``frame`` as (header position, reader), the first ``single``'s (None: not all fixed-size)."""
        size = len(frame)
        readers = self._readers
        era = self._era
        records = [(-1, SingleRecord(*single[:8]))]
        pos = at + single.width
        while pos < size:
            if pos + 3 > size:
                return None
            shape = frame[pos : pos + 3]
            try:
                found = readers[cluster, shape]
            except KeyError:
                found = single_record(cluster, None, shape[0] | (shape[1] << 8), shape[2], era)
                if len(readers) >= MEMO_LIMIT:
                    readers.clear()
                readers[cluster, shape] = found
            if found is None or not found.width or pos + 3 + found.width > size:
                return None
            records.append((pos, found))
            pos += 3 + found.width
        return records

    def _single_entry(self, model: str | None, cluster: int, shape: bytes) -> _Single | None:
        """Make (and remember, bounded) the entry of :attr:`_singles` for one record shape."""
        plan = self._fixed_plan or self._plans.get(model or "") or (self._plan(model) if model else None)
        found = None
        attr_id = shape[-3] | (shape[-2] << 8)
        forms = None if plan is None or cluster not in plan.reporters else plan.single_forms(cluster, attr_id)
        if plan is not None and forms is not None:
            manufacturer_code = shape[0] | (shape[1] << 8) if len(shape) == 5 else None
            record = single_record(cluster, manufacturer_code, attr_id, shape[-1], self._era)
            message = _new(ConvertInput, (plan.name, ATTRIBUTE_REPORT, {}, self._compat, self._legacy, self._options,
                                          plan.meta))
            found = None if record is None else _Single(*record, plan, forms, message, {})
        if len(self._singles) >= MEMO_LIMIT:
            self._singles.clear()
        self._singles[(model, cluster, shape)] = found
        return found

    def _decode(self, frame: bytes, cluster: int, lqi: int, model: str | None, ieee: str | None) -> DecodeResult:
        """The plain pipeline, without the memo: convert the frame, then finish the report."""
        return self._finish(self._convert(frame, cluster, model), lqi, self._device(ieee))

    def _convert(self, frame: bytes, cluster: int, model: str | None) -> _Converted:
        """Parse, find the definition, run the converters, round, derive the event (all pure)."""
        try:
            _, _, _, _, msg_type, data = parse_frame(frame, cluster, self._era)
        except ZclError as exc:
            return _Converted(f"ZCL frame rejected: {exc}", None, None, None)
        # The plans already made answer without the method call (an unknown model's None too).
        plan = self._fixed_plan or self._plans.get(model) or (self._plan(model) if model else None)  # type: ignore[arg-type]
        if plan is None:
            return _NOTHING
        if msg_type is None:
            return _new(_Converted, (None, plan.name, None, None))
        return self._run(plan, cluster, msg_type, data)

    def _run(self, plan: _Plan, cluster: int, msg_type: str, data: dict[Any, Any]) -> _Converted:
        """Run the plan's converters on a parsed message, derive the event, round (all pure)."""
        name = plan.name
        by_type = plan.dispatch.get(cluster)
        converters = None if by_type is None else by_type.get(msg_type)
        if not converters:
            # Nobody listens: nothing published, and no event (events see what a converter sees).
            return _new(_Converted, (None, name, None, None))
        message = _new(ConvertInput, (name, msg_type, data, self._compat, self._legacy, self._options, plan.meta))
        result: dict[str, Any] | None = None
        for convert in converters:
            try:
                converted = convert(message)
            except CONVERTER_FAILURES:
                continue  # a throwing converter contributes nothing, as in Zigbee2MQTT
            if converted:
                if result is None:
                    result = converted
                else:
                    result.update(converted)
        # The event sees the converters' merged result before rounding; then the post-processing.
        options = self._options
        events = plan.events
        event: DeviceEvent | None = None
        if events is not None:
            try:
                event = events(_new(EventInput, (cluster, msg_type, data, result or None, options)))
            except CONVERTER_FAILURES:
                event = None
        if not result:
            return _new(_Converted, (None, name, None, event))
        _post_process(result, plan.post_steps, options)
        return _new(_Converted, (None, name, result, event))

    def _plan(self, model: str) -> _Plan | None:
        """The decoding plan of a model id or model (None: unknown), made once per decoder (bounded)."""
        try:
            return self._plans[model]
        except KeyError:
            definition = self._registry.find(model)
            plan = None if definition is None else _Plan.of(definition, self._options)
            if len(self._plans) < MEMO_LIMIT:
                self._plans[model] = plan
            return plan

    def _finish(self, converted: _Converted, lqi: Any, device: _Device) -> DecodeResult:
        """The per-report part on the plain path: ``linkquality``, state cache, JSON values.

        ``converted.result`` is this report's own dict and is modified.
        """
        error, model, result, event = converted
        if result is None:
            return _result(DecodeResult, (None, event, error, model, device.name, device.topic))
        if len(result) == 1 and not self._cache_state:
            [(key, value)] = result.items()
            payload = _beside_linkquality(key, value, lqi)
            if payload is not None:
                return _result(DecodeResult, (payload, event, None, model, device.name, device.topic))
        result["linkquality"] = lqi
        if self._cache_state:
            result = self._merge_state(device, result)
        return _result(DecodeResult, (_published(result), event, None, model, device.name, device.topic))

    def _merge_state(self, device: _Device, result: dict[str, Any]) -> dict[str, Any]:
        """Publish the cached state merged with ``result``; cache everything but actions."""
        state = device.state
        merged = {**state, **result}
        for key, value in result.items():
            if key == "action" or key[:7] == "action_":
                continue  # Zigbee2MQTT never caches actions
            if value is UNDEFINED:
                state.pop(key, None)
            else:
                state[key] = value
        device.shape = self._shape(state)
        device.as_is = all(_is_as_is(v) for v in state.values())
        return merged

    def _publish(self, entry: _Decoded, lqi: int, device: _Device) -> DecodeResult:
        """The per-report part on the memoised path; gives what :meth:`_finish` would."""
        error, model, event, template, actions, action_keys, sets, sets_as_is, pops, transition = entry
        if template is None:
            return DecodeResult(None, event, error, model, device.name, device.topic)
        if not self._cache_state:
            payload = template.copy()
            payload["linkquality"] = lqi  # an existing key: it keeps its sorted place
            return _result(DecodeResult, (payload, event, None, model, device.name, device.topic))
        # The cache update of _merge_state, in bulk: the keys popped and the keys set are
        # disjoint, so popping first then updating leaves the same order as the loop did.
        state = device.state
        for key in pops:
            state.pop(key, None)
        if sets:
            state.update(sets)
        state["linkquality"] = lqi
        shape = device.shape
        after = shape.next.get(transition)
        if after is None:
            after = self._shape(state)
            if len(shape.next) >= _SHAPE_LIMIT:
                shape.next.clear()
            shape.next[transition] = after
        device.shape = after
        if not sets_as_is:
            device.as_is = False
        elif not device.as_is:
            device.as_is = all(_is_as_is(v) for v in state.values())
        if not device.as_is:
            # A cached value needs converting (NaN, BigInt, a container): the plain way.
            return DecodeResult(_published({**state, **actions}), event, None, model, device.name, device.topic)
        # The payload is the cached state plus this report's actions (members set to undefined
        # are popped from the state, and actions are never in it), in sorted key order.
        payload = after.layout(actions, action_keys).copy()
        payload.update(state)
        payload.update(actions)
        return _result(DecodeResult, (payload, event, None, model, device.name, device.topic))
