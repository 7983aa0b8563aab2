"""``flowengine test [PATH …]``: flow unit tests written in YAML, run on a virtual clock.

A test file (``*.test.yaml``) names a flow and lists tests. Each test feeds the flow —
messages injected where its sources would send them (or at a named node), or a capture of
raw reports replayed through the flow's own ``zigbee-replay`` source — on an event clock
with ``state: memory``, and compares what named nodes emitted with what it expects::

    flow: flow.yaml
    tests:
      - name: three failed fingerprints within a minute raise one alert
        capture: capture.jsonl
        expect:
          intrusion:                      # what node 'intrusion' emits on `out`
            - topic: alerts/front_door/intrusion
              payload: {attempts: 3}
              meta: {ts: 1732435260.5, rule: intrusion}
      - name: a single failure raises nothing
        input:
          - raw: {ts: 100, ieee: "00:15:8d:00:01:02:03:04", model: lumi.lock.aq1, endpoint: 1,
                  profile: 260, cluster: 257, lqi: 80, frame: "182d0a11ff2300d42221"}
        expect:
          intrusion: []

Every sink of the flow is replaced by an in-memory capture (nothing is written, no broker is
needed). The format is documented in ``docs/rules.md``. The command prints one line per test,
a diff for each failure, and ``N passed, N failed``; it exits 1 when a test failed.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import difflib
import math
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeGuard

import orjson

from flowengine import logs
from flowengine.clock import EventClock
from flowengine.flow import load_flow
from flowengine.graph import FlowGraph, NodeSpec, build_graph
from flowengine.loader import Document, Position, YamlPath, load_yaml
from flowengine.message import Message
from flowengine.node import ERRORS_PORT, OUT_PORT, NodeConfig, Source
from flowengine.redaction import expand, redact
from flowengine.registry import Registry, RegistryError
from flowengine.runtime import FlowRun
from flowengine.state import StateStore
from flowengine.testing import Capture, CaptureConfig

#: Names of test files found in folders.
PATTERNS = ("*.test.yaml", "*.test.yml")
TEST_KEYS = ("name", "capture", "input", "at", "at_end", "expect", "allow_errors")
INPUT_MESSAGE_KEYS = ("topic", "payload", "meta", "ts", "at")
REPLAY_TYPE = "zigbee-replay"
INPUT_ID = "__input__"


class TestFileError(Exception):
    """A test file is malformed; ``issues`` are ``file:line:col: message`` lines."""

    def __init__(self, issues: list[str]) -> None:
        self.issues = issues
        super().__init__("\n".join(issues))


@dataclasses.dataclass(frozen=True)
class Step:
    """One input step: a message for a port of the injector, or time moving on."""

    ts: float
    message: Message | None = None
    port: str = OUT_PORT


@dataclasses.dataclass(frozen=True)
class Observed:
    """What a test looks at: a node's output port, or (for a sink) what the sink receives."""

    label: str
    node: str
    port: str | None
    expected: list[dict[str, Any]]


@dataclasses.dataclass
class TestCase:
    """One test of a test file, parsed and checked."""

    file: str
    name: str
    position: Position
    flow_path: Path
    capture: Path | None
    steps: list[Step] | None
    observed: list[Observed]
    at_end: Literal["fire", "stop"]
    allow_errors: bool

    @property
    def title(self) -> str:
        """``file::name`` as printed."""
        return f"{self.file}::{self.name}"


@dataclasses.dataclass
class Outcome:
    """The result of one test: passed or not, and why not."""

    case: TestCase
    passed: bool
    details: list[str] = dataclasses.field(default_factory=list)


# Parsing ----------------------------------------------------------------------------------------


