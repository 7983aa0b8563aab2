"""Every registered node type documents a runnable YAML example that validates (STYLE.md convention 1)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from flowengine.flow import load_flow
from flowengine.introspect import node_example
from flowengine.registry import Registry
from flowengine.runtime import FlowRun
from flowengine.testing import run_sync

REGISTRY = Registry.from_entry_points()
CAPTURE = Path(__file__).resolve().parents[2] / "flows" / "captures" / "front_door.jsonl"


@pytest.mark.parametrize("type_name", REGISTRY.names())
def test_node_example_validates(type_name: str, tmp_path: Path) -> None:
    node_class = REGISTRY.load(type_name)
    example = node_example(node_class)
    assert example, f"{type_name} has no ```yaml example in its docstring"
    (tmp_path / "captures").mkdir()  # the capture the examples replay (a missing one fails validation)
    shutil.copy(CAPTURE, tmp_path / "captures" / "front_door.jsonl")
    flow = tmp_path / "example.yaml"
    flow.write_text(example)
    loaded = load_flow(flow, REGISTRY)
    assert loaded.ok, "\n".join(str(issue) for issue in loaded.errors)
    assert loaded.graph is not None
    assert type_name in {spec.type for spec in loaded.graph.nodes.values()}


@pytest.mark.parametrize("type_name", REGISTRY.names())
def test_node_example_runs_when_it_replays_the_shipped_capture(type_name: str, tmp_path: Path) -> None:
    example = node_example(REGISTRY.load(type_name)) or ""
    if "captures/front_door.jsonl" not in example or "broker:" in example or "type: zigbee\n" in example:
        pytest.skip("example needs a radio or a broker; its own node tests run it")
    (tmp_path / "captures").mkdir()
    shutil.copy(CAPTURE, tmp_path / "captures" / "front_door.jsonl")
    flow = tmp_path / "example.yaml"
    flow.write_text(example.replace("version: 1\n", "version: 1\nstate: memory\n", 1))
    loaded = load_flow(flow, REGISTRY)
    assert loaded.graph is not None
    summary = run_sync(FlowRun(loaded.graph).run())
    assert summary.end_of_input
    assert not any(counters.get("errors") for counters in summary.counters.values()), summary.counters
