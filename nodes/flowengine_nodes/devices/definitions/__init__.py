"""Device definitions as data, keyed by Zigbee model id (Zigbee2MQTT's ``definitions``).

A device family is one module in this package that declares a module-level ``DEFINITIONS``
tuple of :class:`Definition`; :func:`build_registry` collects every module's definitions into a
:class:`Registry`. Nothing registers itself on import: adding a device is adding a module.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Final, Literal, NamedTuple

from flowengine_nodes.devices.jsvalues import JsTypeError

if TYPE_CHECKING:
    from flowengine_nodes.devices.events import DeviceEvent

#: What a converter may raise where its JavaScript original throws; it then contributes nothing.
CONVERTER_FAILURES: Final = (JsTypeError, ArithmeticError, ValueError, TypeError, KeyError, IndexError)

ExposeType = Literal["binary", "enum", "numeric", "text"]


@dataclass(frozen=True, slots=True)
class Expose:
    """One property a device publishes, as Zigbee2MQTT's device page lists it.

    ``access`` follows Zigbee2MQTT's bits: 1 = published in the state, 2 = settable (``/set``),
    4 = readable (``/get``); a lock's exposes are all 1 (only published).
    """

    name: str
    type: ExposeType
    description: str
    access: int = 1
    values: tuple[str, ...] = ()
    value_on: str | None = None
    value_off: str | None = None
    unit: str | None = None
    value_min: float | None = None
    value_max: float | None = None
    #: The composite expose this one is a feature of (``light``, ``switch``), or None.
    group: str | None = None

    @property
    def property(self) -> str:
        """The key of the published state that carries this expose."""
        return self.name

    def to_json(self) -> dict[str, Any]:
        """Return the expose as Zigbee2MQTT's JSON form (``flowengine devices --json``)."""
        result: dict[str, Any] = {
            "name": self.name,
            "property": self.property,
            "type": self.type,
            "access": self.access,
            "description": self.description,
        }
        if self.values:
            result["values"] = list(self.values)
        if self.value_on is not None:
            result["value_on"] = self.value_on
            result["value_off"] = self.value_off
        if self.unit is not None:
            result["unit"] = self.unit
        if self.value_min is not None:
            result["value_min"] = self.value_min
        if self.value_max is not None:
            result["value_max"] = self.value_max
        if self.group is not None:
            result["group"] = self.group
        return result


@dataclass(frozen=True, slots=True)
class Option:
    """A per-device option (Zigbee2MQTT's ``devices.<ieee>.<option>``), such as ``legacy``."""

    name: str
    type: Literal["binary", "numeric", "text", "list"]
    description: str
    default: Any

    def to_json(self) -> dict[str, Any]:
        """Return the option as JSON."""
        return {"name": self.name, "type": self.type, "description": self.description, "default": self.default}


class ConvertInput(NamedTuple):
    """What a converter sees: Zigbee2MQTT's ``msg``, ``options`` and ``model``, reduced to what is used.

    Attributes:
        model: the Zigbee2MQTT model (``ZNMS11LM``).
        msg_type: ``attributeReport``, ``readResponse`` or ``command<Name>``.
        data: for attribute messages, attribute id -> parsed value (``msg.data``; converters know
            the ids, so no names are built); for cluster-specific commands, parameter name -> value.
        compat: 1 (converters 20.58, with ``legacy``) or 2 (converters 26.x).
        legacy: the ``legacy`` option (only read with ``compat: 1``).
        options: the device options (Zigbee2MQTT's ``devices.<ieee>``); a missing key takes
            Zigbee2MQTT's default.
        meta: the definition's ``meta`` (battery voltage range, …).
    """

    model: str
    msg_type: str
    data: Mapping[Any, Any]
    compat: int
    legacy: bool
    options: Mapping[str, Any] = {}
    meta: Mapping[str, Any] = {}


