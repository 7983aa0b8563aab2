"""The long fuzz run of flow and secrets files (issue 19, acceptance 1).

Mutates the repository's flows (flows/, examples/) and a secrets file with the seeded
mutator of ``tests/fuzz/mutator.py`` and checks every case as the fuzz tests do: no
traceback, exit code 0 or 1, every error line positioned, no secret printed, under 5 s.
Prints the count of cases, of each outcome, and the distinct error messages (numbers and
quoted names folded). Run: ``.venv/bin/python benchmarks/fuzz_flows.py [--cases 2000] [--seeds 0 1 2 3]``.
"""

from __future__ import annotations

import argparse
import collections
import re
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the mutator lives with the fuzz tests
from tests.fuzz.mutator import cases, check_case, error_message

POSITIONED = re.compile(r"^.+:\d+:\d+: ")


def main() -> None:
    """Run the cases and print the summary."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=2000, help="total cases, shared between the seeds")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    args = parser.parse_args()
    per_seed = args.cases // len(args.seeds)
    statuses: collections.Counter[int] = collections.Counter()
    messages: collections.Counter[str] = collections.Counter()
    problems: list[str] = []
    slowest = 0.0
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        for seed in args.seeds:
            for index, (flow, secrets) in enumerate(cases(seed, per_seed)):
                outcome = check_case(directory, flow, secrets)
                statuses[outcome.status] += 1
                slowest = max(slowest, outcome.seconds)
                for line in outcome.lines:
                    if POSITIONED.match(line) and ": warning: " not in line:
                        messages[error_message(line)] += 1
                problems.extend(f"seed {seed} case {index}: {problem}" for problem in outcome.problems)
    total = sum(statuses.values())
    print(f"{total} mutated flows, seeds {args.seeds}, {time.perf_counter() - began:.0f} s")
    other = total - statuses[0] - statuses[1]
    print(f"exit 0 (valid): {statuses[0]}, exit 1 (bad flow): {statuses[1]}, other: {other}")
    print(f"problems (traceback, unpositioned line, secret printed, over 5 s): {len(problems)}")
    for problem in problems[:20]:
        print(f"  {problem}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"slowest case: {slowest * 1000:.0f} ms; peak RSS {peak} MB")
    print(f"\n{len(messages)} distinct error messages (count, message):")
    for message, count in messages.most_common():
        print(f"{count:6}  {message}")


if __name__ == "__main__":
    main()
