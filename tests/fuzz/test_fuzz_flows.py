"""Fuzz (small, fixed budget): mutated flow and secrets files end in positioned lines, fast, with no secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz.mutator import SEEDS, cases, check_case

#: Cases per seed in CI; benchmarks/fuzz_flows.py runs thousands.
BUDGET = 60


def test_the_seed_flows_are_found() -> None:
    assert len(SEEDS) >= 5


@pytest.mark.parametrize("seed", [1, 2])
def test_mutated_flows_never_crash_stall_or_leak(tmp_path: Path, seed: int) -> None:
    failures = []
    for index, (flow, secrets) in enumerate(cases(seed, BUDGET)):
        outcome = check_case(tmp_path, flow, secrets)
        if outcome.problems:
            failures.append(f"seed {seed} case {index}: {outcome.problems}")
    assert not failures, "\n".join(failures[:10])
