"""Device definitions as data, keyed by Zigbee model id (Zigbee2MQTT's ``definitions``).

A device family is one module in this package that declares a module-level ``DEFINITIONS``
tuple of :class:`Definition`; :func:`build_registry` collects every module's definitions into a
:class:`Registry`. Nothing registers itself on import: adding a device is adding a module.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Final, Literal, NamedTuple

from flowengine_nodes.devices.jsvalues import JsTypeError

#: What a converter may raise where its JavaScript original throws; it then contributes nothing.
CONVERTER_FAILURES: Final = (JsTypeError, ArithmeticError, ValueError)

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
        return result


@dataclass(frozen=True, slots=True)
class Option:
    """A per-device option (Zigbee2MQTT's ``devices.<ieee>.<option>``), such as ``legacy``."""

    name: str
    type: Literal["binary", "numeric", "text"]
    description: str
    default: Any

    def to_json(self) -> dict[str, Any]:
        """Return the option as JSON."""
        return {"name": self.name, "type": self.type, "description": self.description, "default": self.default}


class ConvertInput(NamedTuple):
    """What a converter sees: Zigbee2MQTT's ``msg`` and ``options``, reduced to what is used.

    Attributes:
        model: the Zigbee2MQTT model (``ZNMS11LM``).
        msg_type: ``attributeReport`` or ``readResponse``.
        data: attribute id -> parsed value (``msg.data``; the decoder maps names itself).
        compat: 1 (converters 20.58, with ``legacy``) or 2 (converters 26.x).
        legacy: the ``legacy`` option (only read with ``compat: 1``).
    """

    model: str
    msg_type: str
    data: Mapping[int, Any]
    compat: int
    legacy: bool


ConvertFunction = Callable[[ConvertInput], "dict[str, Any] | None"]


@dataclass(frozen=True, slots=True)
class Converter:
    """A ``fromZigbee`` converter: the cluster it listens to and a small function.

    ``convert`` returns the keys to merge into the payload (``UNDEFINED`` values count as keys
    but are never published) or None; it may raise one of :data:`CONVERTER_FAILURES`, after
    which it contributes nothing, as a throwing converter does in Zigbee2MQTT.
    """

    name: str
    cluster: int
    types: frozenset[str]
    convert: ConvertFunction


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


@dataclass(frozen=True, slots=True)
class Definition:
    """One device model: identity, what it exposes, its options and its converters.

    ``capabilities`` tells the capability lint which keys and values the converters can
    publish in each mode; it is declared beside the converters so they cannot drift apart.
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
    #: Keys whose number values are rounded after conversion: key -> decimals.
    precision: Mapping[str, int] = field(default_factory=dict)

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
