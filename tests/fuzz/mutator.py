"""A seeded mutator of flow files, secrets files and raw frames, and a checker of what the CLI prints.

Used twice: by the fuzz tests (a small fixed budget, in CI) and by ``benchmarks/fuzz_flows.py``
(thousands of cases, several seeds). A case is a folder holding a mutated ``flow.yaml``, a
``secrets.yaml`` whose values all hold :data:`MARKER`, and the captures the flow names; it
is checked by running ``validate`` and ``graph`` in this process: no traceback, no exit code
but 0 and 1, every line ``ok`` or ``file:line:col: …``, no secret in the output, and a time
limit.
"""

from __future__ import annotations

import io
import os
import random
import re
import shutil
import signal
import time
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from flowengine.cli import main

REPO = Path(__file__).resolve().parents[2]
#: Every secret holds this text; it must never be printed.
MARKER = "Zq7SecretMarker"
SECRET_ENV = "FUZZ_BROKER_PASSWORD"  # a secret environment variable (its name says so)

SEEDS = sorted(p for p in [*REPO.glob("flows/*.yaml"), *REPO.glob("examples/*/flow.yaml")])
SECRETS = (
    f"model: lumi.{MARKER}.lock\nduration: 5{MARKER}\ntopic: alerts/#/{MARKER}\nversion: v{MARKER}\n"
    f"url: mqtt://flow:{MARKER}/a@b:c@broker.invalid:99999\nname: door {MARKER}\nnumber: 12{MARKER}\n"
    f"list: [a{MARKER}, b{MARKER}]\nmapping: {{k: {MARKER}}}\n"
)
SECRET_KEYS = ("model", "duration", "topic", "version", "url", "name", "number", "list", "mapping")

#: Scalars that once made the loader, the checker or the expression compiler crash or stall.
HOSTILE_SCALARS = (
    "2001-13-45", "!!int 0x", "!!float x", "!!binary ==", "!!timestamp x", "1" + "0" * 400, "-1e999", ".nan",
    "${FUZZ_DATE}", "${NOT_SET}", "${" + SECRET_ENV + "}", "~nouser/state.db", "!foo x", "!secret nothing",
    "{out: 5}", "[[[[[[", "]]]", "*undefined", "&a", "<<: *a", "'\\x00'", '"\\ud800"', "yes", "null",
    "\"len(json([('x' * 99999)] * 99999)) > 0\"", "\"matches(payload.s, '(a+)+$')\"", "\"matches(x, '(a)\\\\1')\"",
    "\"{{ json([('w' * 99999)] * 99) }}\"", "\"payload.__class__\"", "\"(lambda: 1)()\"", "\"" + "(" * 200 + "\"",
    "!secret " + " ", *(f"!secret {key}" for key in SECRET_KEYS),
)
HOSTILE_LINES = (
    "nodes: " + "[" * 1000 + "]" * 1000,
    "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\na1: &a1 [" + ", ".join(["*a0"] * 10) + "]\na2: &a2 ["
    + ", ".join(["*a1"] * 10) + "]\na3: &a3 [" + ", ".join(["*a2"] * 10) + "]\na4: [" + ", ".join(["*a3"] * 10) + "]",
    "  - id: x\n    type: delay\n    for: " + "9" * 5000,
    "  - <<: *a",
    "state: ~nobody-here/x.db",
    "version: !secret version",
    "\t- id: tab",
    "%YAML 1.1\n---",
    "--- !!python/object:os.system\n...",
)


@dataclass
class Outcome:
    """What one case printed and how it ended."""

    status: int
    lines: list[str]
    seconds: float
    problems: list[str] = field(default_factory=list)


