"""The ``flowengine test`` command: its format, its verdicts and its messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest

from flowengine import Message, NodeConfig, Source, Transform
from flowengine.flowtest import discover, first_difference, main, read_test_file, run_case, same
from flowengine.registry import Registry
from flowengine_nodes.basic.filter import FilterConfig

FLOW = """\
version: 1
name: t
nodes:
  - id: radio
    type: zigbee-replay
    path: capture.jsonl
    wires: [pick]
  - id: pick
    type: switch
    property: payload.lqi
    rules:
      - {gt: 100, port: strong}
    otherwise: weak
    wires: {strong: [later], weak: [weak_sink]}
  - id: later
    type: delay
    for: 10s
    wires: [out]
  - id: out
    type: file
    path: out/never_written.jsonl
  - id: weak_sink
    type: mqtt-out
    broker: mqtt://127.0.0.1:1
"""
CAPTURE = (
    '{"ts": 100, "ieee": "a", "endpoint": 1, "cluster": 257, "lqi": 150, "frame": "182f0a11ff230070d0e7"}\n'
    '{"ts": 101, "ieee": "b", "endpoint": 1, "cluster": 257, "lqi": 50, "frame": "182f0a11ff230070d0e7"}\n'
)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "flow.yaml").write_text(FLOW)
    (tmp_path / "capture.jsonl").write_text(CAPTURE)
    return tmp_path


def run(folder: Path, tests: str, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    (folder / "t.test.yaml").write_text("flow: flow.yaml\ntests:\n" + tests)
    code = main([*args, str(folder)])
    return code, capsys.readouterr().out


def test_a_passing_test_replays_the_flows_own_capture_and_writes_nothing(folder: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(folder, """\
  - name: strong reports are delayed, weak ones reach the broker sink
    expect:
      later: [{topic: zigbee/a/1/257, meta: {ts: 110, source: radio}}]
      out: [{payload: {ts: 100, ieee: a, endpoint: 1, cluster: 257, lqi: 150, frame: 182f0a11ff230070d0e7}}]
      weak_sink: [{topic: zigbee/b/1/257}]
      pick.strong: [{meta: {ts: 100}}]
""", capsys)
    assert code == 0, out
    assert out.splitlines()[-1] == "1 passed, 0 failed"
    assert not (folder / "out").exists()


def test_a_failing_test_prints_where_and_a_diff(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(folder, """\
  - name: wrong time
    expect:
      later: [{topic: zigbee/a/1/257, meta: {ts: 111}}]
  - name: too few
    expect:
      later: []
""", capsys)
    assert code == 1
    assert "FAIL  " in out
    assert "::wrong time" in out
    assert "at 'later': message 1 differs: meta.ts: expected 111, got 110" in out
    assert '-{"meta":{"ts":111},"topic":"zigbee/a/1/257"}' in out
    assert '+{"meta":{"ts":110},"topic":"zigbee/a/1/257"}' in out
    assert "at 'later': expected 0 message(s), got 1" in out
    assert out.splitlines()[-1] == "0 passed, 2 failed"


def test_input_at_a_node_with_time_steps_and_at_end(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(folder, """\
  - name: stop holds what is pending
    at: later
    at_end: stop
    input:
      - {ts: 0, topic: x, payload: 1}
      - {ts: 5, topic: y, payload: 2}
      - {advance: 10}
    expect:
      later: [{topic: x, payload: 1, meta: {ts: 10}}]
  - name: fire releases what is pending
    at: later
    input:
      - {ts: 0, topic: x, payload: 1}
      - {ts: 5, topic: y, payload: 2}
    expect:
      later: [{topic: x}, {topic: y, meta: {ts: 15}}]
  - name: raw reports go where the source would send them
    input:
      - raw: {ts: 7, ieee: c, endpoint: 1, cluster: 257, lqi: 200, frame: "00"}
    expect:
      pick.strong: [{topic: zigbee/c/1/257, meta: {ts: 7, ieee: c, source: __input__}}]
""", capsys)
    assert code == 0, out
    assert out.splitlines()[-1] == "3 passed, 0 failed"


def test_keyword_selects_tests(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(folder, """\
  - name: alpha
    expect: {later: [{topic: zigbee/a/1/257}]}
  - name: beta
    expect: {later: []}
""", capsys, "-k", "alpha")
    assert code == 0
    assert out.splitlines()[-1] == "1 passed, 0 failed"


def test_malformed_test_files_are_reported_with_positions(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(folder, """\
  - name: bad
    input: [{ts: 1, topic: x, colour: red}]
    capture: capture.jsonl
    at_end: later
""", capsys)
    assert code == 1
    assert "t.test.yaml:4:31: unknown input key 'colour'" in out
    assert "a test has either 'capture' or 'input'" in out
    assert "'at_end' is 'fire'" in out


def test_unknown_nodes_and_ports_fail_the_test(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(folder, """\
  - name: no such node
    expect: {latre: []}
  - name: no such port
    expect: {pick.medium: []}
  - name: sink ports
    expect: {out.out: []}
