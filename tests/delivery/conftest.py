"""Fixtures of the delivery tests: the suite's own Mosquitto brokers and subscribers."""

from tests.mosquitto import *  # noqa: F403 - pytest fixtures
