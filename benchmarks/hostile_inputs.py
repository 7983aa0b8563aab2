"""Hostile inputs cost little: alias bombs, expression bombs and backtracking regexes (issue 19).

Prints, for each: wall time, and the growth of peak RSS in this process. The acceptance:
each bomb ends in under 1 s with one line and under 200 MB; a nested-quantifier regex on a
40-character device string delays other messages by no more than 10 ms.
Run: ``.venv/bin/python benchmarks/hostile_inputs.py``.
"""

from __future__ import annotations

import io
import re
import resource
import tempfile
import time
from contextlib import redirect_stdout
from pathlib import Path

from flowengine.cli import main
from flowengine.expressions import ValueTooLargeError, compile_expression
from flowengine.message import Message

FLOW = """version: 1
state: memory
nodes:
  - id: src
    type: zigbee-replay
    path: c.jsonl
    wires: [f]
  - id: f
    type: filter
    when: "{when}"
"""


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bomb(levels: int) -> str:
    lines = ["version: 1", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, levels)]
    return "\n".join([*lines, f"nodes: *a{levels - 1}"]) + "\n"


def validate(directory: Path, text: str) -> tuple[float, float, list[str], int]:
    flow = directory / "flow.yaml"
    flow.write_text(text)
    before, began = peak_mb(), time.perf_counter()
    out = io.StringIO()
    with redirect_stdout(out):
        status = main(["validate", str(flow)])
    return time.perf_counter() - began, peak_mb() - before, out.getvalue().splitlines(), status


def main_bench() -> None:
    """Run each hostile case once and print what it cost."""
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        cases = {
            "alias bomb, 10 levels (356-byte class, 10^10 nodes)": bomb(10),
            "alias bomb, 11 levels": bomb(11),
            "constant [('x'*99999)]*99999 under json()": FLOW.format(when="len(json([('x' * 99999)] * 99999)) > 0"),
            "[ nested 1000 deep": "version: 1\nnodes: " + "[" * 1000 + "]" * 1000 + "\n",
        }
        for name, text in cases.items():
            seconds, grown, lines, status = validate(directory, text)
            print(f"{name:55} {seconds * 1000:8.1f} ms  +{grown:6.1f} MB  exit {status}  {len(lines)} line(s)")
            print(f"    {lines[0][lines[0].find(':') + 1:]}")
    expression = compile_expression("len(json([payload.s] * payload.n)) > 0")
    msg = Message("t", {"s": "x" * 99_999, "n": 99_999}, {})
    before, began = peak_mb(), time.perf_counter()
    try:
        expression(msg)
    except ValueTooLargeError as exc:
        refused = str(exc)
    print(f"{'run time [payload.s]*99999 under json()':55} {(time.perf_counter() - began) * 1000:8.1f} ms  "
          f"+{peak_mb() - before:6.1f} MB  {refused}")

    hostile = "a" * 40 + "!"
    matcher = compile_expression("matches(payload.model, '(a+)+$')")
    calls = [Message("t", {"model": hostile}, {}), Message("t", {"model": "lumi.lock.aq1"}, {})] * 5_000
    costs = []
    for message in calls:
        began = time.thread_time()  # CPU time: other programs on a shared machine do not count
        matcher(message)
        costs.append(time.thread_time() - began)
    costs.sort()
    print(f"{'(a+)+$ on 40 chars + !, RE2, 10,000 calls (CPU)':55} median {costs[len(costs) // 2] * 1e6:.1f} µs, "
          f"worst {costs[-1] * 1e6:.1f} µs")
    for length in (18, 20, 22):
        began = time.perf_counter()
        re.compile("(a+)+$").search("a" * length + "!")
        label = f"  for comparison: Python re on {length} chars + !"
        print(f"{label:55} {(time.perf_counter() - began) * 1000:8.1f} ms")


if __name__ == "__main__":
    main_bench()