ConvertFunction = Callable[[ConvertInput], "dict[str, Any] | None"]
#: A converter's form for an attribute report of one attribute: ``form(value, msg)`` returns what
#: ``convert`` returns for ``msg`` with ``data == {attribute id: value}`` (``msg.data`` itself is
#: not read), or None, or raises one of :data:`CONVERTER_FAILURES`: all three as ``convert``'s.
SingleForm = Callable[[Any, ConvertInput], "dict[str, Any] | None"]


class EveryAttribute(Mapping[int, None]):
    """``Converter.single`` of a converter that publishes nothing for any attribute alone (``fz.ignore_*``)."""

    def __getitem__(self, attr_id: int) -> None:
        return None

    def __contains__(self, attr_id: object) -> bool:
        return isinstance(attr_id, int)

    def __iter__(self) -> Iterator[int]:
        return iter(())

    def __len__(self) -> int:
        return 0


@dataclass(frozen=True, slots=True)
class Converter:
    """A ``fromZigbee`` converter: the cluster it listens to and a small function.

    ``convert`` returns the keys to merge into the payload (``UNDEFINED`` values count as keys
    but are never published) or None; it may raise one of :data:`CONVERTER_FAILURES`, after
    which it contributes nothing, as a throwing converter does in Zigbee2MQTT.

    ``single`` serves the cold path's commonest report, an attribute report of one attribute:
    attribute id -> the converter's :data:`SingleForm` for it, or None where the converter
    publishes nothing for that attribute alone. The decoder takes this way only when every
    converter listening to the cluster lists the attribute; otherwise it calls ``convert``.
    Each form is the core ``convert`` itself calls, so the two cannot drift apart.
    """

    name: str
    cluster: int
    types: frozenset[str]
    convert: ConvertFunction
    single: Mapping[int, SingleForm | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ValueSet:
    """The values one payload key can take: listed values, patterns, or anything (``any_value``)."""

    values: frozenset[Any] = frozenset()
    patterns: tuple[re.Pattern[str], ...] = ()
    any_value: bool = False

    def may_equal(self, value: Any) -> bool:
        """Return False when the key can never hold ``value``."""
        if self.any_value or value in self.values:
            return True
        return isinstance(value, str) and any(p.fullmatch(value) for p in self.patterns)

    def union(self, other: ValueSet) -> ValueSet:
        """Return the values either set may take."""
        return ValueSet(
            self.values | other.values,
            self.patterns + tuple(p for p in other.patterns if p not in self.patterns),
            self.any_value or other.any_value,
        )


#: Which payload keys a definition can publish, and with which values, for (compat, legacy).
CapabilityFunction = Callable[[int, bool], "dict[str, ValueSet]"]


class EventInput(NamedTuple):
    """What an event function sees: the report's message and what the converters made of it.

    Attributes:
        cluster: the cluster id.
        msg_type: ``attributeReport``, ``readResponse`` or ``command<Name>``.
        data: the message's data, as converters see it.
        result: the merged converter result (before rounding), or None when it is empty.
        options: the device options.
    """

    cluster: int
    msg_type: str
    data: Mapping[Any, Any]
    result: Mapping[str, Any] | None
    options: Mapping[str, Any]


#: Derives a definition's typed event from one report (None: nothing meaningful happened).
EventFunction = Callable[[EventInput], "DeviceEvent | None"]


@dataclass(frozen=True, slots=True)
class ToZigbee:
    """A ``toZigbee`` converter: the state keys it sets or reads and what it sends (commands).

    Declared beside ``fromZigbee`` in the same definition, as in zigbee-herdsman-converters; the
    decoder never reads it. ``convert_set(target, key, value, meta)`` sends the ZCL commands that set
    ``key`` and returns Zigbee2MQTT's optimistic state (``{"state": {...}}``) or None;
    ``convert_get(target, key, meta)`` sends the reads. None: the key is Zigbee2MQTT's but flowengine
    does not serve it (a clear error). See :mod:`flowengine_nodes.devices.to_zigbee`.
    """

    keys: tuple[str, ...]
    convert_set: Callable[..., Awaitable[Any]] | None = None
    convert_get: Callable[..., Awaitable[Any]] | None = None


@dataclass(frozen=True, slots=True)
class Definition:
    """One device model, as data: identity, exposes, options, both converter directions, events.

    Mirrors zigbee-herdsman-converters' definition: ``zigbee_models`` (``zigbeeModel``), ``model``,
    ``vendor``, ``description``, ``converters`` (``fromZigbee``: reports -> state), ``to_zigbee``
    (``toZigbee``: state -> commands), ``exposes``, ``options``, ``meta``. The rest is flowengine's:
    ``capabilities`` tells the capability lint which keys and values the converters can publish in
    each mode (declared beside the converters so they cannot drift apart); ``events`` derives the
    typed event of a report and ``event_capabilities`` lists what it can carry; ``precision`` lists
    the keys Zigbee2MQTT post-processes (``<key>_calibration`` then ``<key>_precision``, see
    :func:`flowengine_nodes.devices.converters.calibrate_and_round`) with their default decimals.
    """

    zigbee_models: tuple[str, ...]
    model: str
    vendor: str
    description: str
    exposes: tuple[Expose, ...]
    converters: tuple[Converter, ...]
    capabilities: CapabilityFunction
    options: tuple[Option, ...] = ()
    ota: bool = False
    #: Keys whose number values are calibrated and rounded after conversion: key -> default decimals.
    precision: Mapping[str, int] = field(default_factory=dict)
    #: zigbee-herdsman-converters' ``meta`` (``battery.voltageToPercentage`` -> ``battery_range``).
    meta: Mapping[str, Any] = field(default_factory=dict)
    to_zigbee: tuple[ToZigbee, ...] = ()
    events: EventFunction | None = None
    #: Keys of this definition's events -> the values they take (for the capability lint).
    event_capabilities: Mapping[str, ValueSet] = field(default_factory=dict)

    def option_defaults(self) -> dict[str, Any]:
        """Return option name -> Zigbee2MQTT's default for this model."""
        return {option.name: option.default for option in self.options}

    def to_json(self) -> dict[str, Any]:
        """Return the definition as JSON (``flowengine devices --json``)."""
        return {
            "model": self.model,
            "zigbee_models": list(self.zigbee_models),
            "vendor": self.vendor,
            "description": self.description,
            "exposes": [expose.to_json() for expose in self.exposes],
            "options": [option.to_json() for option in self.options],
            "ota": self.ota,
        }


class Registry:
    """Definitions by Zigbee model id and by Zigbee2MQTT model."""

    def __init__(self, definitions: Iterable[Definition]) -> None:
        self._by_zigbee_model: dict[str, Definition] = {}
        self._by_model: dict[str, Definition] = {}
        for definition in definitions:
            for zigbee_model in definition.zigbee_models:
                if zigbee_model in self._by_zigbee_model:
                    raise ValueError(f"Zigbee model {zigbee_model!r} is defined twice")
                self._by_zigbee_model[zigbee_model] = definition
            if definition.model in self._by_model:
                raise ValueError(f"model {definition.model!r} is defined twice")
            self._by_model[definition.model] = definition

    def find(self, model: str) -> Definition | None:
        """Return the definition for a Zigbee model id (``lumi.lock.aq1``) or a model (``ZNMS11LM``)."""
        return self._by_zigbee_model.get(model) or self._by_model.get(model)

    def __iter__(self) -> Iterator[Definition]:
        return iter(sorted(self._by_model.values(), key=lambda d: d.model))

    def __len__(self) -> int:
        return len(self._by_model)


def definitions_of(package: str = __name__) -> list[Definition]:
    """Return the ``DEFINITIONS`` of every module in ``package`` (one module per device family)."""
    found: list[Definition] = []
    module = importlib.import_module(package)
    for info in sorted(pkgutil.iter_modules(module.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        family = importlib.import_module(f"{package}.{info.name}")
        found.extend(getattr(family, "DEFINITIONS", ()))
    return found


@cache
def default_registry() -> Registry:
    """Return the registry of the built-in device families (built once, then shared)."""
    return Registry(definitions_of())
