"""The SIGKILL matrix, short form: real runner processes killed at random moments, nothing lost.

The long form (20 kills per row, bigger inputs) is ``benchmarks/sigkill_matrix.py``.
"""

from __future__ import annotations

import random
from pathlib import Path

from tests.delivery.harness import replay_to_file


def test_replay_to_file_loses_nothing_across_sigkills(tmp_path: Path) -> None:
    """replay (resume, speed 0) → file: 3 SIGKILLs at random lines, every record in the file at the end."""
    seed = random.randrange(1 << 30)
    tally = replay_to_file(tmp_path, 20_000, 3, random.Random(seed))
    print(tally.line(f"replay → file (seed {seed})"))
    assert tally.lost == [], f"seed {seed}"
    assert tally.kills >= 1, "no kill hit a running runner: the row tested nothing"
