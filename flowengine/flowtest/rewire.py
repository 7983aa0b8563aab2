"""Building the flow under test: the test's flow, rewired so that the test feeds and observes it.

* With an ``input``, the flow's sources are replaced by the test's input node (:mod:`.inputs`),
  wired where they were wired, plus a port ``to:<node>`` for each ``at``.
* With a ``capture`` (or neither), every source that declares it can replay
  (:meth:`flowengine.node.Source.replay_config`) reads the capture once at full speed; a
  source that cannot (a live one) is removed when a capture is given, and refused otherwise.
* Every sink becomes an in-memory capture (nothing written, no broker), and each observed
  output port gets a capture of its own.

Nothing here knows a node type: what a source can do, it declares.
"""

from __future__ import annotations

import dataclasses

from flowengine.flowtest.cases import TestCase
from flowengine.flowtest.inputs import INPUT_ID, Inject, InjectConfig
from flowengine.graph import FlowGraph, NodeSpec, build_graph
from flowengine.loader import Position
from flowengine.node import ERRORS_PORT, OUT_PORT, Source
from flowengine.testing import Capture, CaptureConfig


def _capture_spec(node_id: str, position: Position) -> NodeSpec:
    return NodeSpec(node_id, "capture", Capture, CaptureConfig(), {}, position)


def _feed_inputs(case: TestCase, specs: dict[str, NodeSpec]) -> None:
    """Replace the sources by the test's input node (``case.steps`` is set)."""
    assert case.steps is not None
    targets: dict[str, None] = {}
    for source in [spec for spec in specs.values() if spec.role == "source"]:
        targets.update(dict.fromkeys(source.wires.get(OUT_PORT, ())))
        del specs[source.id]
    ports = {step.port for step in case.steps}
    wires = {OUT_PORT: tuple(targets)}
    for port in sorted(ports - {OUT_PORT}):
        target = port.removeprefix("to:")
        if target not in specs:
            raise ValueError(f"input at '{target}': no such node in the flow (or it is a source)")
        wires[port] = (target,)
    if OUT_PORT in ports and not targets:
        raise ValueError("the flow has no source to stand in for: give the input an 'at'")
    config = InjectConfig(ports=(OUT_PORT, *sorted(ports - {OUT_PORT})))
    specs[INPUT_ID] = NodeSpec(INPUT_ID, "test-input", Inject, config, wires, Position(1, 1))


def _replay(case: TestCase, specs: dict[str, NodeSpec]) -> None:
    """Make every source that can replay read the test's capture (or its own) once, at full speed."""
    for source in [spec for spec in specs.values() if spec.role == "source"]:
        node_class = source.node_class
        config = node_class.replay_config(source.config, case.capture) if issubclass(node_class, Source) else None
        if config is None:
            if case.capture is None:
                raise ValueError(f"source '{source.id}' ({source.type}) is live: give the test an "
                                 "'input' or a 'capture'")
            del specs[source.id]
            continue
        specs[source.id] = dataclasses.replace(source, config=config)
    if not any(spec.role == "source" for spec in specs.values()):
        raise ValueError("no source of the flow can replay the capture (a replaying source such as "
                         "'zigbee-replay' is needed)")


def build_graph_for(case: TestCase, flow: FlowGraph) -> tuple[FlowGraph, dict[str, str]]:
    """Return the flow rewired for ``case`` and, per observed label, the capture node that sees it.

    Raises:
        ValueError: The test cannot run on this flow (unknown node, port, or source).
    """
    specs: dict[str, NodeSpec] = {node_id: spec for node_id, spec in flow.nodes.items() if not spec.disabled}
    if case.steps is not None:
        _feed_inputs(case, specs)
    else:
        _replay(case, specs)
    for spec in list(specs.values()):
        if spec.role == "sink":
            specs[spec.id] = _capture_spec(spec.id, spec.position)
    observers: dict[str, str] = {}
    for index, observed in enumerate(case.observed):
        found = specs.get(observed.node)
        if found is None:
            raise ValueError(f"expect '{observed.label}': no node '{observed.node}' in the flow"
                             + (" (sources are replaced by the test's input)" if case.steps is not None else ""))
        original = flow.nodes[observed.node]
        if original.role == "sink":
            if observed.port is not None and observed.port != ERRORS_PORT:
                raise ValueError(f"expect '{observed.label}': '{observed.node}' is a sink; observe it as "
                                 f"'{observed.node}' (what it receives)")
            if observed.port is None:
                observers[observed.label] = observed.node
                continue
        port = observed.port or OUT_PORT
        have = (*found.node_class.output_ports(found.config), ERRORS_PORT)
        if port not in have:
            raise ValueError(f"expect '{observed.label}': node '{observed.node}' has no port '{port}' "
                             f"(its ports: {', '.join(have)})")
        observer = f"__expect_{index}__"
        specs[observer] = _capture_spec(observer, found.position)
        wires = dict(found.wires)
        wires[port] = (*wires.get(port, ()), observer)
        specs[found.id] = dataclasses.replace(found, wires=wires)
        observers[observed.label] = observer
    return FlowGraph(flow.file, flow.name, None, specs, build_graph(specs), flow.secrets), observers
