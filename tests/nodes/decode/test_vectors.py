"""Every public reference vector decodes exactly as the reference published it (cache off)."""

from __future__ import annotations

from typing import Any

import pytest

from flowengine_nodes.devices.decoder import Decoder
from tests.nodes.decode.conftest import MODES, load_cases

CASES = [
    pytest.param(stem, case, id=f"{stem}:{number}")
    for stem in MODES
    for number, case in enumerate(load_cases(stem), start=1)
]


@pytest.mark.parametrize(("stem", "case"), CASES)
def test_vector(stem: str, case: dict[str, Any]) -> None:
    decoder = Decoder(cache_state=False, **MODES[stem])
    result = decoder.decode(case["input"])
    expected = case["expected"]
    if expected == {"error": True}:
        assert result.error is not None
        assert result.payload is None
    else:
        assert result.error is None
        assert result.payload == expected


def test_every_file_has_cases() -> None:
    assert all(len(load_cases(stem)) == 41 for stem in MODES)
