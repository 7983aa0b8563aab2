"""The one exception root of flowengine and its data-bearing leaves."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]

#: Exit code of a command that found a bad flow, test file or input (CONTRACT §7).
EXIT_BAD_INPUT = 1
#: Exit code when flowengine itself failed (an unexpected exception): a bug, not bad input.
#: 70 is ``EX_SOFTWARE`` of BSD's sysexits.h.
EXIT_INTERNAL_ERROR = 70


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem found in a flow file, with its position.

    ``line`` and ``column`` are 1-based, as editors show them. ``path`` is the YAML path
    of the offending value (``("nodes", 2, "legasy")``) and ``code`` a short stable
    identifier for tests and tools (``unknown-key``, ``cycle``, …).
    """

    file: str
    line: int
    column: int
    message: str
    code: str = "invalid"
    path: tuple[str | int, ...] = ()
    severity: Severity = "error"

    def __str__(self) -> str:
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{self.file}:{self.line}:{self.column}: {prefix}{self.message}"


class FlowError(Exception):
    """Root of every error flowengine raises on purpose."""


class ConfigError(FlowError):
    """A flow (or several) failed to load or validate; ``issues`` lists every problem found."""

    def __init__(self, issues: Sequence[Issue]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))


class NodeError(FlowError):
    """A node failed; ``node_id`` names it."""

    def __init__(self, node_id: str, message: str) -> None:
        self.node_id = node_id
        super().__init__(f"node '{node_id}': {message}")


class StateFileError(FlowError):
    """A flow's state file cannot be used (corrupt, not a database): the run does not start.

    Never reset silently: the message names the file and how to move it aside.
    """

    def __init__(self, path: object, reason: str) -> None:
        self.path = path
        super().__init__(f"state file {path} cannot be used ({reason}); nothing was changed. Move it aside "
                         f"to start with empty state (mv '{path}' '{path}.corrupt'), or restore a backup")


class StateFileUnavailableError(FlowError):
    """A flow's state file cannot be opened for now (a read-only folder, a full disk): the run waits.

    Not damage: the file (if any) is sound, the storage under it refuses writes. The runner
    tries again until it opens, so the flow starts by itself once the condition is gone.
    """

    def __init__(self, path: object, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"state file {path} cannot be opened: {reason} (is its folder writable? is there space "
                         f"left?)")