""", capsys)
    assert code == 1
    assert "expect 'latre': no node 'latre' in the flow" in out
    assert "node 'pick' has no port 'medium' (its ports: strong, weak, errors)" in out
    assert "'out' is a sink" in out


class _Boom(Transform[FilterConfig]):
    """Fails on every message whose payload is 2."""

    config_model = FilterConfig

    def process(self, msg: Message) -> Message | None:
        if msg.payload == 2:
            raise ValueError("two")
        return msg


def test_a_node_error_fails_the_test_unless_allowed(tmp_path: Path) -> None:
    (tmp_path / "flow.yaml").write_text("""\
version: 1
nodes:
  - id: radio
    type: zigbee-replay
    path: nothing.jsonl
    wires: [boom]
  - id: boom
    type: boom
    when: "true"
    wires: [sink]
  - id: sink
    type: discard
""")
    (tmp_path / "t.test.yaml").write_text("""\
flow: flow.yaml
tests:
  - name: strict
    at: boom
    input: [{ts: 1, payload: 1}, {ts: 2, payload: 2}]
    expect: {sink: [{payload: 1}], boom.errors: [{payload: 2}]}
  - name: lenient
    at: boom
    allow_errors: true
    input: [{ts: 1, payload: 1}, {ts: 2, payload: 2}]
    expect: {sink: [{payload: 1}]}
""")
    registry = Registry.from_entry_points()
    registry.register("boom", _Boom)
    strict, lenient = (run_case(case, registry) for case in read_test_file(tmp_path / "t.test.yaml"))
    assert strict.details == ["node 'boom' failed on 1 message(s) (see the log above; 'allow_errors: true' "
                              "accepts this)"]
    assert lenient.passed, lenient.details


class _LinesConfig(NodeConfig):
    path: str
    fast: bool = False


class _Lines(Source[_LinesConfig]):
    """A replaying source no engine module knows: one message per line of a text file."""

    config_model: ClassVar[type[NodeConfig]] = _LinesConfig
    live: ClassVar[bool] = False

    @classmethod
    def replay_config(cls, config: Any, capture: Path | None) -> NodeConfig | None:
        replayed: NodeConfig = config.model_copy(update={"fast": True, **({"path": str(capture)} if capture else {})})
        return replayed

    async def run(self) -> None:
        path = self.context.resolve_path(self.config.path)
        for ts, line in enumerate(path.read_text().splitlines()):
            self.emit(Message("line", line, {"ts": float(ts), "fast": self.config.fast}))


def test_a_capture_replays_through_any_source_that_declares_it_can(tmp_path: Path) -> None:
    (tmp_path / "own.txt").write_text("a\nb\n")
    (tmp_path / "other.txt").write_text("c\n")
    (tmp_path / "flow.yaml").write_text("""\
version: 1
nodes:
  - id: lines
    type: lines
    path: own.txt
    wires: [sink]
  - id: sink
    type: discard
""")
    (tmp_path / "t.test.yaml").write_text("""\
flow: flow.yaml
tests:
  - name: its own input
    expect: {sink: [{payload: a, meta: {fast: true}}, {payload: b}]}
  - name: the test's capture
    capture: other.txt
    expect: {sink: [{payload: c, meta: {ts: 0}}]}
""")
    registry = Registry.from_entry_points()
    registry.register("lines", _Lines)
    outcomes = [run_case(case, registry) for case in read_test_file(tmp_path / "t.test.yaml")]
    assert [(outcome.passed, outcome.details) for outcome in outcomes] == [(True, []), (True, [])]


def test_a_live_source_without_the_capability_needs_an_input(tmp_path: Path) -> None:
    (tmp_path / "flow.yaml").write_text("""\
version: 1
nodes:
  - id: broker
    type: mqtt-in
    broker: mqtt://127.0.0.1:1
    topics: [t]
    wires: [sink]
  - id: sink
    type: discard
""")
    (tmp_path / "t.test.yaml").write_text("flow: flow.yaml\ntests:\n  - name: no input\n    expect: {sink: []}\n")
    [case] = read_test_file(tmp_path / "t.test.yaml")
    outcome = run_case(case, Registry.from_entry_points())
    assert outcome.details == ["source 'broker' (mqtt-in) is live: give the test an 'input' or a 'capture'"]


def test_discover_and_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.test.yaml").write_text("")
    (tmp_path / "a" / "flow.yaml").write_text("")
    assert discover([tmp_path]) == [tmp_path / "a" / "x.test.yaml"]
    assert main([str(tmp_path / "missing")]) == 1
    assert "no such file or folder" in capsys.readouterr().out
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main([str(empty)]) == 1
    assert "no test files found" in capsys.readouterr().out


def test_same_and_first_difference() -> None:
    assert same(110.0, 110.0000000001)
    assert not same(1, True)
    assert not same({"a": 1}, {"a": 1, "b": 2})
    assert first_difference({"a": {"b": [1, 2]}}, {"a": {"b": [1, 3]}}) == "a.b[1]: expected 2, got 3"
    assert first_difference({"a": 1}, {}) == "a: expected 1, missing"