class _Reader:
    """Reads a test file's data, collecting every problem with its position."""

    def __init__(self, document: Document) -> None:
        self.document = document
        self.issues: list[str] = []

    def problem(self, path: YamlPath, message: str, *, key: bool = False) -> None:
        where = self.document.position(path, key=key)
        self.issues.append(f"{self.document.file}:{where.line}:{where.column}: {message}")

    def read(self, path: Path) -> list[TestCase]:
        data = self.document.data
        if not isinstance(data, dict):
            self.problem((), "a test file is a mapping with 'flow' and 'tests'")
            return []
        for key in data:
            if key not in ("flow", "tests"):
                self.problem((key,), f"unknown key '{key}' (a test file has 'flow' and 'tests')", key=True)
        flow = data.get("flow")
        if not isinstance(flow, str):
            self.problem(("flow",), "'flow' must name the flow file under test (relative to this file)")
            return []
        flow_path = (path.parent / flow).resolve()
        if not flow_path.is_file():
            self.problem(("flow",), f"flow file '{flow}' does not exist")
        tests = data.get("tests")
        if not isinstance(tests, list) or not tests:
            self.problem(("tests",), "'tests' must be a non-empty list of tests")
            return []
        cases: list[TestCase] = []
        names: set[str] = set()
        for index, raw in enumerate(tests):
            case = self._case(path, flow_path, ("tests", index), raw)
            if case is None:
                continue
            if case.name in names:
                self.problem(("tests", index, "name"), f"duplicate test name '{case.name}'")
            names.add(case.name)
            cases.append(case)
        return cases

    def _case(self, path: Path, flow_path: Path, where: YamlPath, raw: Any) -> TestCase | None:
        if not isinstance(raw, dict):
            self.problem(where, "a test is a mapping with 'name', an input and 'expect'")
            return None
        for key in raw:
            if key not in TEST_KEYS:
                self.problem((*where, key), f"unknown test key '{key}' (known: {', '.join(TEST_KEYS)})", key=True)
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            self.problem(where, "a test needs a 'name'")
            name = f"test {where[-1]}"
        capture: Path | None = None
        if "capture" in raw:
            if not isinstance(raw["capture"], str):
                self.problem((*where, "capture"), "'capture' is the path of a capture of raw reports")
            else:
                capture = (path.parent / raw["capture"]).resolve()
                if not capture.is_file():
                    self.problem((*where, "capture"), f"capture '{raw['capture']}' does not exist")
        default_at = raw.get("at")
        if default_at is not None and not isinstance(default_at, str):
            self.problem((*where, "at"), "'at' is the id of the node that receives the input")
            default_at = None
        steps: list[Step] | None = None
        if "input" in raw:
            if capture is not None:
                self.problem((*where, "input"), "a test has either 'capture' or 'input', not both")
            steps = self._steps((*where, "input"), raw["input"], default_at)
        elif default_at is not None:
            self.problem((*where, "at"), "'at' needs an 'input'")
        at_end = raw.get("at_end", "fire")
        if at_end not in ("fire", "stop"):
            self.problem((*where, "at_end"), "'at_end' is 'fire' (pending timers fire, as at the end of a "
                                             "replay; the default) or 'stop'")
            at_end = "fire"
        allow_errors = raw.get("allow_errors", False)
        if not isinstance(allow_errors, bool):
            self.problem((*where, "allow_errors"), "'allow_errors' is true or false")
            allow_errors = False
        observed = self._expect((*where, "expect"), raw.get("expect", {}))
        position = self.document.position(where)
        return TestCase(self.document.file, name, position, flow_path, capture, steps, observed,
                        "stop" if at_end == "stop" else "fire", allow_errors)

    def _steps(self, where: YamlPath, raw: Any, default_at: str | None) -> list[Step]:
        if not isinstance(raw, list):
            self.problem(where, "'input' is a list of messages ({topic, payload, meta}), raw reports "
                                "({raw: {...}}) or time steps ({advance: ts})")
            return []
        steps: list[Step] = []
        previous = 0.0
        for index, item in enumerate(raw):
            here = (*where, index)
            if not isinstance(item, dict):
                self.problem(here, "an input is a mapping: {topic, payload, meta}, {raw: {...}} or {advance: ts}")
                continue
            at = item.get("at", default_at)
            port = OUT_PORT if at is None else f"to:{at}"
            if "advance" in item:
                ts = item["advance"]
                if set(item) != {"advance"} or not _is_number(ts):
                    self.problem(here, "{advance: ts} moves virtual time to ts (a number) and has no other key")
                    continue
                previous = float(ts)
                steps.append(Step(previous))
            elif "raw" in item:
                record = item["raw"]
                extra = set(item) - {"raw", "at"}
                if extra or not isinstance(record, dict) or not _is_number(record.get("ts")):
                    self.problem(here, "{raw: record} takes a raw report (CONTRACT §3) with a numeric 'ts' "
                                       "(and optionally 'at')")
                    continue
                previous = float(record["ts"])
                steps.append(Step(previous, _report_message(record), port))
            else:
                unknown = [key for key in item if key not in INPUT_MESSAGE_KEYS]
                if unknown:
                    self.problem((*here, unknown[0]), f"unknown input key '{unknown[0]}' (a message has "
                                                      "topic, payload, meta, ts, at)", key=True)
                    continue
                meta = item.get("meta", {})
                if not isinstance(meta, dict):
                    self.problem((*here, "meta"), "'meta' is a mapping")
                    continue
                ts = item.get("ts", meta.get("ts", previous))
                if not _is_number(ts):
                    self.problem(here, "the input's time ('ts' or 'meta.ts') must be a number")
                    continue
                previous = float(ts)
                topic = item.get("topic", "")
                message = Message(topic if isinstance(topic, str) else str(topic), item.get("payload"),
                                  {**meta, "ts": ts})
                steps.append(Step(previous, message, port))
        return steps

    def _expect(self, where: YamlPath, raw: Any) -> list[Observed]:
        if not isinstance(raw, dict):
            self.problem(where, "'expect' maps node ids (or node.port) to the list of messages expected there")
            return []
        observed: list[Observed] = []
        for label, messages in raw.items():
            here = (*where, label)
            node, _, port = str(label).partition(".")
            if not isinstance(messages, list):
                self.problem(here, f"expect '{label}': a list of expected messages ([] for none)")
                continue
            expected: list[dict[str, Any]] = []
            for index, entry in enumerate(messages):
                if not isinstance(entry, dict) or not entry or set(entry) - {"topic", "payload", "meta"}:
                    self.problem((*here, index), "an expected message has topic, payload and/or meta "
                                                 "(only the keys given are compared)")
                    continue
                if "meta" in entry and not isinstance(entry["meta"], dict):
                    self.problem((*here, index, "meta"), "'meta' lists the meta keys to compare")
                    continue
                expected.append(entry)
            observed.append(Observed(str(label), node, port or None, expected))
        return observed


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _report_message(record: dict[str, Any]) -> Message:
    """The message ``zigbee-replay`` emits for a raw report record (CONTRACT §3)."""
    ieee = record.get("ieee")
    topic = f"zigbee/{ieee}/{record.get('endpoint')}/{record.get('cluster')}"
    return Message(topic, record, {"ts": record.get("ts"), "ieee": ieee, "source": INPUT_ID})


