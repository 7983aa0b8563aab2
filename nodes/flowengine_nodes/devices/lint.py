"""The capability lint: comparisons a decoder's output never satisfies.

Given a decoder's options, :func:`capabilities` says which payload keys its ``out`` port can
carry and which values each may take (from the device definitions: one model, or every
registered one when ``model`` is unset). :func:`check_comparison` judges one comparison a
downstream ``filter``/``switch``/``rule`` makes and returns warnings such as::

    payload.action never equals 'finger_not_match' after ZNMS11LM decoder 'decode' in this mode:
    the reference publishes it in payload.action_action (or use the decoder's events output:
    payload.event)

Everything here is pure: no flow, no I/O. :func:`payload_values` adapts it to the engine's
lint framework (:mod:`flowengine.lint`), which finds the comparisons downstream of a decoder.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from flowengine_nodes.devices.definitions import Definition, Registry, ValueSet, default_registry
from flowengine_nodes.devices.events import EVENT_VALUES


def event_capabilities(definitions: Iterable[Definition]) -> dict[str, ValueSet]:
    """Return payload key -> values of the ``events`` port for decoders of these definitions."""
    merged: dict[str, ValueSet] = {}
    for definition in definitions:
        for key, values in definition.event_capabilities.items():
            merged[key] = merged[key].union(values) if key in merged else values
    return merged


#: Payload keys of the ``events`` port and the values they take, for every built-in definition.
EVENT_CAPABILITIES: Mapping[str, ValueSet] = event_capabilities(default_registry())

_EQUALITY_OPS = frozenset({"==", "eq", "in"})


@dataclass(frozen=True, slots=True)
class DecoderProfile:
    """What the lint needs to know about one ``decode`` node.

    Attributes:
        node_id: the decoder's node id (for messages).
        definitions: the definitions it may decode with (one, or all registered).
        compat: 1 or 2.
        legacy: the ``legacy`` option (ignored with ``compat: 2``).
    """

    node_id: str
    definitions: tuple[Definition, ...]
    compat: int = 1
    legacy: bool = True

    @classmethod
    def create(
        cls,
        node_id: str,
        *,
        model: str | None = None,
        compat: int = 1,
        legacy: bool = True,
        registry: Registry | None = None,
    ) -> DecoderProfile:
        """Build a profile from a decoder's options (``model`` None: every registered definition).

        Raises:
            ValueError: ``model`` is not a registered definition.
        """
        registry = registry or default_registry()
        if model is None:
            return cls(node_id, tuple(registry), compat, legacy)
        definition = registry.find(model)
        if definition is None:
            raise ValueError(f"unknown device model {model!r}")
        return cls(node_id, (definition,), compat, legacy)

    @property
    def label(self) -> str:
        """``ZNMS11LM decoder 'decode'`` (or ``decoder 'decode'`` for several models)."""
        models = "/".join(d.model for d in self.definitions) if len(self.definitions) <= 3 else ""
        return f"{models} decoder '{self.node_id}'".strip()


def capabilities(profile: DecoderProfile) -> dict[str, ValueSet]:
    """Return payload key -> the values the decoder's ``out`` port can carry in that key.

    A key that is absent is never published in this mode. ``linkquality`` is always present.
    """
    legacy = profile.legacy if profile.compat == 1 else False
    merged: dict[str, ValueSet] = {}
    for definition in profile.definitions:
        for key, values in definition.capabilities(profile.compat, legacy).items():
            merged[key] = merged[key].union(values) if key in merged else values
    return merged


def _keys_of(definition: Definition) -> set[str]:
    """Every key a definition exposes or can publish in some mode."""
    keys = {expose.property for expose in definition.exposes}
    for compat, legacy in ((1, True), (1, False), (2, False)):
        keys.update(definition.capabilities(compat, legacy))
    return keys


def _known_keys(profile: DecoderProfile) -> set[str]:
    """Every key the profile's definitions or any built-in definition can publish (what a user may expect).

    A key of another device (``contact`` after a lock decoder) is known, so waiting for it is reported.
    """
    keys: set[str] = set()
    for definition in (*profile.definitions, *default_registry()):
        keys.update(_keys_of(definition))
    return keys


def _publishers(key: str, value: Any, exclude: Iterable[Definition]) -> list[str]:
    """The built-in models (other than ``exclude``) that can publish ``value`` in ``key``."""
    skip = {definition.model for definition in exclude}
    found = []
    for definition in default_registry():
        if definition.model in skip:
            continue
        for compat, legacy in ((2, False), (1, True), (1, False)):
            values = definition.capabilities(compat, legacy).get(key)
            if values is not None and values.may_equal(value):
                found.append(definition.model)
                break
    return found


def _candidates(op: str, constant: Any) -> Iterator[Any]:
    if op == "in":
        if isinstance(constant, (list, tuple, set, frozenset)):
            yield from constant
        return
    yield constant


def where_else(profile: DecoderProfile, key: str, value: Any) -> str | None:
    """Say where the decoder really puts ``value`` (another key, or the events output)."""
    caps = capabilities(profile)
    others = sorted(
        other
        for other, values in caps.items()
        if other != key and not values.any_value and values.may_equal(value)
    )
    hints = [f"the reference publishes it in payload.{other}" for other in others[:1]]
    if not hints and (models := _publishers(key, value, profile.definitions)):
        hints.append(f"payload.{key} {value!r} comes from {', '.join(models[:3])}, not from this decoder's model")
    if value in EVENT_VALUES:
        hints.append("use the decoder's events output: payload.event")
    if not hints:
        return None
    if len(hints) == 2:
        return f"{hints[0]} (or {hints[1]})"
    return hints[0]


def check_comparison(profile: DecoderProfile, path: str | Iterable[str], op: str, constant: Any) -> list[str]:
    """Judge one comparison made on the decoder's ``out`` messages; return warnings (maybe none).

    Args:
        profile: the decoder.
        path: the compared property, ``"payload.action"`` or ``("payload", "action")``.
        op: ``==``/``eq`` or ``in`` (other operators are not judged).
        constant: the compared value (a list for ``in``: each member is judged).

    Returns:
        One message per member that the decoder can never put in that key in this mode.
    """
    parts = tuple(path.split(".")) if isinstance(path, str) else tuple(path)
    if len(parts) != 2 or parts[0] != "payload" or op not in _EQUALITY_OPS:
        return []
    key = parts[1]
    caps = capabilities(profile)
    mode = f"compat {profile.compat}" + (f", legacy {str(profile.legacy).lower()}" if profile.compat == 1 else "")
    warnings: list[str] = []
    values = caps.get(key)
    for value in _candidates(op, constant):
        if values is None:
            if key not in _known_keys(profile):
                continue  # a key we know nothing about: not ours to judge
            message = f"payload.{key} is never set by {profile.label} in this mode ({mode})"
        elif values.may_equal(value):
            continue
        else:
            message = f"payload.{key} never equals {value!r} after {profile.label} in this mode ({mode})"
        hint = where_else(profile, key, value)
        warnings.append(message + (f": {hint}" if hint else ""))
    return warnings


class _OpenValues(frozenset[Any]):
    """A frozenset that also admits values matching a :class:`ValueSet`'s patterns."""

    _patterns: ValueSet

    def __new__(cls, values: ValueSet) -> _OpenValues:
        instance = super().__new__(cls, values.values)
        instance._patterns = values
        return instance

    def __contains__(self, value: object) -> bool:
        return self._patterns.may_equal(value)


def closed_values(profile: DecoderProfile) -> dict[str, frozenset[Any]]:
    """Return key -> the values the engine's lint may treat as complete (``any`` keys left out).

    Keys a definition exposes but never publishes in this mode map to an empty set, so that
    ``payload.state == 'LOCK'`` after a ZNMS11LM decoder is reported too.
    """
    caps = capabilities(profile)
    result: dict[str, frozenset[Any]] = {
        key: _OpenValues(values) for key, values in caps.items() if not values.any_value
    }
    for key in _known_keys(profile):
        if key not in caps:
            result[key] = frozenset()
    return result


def event_values(profile: DecoderProfile | None = None) -> dict[str, frozenset[Any]]:
    """Return key -> values of the ``events`` port for the engine's lint (every definition when None)."""
    caps = EVENT_CAPABILITIES if profile is None else event_capabilities(profile.definitions)
    return {key: values.values for key, values in caps.items() if not values.any_value}