class Mutator:
    """Seeded mutations of flow texts, secrets texts and frames."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.texts = [path.read_bytes() for path in SEEDS]

    def flow(self) -> bytes:
        """A mutated flow file: one to six mutations of one of the repository's flows."""
        data = self.rng.choice(self.texts)
        for _ in range(self.rng.randint(1, 6)):
            data = self._mutate(data)
        return data

    def secrets(self) -> bytes:
        """The secrets file, mutated one time in four."""
        data = SECRETS.encode()
        if self.rng.random() < 0.25:
            data = self._bytes(data)
        return data

    def _mutate(self, data: bytes) -> bytes:
        choice = self.rng.random()
        if choice < 0.35:
            return self._scalar(data)
        if choice < 0.5:
            return self._line(data)
        if choice < 0.6:
            return self._bytes(data)
        if choice < 0.7:
            return self._swap_or_drop(data)
        if choice < 0.8:
            return data.replace(b"  ", b"   ", 1) if self.rng.random() < 0.5 else data.replace(b"    ", b"  ", 1)
        lines = data.split(b"\n")
        index = self.rng.randrange(len(lines))
        lines.insert(index, lines[self.rng.randrange(len(lines))])  # a duplicated line (key, node)
        return b"\n".join(lines)

    def _scalar(self, data: bytes) -> bytes:
        """Replace the value of one ``key: value`` line by a hostile scalar."""
        lines = data.split(b"\n")
        candidates = [i for i, line in enumerate(lines) if re.match(rb"^\s*-?\s*[A-Za-z_]+: \S", line)]
        if not candidates:
            return data
        index = self.rng.choice(candidates)
        key = lines[index].split(b":", 1)[0]
        lines[index] = key + b": " + self.rng.choice(HOSTILE_SCALARS).encode()
        return b"\n".join(lines)

    def _line(self, data: bytes) -> bytes:
        lines = data.split(b"\n")
        lines.insert(self.rng.randrange(len(lines) + 1), self.rng.choice(HOSTILE_LINES).encode())
        return b"\n".join(lines)

    def _bytes(self, data: bytes) -> bytes:
        buffer = bytearray(data)
        for _ in range(self.rng.randint(1, 4)):
            position = self.rng.randrange(len(buffer) + 1)
            kind = self.rng.random()
            if kind < 0.4:
                buffer[position:position] = bytes([self.rng.choice([0xFF, 0xC3, 0x80, 0x00, 0x07, 0xE2, 0x1B])])
            elif kind < 0.7 and buffer:
                buffer[min(position, len(buffer) - 1)] = self.rng.randrange(256)
            elif buffer:
                del buffer[position : position + self.rng.randint(1, 40)]
        return bytes(buffer)

    def _swap_or_drop(self, data: bytes) -> bytes:
        lines = data.split(b"\n")
        if len(lines) < 2:
            return data
        first, second = self.rng.randrange(len(lines)), self.rng.randrange(len(lines))
        if self.rng.random() < 0.5:
            lines[first], lines[second] = lines[second], lines[first]
        else:
            del lines[first]
        return b"\n".join(lines)

    def frame(self) -> bytes:
        """A raw frame: a report header and up to 2 KB of mutated payload."""
        header = bytes([self.rng.choice([0x18, 0x1C, 0x19, 0x10, 0x08]), self.rng.randrange(256),
                        self.rng.choice([0x0A, 0x01, 0x00, 0x02, 0x0B, 0x05, 0x06])])
        body = bytearray(self.rng.randbytes(self.rng.randint(0, 64)))
        for _ in range(self.rng.randint(0, 6)):
            body[self.rng.randrange(len(body) + 1):0] = self.rng.choice(
                [b"\x48\x00\xfe\xff", b"\x4c\xff\x00", b"\x42\xfe", b"\x48\x48\x01\x00", b"\x01\xff\x42\xfe",
                 b"\xf0", b"\xf1", b"\x44\xff\xff"])
        return (header + bytes(body))[:2048]


class _TooSlow(Exception):
    pass


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise _TooSlow


def check_case(directory: Path, flow: bytes, secrets: bytes, *, limit: float = 5.0) -> Outcome:
    """Validate and graph one case in this process; return what it printed and the problems seen."""
    for path in directory.iterdir():
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    (directory / "flow.yaml").write_bytes(flow)
    (directory / "secrets.yaml").write_bytes(secrets)
    (directory / "capture.jsonl").write_text("")
    os.environ[SECRET_ENV] = f"pw{MARKER}/x@y:z"
    os.environ["FUZZ_DATE"] = "2001-13-45"
    out, err = io.StringIO(), io.StringIO()
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    began = time.perf_counter()
    problems: list[str] = []
    status = -1
    try:
        with redirect_stdout(out), redirect_stderr(err):
            status = main(["validate", str(directory / "flow.yaml")])
            if status == 0:
                status = main(["graph", str(directory / "flow.yaml")])
    except _TooSlow:
        problems.append(f"over {limit:.0f} s")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    seconds = time.perf_counter() - began
    text = out.getvalue() + err.getvalue()
    lines = out.getvalue().splitlines()
    if "Traceback" in text or status not in (0, 1):
        problems.append(f"exit {status}: {text[-300:]}")
    if MARKER in text:
        problems.append("a secret was printed")
    if status == 1:
        positioned = re.compile(r"^.+:\d+:\d+: .+$")
        bad = [line for line in lines if not positioned.match(line)]
        if bad or not lines:
            problems.append(f"lines without a position: {bad[:3] or '(none printed)'}")
    return Outcome(status, lines, seconds, problems)


def error_message(line: str) -> str:
    """The message of a ``file:line:col: message`` line with numbers and names folded (to count kinds)."""
    message = line.split(": ", 1)[1] if ": " in line else line
    message = re.sub(r"'[^']*'", "'…'", message)
    return re.sub(r"\d[\d,.]*", "N", message)


def cases(seed: int, count: int) -> Iterator[tuple[bytes, bytes]]:
    """``count`` (flow, secrets) pairs from ``seed``."""
    mutator = Mutator(seed)
    for _ in range(count):
        yield mutator.flow(), mutator.secrets()
