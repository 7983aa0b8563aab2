"""The move end to end: import a Zigbee2MQTT data folder, run the flow on the same stick, with a real Mosquitto.

The stick is the project's deCONZ emulator in the state Zigbee2MQTT left it: the folder's
network formed and every device already a member (no device announces again). The runner is
the real ``flowengine run`` in its own process. What must hold: no interview request reaches
any device (no Node, Active-endpoint or Simple descriptor request, no Basic model or
manufacturer read), the cached state of state.json is published on start, the next reports are
merged into it with the device options applied, and the retained bridge/devices names the same
devices, friendly names and models.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

from flowengine_nodes.emulator.devices import ApsRequest
from flowengine_nodes.emulator.server import Emulator
from flowengine_nodes.migrate.cli import import_main
from tests.migrate.household import BASE_TOPIC, DEVICES, STATES, formed_stick, virtual_devices, write_data_folder
from tests.mosquitto import TEST_PASSWORD, TEST_USER, Mosquitto, ReceivedMessage, Subscribe

#: ZDO requests of an interview: Node_Desc_req, Simple_Desc_req, Active_EP_req.
INTERVIEW_ZDO = {0x0002, 0x0004, 0x0005}
#: Basic attributes an interview reads: manufacturer name, model identifier.
BASIC_IDENTITY = {0x0004, 0x0005}
NAMES = {ieee: name for name, _, ieee, _ in DEVICES}


def is_interview(request: ApsRequest) -> bool:
    """A request zigpy makes only while interviewing a device."""
    if request.profile == 0 and request.dst_endpoint == 0:
        return request.cluster in INTERVIEW_ZDO
    payload = request.payload
    if request.cluster != 0 or len(payload) < 3 or payload[0] & 0x03:
        return False
    header = 5 if payload[0] & 0x04 else 3
    if payload[header - 1] != 0x00:  # not Read Attributes
        return False
    body = payload[header:]
    wanted = {int.from_bytes(body[i:i + 2], "little") for i in range(0, len(body) - 1, 2)}
    return bool(wanted & BASIC_IDENTITY)


def states(messages: list[ReceivedMessage]) -> dict[str, list[dict[str, Any]]]:
    """Each device topic's payloads, in order (parsed JSON)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for message in messages:
        name = message.topic.removeprefix(BASE_TOPIC + "/")
        if name in NAMES.values():
            found.setdefault(name, []).append(json.loads(message.payload))
    return found


async def move(tmp_path: Path, broker: Mosquitto, subscribe: Subscribe) -> tuple[Emulator, list[ReceivedMessage]]:
    emulator = Emulator(stick=formed_stick(tmp_path / "stick.json"), devices=virtual_devices())
    await emulator.start()
    try:
        data = write_data_folder(tmp_path / "z2m", mqtt_url=broker.url, serial_port=f"tcp://127.0.0.1:{emulator.port}",
                                 user=TEST_USER, password=TEST_PASSWORD)
        assert await asyncio.to_thread(import_main, ["zigbee2mqtt", str(data), "--to", str(tmp_path / "flow")]) == 0
        subscriber = subscribe(broker, f"{BASE_TOPIC}/#", client_id="move-e2e", username=TEST_USER,
                               password=TEST_PASSWORD)
        with (tmp_path / "run.log").open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "flowengine.cli", "run", str(tmp_path / "flow" / "flow.yaml"),
                stdout=log, stderr=log)
        try:
            async with asyncio.timeout(30):
                await emulator.wait_host_ready()
            cached = {NAMES[ieee] for ieee in STATES}
            assert await asyncio.to_thread(subscriber.wait_until, lambda m: cached <= set(states(m)), 20), (
                tmp_path / "run.log").read_text()[-3000:]
            emulator.send_event("living_room_weather", "weather", temperature=21.37, humidity=48.2, pressure=1008.6)
            emulator.send_event("kitchen_plug", "power", power=40.0)
            emulator.send_event("Desk_button", "single")
            assert await asyncio.to_thread(subscriber.wait_until, lambda m: all(
                len(states(m).get(name, [])) >= 2 for name in ("living room/weather", "kitchen/plug"))
                and "Desk button" in states(m), 20), (tmp_path / "run.log").read_text()[-3000:]
            assert await asyncio.to_thread(subscriber.wait_until, lambda m: any(
                x.topic == f"{BASE_TOPIC}/bridge/devices" and len(json.loads(x.payload)) >= len(DEVICES)
                and all(d.get("interview_state") == "SUCCESSFUL" for d in json.loads(x.payload)
                        if d["friendly_name"] != "Bedroom sensor")
                for x in m), 20)
        finally:
            process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(30):
                assert await process.wait() == 0, (tmp_path / "run.log").read_text()[-3000:]
        return emulator, list(subscriber.messages)
    finally:
        await emulator.aclose()


def test_the_imported_flow_takes_over_the_network_without_interviewing_anyone(
        tmp_path: Path, mosquitto_auth: Mosquitto, mqtt_subscriber: Subscribe) -> None:
    emulator, messages = asyncio.run(move(tmp_path, mosquitto_auth, mqtt_subscriber))
    # No interview request reached any device, and no device announced itself.
    interviews = {device.name: [hex(r.cluster) for r in device.requests if is_interview(r)]
                  for device in emulator.devices.values()}
    assert interviews == {device.name: [] for device in emulator.devices.values()}
    published = states(messages)
    # The cached state of state.json, sent on start, as Zigbee2MQTT sends it.
    for ieee, state in STATES.items():
        assert published[NAMES[ieee]][0] == state
    # The next reports are merged into it, with the device options (calibration -0.5, precision 1 and 0).
    weather = published["living room/weather"][1]
    assert weather["temperature"] == 20.9
    assert weather["humidity"] == 48
    assert weather["battery"] == STATES["00:15:8d:00:07:00:01:03"]["battery"]
    plug = published["kitchen/plug"][1]
    assert plug["power"] == 40
    assert plug["energy"] == STATES["00:15:8d:00:07:00:01:06"]["energy"]
    assert published["Desk button"][0]["action"] == "single"
    # bridge/devices (retained) names the same devices, friendly names and models.
    devices = json.loads(next(m for m in reversed(messages) if m.topic == f"{BASE_TOPIC}/bridge/devices").payload)
    listed = {d["ieee_address"]: (d["friendly_name"], d.get("model_id")) for d in devices}
    for name, model, ieee, _ in DEVICES:
        device = next(d for d in emulator.devices.values() if d.ieee == ieee)
        assert listed["0x" + ieee.replace(":", "")] == (name, device.model), model