def read_test_file(path: Path) -> list[TestCase]:
    """Parse and check one test file.

    Raises:
        TestFileError: The file is malformed (every problem, with its position).
    """
    document = load_yaml(path)
    if document.issues:
        forms = expand(document.secrets)
        raise TestFileError([redact(str(issue), forms) for issue in document.issues])
    reader = _Reader(document)
    cases = reader.read(path)
    if reader.issues:
        raise TestFileError(reader.issues)
    return cases


# The flow under test ----------------------------------------------------------------------------


class InjectConfig(NodeConfig):
    """Config of the test input node: its output ports (``out``, ``to:<node>``)."""

    ports: tuple[str, ...] = (OUT_PORT,)


class Inject(Source[InjectConfig]):
    """Test input: emits the test's messages in order, moving the event clock to each one's time."""

    config_model: ClassVar[type[NodeConfig]] = InjectConfig
    live: ClassVar[bool] = False
    steps: Sequence[Step] = ()
    hold: asyncio.Event | None = None

    @classmethod
    def output_ports(cls, config: Any) -> tuple[str, ...]:
        """The ports the test's input uses."""
        return tuple(config.ports)

    async def run(self) -> None:
        """Emit every step; with ``at_end: stop`` stop the flow instead of ending its input."""
        observe = self.context.clock.observe
        for index, step in enumerate(self.steps):
            observe(step.ts)
            if step.message is not None:
                self.emit(step.message, step.port)
            if index % 256 == 255:
                await self.backpressure()
        if self.hold is not None:
            self.hold.set()
            await asyncio.Event().wait()  # cancelled by the runtime: the input did not "end"


def _problem(case: TestCase, message: str) -> Outcome:
    return Outcome(case, False, [message])


