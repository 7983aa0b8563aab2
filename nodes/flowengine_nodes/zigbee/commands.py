"""Commands for the ``zigbee`` node: a message wired into it sets or reads one device.

The message names the device by ``meta.friendly_name`` or ``meta.ieee``, else by its topic
(``<base_topic>/<name>/set``, ``<base_topic>/<name>/set/<attribute>``, ``<base_topic>/<name>/get``,
or just the name or ieee); ``meta.command`` (``set``/``get``) overrides what the topic says, and the
default is ``set``. The payload is a Zigbee2MQTT ``/set`` or ``/get`` payload (an object, or its JSON
text, or a bare ``ON``/``OFF``/``TOGGLE``; for ``/set/<attribute>`` the value).

What is checked when the message arrives (refused at once: the engine routes it to ``errors`` and
logs it; nothing is sent): the payload parses, the coordinator is connected, the device is known to
zigpy and has a definition, and a ``set`` goes to a device with commands (a sensor has none). A
command that arrives before the coordinator's first connection waits for it instead (held, see
:meth:`Commander.connected`; the node's ``holding`` keeps what brought it unacknowledged meanwhile).
Accepted commands wait in one queue per device (``command_queue`` in all), each served one command
at a time, so a device's commands go out in order and no faster than it answers, while a device that
must wait does not hold up the others; one that waited longer than ``command_expiry`` is dropped and
counted (``commands_expired``), never sent late. Each runs through the definition's toZigbee
converters (:mod:`flowengine_nodes.devices.requests`): every frame goes through zigpy
(``Device.request``) and waits for its default or read response. Afterwards each failed key is one
message on ``errors`` (``meta.error``) and one log line naming device and command, and the optimistic
state, when there is one, leaves on ``state`` as the decode node shapes a device state
(topic ``<base_topic>/<friendly name>``, ``meta.friendly_name``, ``meta.model``, ``meta.ieee``).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from flowengine import ERRORS_PORT, Holding, Message, error_message
from flowengine_nodes.devices.definitions import Definition, default_registry
from flowengine_nodes.devices.requests import Kind, parse_request, run_request
from flowengine_nodes.devices.to_zigbee import CommandError, ZclRequest

if TYPE_CHECKING:
    from flowengine_nodes.zigbee.source import Zigbee

STATE_PORT = "state"
HA_PROFILE = 0x0104


class CommandRefused(ValueError):
    """A command refused on arrival (bad payload, unknown device, coordinator gone, queue full)."""


@dataclass(frozen=True, slots=True)
class PendingCommand:
    """A command accepted and waiting for its turn."""

    kind: Kind | Literal["permit_join"]
    ieee: str
    name: str
    definition: Definition | None
    request: dict[str, Any]
    taken: float
    origin: Message


def normal_ieee(text: str) -> str:
    """``0x00158d0001020304`` or ``00:15:8d:...`` (any case) -> ``00:15:8d:00:01:02:03:04``."""
    digits = text.lower().removeprefix("0x").replace(":", "")
    if len(digits) != 16 or any(c not in "0123456789abcdef" for c in digits):
        return text
    return ":".join(digits[i:i + 2] for i in range(0, 16, 2))


class ZigpyTarget:
    """Sends a converter's frames to one device through zigpy and waits for each answer."""

    def __init__(self, device: Any, timeout: float) -> None:
        self.device = device
        self.timeout = timeout
        self.manufacturer_code: int | None = getattr(device, "manufacturer_id", None)

    def _endpoint(self, cluster: int) -> int:
        for endpoint_id, endpoint in self.device.endpoints.items():
            if endpoint_id and cluster in getattr(endpoint, "in_clusters", {}):
                return int(endpoint_id)
        return 1

    async def send(self, request: ZclRequest) -> Mapping[int, Any]:
        """Send ``request``; return the read response's values; raise CommandError on no/bad answer."""
        device = self.device
        # A sequence number may repeat within seconds (8 bits, a burst): the stack lets an answer
        # that matches the waiting request through zigpy's duplicate filter (zigbee/stack.py).
        sequence = int(device.get_sequence()) & 0xFF
        try:
            reply = await device.request(
                profile=HA_PROFILE, cluster=request.cluster, src_ep=1, dst_ep=self._endpoint(request.cluster),
                sequence=sequence, data=request.to_bytes(sequence), expect_reply=request.expects_reply,
                timeout=self.timeout, retries=0,
            )
        except TimeoutError as exc:
            raise CommandError(f"Error: {request.name} got no answer within {self.timeout:g} s") from exc
        except Exception as exc:
            raise CommandError(f"Error: {request.name} failed ({type(exc).__name__}: {exc})") from exc
        if reply is None:
            return {}
        records = getattr(reply, "status_records", None)
        if records is not None:
            return {int(r.attrid): r.value.value for r in records if int(r.status) == 0 and r.value is not None}
        status = getattr(reply, "status", None)
        if status is not None and int(status) != 0:
            name = getattr(status, "name", str(status))
            raise CommandError(f"Error: {request.name} failed (Status '{name}')")
        return {}

    async def sleep(self, seconds: float) -> None:
        """Wait before a read-back (after a step's transition)."""
        await asyncio.sleep(seconds)


