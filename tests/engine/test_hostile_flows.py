"""Hostile flow files: one line with file:line:col per problem, never a traceback, bounded cost."""

from __future__ import annotations

import re
import resource
import time
from pathlib import Path

import pytest

from flowengine.cli import main
from flowengine.errors import EXIT_BAD_INPUT
from flowengine.loader import MAX_ALIAS_NODES, MAX_NESTING

GOOD = """version: 1
state: memory
nodes:
  - id: src
    type: zigbee-replay
    path: cap.jsonl
    wires: [d]
  - id: d
    type: delay
    for: 5s
    wires: [out]
  - id: out
    type: log
"""
LINE = re.compile(r"^[^:\n]+:\d+:\d+: .+$")


def validate(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | str,
             *, secrets: bytes | str | None = None) -> tuple[int, list[str]]:
    flow = tmp_path / "flow.yaml"
    flow.write_bytes(content.encode() if isinstance(content, str) else content)
    (tmp_path / "cap.jsonl").write_text("")  # GOOD's capture: a missing one would be an error of its own
    if secrets is not None:
        (tmp_path / "secrets.yaml").write_bytes(secrets.encode() if isinstance(secrets, str) else secrets)
    status = main(["validate", str(flow)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    lines = captured.out.splitlines()
    assert lines
    assert all(LINE.match(line) for line in lines), lines
    return status, lines


def bomb(levels: int) -> str:
    lines = ["version: 1", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, levels)]
    return "\n".join([*lines, f"nodes: *a{levels - 1}"]) + "\n"


@pytest.mark.parametrize(("content", "expected"), [
    (GOOD.replace("cap.jsonl", "cap\xff.jsonl").encode("latin-1"),
     r":6:14: not UTF-8: byte 0xff at byte offset 81 \(line 6\)"),
    ("version: 1\nnodes: " + "[" * 1000 + "]" * 1000 + "\n", rf":2:\d+: nested more than {MAX_NESTING} levels deep"),
    (GOOD.replace("cap.jsonl", "2001-13-45"), r":6:11: cannot read this value: month must be in 1..12 \(quote it"),
    (GOOD.replace("cap.jsonl", "!!int 0x"), r":6:11: cannot read this value: invalid literal"),
    (GOOD.replace("cap.jsonl", "!!float x"), r":6:11: cannot read this value: could not convert"),
    (GOOD.replace("cap.jsonl", "!!timestamp x"), r":6:11: cannot read this value: not a valid value of its type"),
    (GOOD.replace("wires: [d]", "wires: {out: 5}"), r":7:18: node 'src': wires of port 'out' must be a list"),
    (GOOD.replace("for: 5s", "for: 1" + "0" * 400), r":10:10: node 'd': for: the number is too large"),
    (GOOD.replace("    type: delay", "    !foo type: delay"), r":9:5: a mapping key cannot carry a tag"),
    (GOOD.replace("state: memory", "state: ~no-such-user-here/x.db"), r":2:8: 'state': cannot expand"),
    (GOOD.replace("cap.jsonl", "~no-such-user-here/cap.jsonl"), r":6:11: node 'src': path: cannot expand '~no-such"),
    (GOOD.replace("    type: log\n", "    type: file\n    path: ~no-such-user-here/out.jsonl\n"),
     r":14:11: node 'out': path: cannot expand '~no-such-user-here'"),
    (bomb(10), rf":\d+:\d+: aliases expand to more than {MAX_ALIAS_NODES} nodes"),
    ("version: 1\nnodes: [\x07]\n", r":2:9: invalid YAML: character #x0007 is not allowed"),
])
def test_each_hostile_shape_is_one_positioned_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | str, expected: str
) -> None:
    status, lines = validate(tmp_path, capsys, content)
    assert status == EXIT_BAD_INPUT
    assert any(re.search(expected, line) for line in lines), lines


def test_a_substituted_variable_that_yaml_cannot_read_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHEN", "2001-13-45")
    status, lines = validate(tmp_path, capsys, GOOD.replace("cap.jsonl", "${WHEN}"))
    assert status == EXIT_BAD_INPUT
    assert any(":6:11: cannot read the substituted value: month must be in 1..12" in line for line in lines)


def test_a_folder_named_secrets_yaml_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "secrets.yaml").mkdir()
    status, lines = validate(tmp_path, capsys, GOOD.replace("cap.jsonl", "!secret capture"))
    assert status == EXIT_BAD_INPUT
    assert any(line.endswith("secrets.yaml: Is a directory") and ":6:11: " in line for line in lines), lines


def test_the_alias_bomb_ends_fast_and_small(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Eleven levels stand for 10^11 nodes; it must be refused at the alias, not expanded.
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    began = time.process_time()
    status, lines = validate(tmp_path, capsys, bomb(11))
    assert status == EXIT_BAD_INPUT
    assert len(lines) == 1
    assert time.process_time() - began < 5  # generous: the bound is checked in benchmarks/fuzz_flows.py
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 * 1024


def test_anchors_within_the_budget_still_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = GOOD.replace("  - id: d\n", "  - &delay\n    id: d\n") + "  - <<: *delay\n    id: d2\n"  # its wires too
    text = text.replace("wires: [d]", "wires: [d, d2]")
    flow = tmp_path / "flow.yaml"
    flow.write_text(text)
    (tmp_path / "cap.jsonl").write_text("")
    assert main(["validate", str(flow)]) == 0
    assert capsys.readouterr().out.strip().endswith(": ok")


def test_an_internal_error_has_its_own_exit_code_and_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("a bug")

    monkeypatch.setattr("flowengine.cli.load_flow", broken)
    flow = tmp_path / "flow.yaml"
    flow.write_text(GOOD)
    status = main(["validate", str(flow)])
    captured = capsys.readouterr()
    assert status == 70
    assert "Traceback" not in captured.err
    assert captured.err.splitlines() == [
        "flowengine: internal error: KeyError: 'a bug' (a bug: please report it; --log-level debug shows the traceback)"
    ]


def test_a_contributed_command_after_log_level_is_found(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 'error' is the value of --log-level, not the command (it used to end in a usage error).
    status = main(["--log-level", "error", "test", str(tmp_path)])
    assert status == 1
    assert "no test files found" in capsys.readouterr().out
