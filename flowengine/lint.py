"""Capability lint: comparisons with values a producer never emits (LOCK.md, "Capability lint").

A producer (the ``decode`` node) declares, per output port, the closed set of values some
payload keys can take (:class:`~flowengine.hints.PayloadValues`). A consumer (``filter``, ``switch``,
``rule``) declares the constants it compares payload properties with
(:class:`~flowengine.hints.Comparison`). For every consumer downstream of a producer — directly, or through
nodes that pass the payload on unchanged — a comparison with a value the producer never
puts in that key is a warning, with a hint where the value really is.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from flowengine.graph import FlowGraph, NodeSpec
from flowengine.hints import Comparison, PayloadValues, YamlPath


@dataclass(frozen=True)
class Finding:
    """One lint warning: which node, where in its config, and what to say."""

    node_id: str
    config_path: YamlPath
    message: str


def _downstream(flow: FlowGraph, node_id: str, port: str) -> Iterator[NodeSpec]:
    """Yield the nodes a port feeds, following nodes that pass the payload on unchanged."""
    seen: set[str] = set()
    frontier = [t for t in flow.nodes[node_id].wires.get(port, ()) if t in flow.nodes]
    while frontier:
        target = frontier.pop()
        if target in seen:
            continue
        seen.add(target)
        spec = flow.nodes[target]
        yield spec
        if spec.node_class.passes_payload:
            for targets in spec.wires.values():
                frontier.extend(t for t in targets if t in flow.nodes)


def check(flow: FlowGraph) -> list[Finding]:
    """Return every comparison downstream of a producer that can never be true."""
    findings: list[Finding] = []
    for spec in flow.nodes.values():
        if spec.disabled:
            continue
        for port in spec.node_class.output_ports(spec.config):
            produced = spec.node_class.payload_values(spec.config, port, spec.id)
            if produced is None:
                continue
            for consumer in _downstream(flow, spec.id, port):
                for comparison in consumer.node_class.comparisons(consumer.config):
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
