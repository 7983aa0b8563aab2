"""Flow lints: comparisons with values a producer never emits, and settings a flow must agree on.

Capability lint (docs/decoder.md, "Capability lint"):

A producer (the ``decode`` node) declares, per output port, the closed set of values some
payload keys can take (:class:`PayloadValues`). A consumer (``filter``, ``switch``,
``rule``) declares the constants it compares payload properties with
(:class:`Comparison`). For every consumer downstream of a producer — directly, or through
nodes that pass the payload on unchanged — a comparison with a value the producer never
puts in that key is a warning, with a hint where the value really is.

Flow-wide settings (:class:`FlowSetting`, :func:`agree`): a setting that several nodes carry,
such as Zigbee2MQTT's base topic, has one value per flow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from flowengine.graph import FlowGraph, NodeSpec

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


@dataclass(frozen=True)
class Finding:
    """One lint warning: which node, where in its config, and what to say."""

    node_id: str
    config_path: YamlPath
    message: str


def _downstream(flow: FlowGraph, node_id: str, port: str) -> Iterator[NodeSpec]:
    """Yield the nodes a port feeds, following nodes that pass the payload on unchanged.

    A node that is also fed by something else (another producer, a rule's own messages) is
    not yielded: its comparisons may hold for those messages.
    """
    seen: set[str] = set()
    passing: set[tuple[str, str]] = {(node_id, port)}
    frontier = [t for t in flow.nodes[node_id].wires.get(port, ()) if t in flow.nodes]
    found: list[NodeSpec] = []
    while frontier:
        target = frontier.pop()
        if target in seen:
            continue
        seen.add(target)
        spec = flow.nodes[target]
        found.append(spec)
        if getattr(spec.node_class, "passes_payload", False):
            for out_port, targets in spec.wires.items():
                passing.add((spec.id, out_port))
                frontier.extend(t for t in targets if t in flow.nodes)
    for spec in found:
        feeders = {(source.id, out_port) for source in flow.nodes.values()
                   for out_port, targets in source.wires.items() if spec.id in targets}
        if feeders <= passing:
            yield spec


def check(flow: FlowGraph) -> list[Finding]:
    """Return every comparison downstream of a producer that can never be true."""
    findings: list[Finding] = []
    for spec in flow.nodes.values():
        describe = getattr(spec.node_class, "payload_values", None)
        if describe is None or spec.disabled:
            continue
        for port in spec.node_class.output_ports(spec.config):
            produced: PayloadValues | None = describe(spec.config, port, spec.id)
            if produced is None:
                continue
            for consumer in _downstream(flow, spec.id, port):
                compare = getattr(consumer.node_class, "comparisons", None)
                if compare is None:
                    continue
                for comparison in compare(consumer.config):
                    finding = _judge(produced, consumer.id, comparison)
                    if finding is not None:
                        findings.append(finding)
    return findings


def _judge(produced: PayloadValues, consumer: str, comparison: Comparison) -> Finding | None:
    if len(comparison.path) != 2 or comparison.path[0] != "payload":
        return None
    key = comparison.path[1]
    allowed = produced.values.get(key)
    if allowed is None or comparison.op not in ("==", "in", "eq"):
        return None
    candidates = comparison.value if comparison.op == "in" else [comparison.value]
    if not isinstance(candidates, list | tuple | set | frozenset):
        return None
    for value in candidates:
        if value in allowed:
            continue
        hint = produced.where_else(key, value)
        message = (f"node '{consumer}': payload.{key} is never {value!r} after {produced.producer}"
                   + (f"; {hint}" if hint else ""))
        return Finding(consumer, comparison.config_path, message)
    return None


# Flow-wide settings --------------------------------------------------------------------------


@dataclass(frozen=True)
class FlowSetting:
    """A setting that several nodes of a flow carry and that must have one value per flow.

    Zigbee2MQTT's base topic is one: ``decode`` publishes under it and ``mqtt-out`` in
    Zigbee2MQTT mode announces the bridge under it; two values would split one installation
    in two, silently. A node type reports its settings with a ``flow_settings(config)``
    classmethod and takes a value from the flow with ``with_flow_setting(config, name, value)``.

    Attributes:
        name: what the setting is called, the same on every node type that carries it
            (``"Zigbee2MQTT base topic"``); it appears in messages.
        value: the node's value.
        config_path: where it sits in the node's config (``("zigbee2mqtt", "base_topic")``).
        explicit: True when the flow file sets it; False for the node type's default, which
            yields to a value set on another node of the flow.
    """

    name: str
    value: Any
    config_path: YamlPath
    explicit: bool


@dataclass(frozen=True)
class Disagreement:
    """Two nodes set one flow-wide setting to different values."""

    name: str
    first: tuple[str, YamlPath, Any]
    second: tuple[str, YamlPath, Any]


def agree(nodes: Mapping[str, NodeSpec]) -> tuple[list[Disagreement], dict[str, Any]]:
    """Check the flow-wide settings of ``nodes`` (in file order); return disagreements and inherited configs.

    A setting written on one node (or on several, alike) is the flow's value: every node that
    leaves it at its default gets it (the returned mapping: node id -> its new config). Two
    written values that differ are a disagreement, reported at the later node with the
    earlier one's position.
    """
    carriers: dict[str, list[tuple[NodeSpec, FlowSetting]]] = {}
    for spec in nodes.values():
        describe = getattr(spec.node_class, "flow_settings", None)
        if describe is None or spec.disabled:
            continue
        for setting in describe(spec.config):
            carriers.setdefault(setting.name, []).append((spec, setting))
    disagreements: list[Disagreement] = []
    configs: dict[str, Any] = {}
    for name, found in carriers.items():
        written = [(spec, setting) for spec, setting in found if setting.explicit]
        if not written:
            continue
        first_spec, first = written[0]
        for spec, setting in written[1:]:
            if setting.value != first.value:
                disagreements.append(Disagreement(name, (first_spec.id, first.config_path, first.value),
                                                  (spec.id, setting.config_path, setting.value)))
        for spec, setting in found:
            if not setting.explicit and setting.value != first.value:
                config = configs.get(spec.id, spec.config)
                configs[spec.id] = spec.node_class.with_flow_setting(config, name, first.value)  # type: ignore[attr-defined]
    return disagreements, configs
