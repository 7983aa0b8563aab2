"""``flowengine validate``'s graph lints: unused sources and nodes that reach no sink (issue 14)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowengine.cli import main

FLOW = """version: 1
state: memory
nodes:
  - id: src
    type: zigbee-replay
    path: c.jsonl
    wires: [keep, dead-end]
  - id: keep
    type: filter
    when: "payload.lqi > 50"
    wires: [drop]
  - id: dead-end
    type: filter
    when: "payload.lqi > 10"
    wires: [also-dead]
  - id: also-dead
    type: change
    set: {topic: x}
  - id: idle
    type: zigbee-replay
    path: c.jsonl
  - id: drop
    type: discard
"""


def test_validate_warns_where_output_goes_nowhere(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flow = tmp_path / "lint.yaml"
    flow.write_text(FLOW)
    (tmp_path / "c.jsonl").write_text("")  # validate checks that a capture exists
    assert main(["validate", str(flow)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"{flow}:12:5: warning: node 'dead-end' (filter): no sink is reachable from it; what it emits is dropped",
        f"{flow}:16:5: warning: node 'also-dead' (change): no sink is reachable from it; what it emits is dropped",
        f"{flow}:19:5: warning: source 'idle' (zigbee-replay): its output is never used (nothing is wired to it)",
        f"{flow}: ok (3 warning(s))",
    ]
    assert main(["validate", "--strict", str(flow)]) == 1


def test_a_flow_whose_every_node_reaches_a_sink_is_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flow = tmp_path / "fine.yaml"
    (tmp_path / "c.jsonl").write_text("")
    flow.write_text(FLOW.replace("wires: [keep, dead-end]", "wires: [keep]").split("  - id: dead-end")[0]
                    + "  - id: drop\n    type: discard\n")
    assert main(["validate", str(flow)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{flow}: ok"]
