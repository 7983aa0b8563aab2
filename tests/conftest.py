"""Suite-wide fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowengine.registry import Registry
from flowengine.testing import registry_with_capture

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def registry() -> Registry:
    """The installed node types plus the test-only ``capture`` sink."""
    return registry_with_capture()


@pytest.fixture
def repo() -> Path:
    """The repository root."""
    return REPO
