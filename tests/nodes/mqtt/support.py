"""Helpers for the MQTT node tests: build nodes with a real context, drive them, read what arrived."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from pathlib import Path
from typing import Any

from flowengine import ERRORS_PORT, Message, NodeContext, StateStore, WallClock
from flowengine.supervision import Backoff
from flowengine_nodes.mqtt.mqtt_in import MqttIn, MqttInConfig
from flowengine_nodes.mqtt.mqtt_out import MqttOut, MqttOutConfig

#: Reconnect quickly: the tests stop and start brokers.
FAST = Backoff(base=0.05, cap=0.3, permanent=0.2)


def context(tmp_path: Path, node_id: str, store: StateStore | None = None) -> NodeContext:
    return NodeContext(
        node_id=node_id,
        flow_name="test",
        flow_dir=tmp_path,
        clock=WallClock(),
        state=(store or StateStore(None)).node(node_id),
        logger=logging.getLogger(f"test.mqtt.{node_id}"),
    )


class Wired:
    """What a node emitted, per port."""

    def __init__(self) -> None:
        self.ports: dict[str, list[Message]] = {}

    def bind(self, node: Any, *ports: str) -> None:
        for port in (*ports, ERRORS_PORT):
            node.bind_output(port, self.ports.setdefault(port, []).append)

    def __getitem__(self, port: str) -> list[Message]:
        return self.ports.setdefault(port, [])


class FastMqttOut(MqttOut):
    """mqtt-out reconnecting on :data:`FAST` (``backoff`` is a class-level setting of the node)."""

    backoff = FAST


class FastMqttIn(MqttIn):
    """mqtt-in reconnecting on :data:`FAST` (``backoff`` is a class-level setting of the node)."""

    backoff = FAST


def mqtt_out(tmp_path: Path, node_id: str = "out", *, store: StateStore | None = None, **config: Any) -> MqttOut:
    return FastMqttOut(MqttOutConfig.model_validate(config), context(tmp_path, node_id, store))


def mqtt_in(tmp_path: Path, node_id: str = "in", **config: Any) -> MqttIn:
    return FastMqttIn(MqttInConfig.model_validate(config), context(tmp_path, node_id))


def messages(topic: str, payloads: list[Any]) -> list[Message]:
    return [Message(topic, payload, {}) for payload in payloads]


class LogWatch(logging.Handler):
    """Collects log records of one logger and lets a test wait for a matching one."""

    def __init__(self, logger_name: str) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._condition = threading.Condition()
        self._logger = logging.getLogger(logger_name)

    def __enter__(self) -> LogWatch:
        self._logger.addHandler(self)
        self._previous = self._logger.level
        self._logger.setLevel(logging.DEBUG)
        return self

    def __exit__(self, *exc: object) -> None:
        self._logger.removeHandler(self)
        self._logger.setLevel(self._previous)

    def emit(self, record: logging.LogRecord) -> None:
        with self._condition:
            self.records.append(record)
            self._condition.notify_all()

    def at(self, level: int) -> list[logging.LogRecord]:
        return [r for r in self.records if r.levelno == level]


class Collector:
    """An emitter that keeps messages and lets a coroutine wait until enough have come."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._grew = asyncio.Event()

    def __call__(self, msg: Message) -> None:
        self.messages.append(msg)
        self._grew.set()

    async def wait(self, count: int, within: float = 20.0) -> list[Message]:
        async with asyncio.timeout(within):
            while len(self.messages) < count:
                self._grew.clear()
                await self._grew.wait()
        return self.messages


async def cancel(task: asyncio.Task[Any]) -> None:
    """Cancel a task and wait for it to end."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
