"""What a flow test is once read: its input steps, what it observes, and the verdict of a run."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal

from flowengine.loader import Position
from flowengine.message import Message
from flowengine.node import OUT_PORT


class TestFileError(Exception):
    """A test file is malformed; ``issues`` are ``file:line:col: message`` lines."""

    def __init__(self, issues: list[str]) -> None:
        self.issues = issues
        super().__init__("\n".join(issues))


@dataclasses.dataclass(frozen=True)
class Step:
    """One input step: a message for a port of the test's input node, or time moving on.

    ``port`` is ``out`` (where the flow's sources would send) or ``to:<node id>``.
    """

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
    """One test of a test file, parsed and checked.

    ``steps`` is None when the test replays a capture (or the flow's own) through the flow's
    replaying sources instead of feeding messages.
    """

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
    """The result of one test: passed or not, and why not (one line per reason)."""

    case: TestCase
    passed: bool
    details: list[str] = dataclasses.field(default_factory=list)
