"""The registry of node types: an object built from the ``flowengine.nodes`` entry points.

The registry knows every type name from package metadata alone and imports a type's
module only when a flow uses it (:meth:`Registry.load`), so validating or running a flow
never pays for node types it does not use. Built-in types are declared in
``pyproject.toml`` exactly like a third-party package declares its own.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points

from flowengine.errors import FlowError
from flowengine.node import Node

NODE_GROUP = "flowengine.nodes"
COMMAND_GROUP = "flowengine.commands"

NodeClass = type[Node]  # type: ignore[type-arg]


class RegistryError(FlowError):
    """A node type cannot be registered or loaded."""


@dataclass(frozen=True, slots=True)
class Provider:
    """Where a node type comes from: ``module:attribute`` and the distribution declaring it."""

    value: str
    distribution: str

    def __str__(self) -> str:
        return f"{self.value} (from {self.distribution})"


class Registry:
    """Node types by name, loaded lazily."""

    def __init__(self, providers: dict[str, Provider] | None = None) -> None:
        self._providers: dict[str, Provider] = dict(providers or {})
        self._loaded: dict[str, NodeClass] = {}

    @classmethod
    def from_entry_points(cls, group: str = NODE_GROUP) -> Registry:
        """Build the registry from installed packages; a type declared twice is an error."""
        providers: dict[str, Provider] = {}
        for point in entry_points(group=group):
            distribution = point.dist.name if point.dist is not None else "?"
            provider = Provider(point.value, distribution)
            known = providers.get(point.name)
            if known is not None and known.value != provider.value:
                raise RegistryError(f"node type '{point.name}' is declared twice: by {known} and by {provider}")
            providers[point.name] = provider
        return cls(providers)

    def register(self, name: str, node_class: NodeClass) -> None:
        """Add a type directly (tests, embedding); a name already taken is an error."""
        if name in self._providers or name in self._loaded:
            raise RegistryError(f"node type '{name}' is already registered")
        self._loaded[name] = node_class

    def names(self) -> list[str]:
        """Return every registered type name, sorted."""
        return sorted({*self._providers, *self._loaded})

    def __contains__(self, name: object) -> bool:
        return name in self._providers or name in self._loaded

    def load(self, name: str) -> NodeClass:
        """Import and return the node class of ``name`` (cached)."""
        if name in self._loaded:
            return self._loaded[name]
        provider = self._providers.get(name)
        if provider is None:
            raise RegistryError(f"unknown node type '{name}'")
        node_class = _import(provider.value)
        if not (isinstance(node_class, type) and issubclass(node_class, Node)):
            raise RegistryError(f"node type '{name}': {provider} is not a Node subclass")
        self._loaded[name] = node_class
        return node_class

    def load_all(self) -> dict[str, NodeClass]:
        """Load every type (for ``flowengine nodes`` and ``schema``)."""
        return {name: self.load(name) for name in self.names()}


def _import(value: str) -> object:
    module_name, _, attribute = value.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise RegistryError(f"cannot import {module_name}: {exc}") from exc
    target: object = module
    for part in attribute.split(".") if attribute else []:
        target = getattr(target, part)
    return target


def commands() -> dict[str, Callable[[list[str]], int]]:
    """Return the subcommands contributed through the ``flowengine.commands`` entry points (lazy)."""
    found: dict[str, Callable[[list[str]], int]] = {}
    for point in entry_points(group=COMMAND_GROUP):
        found[point.name] = _lazy_command(point.value)
    return found


def _lazy_command(value: str) -> Callable[[list[str]], int]:
    def run(argv: list[str]) -> int:
        function = _import(value)
        if not callable(function):
            raise RegistryError(f"command {value} is not callable")
        result = function(argv)
        return int(result or 0)

    return run


def suggest(name: str, candidates: Iterable[str]) -> str:
    """Return `` (did you mean 'x'?)`` for the closest candidate, or an empty string."""
    import difflib

    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{matches[0]}'?)" if matches else ""
