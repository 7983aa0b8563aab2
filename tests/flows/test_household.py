"""Acceptance 2: ``flowengine run flows/household.yaml`` against a real Mosquitto publishes the whole household.

The runner is the real command in its own process, the coordinator the built-in emulator
(the flow's default), the broker the suite's Mosquitto: within 20 s every one of the eight
devices has published its state on ``zigbee2mqtt/<friendly name>`` and, discovery being on,
its Home Assistant config topics.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.mosquitto import Mosquitto, ReceivedMessage, Subscriber

FLOWS = Path(__file__).resolve().parents[2] / "flows"
Subscribe = Callable[..., Subscriber]

#: friendly name -> Zigbee2MQTT's form of its IEEE address (the discovery topics' node id).
HOUSEHOLD = {
    "front_door": "0x00158d0001020304",
    "door_contact": "0x00158d0007000101",
    "hall_motion": "0x00158d0007000102",
    "living_weather": "0x00158d0007000103",
    "desk_button": "0x00158d0007000104",
    "sink_leak": "0x00158d0007000105",
    "kitchen_plug": "0x00158d0007000106",
    "hall_light": "0x000b57fffe000007",
}
#: A few discovery topics each device must have (component/object id), as Zigbee2MQTT names them.
KEY_ENTITIES = {
    "door_contact": ["binary_sensor/contact", "sensor/battery"],
    "hall_motion": ["binary_sensor/occupancy", "sensor/illuminance"],
    "living_weather": ["sensor/temperature", "sensor/humidity", "sensor/pressure"],
    "desk_button": ["device_automation/action_single", "sensor/battery"],
    "sink_leak": ["binary_sensor/water_leak", "sensor/voltage"],
    "kitchen_plug": ["switch/switch", "sensor/power", "sensor/energy", "update/update"],
    "hall_light": ["light/light"],
    "front_door": ["device_automation/action_finger_open_admin_id1"],
}


def copy_flow(folder: Path) -> Path:
    shutil.copy(FLOWS / "household.yaml", folder / "household.yaml")
    shutil.copytree(FLOWS / "scenarios", folder / "scenarios")
    return folder / "household.yaml"


def household_complete(messages: list[ReceivedMessage]) -> bool:
    topics = {m.topic for m in messages}
    states = all(f"zigbee2mqtt/{name}" in topics for name in HOUSEHOLD)
    discovery = all(
        f"homeassistant/{entity.split('/')[0]}/{ieee}/{entity.split('/')[1]}/config" in topics
        for name, ieee in HOUSEHOLD.items() for entity in KEY_ENTITIES[name]
    )
    return states and discovery


def test_the_household_publishes_every_device_and_its_discovery_within_20_s(
    mosquitto: Mosquitto, mqtt_subscriber: Subscribe, tmp_path: Path
) -> None:
    flow = copy_flow(tmp_path)
    subscriber = mqtt_subscriber(mosquitto, "#", client_id="household-acceptance")
    env = {**os.environ, "MQTT_URL": mosquitto.url}
    env.pop("ZIGBEE_DEVICE", None)
    with (tmp_path / "run.log").open("wb") as log:
        started = time.monotonic()
        process = subprocess.Popen([sys.executable, "-m", "flowengine.cli", "run", flow.name], cwd=tmp_path,
                                   env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        complete = subscriber.wait_until(household_complete, timeout=20)
        elapsed = time.monotonic() - started
        assert complete, (tmp_path / "run.log").read_text()[-3000:]
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0, (tmp_path / "run.log").read_text()[-3000:]
    print(f"household complete on MQTT {elapsed:.1f} s after the runner started")
    messages = subscriber.snapshot()
    for name in HOUSEHOLD:
        state = json.loads(next(m.payload for m in messages if m.topic == f"zigbee2mqtt/{name}"))
        assert isinstance(state, dict)
        assert state["linkquality"] == 120
    assert b'{"state":"online"}' in subscriber.payloads("zigbee2mqtt/bridge/state")
