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
from typing import TYPE_CHECKING

from flowengine.errors import FlowError
from flowengine.node import Node, NodeConfig

if TYPE_CHECKING:
    from importlib.metadata import Distribution

NODE_GROUP = "flowengine.nodes"
COMMAND_GROUP = "flowengine.commands"

NodeClass = type[Node]  # type: ignore[type-arg]


class RegistryError(FlowError):
    """A node type cannot be registered or loaded."""


@dataclass(frozen=True, slots=True)
class Provider:
    """Where a node type comes from: ``module:attribute`` and the distribution declaring it.

    The distribution's name is read from its metadata only when a message needs it: parsing
    a package's METADATA once per node type cost every start a few milliseconds.
    """

    value: str
    dist: Distribution | None = None

    @property
    def distribution(self) -> str:
        """The name of the distribution that declares the entry point (``?`` when unknown)."""
        return self.dist.name if self.dist is not None else "?"

    def __str__(self) -> str:
        return f"{self.value} (from {self.distribution})"

    def entry_point(self, name: str) -> str:
        """Return how the entry point is declared: ``name = module:Class`` (from distribution)."""
        return f"entry point '{name} = {self.value}' of {self.distribution}"


class Registry:
    """Node types by name, loaded lazily."""

    def __init__(self, providers: dict[str, Provider] | None = None) -> None:
        self._providers: dict[str, Provider] = dict(providers or {})
        self._loaded: dict[str, NodeClass] = {}
        #: Types whose entry point could not be loaded, with the reason (reported, never retried).
        self._broken: dict[str, RegistryError] = {}

    @classmethod
    def from_entry_points(cls, group: str = NODE_GROUP) -> Registry:
        """Build the registry from installed packages; a type declared twice is an error."""
        providers: dict[str, Provider] = {}
        for point in entry_points(group=group):
            provider = Provider(point.value, point.dist)
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
        """Import and return the node class of ``name`` (cached).

        Raises:
            RegistryError: the name is unknown, or its entry point is broken (the module does not
                import, the attribute is missing, or it is not a usable node class). The message
                names the entry point in one line; a broken type never affects the others.
        """
        if name in self._loaded:
            return self._loaded[name]
        if name in self._broken:
            raise self._broken[name]
        provider = self._providers.get(name)
        if provider is None:
            raise RegistryError(f"unknown node type '{name}'")
        try:
            node_class = _import(provider.value)
            problem = _unusable(node_class)
        except RegistryError as exc:
            problem = f"cannot be loaded: {exc}"
        except Exception as exc:  # noqa: BLE001 - a plugin's module may raise anything while importing
            problem = f"cannot be loaded: {type(exc).__name__}: {exc}"
        if problem is not None:
            problem = " ".join(problem.split())  # one line, whatever the plugin's message was
            error = RegistryError(f"node type '{name}' ({provider.entry_point(name)}) {problem}")
            self._broken[name] = error
            raise error
        assert isinstance(node_class, type)
        self._loaded[name] = node_class
        return node_class

    def load_all(self) -> dict[str, NodeClass]:
        """Load every type (for ``flowengine nodes`` and ``schema``); a broken one raises."""
        return {name: self.load(name) for name in self.names()}

    def load_available(self) -> tuple[dict[str, NodeClass], list[RegistryError]]:
        """Load every type that can be loaded; return them and one error per broken type."""
        loaded: dict[str, NodeClass] = {}
        broken: list[RegistryError] = []
        for name in self.names():
            try:
                loaded[name] = self.load(name)
            except RegistryError as exc:
                broken.append(exc)
        return loaded, broken


def _unusable(target: object) -> str | None:
    """Say why ``target`` cannot serve as a node type, or return None when it can."""
    if not (isinstance(target, type) and issubclass(target, Node)):
        return "is not a Node subclass"
    model = getattr(target, "config_model", None)
    if not (isinstance(model, type) and issubclass(model, NodeConfig)):
        return "has no config_model (a NodeConfig subclass)"
    if getattr(target, "role", None) not in ("source", "transform", "sink"):
        return "derives from none of Source, Transform or Sink"
    return None


def _import(value: str) -> object:
    module_name, _, attribute = value.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise RegistryError(f"cannot import {module_name}: {exc}") from exc
    target: object = module
    for part in attribute.split(".") if attribute else []:
        if not hasattr(target, part):
            raise RegistryError(f"{module_name} has no attribute '{attribute}'")
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
