"""Graph lints of ``flowengine validate`` (networkx): nodes whose output can never reach a sink.

* A **source whose output is never used**: nothing is wired to any of its ports.
* A **node from which no sink is reachable**: messages it emits pass only through
  transforms that end nowhere (they are computed and dropped).

Both are warnings at the node's ``file:line:col``. They need reachability over the whole
graph, which is what networkx is for; this module is imported by ``validate`` only, so a
flow's ``run`` never loads networkx.
"""

from __future__ import annotations

from flowengine.errors import Issue
from flowengine.graph import FlowGraph


def unused_output(flow: FlowGraph, file: str) -> list[Issue]:
    """Return a warning for each enabled node whose messages can never reach a sink."""
    import networkx as nx

    graph = flow.graph.to_networkx()
    sinks = {node_id for node_id in graph if flow.nodes[node_id].role == "sink"}
    # Every node that can reach a sink: the ancestors of the sinks in the wiring.
    feeding: set[str] = set(sinks)
    for sink in sinks:
        feeding |= nx.ancestors(graph, sink)
    issues = []
    for node_id in flow.graph.nodes:
        spec = flow.nodes[node_id]
        if node_id in feeding:
            continue
        if spec.role == "source" and graph.out_degree(node_id) == 0:
            message = f"source '{node_id}' ({spec.type}): its output is never used (nothing is wired to it)"
            code = "unused-source"
        else:
            message = (f"node '{node_id}' ({spec.type}): no sink is reachable from it; "
                       "what it emits is dropped")
            code = "no-sink"
        issues.append(Issue(file, spec.position.line, spec.position.column, message, code,
                            severity="warning"))
    return issues