def build_graph_for(case: TestCase, flow: FlowGraph) -> tuple[FlowGraph, dict[str, str]]:
    """Return the flow rewired for ``case`` and, per observed label, the capture node that sees it.

    Raises:
        ValueError: The test cannot run on this flow (unknown node, port, or source).
    """
    specs: dict[str, NodeSpec] = {node_id: spec for node_id, spec in flow.nodes.items() if not spec.disabled}
    sources = [spec for spec in specs.values() if spec.role == "source"]

    def capture_spec(node_id: str, position: Position) -> NodeSpec:
        return NodeSpec(node_id, "capture", Capture, CaptureConfig(), {}, position)

    if case.steps is not None:
        targets: dict[str, None] = {}
        for source in sources:
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
        specs[INPUT_ID] = NodeSpec(INPUT_ID, "test-input", Inject,
                                   InjectConfig(ports=(OUT_PORT, *sorted(ports - {OUT_PORT}))), wires, Position(1, 1))
    else:
        for source in sources:
            if source.type != REPLAY_TYPE:
                if case.capture is None:
                    raise ValueError(f"source '{source.id}' ({source.type}) is live: give the test an "
                                     "'input' or a 'capture'")
                del specs[source.id]
                continue
            update: dict[str, Any] = {"speed": 0.0, "loop": False, "resume": False}
            if case.capture is not None:
                update["path"] = str(case.capture)
            specs[source.id] = dataclasses.replace(source, config=source.config.model_copy(update=update))
        if not any(spec.role == "source" for spec in specs.values()):
            raise ValueError(f"no '{REPLAY_TYPE}' source to replay the capture through")
    for spec in list(specs.values()):
        if spec.role == "sink":
            specs[spec.id] = capture_spec(spec.id, spec.position)
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
        spec = found
        port = observed.port or OUT_PORT
        have = (*spec.node_class.output_ports(spec.config), ERRORS_PORT)
        if port not in have:
            raise ValueError(f"expect '{observed.label}': node '{observed.node}' has no port '{port}' "
                             f"(its ports: {', '.join(have)})")
        observer = f"__expect_{index}__"
        specs[observer] = capture_spec(observer, spec.position)
        wires = dict(spec.wires)
        wires[port] = (*wires.get(port, ()), observer)
        specs[spec.id] = dataclasses.replace(spec, wires=wires)
        observers[observed.label] = observer
    return FlowGraph(flow.file, flow.name, None, specs, build_graph(specs), flow.secrets), observers


def run_case(case: TestCase, registry: Registry) -> Outcome:
    """Run one test on a fresh copy of its flow (event clock, memory state) and judge it."""
    loaded = load_flow(case.flow_path, registry)
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
        details.extend(_judge(observed, node.messages))
    if not case.allow_errors:
        for node_id, counters in summary.counters.items():
            if counters.get("errors"):
                details.append(f"node '{node_id}' failed on {counters['errors']} message(s) (see the log above; "
                               "'allow_errors: true' accepts this)")
    return Outcome(case, not details, details)


# Judging ------------------------------------------------------------------------------------------


def same(expected: Any, actual: Any) -> bool:
    """Compare JSON values; numbers within 1e-6 (event times are sums of floats)."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return math.isclose(expected, actual, rel_tol=1e-12, abs_tol=1e-6)
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(same(value, actual[key]) for key, value in expected.items())
    if isinstance(expected, list | tuple) and isinstance(actual, list | tuple):
        return len(expected) == len(actual) and all(same(e, a) for e, a in zip(expected, actual, strict=True))
    return bool(expected == actual)


def project(msg: Message, shape: dict[str, Any]) -> dict[str, Any]:
    """Keep of ``msg`` what ``shape`` (an expected message) compares: topic, payload, listed meta keys."""
    shown: dict[str, Any] = {}
    if "topic" in shape:
        shown["topic"] = msg.topic
    if "payload" in shape:
        shown["payload"] = msg.payload
    if "meta" in shape:
        shown["meta"] = {key: msg.meta.get(key) for key in shape["meta"]}
    return shown


def _default_shape(expected: list[dict[str, Any]]) -> dict[str, Any]:
    shape: dict[str, Any] = {}
    meta: dict[str, None] = {}
    for entry in expected:
        shape.update(dict.fromkeys(key for key in entry if key != "meta"))
        meta.update(dict.fromkeys(entry.get("meta", {})))
    if not shape and not meta:
        return {"topic": None, "payload": None, "meta": {"ts": None}}
    if meta:
        shape["meta"] = meta
    return shape


def _plain(value: Any) -> Any:
    """``62.0`` as ``62`` for display, so a diff shows only real differences."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {key: _plain(member) for key, member in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(member) for member in value]
    return value


