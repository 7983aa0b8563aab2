"""Fixtures of the migration tests: the suite's own Mosquitto (tests/mosquitto.py)."""

from tests.mosquitto import *  # noqa: F403 - re-exports the broker and subscriber fixtures
