"""Scenarios: virtual devices and a timed list of what they do (docs/emulator.md).

A scenario is a small YAML file::

    devices:
      front_door: {model: lumi.lock.aq1, ieee: "00:15:8d:00:01:02:03:04", nwk: 0x1a2b}
    events:
      - {at: 1.0, device: front_door, event: finger_open, role: admin, user: 1}
      - {at: 2.0, every: 8, device: front_door, event: finger_not_match, repeat: 2, lqi: 90, rssi: -75}

Times are seconds after the host is ready (zigpy finished its startup, see
:meth:`Emulator.wait_host_ready`). A device joins (announces itself) at its ``join`` time
unless the stick already remembers it. An event with ``every`` repeats with that period,
``times`` times in all (unlimited without ``times``). Every event is checked when the
scenario is loaded, so a typo fails at once with the event's position, not minutes later.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from flowengine_nodes.emulator.catalog import make_device, zigbee_model
from flowengine_nodes.emulator.devices import ApsFrame, VirtualDevice
from flowengine_nodes.emulator.server import Emulator
from flowengine_nodes.emulator.stick import StickState, ieee_to_wire, text_to_key, wire_to_ieee

logger = logging.getLogger("flowengine.emulator")


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message says where and why."""


class DeviceSpec(BaseModel):
    """One virtual device of a scenario."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = Field("lumi.lock.aq1", description="Zigbee model id or Zigbee2MQTT model (ZNMS11LM, MCCGQ11LM, …).")
    ieee: str = Field(description="IEEE address, colon hex, most significant byte first.")
    nwk: int = Field(ge=0x0001, le=0xFFF7, description="Network address.")
    manufacturer: str | None = Field(None, description="What the Basic cluster answers (default: the model's own).")
    lqi: int = Field(120, ge=0, le=255, description="Default LQI of the device's frames.")
    rssi: int = Field(-60, ge=-128, le=127, description="Default RSSI (dBm) of the device's frames.")
    join: float | None = Field(
        0.0, ge=0, description="Seconds after the host is ready to announce; null: never by itself."
    )
    firmware_version: int = Field(0x10, ge=0, description="OTA file version the device reports.")
    member: bool = Field(
        False, description="Already a member of the stick's network (paired by another program): never announces."
    )

    @field_validator("ieee")
    @classmethod
    def _check_ieee(cls, value: str) -> str:
        ieee_to_wire(value)
        return value.lower()

    @field_validator("model")
    @classmethod
    def _check_model(cls, value: str) -> str:
        zigbee_model(value)  # raises for an unknown model
        return value


class NetworkSpec(BaseModel):
    """The network a stick already carries: what another program formed and left on it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    channel: int = Field(ge=11, le=26, description="Zigbee channel.")
    pan_id: int = Field(ge=0x0001, le=0xFFF7, description="16-bit PAN id.")
    extended_pan_id: str = Field(description="Extended PAN id, colon hex, most significant byte first.")
    network_key: str = Field(description="Network key, 16 bytes colon hex, in the order zigpy prints it.")
    frame_counter: int = Field(0, ge=0, le=0xFFFFFFFF, description="The coordinator's outgoing NWK frame counter.")
    nwk_update_id: int = Field(0, ge=0, le=255, description="Network update id (channel changes so far).")
    coordinator_ieee: str | None = Field(None, description="The stick's IEEE address (default: its own).")

    @field_validator("extended_pan_id", "coordinator_ieee")
    @classmethod
    def _check_ieee(cls, value: str | None) -> str | None:
        return None if value is None else wire_to_ieee(ieee_to_wire(value))

    @field_validator("network_key")
    @classmethod
    def _check_key(cls, value: str) -> str:
        text_to_key(value)
        return value.lower()

    def differs_from(self, stick: StickState) -> list[str]:
        """The parameters in which the formed ``stick`` carries another network than this one."""
        found = {
            "channel": stick.current_channel,
            "pan_id": stick.pan_id,
            "extended_pan_id": wire_to_ieee(stick.nwk_extended_panid),
            "network_key": ":".join(f"{byte:02x}" for byte in stick.network_key),
        }
        return [name for name, value in found.items() if getattr(self, name) != value]


class EventSpec(BaseModel):
    """One timed event; keys other than the ones below are the event's parameters."""

    model_config = ConfigDict(frozen=True, extra="allow")

    at: float = Field(ge=0, description="Seconds after the host is ready.")
    device: str
    event: str = Field(description="A device event (finger_open, …), raw, or join.")
    every: float | None = Field(None, gt=0, description="Repeat with this period (seconds).")
    times: int | None = Field(None, ge=1, description="How many times in all, with every.")

    @property
    def params(self) -> dict[str, Any]:
        """The event's parameters (role, user, repeat, state, lqi, rssi, frame, …)."""
        return dict(self.model_extra or {})


