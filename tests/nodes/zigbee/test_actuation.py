"""The emulated bulb and plug carry out the commands Zigbee2MQTT's converters send, as the real ones do.

Requests come from the definitions' own toZigbee converters (the frames the reference comparison
proves identical to Zigbee2MQTT's); the device answers with a default response (SUCCESS) and reports
what changed, answers reads from its new state, and, told to stop answering, answers nothing.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Mapping
from typing import Any

from flowengine_nodes.devices.definitions import default_registry
from flowengine_nodes.devices.requests import run_request
from flowengine_nodes.devices.to_zigbee import IKEA, LUMI_CODE, CommandError, ZclRequest
from flowengine_nodes.emulator.devices import ApsRequest, VirtualDevice
from flowengine_nodes.emulator.ikea import TradfriBulb
from flowengine_nodes.emulator.xiaomi import SmartPlug


def _unprefixed(frame: bytes) -> bytes:
    """The frame without its manufacturer code: frame control, sequence, command, payload."""
    return frame[:1] + frame[3:] if frame[0] & 0x04 else frame


class DeviceTarget:
    """Hands each frame to the virtual device and reads its answers as a coordinator would."""

    def __init__(self, device: VirtualDevice, manufacturer_code: int) -> None:
        self.device = device
        self.manufacturer_code: int | None = manufacturer_code
        self.answers: list[tuple[int, bytes]] = []  # (cluster, ZCL frame) of every frame it sent back

    async def send(self, request: ZclRequest) -> Mapping[int, Any]:
        tsn = 0x42
        frames = self.device.handle(ApsRequest(1, 0x0104, request.cluster, 1, request.to_bytes(tsn)))
        self.answers += [(frame.cluster, frame.payload) for frame in frames]
        reply = [_unprefixed(f.payload) for f in frames if _unprefixed(f.payload)[1] == tsn]
        if not reply:
            raise CommandError("Error: no response (device did not answer)")
        frame = reply[0]
        if frame[2] == 0x0B and frame[4] != 0x00:
            raise CommandError(f"Error: status 0x{frame[4]:02x}")
        values: dict[int, Any] = {}
        if frame[2] == 0x01:  # read response: attribute id, status, type, value (the types used here)
            offset = 3
            while offset < len(frame):
                attribute, status = struct.unpack_from("<HB", frame, offset)
                offset += 3
                if status:
                    continue
                data_type = frame[offset]
                size = {0x10: 1, 0x20: 1, 0x30: 1, 0x21: 2}[data_type]
                values[attribute] = int.from_bytes(frame[offset + 1:offset + 1 + size], "little")
                offset += 1 + size
        return values

    async def sleep(self, seconds: float) -> None:
        return None


def _set(target: DeviceTarget, model: str, message: dict[str, Any], state: dict[str, Any] | None = None,
         kind: str = "set") -> Any:
    definition = default_registry().find(model)
    assert definition is not None
    return asyncio.run(run_request(kind, message, name="x", converters=definition.to_zigbee,  # type: ignore[arg-type]
                                   target=target, state=state or {}, options={}, model=model, store={}))


def _reports(target: DeviceTarget) -> list[tuple[int, bytes]]:
    return [(cluster, frame[3:]) for cluster, frame in target.answers if frame[2] == 0x0A]


def test_bulb_switches_dims_and_reports() -> None:
    bulb = TradfriBulb("hall_light", ieee="00:17:88:01:00:00:00:01", nwk=0x1111)
    target = DeviceTarget(bulb, IKEA)
    outcome = _set(target, "LED1545G12", {"state": "ON", "brightness": 200})
    assert outcome.errors == []
    assert outcome.published == {"state": "ON", "brightness": 200}
    assert bulb.on
    assert bulb.level == 200
    # default response SUCCESS for moveToLevelWithOnOff, then onOff and currentLevel reports
    assert target.answers[0][1][2:] == bytes([0x0B, 0x04, 0x00])
    assert _reports(target) == [(6, bytes([0, 0, 0x10, 1])), (8, bytes([0, 0, 0x20, 200]))]


def test_bulb_off_step_and_colour_temperature() -> None:
    bulb = TradfriBulb("hall_light", ieee="00:17:88:01:00:00:00:01", nwk=0x1111)
    target = DeviceTarget(bulb, IKEA)
    _set(target, "LED1545G12", {"state": "ON"})
    _set(target, "LED1545G12", {"brightness_step": -50}, {"state": "ON", "brightness": 254})
    assert bulb.level == 204
    _set(target, "LED1545G12", {"color_temp": "warmest"})
    assert bulb.color_temp == 454
    _set(target, "LED1545G12", {"color_temp_step": -100})
    assert bulb.color_temp == 354
    _set(target, "LED1545G12", {"state": "OFF"})
    assert not bulb.on
    assert bulb.level == 204


def test_bulb_answers_reads_from_its_new_state() -> None:
    bulb = TradfriBulb("hall_light", ieee="00:17:88:01:00:00:00:01", nwk=0x1111)
    target = DeviceTarget(bulb, IKEA)
    _set(target, "LED1545G12", {"brightness": 77})
    target.answers.clear()
    assert _set(target, "LED1545G12", {"brightness": "", "state": ""}, kind="get").errors == []
    read_responses = {(cluster, frame[3:]) for cluster, frame in target.answers if frame[2] == 0x01}
    assert read_responses == {(8, bytes([0, 0, 0, 0x20, 77])), (6, bytes([0, 0, 0, 0x10, 1]))}


def test_plug_switches_and_accepts_power_outage_memory() -> None:
    plug = SmartPlug("kitchen_plug", ieee="00:15:8d:00:00:00:00:02", nwk=0x2222)
    target = DeviceTarget(plug, LUMI_CODE)
    outcome = _set(target, "ZNCZ02LM", {"state": "OFF", "power_outage_memory": True})
    assert outcome.errors == []
    assert outcome.published == {"state": "OFF", "power_outage_memory": True}
    assert not plug.on
    assert _reports(target) == [(6, bytes([0, 0, 0x10, 0]))]
    _set(target, "ZNCZ02LM", {"state": "TOGGLE"})
    assert plug.on


def test_a_device_told_to_stop_answering_answers_nothing() -> None:
    bulb = TradfriBulb("hall_light", ieee="00:17:88:01:00:00:00:01", nwk=0x1111)
    bulb.answering = False
    target = DeviceTarget(bulb, IKEA)
    outcome = _set(target, "LED1545G12", {"state": "ON"})
    assert outcome.published is None
    assert outcome.errors == ["Publish 'set' 'state' to 'x' failed: 'Error: no response (device did not answer)'"]
    assert target.answers == []
    assert not bulb.on
