"""Reading a test file (``*.test.yaml``): every problem found at once, each with its position.

The format is described in ``docs/rules.md`` (``flowengine test``). Reading checks the file
alone; whether the flow has the nodes and ports a test names is checked when the test runs.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, TypeGuard

from flowengine.flowtest.cases import Observed, Step, TestCase, TestFileError
from flowengine.flowtest.inputs import report_message
from flowengine.loader import Document, YamlPath, load_yaml
from flowengine.message import Message
from flowengine.node import OUT_PORT
from flowengine.redaction import expand, redact

#: The keys of one test.
TEST_KEYS = ("name", "capture", "input", "at", "at_end", "expect", "allow_errors")
#: The keys of one input message.
INPUT_MESSAGE_KEYS = ("topic", "payload", "meta", "ts", "at")


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
                steps.append(Step(previous, report_message(record), port))
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
