"""The validated, immutable graph of one flow, and its checks.

:class:`FlowGraph` is what the runtime runs: every node's type, validated config, and
wires. It is built by :func:`flowengine.flow.load_flow` after every check passed.

The start path needs only a topological order, found here in plain Python (Kahn's
algorithm, in file order). networkx is imported only where its algorithms help: listing
the cycles of a flow that has one (an error path) and the reachability lint of
``flowengine validate`` (:mod:`flowengine.analysis`); a flow's ``run`` never loads it.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    graph: Wiring = field(repr=False)
    secrets: frozenset[str] = frozenset()
    #: The flow file's ``http:`` key (where the runner serves its pages), None when absent.
    http: HttpSettings | None = None

    @property
    def flow_dir(self) -> Path:
        """The folder of the flow file; relative paths in the flow resolve against it."""
        return self.file.parent

    def enabled(self) -> Iterator[NodeSpec]:
        """Yield the enabled nodes in a topological order (sources first) when the graph allows."""
        order = self.graph.topological_order()
        for node_id in order if order is not None else self.graph.nodes:
            yield self.nodes[node_id]


@dataclass(frozen=True, slots=True)
class Edge:
    """One wire: ``source``'s ``port`` feeds ``target``."""

    source: str
    target: str
    port: str


@dataclass(frozen=True)
class Wiring:
    """The enabled nodes of a flow (in file order) and its wires: the graph the runtime walks."""

    nodes: tuple[str, ...]
    edges: tuple[Edge, ...]

    def successors(self, node_id: str) -> list[str]:
        """Return the nodes ``node_id`` feeds (each once, in wire order)."""
        return list(dict.fromkeys(edge.target for edge in self.edges if edge.source == node_id))

    def topological_order(self) -> list[str] | None:
        """Return the nodes so that every wire points forward (Kahn, ties in file order); None on a cycle."""
        fed = dict.fromkeys(self.nodes, 0)
        feeds: dict[str, list[str]] = {node: [] for node in self.nodes}
        for edge in self.edges:
            fed[edge.target] += 1
            feeds[edge.source].append(edge.target)
        ready = [node for node in self.nodes if fed[node] == 0]
        order: list[str] = []
        while ready:
            node = ready.pop(0)
            order.append(node)
            for target in feeds[node]:
                fed[target] -= 1
                if fed[target] == 0:
                    ready.append(target)
        return order if len(order) == len(self.nodes) else None

    def to_networkx(self) -> Any:
        """Return a ``networkx.MultiDiGraph`` of this wiring (imports networkx: not for the start path)."""
        import networkx as nx

        graph = nx.MultiDiGraph()
        graph.add_nodes_from(self.nodes)
        for edge in self.edges:
            graph.add_edge(edge.source, edge.target, port=edge.port)
        return graph


def build_graph(nodes: dict[str, NodeSpec]) -> Wiring:
    """Return the wiring of the enabled nodes, one edge per wire."""
    enabled = tuple(spec.id for spec in nodes.values() if not spec.disabled)
    edges = tuple(
        Edge(spec.id, target, port)
        for spec in nodes.values() if not spec.disabled
        for port, targets in spec.wires.items()
        for target in targets
        if target in nodes and not nodes[target].disabled
    )
    return Wiring(enabled, edges)


def find_cycles(graph: Wiring) -> list[list[str]]:
    """Return the simple cycles of ``graph`` (each a list of node ids), at most 20.

    A flow without a cycle (the usual case) is settled by the topological order alone;
    networkx is loaded only to list the cycles of one that has some.
    """
    if graph.topological_order() is not None:
        return []
    import networkx as nx

    cycles: list[list[str]] = []
    for cycle in nx.simple_cycles(nx.DiGraph(graph.to_networkx())):
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
    for edge in flow.graph.edges:
        arrow = "-->" if edge.port == "out" else f"-- {edge.port} -->"
        lines.append(f"    {_mermaid_id(edge.source)} {arrow} {_mermaid_id(edge.target)}")
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
    for edge in flow.graph.edges:
        attributes = "" if edge.port == "out" else f' [label="{edge.port}"]'
        lines.append(f'    "{edge.source}" -> "{edge.target}"{attributes};')
    lines.append("}")
    return "\n".join(lines) + "\n"
