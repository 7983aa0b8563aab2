"""Running one flow test: a fresh copy of its flow, on an event clock with memory state, then judged."""

from __future__ import annotations

import asyncio
import dataclasses

from flowengine import logs
from flowengine.clock import EventClock
from flowengine.flow import load_flow
from flowengine.flowtest.cases import Outcome, TestCase
from flowengine.flowtest.inputs import INPUT_ID, Inject
from flowengine.flowtest.judge import judge
from flowengine.flowtest.rewire import build_graph_for
from flowengine.graph import FlowGraph
from flowengine.redaction import redact
from flowengine.registry import Registry
from flowengine.runtime import FlowRun
from flowengine.state import StateStore
from flowengine.testing import Capture


def _problem(case: TestCase, message: str) -> Outcome:
    return Outcome(case, False, [message])


def run_case(case: TestCase, registry: Registry) -> Outcome:
    """Run one test on a fresh copy of its flow (event clock, memory state) and judge it.

    Never raises for the flow's sake: a flow that does not load or run fails its test.
    """
    loaded = load_flow(case.flow_path, registry, check_files=False)  # sources and sinks are replaced
    if not loaded.ok or loaded.graph is None:
        return Outcome(case, False, ["the flow does not load:", *(str(issue) for issue in loaded.errors)])
    logs.add_secrets(loaded.graph.secrets)
    outcome = _run_case(case, loaded.graph)
    return dataclasses.replace(outcome, details=[redact(line, loaded.graph.secrets) for line in outcome.details])


def _run_case(case: TestCase, flow: FlowGraph) -> Outcome:
    try:
        graph, observers = build_graph_for(case, flow)
    except ValueError as exc:
        return _problem(case, str(exc))
    run = FlowRun(graph, clock=EventClock(), store=StateStore(None))
    inject = run.nodes.get(INPUT_ID)
    stop = asyncio.Event()
    if isinstance(inject, Inject):
        inject.steps = case.steps or ()
        inject.hold = stop if case.at_end == "stop" else None
    elif case.at_end == "stop":
        return _problem(case, "'at_end: stop' needs an 'input' (a capture always ends)")
    try:
        summary = asyncio.run(run.run(stop))
    except Exception as exc:  # noqa: BLE001 - a flow that cannot run fails its test, the others go on
        return _problem(case, f"the flow failed to run: {type(exc).__name__}: {exc}")
    details: list[str] = []
    for observed in case.observed:
        node = run.nodes[observers[observed.label]]
        assert isinstance(node, Capture)
        details.extend(judge(observed, node.messages))
    if not case.allow_errors:
        for node_id, counters in summary.counters.items():
            if counters.get("errors"):
                details.append(f"node '{node_id}' failed on {counters['errors']} message(s) (see the log above; "
                               "'allow_errors: true' accepts this)")
    return Outcome(case, not details, details)