class Commander:
    """The command side of one ``zigbee`` node: checks, queue, execution, results."""

    def __init__(self, node: Zigbee, *, friendly_names: Mapping[str, str], base_topic: str, expiry: float,
                 timeout: float, capacity: int, homeassistant: bool = False) -> None:
        self.node = node
        self.base_topic = base_topic
        self.expiry = expiry
        self.timeout = timeout
        self.names = {normal_ieee(ieee): name for ieee, name in friendly_names.items()}
        self.by_name = {name: ieee for ieee, name in self.names.items()}
        self.capacity = capacity
        self.homeassistant = homeassistant
        #: One queue per device (key "" for network requests): a device that must wait does not hold
        #: up the others; within a device, commands keep their order.
        self.queues: dict[str, asyncio.Queue[PendingCommand]] = {}
        self._new_queues: asyncio.Queue[asyncio.Queue[PendingCommand]] = asyncio.Queue()
        self.waiting = 0  # taken, not started (the limit is on these)
        self.unfinished = 0  # taken, not yet run or dropped
        self._idle = asyncio.Event()
        self._idle.set()
        #: Commands that arrived before the coordinator's first connection, (arrival, message) in order;
        #: None from that connection on. See :meth:`connected`.
        self.held: deque[tuple[float, Message]] | None = deque()
        #: The held commands, for the acknowledgement of what brought them (the node's ``holding``).
        self.holding = Holding()
        self._held_arrived = asyncio.Event()
        self.states: dict[str, dict[str, Any]] = {}
        self.stores: dict[str, dict[str, Any]] = {}

    # ---- arrival --------------------------------------------------------------------------

    def _address(self, msg: Message) -> tuple[Kind, str, str | None]:
        parts = [part for part in msg.topic.split("/") if part]
        if parts and parts[0] == self.base_topic:
            parts = parts[1:]
        kind: Kind = "set"
        attribute = None
        if len(parts) >= 2 and parts[-1] in ("set", "get"):
            kind = "get" if parts[-1] == "get" else "set"
            parts = parts[:-1]
        elif len(parts) >= 3 and parts[-2] == "set":
            attribute, parts = parts[-1], parts[:-2]
        command = msg.meta.get("command")
        if command in ("set", "get"):
            kind = command
        reference = msg.meta.get("friendly_name") or msg.meta.get("ieee") or "/".join(parts)
        return kind, str(reference), attribute

    def submit(self, msg: Message) -> None:
        """Check a command message and queue it; raise CommandRefused (nothing sent) when it cannot run.

        Before the coordinator's first connection the message is held instead (see :meth:`connected`).
        """
        if self.held is not None:
            self._hold(msg)
            return
        self._take(msg, time.monotonic())

    def _hold(self, msg: Message) -> None:
        assert self.held is not None
        if not self.held:
            self.node.logger.info("zigbee %s: commands wait for the coordinator's first connection (at most %g s)",
                                  self.node.id, self.expiry)
            self._held_arrived.set()
        self.held.append((time.monotonic(), msg))
        self.holding.hold()
        self._idle.clear()

    def connected(self) -> None:
        """The coordinator is connected: take the commands held since the start, in order.

        Each counts as taken (queued, or refused with its error on ``errors``) from here on: the
        upstream source's acknowledgement (``mqtt-in``'s PUBACK) waited for it. Its expiry runs from
        its arrival. Only the first connection does this: a coordinator lost later refuses at once.
        """
        held, self.held = self.held, None
        self._held_arrived.set()
        while held:
            arrived, msg = held.popleft()
            try:
                self._take(msg, arrived)
            except Exception as exc:  # noqa: BLE001 - refused as on arrival: routed to errors, not raised
                self.node.fail(msg, exc)
            finally:
                self.holding.release()
        self._maybe_idle()

    async def _expire_held(self) -> None:
        """Drop held commands older than the expiry while the coordinator has not connected yet."""
        while self.held is not None:
            if not self.held:
                self._held_arrived.clear()
                await self._held_arrived.wait()
                continue
            arrived, msg = self.held[0]
            due = arrived + self.expiry - time.monotonic()
            if due > 0:
                await asyncio.sleep(due)
                continue
            self.held.popleft()
            self.node.counters["commands_expired"] += 1
            self.node.logger.warning("zigbee %s: command %r on '%s' dropped: the coordinator did not connect "
                                     "within its expiry (%g s)", self.node.id, msg.payload, msg.topic, self.expiry)
            self.holding.release()
            self._maybe_idle()

    def _maybe_idle(self) -> None:
        if not self.unfinished and not self.held:
            self._idle.set()

    def _take(self, msg: Message, arrived: float) -> None:
        if msg.meta.get("command") == "permit_join":
            self._permit(msg, arrived)
            return
        kind, reference, attribute = self._address(msg)
        payload = msg.payload
        request: dict[str, Any] | None
        if isinstance(payload, dict):
            request = dict(payload) if attribute is None else {attribute: payload}
        elif isinstance(payload, str | bytes):
            request = parse_request(payload, attribute)
        else:
            request = None if attribute is None else {attribute: payload}
        if request is None:
            raise CommandRefused(f"command for '{reference}': payload {payload!r} is not a Zigbee2MQTT request "
                                 "(a JSON object, or ON/OFF/TOGGLE)")
        ieee = self.by_name.get(reference) or normal_ieee(reference)
        name = self.names.get(ieee, reference)
        app = self.node.application
        if app is None or not self.node.connected.is_set():
            raise CommandRefused(f"command for '{name}' refused: the coordinator is not connected (reconnecting)")
        device = _find_device(app, ieee)
        if device is None:
            raise CommandRefused(f"command for unknown device '{reference}' (not a friendly name or ieee of this "
                                 "network)")
        definition = default_registry().find(str(device.model or ""))
        if definition is None:
            raise CommandRefused(f"command for '{name}': model {device.model!r} has no definition")
        if kind == "set" and not any(c.convert_set is not None for c in definition.to_zigbee):
            raise CommandRefused(f"/set for '{name}' ({definition.model}): the device takes no commands (a sensor)")
        self._enqueue(PendingCommand(kind, ieee, name, definition, request, arrived, msg))
        self.node.counters["commands_taken"] += 1

    def _enqueue(self, command: PendingCommand) -> None:
        if self.waiting >= self.capacity:
            raise CommandRefused(f"command for '{command.name or command.kind}' refused: {self.capacity} commands "
                                 "already waiting")
        queue = self.queues.get(command.ieee)
        if queue is None:
            queue = self.queues[command.ieee] = asyncio.Queue()
            self._new_queues.put_nowait(queue)
        queue.put_nowait(command)
        self.waiting += 1
        self.unfinished += 1
        self._idle.clear()

    def _permit(self, msg: Message, arrived: float) -> None:
        """``meta.command: permit_join``, payload ``{"time": N}``: open (or close, 0) the network."""
        seconds = msg.payload.get("time") if isinstance(msg.payload, dict) else None
        if not isinstance(seconds, int) or isinstance(seconds, bool) or not 0 <= seconds <= 254:
            raise CommandRefused(f"permit_join needs {{\"time\": 0-254}}, not {msg.payload!r}")
        if self.node.application is None or not self.node.connected.is_set():
            raise CommandRefused("permit_join refused: the coordinator is not connected (reconnecting)")
        self._enqueue(PendingCommand("permit_join", "", "", None, {"time": seconds}, arrived, msg))

    # ---- execution -----------------------------------------------------------------------------

    async def serve(self) -> None:
        """Run each device's queued commands one at a time (devices side by side), until cancelled."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._expire_held())
            while True:
                group.create_task(self._serve_device(await self._new_queues.get()))

    async def join(self) -> None:
        """Wait until every command taken or held so far has been run or dropped."""
        await self._idle.wait()

    async def _serve_device(self, queue: asyncio.Queue[PendingCommand]) -> None:
        while True:
            command = await queue.get()
            self.waiting -= 1
            try:
                waited = time.monotonic() - command.taken
                if waited > self.expiry:
                    self.node.counters["commands_expired"] += 1
                    self.node.logger.warning("zigbee %s: command %s for '%s' dropped: it waited %.1f s (expiry %g s)",
                                             self.node.id, command.request, command.name, waited, self.expiry)
                    continue
                await self._run(command)
            finally:
                self.unfinished -= 1
                self._maybe_idle()

    async def _run(self, command: PendingCommand) -> None:
        node = self.node
        app = node.application
        if command.kind == "permit_join":
            if app is None:
                self._fail(command, "permit_join: the coordinator is not connected (reconnecting)")
                return
            try:
                await app.permit(command.request["time"])
            except Exception as exc:  # noqa: BLE001 - a lost broadcast is reported, not fatal
                self._fail(command, f"permit_join failed: {type(exc).__name__}: {exc}")
            else:
                node.permit_opened(command.request["time"])
            return
        assert command.definition is not None
        device = None if app is None else _find_device(app, command.ieee)
        if device is None:
            self._fail(command, f"'{command.name}': the coordinator is not connected (reconnecting)")
            return
        state = self.states.get(command.ieee, {})
        outcome = await run_request(
            command.kind, command.request, name=command.name, converters=command.definition.to_zigbee,
            target=ZigpyTarget(device, self.timeout),
            state=state, options=command.definition.option_defaults(),
            model=command.definition.model, store=self.stores.setdefault(command.ieee, {}),
            homeassistant=self.homeassistant,
        )
        node.counters["commands_done"] += 1
        for error in outcome.errors:
            self._fail(command, error)
        if outcome.published is not None:
            self.states[command.ieee] = outcome.published
            meta = {**command.origin.meta, "ts": time.time(), "ieee": command.ieee,
                    "friendly_name": command.name, "model": command.definition.model, "source": node.id}
            meta.pop("command", None)
            node.emit(Message(f"{self.base_topic}/{command.name}", dict(outcome.published), meta), STATE_PORT)

    def _fail(self, command: PendingCommand, text: str) -> None:
        node = self.node
        node.counters["command_errors"] += 1
        node.logger.warning("zigbee %s: %s %s to '%s' failed: %s", node.id, command.kind, command.request,
                            command.name, text)
        node.emit(error_message(command.origin, node.id, CommandError(text), device=command.name,
                                command=command.request), ERRORS_PORT)


def _find_device(app: Any, ieee: str) -> Any:
    for device_ieee, device in app.devices.items():
        if str(device_ieee) == ieee:
            return device
    return None
