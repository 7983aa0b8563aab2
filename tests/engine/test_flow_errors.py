"""Broken flows: every problem is reported as file:line:col: message, and validate exits 1."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from flowengine.cli import main

GOOD_SOURCE = """\
  - id: src
    type: zigbee-replay
    path: capture.jsonl
"""

CASES: dict[str, tuple[str, list[tuple[int, str]]]] = {
    "bad-yaml": ("version: 1\nnodes: [\n  - id: a\n", [(3, "invalid YAML")]),
    "unknown-type": (
        "version: 1\nnodes:\n" + GOOD_SOURCE + "    wires: [x]\n  - id: x\n    type: fitler\n    when: 'true'\n",
        [(8, "unknown node type 'fitler' (did you mean 'filter'?)")],
    ),
    "unknown-key": (
        "version: 1\nnodes:\n  - id: src\n    type: zigbee-replay\n    paht: capture.jsonl\n",
        [(5, "unknown config key 'paht' (did you mean 'path'?)"), (3, "missing required key 'path'")],
    ),
    "wrong-value-type": (
        "version: 1\nnodes:\n" + GOOD_SOURCE + "    speed: fast\n",
        [(6, "node 'src': speed: Input should be a valid number")],
    ),
    "duplicate-id": (
        "version: 1\nnodes:\n" + GOOD_SOURCE + "    wires: [src2]\n  - id: src\n    type: log\n"
        "  - id: src2\n    type: log\n",
        [(7, "duplicate node id 'src' (first defined on line 3)")],
    ),
    "dangling-wire": (
        "version: 1\nnodes:\n" + GOOD_SOURCE + "    wires: [sink, snik]\n  - id: sink\n    type: log\n",
        [(6, "wire to missing node 'snik' (did you mean 'sink'?)")],
    ),
    "unknown-port": (
        "version: 1\nnodes:\n" + GOOD_SOURCE + "    wires: {events: [sink]}\n  - id: sink\n    type: log\n",
        [(6, "has no output port 'events'")],
    ),
    "cycle": (
        "version: 1\nnodes:\n" + GOOD_SOURCE + "    wires: [a]\n"
        "  - id: a\n    type: filter\n    when: 'true'\n    wires: [b]\n"
        "  - id: b\n    type: filter\n    when: 'true'\n    wires: [a]\n",
        [(7, "cycle: a -> b -> a")],
    ),
    "orphan": (
        "version: 1\nnodes:\n" + GOOD_SOURCE + "  - id: lonely\n    type: log\n",
        [(6, "node 'lonely' (log) is not fed by any node and is not a source")],
    ),
    "missing-required-key": (
        "version: 1\nnodes:\n" + GOOD_SOURCE + "    wires: [out]\n  - id: out\n    type: file\n",
        [(7, "node 'out': missing required key 'path'")],
    ),
    "bad-expression": (
        "version: 1\nnodes:\n" + GOOD_SOURCE + "    wires: [f]\n  - id: f\n    type: filter\n"
        "    when: 'payload.lqi >'\n",
        [(9, "node 'f': when:")],
    ),
    "expression-call": (
        "version: 1\nnodes:\n" + GOOD_SOURCE + "    wires: [f]\n  - id: f\n    type: filter\n"
        "    when: \"open('/etc/passwd')\"\n",
        [(9, "open")],
    ),
    "expression-dunder": (
        "version: 1\nnodes:\n" + GOOD_SOURCE + "    wires: [f]\n  - id: f\n    type: filter\n"
        "    when: 'payload.__class__'\n",
        [(9, "_")],
    ),
    "missing-secret": (
        "version: 1\nnodes:\n" + GOOD_SOURCE + "    wires: [out]\n  - id: out\n    type: file\n"
        "    path: !secret output_path\n",
        [(9, "secrets.yaml")],
    ),
    "missing-env": (
        "version: 1\nnodes:\n" + GOOD_SOURCE + "    wires: [out]\n  - id: out\n    type: file\n"
        "    path: ${FLOWENGINE_TEST_UNSET_VAR}\n",
        [(9, "environment variable 'FLOWENGINE_TEST_UNSET_VAR' is not set")],
    ),
    "unknown-top-level-key": (
        "version: 1\nnodez: []\n",
        [(2, "unknown top-level key 'nodez' (did you mean 'nodes'?)"), (1, "'nodes' must be a list")],
    ),
    "bad-id": ("version: 1\nnodes:\n  - id: Front Door\n    type: log\n", [(3, "use only a-z")]),
    "wrong-version": ("version: 2\nnodes: []\n", [(1, "'version' must be 1")]),
    "switch-rule-two-tests": (
        "version: 1\nnodes:\n" + GOOD_SOURCE + "    wires: [s]\n  - id: s\n    type: switch\n"
        "    property: payload.cluster\n    rules:\n      - {eq: 257, gt: 3, port: a}\n",
        [(11, "exactly one test")],
    ),
    "bad-regex": (
        "version: 1\nnodes:\n" + GOOD_SOURCE + "    wires: [s]\n  - id: s\n    type: switch\n"
        "    rules:\n      - {regex: '([', port: a}\n",
        [(10, "invalid regular expression")],
    ),
}

LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):(?P<column>\d+): (?P<message>.*)$")


@pytest.mark.parametrize("case", sorted(CASES))
def test_broken_flow_is_reported_with_position_and_exit_1(case: str, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    text, expected = CASES[case]
    (tmp_path / "capture.jsonl").touch()  # GOOD_SOURCE's capture exists: only the case's problem is reported
    flow = tmp_path / f"{case}.yaml"
    flow.write_text(text)
    assert main(["validate", str(flow)]) == 1
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), f"not file:line:col: message: {lines}"
    found = [(int(m["line"]), m["message"]) for m in parsed if m]
    assert all(m["file"] == str(flow) for m in parsed if m)
    for line, fragment in expected:
        assert any(at == line and fragment in message for at, message in found), (
            f"expected line {line} with {fragment!r} in {found}")


def test_several_problems_are_all_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flow = tmp_path / "many.yaml"
    flow.write_text(
        "version: 1\nnodes:\n"
        "  - id: src\n    type: zigbee-replay\n    path: c.jsonl\n    sped: 2\n    wires: [f, nowhere]\n"
        "  - id: f\n    type: filter\n    when: 'payload.__dict__'\n    wires: [out]\n"
        "  - id: out\n    type: fiel\n"
    )
    assert main(["validate", str(flow)]) == 1
    out = capsys.readouterr().out
    assert ":6:5: node 'src': unknown config key 'sped' (did you mean 'speed'?)" in out
    assert ":10:" in out
    assert "unknown node type 'fiel' (did you mean 'file'?)" in out
    assert "wire to missing node 'nowhere'" in out


def test_secret_value_never_appears_in_messages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "secrets.yaml").write_text("speed: topsecretvalue\n")
    flow = tmp_path / "s.yaml"
    flow.write_text("version: 1\nnodes:\n  - id: src\n    type: zigbee-replay\n    path: c.jsonl\n"
                    "    speed: !secret speed\n")
    assert main(["validate", str(flow)]) == 1
    out = capsys.readouterr().out
    assert "speed" in out
    assert "topsecretvalue" not in out


def test_valid_flow_prints_ok_and_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flow = tmp_path / "good.yaml"
    (tmp_path / "capture.jsonl").touch()
    flow.write_text("version: 1\nnodes:\n" + GOOD_SOURCE + "    wires: [out]\n  - id: out\n    type: log\n")
    assert main(["validate", str(flow)]) == 0
    assert capsys.readouterr().out.strip() == f"{flow}: ok"
