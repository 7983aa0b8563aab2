"""The emulator's household devices through the real zigpy stack: they join, are interviewed, and report.

Every device of flows/scenarios/household.yaml joins the emulated coordinator, zigpy interviews it
(node descriptor, endpoints, Basic model and manufacturer), and each of its scripted events
arrives as raw reports whose frames the decoder turns into the Zigbee2MQTT 2.x keys expected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flowengine.testing import run_sync
from flowengine_nodes.devices.decoder import Decoder
from flowengine_nodes.emulator.scenario import load_scenario
from tests.nodes.zigbee.harness import Running, formed_emulator

SCENARIO = Path(__file__).resolve().parents[3] / "flows" / "scenarios" / "household.yaml"

#: Per device: (event, parameters, the keys and values its last frame decodes to).
EVENTS: dict[str, list[tuple[str, dict[str, Any], dict[str, Any]]]] = {
    "door_contact": [("open", {}, {"contact": False}), ("close", {}, {"contact": True}),
                     ("heartbeat", {"voltage": 2990}, {"voltage": 2990, "contact": True})],
    "hall_motion": [("illuminance", {"illuminance": 23}, {"occupancy": True, "illuminance": 23}),
                    ("motion", {"illuminance": 24}, {"occupancy": True}),
                    ("heartbeat", {"voltage": 3005}, {"illuminance": 24, "voltage": 3005})],
    "living_weather": [("temperature", {"temperature": 19.5}, {"temperature": 19.5}),
                       ("humidity", {"humidity": 51.25}, {"humidity": 51.25}),
                       ("heartbeat", {"pressure": 1002.5}, {"pressure": 1002.5, "temperature": 19.5})],
    "desk_button": [("single", {}, {"action": "single"}), ("triple", {}, {"action": "triple"}),
                    ("hold", {}, {"action": "hold"}), ("release", {}, {"action": "release"})],
    "sink_leak": [("wet", {}, {"water_leak": True}), ("dry", {"battery_low": True}, {"water_leak": False,
                                                                                     "battery_low": True})],
    "kitchen_plug": [("off", {}, {"state": "OFF"}), ("power", {"power": 1250.5}, {"power": 1250.5}),
                     ("heartbeat", {"energy": 2.5, "state": "ON"}, {"energy": 2.5, "state": "ON"})],
    "hall_light": [("brightness", {"brightness": 77}, {"brightness": 77}),
                   ("color_temp", {"color_temp": 300}, {"color_temp": 300, "color_mode": "color_temp"}),
                   ("on", {}, {"state": "ON"})],
}


def test_every_household_device_joins_is_interviewed_and_reports_what_it_should(tmp_path: Path) -> None:
    scenario = load_scenario(SCENARIO)
    devices = [d for d in scenario.build_devices() if d.name in EVENTS or d.name == "front_door"]
    decoder = Decoder(compat=2, cache_state=False, live_timers=True)  # as the decode node runs it

    async def run() -> None:
        emulator = formed_emulator(tmp_path, *devices)
        await emulator.start()
        try:
            async with Running(tmp_path, device=emulator.device_path, database="zigbee.db") as running:
                await running.wait_connected()
                await emulator.wait_host_ready()
                for device in devices:
                    emulator.join(device)
                interviewed: dict[str, dict[str, Any]] = {}
                index = 0
                while len(interviewed) < len(devices):
                    message = await running.events.wait_for(
                        lambda m: m.payload["event"] in ("device_interviewed", "device_interview_failed"), start=index)
                    index = running.events.messages.index(message) + 1
                    assert message.payload["event"] == "device_interviewed", message.payload
                    interviewed[message.payload["ieee"]] = message.payload
                for device in devices:
                    seen = interviewed[device.ieee]
                    assert (seen["model"], seen["manufacturer"]) == (device.model, device.manufacturer)
                    assert [sorted(e["in_clusters"]) for e in seen["endpoints"]] == [sorted(e.in_clusters)
                                                                                   for e in device.endpoints]

                for device in devices:
                    for event, params, expected in EVENTS.get(device.name, []):
                        start = len(running.out.messages)
                        frames = emulator.send_event_frames(device, event, **params)
                        await running.out.wait_for(lambda m, f=frames[-1]: m.payload["frame"] == f.payload.hex(),
                                                   start=start)
                        report = next(m.payload for m in running.out.messages[start:]
                                      if m.payload["frame"] == frames[-1].payload.hex())
                        assert report["model"] == device.model
                        assert report["endpoint"] == frames[-1].src_endpoint
                        payload = decoder.decode(report).payload
                        assert payload is not None, (device.name, event, report["frame"])
                        assert {key: payload.get(key) for key in expected} == expected, (device.name, event)
        finally:
            await emulator.aclose()

    run_sync(run())