class Scenario(BaseModel):
    """A whole scenario: the stick's network, devices and events."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    network: NetworkSpec | None = None
    devices: dict[str, DeviceSpec] = Field(default_factory=dict)
    events: list[EventSpec] = Field(default_factory=list)

    def build_devices(self) -> list[VirtualDevice]:
        """Return fresh virtual devices for this scenario."""
        return [make_device(name, spec.model_dump()) for name, spec in self.devices.items()]

    def form_network(self, stick: StickState) -> None:
        """Give a new (not formed) ``stick`` the scenario's ``network``; a formed stick keeps its own.

        A stick is NVRAM: one that already carries a network (from a state file) keeps it,
        with a warning when it is not the scenario's.
        """
        if self.network is None:
            return
        if not stick.formed:
            stick.form(**self.network.model_dump())
            stick.save()
            return
        differs = self.network.differs_from(stick)
        if differs:
            logger.warning(
                "emulator: the stick already carries another network (%s differ from the scenario's); keeping it",
                ", ".join(differs),
            )

    def add_devices(self, emulator: Emulator) -> None:
        """Add the scenario's devices to ``emulator``, the ``member`` ones as members of its network."""
        for device in self.build_devices():
            emulator.add_device(device, member=self.devices[device.name].member)


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    """Parse and check a scenario from YAML text.

    Raises:
        ScenarioError: bad YAML, unknown keys, unknown devices or events, bad parameters.
    """
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{source}: {exc}") from exc
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()
        )
        raise ScenarioError(f"{source}: {problems}") from exc
    devices = {device.name: device for device in scenario.build_devices()}
    for index, event in enumerate(scenario.events):
        where = f"{source}: events[{index}]"
        device = devices.get(event.device)
        if device is None:
            raise ScenarioError(f"{where}: unknown device {event.device!r}")
        if event.times is not None and event.every is None:
            raise ScenarioError(f"{where}: times needs every")
        unknown = device.unknown_parameters(event.event, event.params)
        if unknown:
            raise ScenarioError(f"{where}: event {event.event!r} takes no {', '.join(unknown)}")
        if event.event == "join":
            continue
        try:
            device.event_frames(event.event, event.params)  # a dry run checks every parameter
        except (ValueError, TypeError) as exc:
            raise ScenarioError(f"{where}: {exc}") from exc
    return scenario


def load_scenario(path: Path) -> Scenario:
    """Read and check the scenario in ``path`` (see :func:`parse_scenario`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: {exc.strerror or exc}") from exc
    return parse_scenario(text, str(path))


@dataclass(frozen=True, slots=True)
class SentEvent:
    """What a scenario did: the event and the (last) frame it sent (``None`` for a skipped join).

    ``frames`` holds every frame of the event (a motion is an illuminance and an occupancy report).
    """

    event: EventSpec | None
    device: str
    frame: ApsFrame | None
    frames: tuple[ApsFrame, ...] = ()


class ScenarioRunner:
    """Plays a scenario on an emulator.

    :meth:`run` waits for the host to be ready, then sends each event at its time; it
    returns once no event is left (never, with an unlimited ``every``). ``on_sent`` is
    called with each :class:`SentEvent`, and :attr:`sent` keeps them all.
    """

    def __init__(
        self,
        emulator: Emulator,
        scenario: Scenario,
        *,
        on_sent: Callable[[SentEvent], None] | None = None,
    ) -> None:
        self.emulator = emulator
        self.scenario = scenario
        self.on_sent = on_sent
        self.sent: list[SentEvent] = []
        self.done = asyncio.Event()

    async def run(self) -> None:
        """Play the scenario (see the class docstring). Cancel it to stop."""
        await self.emulator.wait_host_ready()
        loop = asyncio.get_running_loop()
        start = loop.time()
        order = itertools.count()
        # (time, order, device name, event or None for the device's own join, repetitions left)
        queue: list[tuple[float, int, str, EventSpec | None, int | None]] = []
        for name, spec in self.scenario.devices.items():
            if spec.join is not None and not spec.member:
                heapq.heappush(queue, (spec.join, next(order), name, None, None))
        for spec_event in self.scenario.events:
            heapq.heappush(queue, (spec_event.at, next(order), spec_event.device, spec_event, spec_event.times))
        while queue:
            when, _, name, event, left = heapq.heappop(queue)
            delay = start + when - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self._perform(name, event)
            if event is not None and event.every is not None and (left is None or left > 1):
                heapq.heappush(
                    queue, (when + event.every, next(order), name, event, None if left is None else left - 1)
                )
        self.done.set()

    def _perform(self, name: str, event: EventSpec | None) -> None:
        device = self.emulator.device(name)
        frames: list[ApsFrame]
        if event is None:
            frames = [] if device.joined else [self.emulator.join(device)]
        elif event.event == "join":
            frames = [self.emulator.join(device)]
        else:
            frames = self.emulator.send_event_frames(device, event.event, **event.params)
        frame = frames[-1] if frames else None
        record = SentEvent(event, name, frame, tuple(frames))
        self.sent.append(record)
        if self.on_sent is not None:
            self.on_sent(record)
        for sent in frames:
            logger.debug("emulator: %s %s %s", name, event.event if event else "join", sent.payload.hex())
