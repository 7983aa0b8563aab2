"""What nodes declare for the capability lint: the values they produce and the values they compare.

A producer (the ``decode`` node) declares, per output port, the closed set of values some
payload keys can take (:class:`PayloadValues`); a consumer (``filter``, ``switch``,
``rule``) declares the constants it compares payload properties with
(:class:`Comparison`). :mod:`flowengine.lint` reads both. These are plain records with no
import of the graph or of the node API, so that the node API, the graph and the lint
import each other in one direction only (node → hints, graph → node, lint → graph).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

YamlPath = tuple[str | int, ...]


@dataclass(frozen=True)
class PayloadValues:
    """The closed sets of values some payload keys of one output port can take."""

    producer: str
    values: Mapping[str, frozenset[Any]]
    where_else: Callable[[str, Any], str | None] = field(default=lambda key, value: None)


@dataclass(frozen=True)
class Comparison:
    """A consumer compares ``path`` (``("payload", "action")``) with ``value`` using ``op``."""

    path: tuple[str, ...]
    op: str
    value: Any
    config_path: YamlPath
