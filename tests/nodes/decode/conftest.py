"""Shared data for the decoder tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

VECTORS = Path(__file__).resolve().parents[2] / "data" / "vectors"

#: Vector file -> the decoder options of the mode it is for (LOCK.md "Test data").
MODES: dict[str, dict[str, Any]] = {
    "znms_legacy_true": {"compat": 1, "legacy": True},
    "znms_legacy_false": {"compat": 1, "legacy": False},
    "znms_z2m2": {"compat": 2},
}


def load_cases(stem: str) -> list[dict[str, Any]]:
    """Return the cases of one vector file, in order."""
    path = VECTORS / f"{stem}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
