"""Suite-wide fixtures."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowengine.registry import Registry
from flowengine.testing import registry_with_capture
from tests.leaks import no_leaks  # noqa: F401 - the autouse guard against leaked tasks, threads, files

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    """Declare the suite's markers."""
    config.addinivalue_line("markers", "allow_leaks(*kinds): the test keeps 'tasks', 'threads' or 'fds' on purpose")


@pytest.fixture(scope="session")
def registry() -> Registry:
    """The installed node types plus the test-only ``capture`` sink."""
    return registry_with_capture()


@pytest.fixture
def repo() -> Path:
    """The repository root."""
    return REPO


@pytest.fixture(autouse=True)
def _root_logging_restored() -> Iterator[None]:
    """Give the next test the root logger as this one found it.

    ``flowengine.cli.main`` called in-process configures logging as the command does: its
    handler on the root logger, and the root's level from ``--log-level``. Left behind,
    ``--log-level error`` hides the warnings a later test reads through ``caplog``.
    """
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    root.setLevel(level)
    root.handlers[:] = handlers
