"""Reports generated and decoded by the reference packages themselves (see oracle/README.md)."""

from __future__ import annotations

from typing import Any

import pytest

from flowengine_nodes.devices.decoder import Decoder
from tests.nodes.decode.conftest import load_cases

GENERATED: dict[str, dict[str, Any]] = {
    "generated_legacy_true": {"compat": 1, "legacy": True},
    "generated_legacy_false": {"compat": 1, "legacy": False},
    "generated_z2m2": {"compat": 2},
}


@pytest.mark.parametrize("stem", list(GENERATED))
def test_generated_reference_cases(stem: str) -> None:
    decoder = Decoder(cache_state=False, **GENERATED[stem])
    cases = load_cases(stem)
    mismatches = []
    for number, case in enumerate(cases, start=1):
        result = decoder.decode(case["input"])
        got = {"error": True} if result.error else result.payload
        if got != case["expected"]:
            mismatches.append(f"line {number}: {case['input']['frame']} got {got} expected {case['expected']}")
    assert len(cases) > 1000
    assert not mismatches, "\n".join(mismatches[:20])
