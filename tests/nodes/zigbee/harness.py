"""Test harness: a ``zigbee`` node driven directly, against the emulator, over real TCP.

The node runs the real zigpy + zigpy-deconz stack; its two ports are bound to queues so
tests await what they expect (with a timeout) instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flowengine import Message, NodeContext, StateStore, WallClock
from flowengine_nodes.emulator.devices import LumiLock
from flowengine_nodes.emulator.server import Emulator
from flowengine_nodes.emulator.stick import StickState
from flowengine_nodes.zigbee.source import Zigbee, ZigbeeConfig

LOCK_IEEE = "00:15:8d:00:01:02:03:04"
LOCK_NWK = 0x1A2B
TIMEOUT = 15.0


def make_lock(name: str = "front_door", *, model: str = "lumi.lock.aq1", ieee: str = LOCK_IEEE,
              nwk: int = LOCK_NWK) -> LumiLock:
    return LumiLock(name, ieee=ieee, nwk=nwk, model=model)


def formed_emulator(directory: Path, *devices: LumiLock) -> Emulator:
    """An emulator whose stick (kept in ``directory``) is already formed: zigpy starts in ms."""
    stick = StickState.load(directory / "stick.json")
    if not stick.formed:
        stick.form(channel=15)
        stick.save()
    return Emulator(stick=stick, devices=devices)


class Watcher:
    """Collects a port's messages; lets a test await the next one matching a predicate."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._changed = asyncio.Event()

    def __call__(self, msg: Message) -> None:
        self.messages.append(msg)
        self._changed.set()

    async def wait_for(self, predicate: Callable[[Message], bool], *, start: int = 0,
                       deadline: float = TIMEOUT) -> Message:
        """Return the first message from index ``start`` on that matches ``predicate``."""
        async with asyncio.timeout(deadline):
            index = start
            while True:
                while index < len(self.messages):
                    msg = self.messages[index]
                    index += 1
                    if predicate(msg):
                        return msg
                self._changed.clear()
                await self._changed.wait()

    async def wait_count(self, count: int, *, deadline: float = TIMEOUT) -> list[Message]:
        """Wait until at least ``count`` messages arrived; return them all."""
        async with asyncio.timeout(deadline):
            while len(self.messages) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.messages


class Running:
    """A started ``zigbee`` node with its ``run`` task; use ``async with``."""

    def __init__(self, directory: Path, node_id: str = "radio", **config: Any) -> None:
        self.config = ZigbeeConfig.model_validate(config)
        self.store = StateStore(None)
        self.context = NodeContext(node_id=node_id, flow_name="test", flow_dir=directory, clock=WallClock(),
                                   state=self.store.node(node_id))
        self.node = Zigbee(self.config, self.context)
        self.out = Watcher()
        self.events = Watcher()
        self.node.bind_output("out", self.out)
        self.node.bind_output("events", self.events)
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Running:
        await self.node.start()
        self._task = asyncio.create_task(self.node.run(), name="zigbee-node-run")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.node.aclose()
        self.store.close()

    async def wait_connected(self, *, start: int = 0) -> Message:
        """Wait for the coordinator ``connected`` event."""
        return await self.events.wait_for(
            lambda m: m.payload["event"] == "coordinator" and m.payload["state"] == "connected", start=start)

    async def wait_event(self, event: str, *, start: int = 0, deadline: float = TIMEOUT) -> Message:
        return await self.events.wait_for(lambda m: m.payload["event"] == event, start=start, deadline=deadline)


async def join_and_interview(emulator: Emulator, running: Running, name: str = "front_door") -> None:
    """Wait until zigpy is up, let ``name`` join, and wait until zigpy has interviewed it."""
    await running.wait_connected()
    await emulator.wait_host_ready()
    emulator.join(name)
    await running.wait_event("device_interviewed")
