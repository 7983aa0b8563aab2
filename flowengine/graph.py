"""The validated, immutable graph of one flow, and its checks (networkx).

:class:`FlowGraph` is what the runtime runs: every node's type, validated config, and
wires. It is built by :func:`flowengine.flow.load_flow` after every check passed.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx

from flowengine.loader import Position
from flowengine.node import Node, NodeConfig
from flowengine.web.settings import HttpSettings


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """One node of a flow as written: id, type, config, wires and where it stands in the file."""

    id: str
    type: str
    node_class: builtins.type[Node[Any]]
    config: NodeConfig
    wires: dict[str, tuple[str, ...]]
    position: Position
    name: str | None = None
    disabled: bool = False

    @property
    def role(self) -> str:
        """``source``, ``transform`` or ``sink``."""
        return str(self.node_class.role)


@dataclass(frozen=True)
class FlowGraph:
    """A flow that passed every check: ready to run."""

    file: Path
    name: str
    state_path: Path | None
    nodes: dict[str, NodeSpec]
    graph: Any = field(repr=False)  # networkx.MultiDiGraph of enabled nodes; edges carry `port`
    secrets: frozenset[str] = frozenset()
    #: The flow file's ``http:`` key (where the runner serves its pages), None when absent.
    http: HttpSettings | None = None

    @property
    def flow_dir(self) -> Path:
        """The folder of the flow file; relative paths in the flow resolve against it."""
        return self.file.parent

    def enabled(self) -> Iterator[NodeSpec]:
        """Yield the enabled nodes in a topological order (sources first) when the graph allows."""
        try:
            order = list(nx.topological_sort(self.graph))
        except nx.NetworkXUnfeasible:
            order = list(self.graph.nodes)
        for node_id in order:
            yield self.nodes[node_id]


def build_graph(nodes: dict[str, NodeSpec]) -> Any:
    """Return a MultiDiGraph of the enabled nodes, one edge per wire (``port`` attribute)."""
    graph = nx.MultiDiGraph()
    for spec in nodes.values():
        if not spec.disabled:
            graph.add_node(spec.id, type=spec.type, role=spec.role)
    for spec in nodes.values():
        if spec.disabled:
            continue
        for port, targets in spec.wires.items():
            for target in targets:
                if target in nodes and not nodes[target].disabled:
                    graph.add_edge(spec.id, target, port=port)
    return graph


def find_cycles(graph: Any) -> list[list[str]]:
    """Return the simple cycles of ``graph`` (each a list of node ids), at most 20."""
    cycles: list[list[str]] = []
    for cycle in nx.simple_cycles(nx.DiGraph(graph)):
        cycles.append(list(cycle))
        if len(cycles) >= 20:
            break
    return cycles


def _label(spec: NodeSpec) -> str:
    return f"{spec.id}\\n({spec.type})"


def to_mermaid(flow: FlowGraph) -> str:
    """Render the flow as a mermaid ``flowchart`` (secrets never appear: only ids and types)."""
    lines = ["flowchart LR"]
    shapes = {"source": ("([", "])"), "transform": ("[", "]"), "sink": ("[(", ")]")}
    for spec in flow.nodes.values():
        if spec.disabled:
            continue
        left, right = shapes.get(spec.role, ("[", "]"))
        label = f"{spec.id}<br/><small>{spec.type}</small>"
        lines.append(f'    {_mermaid_id(spec.id)}{left}"{label}"{right}')
    for source, target, data in flow.graph.edges(data=True):
        port = data["port"]
        arrow = "-->" if port == "out" else f"-- {port} -->"
        lines.append(f"    {_mermaid_id(source)} {arrow} {_mermaid_id(target)}")
    return "\n".join(lines) + "\n"


def _mermaid_id(node_id: str) -> str:
    return "n_" + node_id.replace("-", "_")


def to_dot(flow: FlowGraph) -> str:
    """Render the flow in Graphviz dot."""
    shapes = {"source": "invhouse", "transform": "box", "sink": "cylinder"}
    lines = [f'digraph "{flow.name}" {{', "    rankdir=LR;"]
    for spec in flow.nodes.values():
        if spec.disabled:
            continue
        lines.append(f'    "{spec.id}" [label="{_label(spec)}", shape={shapes.get(spec.role, "box")}];')
    for source, target, data in flow.graph.edges(data=True):
        port = data["port"]
        attributes = "" if port == "out" else f' [label="{port}"]'
        lines.append(f'    "{source}" -> "{target}"{attributes};')
    lines.append("}")
    return "\n".join(lines) + "\n"