def _line(value: Any) -> str:
    return orjson.dumps(_plain(value), option=orjson.OPT_SORT_KEYS, default=str).decode()


def first_difference(expected: Any, actual: Any, path: str = "") -> str | None:
    """Return ``path: expected X, got Y`` for the first place two JSON values differ, or None."""
    if same(expected, actual):
        return None
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in sorted(expected.keys() | actual.keys(), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in actual:
                return f"{where}: expected {_line(expected[key])}, missing"
            if key not in expected:
                return f"{where}: not expected, got {_line(actual[key])}"
            found = first_difference(expected[key], actual[key], where)
            if found is not None:
                return found
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        for index, (e, a) in enumerate(zip(expected, actual, strict=True)):
            found = first_difference(e, a, f"{path}[{index}]")
            if found is not None:
                return found
    return f"{path or 'value'}: expected {_line(expected)}, got {_line(actual)}"


def _judge(observed: Observed, messages: list[Message]) -> Iterator[str]:
    expected = observed.expected
    fallback = _default_shape(expected)
    shapes = [expected[index] if index < len(expected) else fallback for index in range(len(messages))]
    actual = [project(msg, shape) for msg, shape in zip(messages, shapes, strict=True)]
    if len(actual) == len(expected) and all(same(e, a) for e, a in zip(expected, actual, strict=True)):
        return
    where = f"at '{observed.label}'"
    if len(actual) != len(expected):
        yield f"{where}: expected {len(expected)} message(s), got {len(actual)}"
    else:
        wrong = next(index for index, (e, a) in enumerate(zip(expected, actual, strict=True)) if not same(e, a))
        yield f"{where}: message {wrong + 1} differs: {first_difference(expected[wrong], actual[wrong])}"
    diff = difflib.unified_diff([_line(e) for e in expected], [_line(a) for a in actual],
                                "expected", "actual", lineterm="", n=2)
    yield from ("  " + line for line in diff)


# Command line -------------------------------------------------------------------------------------


def discover(paths: Sequence[Path]) -> list[Path]:
    """Return the test files named or found (recursively, ``*.test.yaml``) under ``paths``, sorted.

    Raises:
        FileNotFoundError: A path does not exist.
    """
    found: dict[Path, None] = {}
    for path in paths:
        if path.is_dir():
            for pattern in PATTERNS:
                found.update(dict.fromkeys(p for p in sorted(path.rglob(pattern))
                                           if ".flowengine" not in p.parts))
        elif path.is_file():
            found[path] = None
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
    return sorted(found)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flowengine test",
        description="Run flow unit tests (*.test.yaml): inputs or a capture, expected messages at named "
                    "nodes, on a virtual clock with memory state. Format: docs/rules.md.")
    parser.add_argument("paths", nargs="*", type=Path, default=[Path()], metavar="PATH",
                        help="test files, or folders searched for *.test.yaml (default: .)")
    parser.add_argument("-k", dest="keyword", help="only tests whose 'file::name' contains this text")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only failures and the summary")
    return parser


def main(argv: list[str]) -> int:
    """Run the tests in ``argv``'s paths; print results; return 0 when all passed, else 1."""
    args = _parser().parse_args(argv)
    out = sys.stdout
    try:
        files = discover(args.paths)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=out)
        return 1
    try:
        registry = Registry.from_entry_points()
    except RegistryError as exc:
        print(f"error: {exc}", file=out)
        return 1
    passed = failed = 0
    for path in files:
        try:
            cases = read_test_file(path)
        except TestFileError as exc:
            failed += 1
            print(f"ERROR {path}", file=out)
            for issue in exc.issues:
                print(f"      {issue}", file=out)
            continue
        for case in cases:
            if args.keyword and args.keyword not in case.title:
                continue
            outcome = run_case(case, registry)
            if outcome.passed:
                passed += 1
                if not args.quiet:
                    print(f"ok    {case.title}", file=out)
                continue
            failed += 1
            print(f"FAIL  {case.title}  ({case.file}:{case.position.line})", file=out)
            for line in outcome.details:
                print(f"      {line}", file=out)
    if not files:
        print("no test files found (*.test.yaml)", file=out)
    print(f"{passed} passed, {failed} failed", file=out)
    return 0 if failed == 0 and passed > 0 else 1
