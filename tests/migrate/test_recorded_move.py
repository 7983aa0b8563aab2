"""Acceptance: the household Zigbee2MQTT 2.14.1 left, moved to flowengine (recorded fixtures).

tests/data/zigbee2mqtt_move holds the data folder the real Zigbee2MQTT 2.14.1 left after pairing
the household on the project's emulator, the stick as it left it, the frames sent after its
restart and everything it published then. Here that folder is imported (and hashed before and
after: it is only read), the flow runs with the real runner on the emulator in the same state
(same network, the devices already members that never announce again) and a real Mosquitto,
and the same frames are sent one by one. Every device topic must carry exactly the messages
Zigbee2MQTT published after its restart (parsed JSON; the cached state sent on start included),
no interview request may reach a device, nothing may be written to the stick's network, and the
retained bridge/devices must name the same devices, friendly names and models.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

from flowengine_nodes.emulator.replay import RecordedFrame, replay
from flowengine_nodes.emulator.scenario import load_scenario
from flowengine_nodes.emulator.server import Emulator
from flowengine_nodes.emulator.stick import Param, StickState
from flowengine_nodes.migrate.cli import import_main
from tests.migrate.household import hashes
from tests.mosquitto import Mosquitto, ReceivedMessage, Subscribe

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "data" / "zigbee2mqtt_move"
BASE = "house"
#: Parameters that hold the network: none may be written while the flow takes the stick over.
NETWORK_PARAMETERS = {Param.NWK_PANID, Param.NWK_EXTENDED_PANID, Param.APS_EXTENDED_PANID, Param.CHANNEL_MASK,
                      Param.NETWORK_KEY, Param.LINK_KEY, Param.NWK_ADDRESS, Param.MAC_ADDRESS,
                      Param.TRUST_CENTER_ADDRESS, Param.SECURITY_MODE, Param.NWK_UPDATE_ID}


def recorded() -> list[dict[str, Any]]:
    return [json.loads(line) for line in (FIXTURES / "restart_published.jsonl").read_text().splitlines()]


def device_topics(rows: list[tuple[str, str]], names: set[str]) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for topic, payload in rows:
        name = topic.removeprefix(BASE + "/")
        if name in names:
            found.setdefault(name, []).append(json.loads(payload))
    return found


def prepare(tmp_path: Path, emulator_port: int, broker: Mosquitto) -> Path:
    data = tmp_path / "zigbee2mqtt"
    shutil.copytree(FIXTURES / "zigbee2mqtt", data)
    config = data / "configuration.yaml"
    config.write_text(config.read_text().replace("tcp://127.0.0.1:6638", f"tcp://127.0.0.1:{emulator_port}")
                      .replace("mqtt://127.0.0.1:1883", broker.url))
    return data


async def move(tmp_path: Path, broker: Mosquitto, subscribe: Subscribe) -> tuple[Emulator, list[ReceivedMessage],
                                                                                  dict[str, str], dict[str, str]]:
    shutil.copyfile(FIXTURES / "stick.json", tmp_path / "stick.json")
    emulator = Emulator(stick=StickState.load(tmp_path / "stick.json"))
    for device in load_scenario(REPO / "flows" / "scenarios" / "household.yaml").build_devices():
        emulator.add_device(device)
    assert all(device.joined for device in emulator.devices.values())
    await emulator.start()
    try:
        data = prepare(tmp_path, emulator.port, broker)
        before = hashes(data)
        assert await asyncio.to_thread(import_main, ["zigbee2mqtt", str(data), "--to", str(tmp_path / "flow")]) == 0
        after = hashes(data)
        frames = [json.loads(line) for line in (FIXTURES / "restart_frames.jsonl").read_text().splitlines()]
        names = {frame["friendly_name"] for frame in frames}
        subscriber = subscribe(broker, f"{BASE}/#", client_id="recorded-move")
        with (tmp_path / "run.log").open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "flowengine.cli", "run", str(tmp_path / "flow" / "flow.yaml"),
                stdout=log, stderr=log)

        def heard(count: dict[str, int]) -> Any:
            return lambda messages: all(
                len(device_topics([(m.topic, m.payload.decode()) for m in messages], names).get(name, [])) >= n
                for name, n in count.items())

        try:
            async with asyncio.timeout(30):
                await emulator.wait_host_ready()
            starting = {name: sum(1 for r in recorded() if r["phase"] == "start" and r["topic"] == f"{BASE}/{name}")
                        for name in names}
            assert await asyncio.to_thread(subscriber.wait_until, heard(starting), 20), (
                tmp_path / "run.log").read_text()[-3000:]
            wanted = dict(starting)
            for frame in frames:
                await replay(emulator, [RecordedFrame.from_report(frame)], rate=None)
                wanted = {name: sum(1 for r in recorded() if r["phase"] != "stop" and r["topic"] == f"{BASE}/{name}"
                                    and (r["after_frame"] is None or r["after_frame"] <= frames.index(frame)))
                          for name in names}
                await asyncio.to_thread(subscriber.wait_until, heard(wanted), 3)
            # The motion sensor's occupancy_timeout (10 s) clears occupancy after the last detection.
            assert await asyncio.to_thread(subscriber.wait_until, heard(wanted), 15), (
                tmp_path / "run.log").read_text()[-3000:]
        finally:
            process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(30):
                assert await process.wait() == 0, (tmp_path / "run.log").read_text()[-3000:]
        return emulator, list(subscriber.messages), before, after
    finally:
        await emulator.aclose()


def test_the_recorded_household_moves_to_flowengine_without_an_interview(
        tmp_path: Path, mosquitto: Mosquitto, mqtt_subscriber: Subscribe) -> None:
    emulator, messages, before, after = asyncio.run(move(tmp_path, mosquitto, mqtt_subscriber))
    assert after == before
    frames = [json.loads(line) for line in (FIXTURES / "restart_frames.jsonl").read_text().splitlines()]
    names = {frame["friendly_name"] for frame in frames}
    expected = device_topics([(r["topic"], r["payload"]) for r in recorded() if r["phase"] != "stop"], names)
    published = device_topics([(m.topic, m.payload.decode()) for m in messages], names)
    assert published == expected
    # zigpy reads the coordinator's own descriptors at every start (device None): not a device's interview.
    assert [(r.device, r.interview) for r in emulator.interview_requests() if r.device is not None] == []
    assert [hex(param) for param, _ in emulator.parameter_writes if param in NETWORK_PARAMETERS] == []
    recorded_devices = json.loads(next(r["payload"] for r in recorded() if r["topic"] == f"{BASE}/bridge/devices"))
    ours = json.loads(next(m.payload for m in reversed(messages) if m.topic == f"{BASE}/bridge/devices"))

    def identity(devices: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
        return {(d["ieee_address"], d["friendly_name"], d.get("model_id"), (d.get("definition") or {}).get("model"))
                for d in devices if d.get("type") != "Coordinator"}

    assert identity(ours) == identity(recorded_devices)
