"""A stick another program left: its network and its members, through the real zigpy + zigpy-deconz.

The stick of ``tests/data/zigbee2mqtt_move`` is the one the real Zigbee2MQTT 2.14.1 formed and
paired the household on (docs/emulator.md, "A network another program formed"). zigpy started on
it must read that network (the values Zigbee2MQTT wrote in ``coordinator_backup.json``) and keep
it: no formation, no network parameter written. Its devices are members: they never announce
themselves again and only send their reports, and the emulator's record of host requests tells
whether anything was (re-)interviewed.
"""

from __future__ import annotations

import json
import shutil
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flowengine import Message
from flowengine.testing import run_sync
from flowengine_nodes.emulator.devices import ZDO_PROFILE, ApsFrame, ApsRequest, interview_step
from flowengine_nodes.emulator.scenario import ScenarioError, ScenarioRunner, load_scenario, parse_scenario
from flowengine_nodes.emulator.server import Emulator
from flowengine_nodes.emulator.stick import Param, StickState
from tests.nodes.zigbee.harness import Running

MOVE = Path(__file__).resolve().parents[2] / "data" / "zigbee2mqtt_move"
HOUSEHOLD = Path(__file__).resolve().parents[3] / "flows" / "scenarios" / "household.yaml"
DEVICE_ANNCE = 0x0013
#: Parameters that make up the network: writing any of them changes (or re-forms) it.
NETWORK_PARAMETERS = {
    Param.MAC_ADDRESS,
    Param.NWK_PANID,
    Param.NWK_ADDRESS,
    Param.NWK_EXTENDED_PANID,
    Param.CHANNEL_MASK,
    Param.APS_EXTENDED_PANID,
    Param.TRUST_CENTER_ADDRESS,
    Param.NETWORK_KEY,
    Param.CURRENT_CHANNEL,
    Param.NWK_UPDATE_ID,
}


def network_of(stick: StickState) -> dict[str, Any]:
    """The stick's network, every field that identifies it."""
    obj = stick.to_json_obj()
    keys = ("mac_address", "pan_id", "nwk_extended_panid", "current_channel", "network_key", "nwk_update_id")
    return {key: obj[key] for key in keys}


def zigpy_network(running: Running) -> dict[str, Any]:
    """What zigpy read from the stick, in coordinator_backup.json's terms."""
    app = running.node.application
    assert app is not None
    info = app.state.network_info
    return {
        "coordinator_ieee": str(app.state.node_info.ieee).replace(":", ""),
        "pan_id": f"{info.pan_id:04x}",
        "extended_pan_id": str(info.extended_pan_id).replace(":", ""),
        "channel": info.channel,
        "network_key": info.network_key.key.serialize().hex(),
    }


def interviewed(ieee: str) -> Callable[[Message], bool]:
    """A predicate: the zigbee node's ``device_interviewed`` event for ``ieee``."""
    return lambda message: message.payload["event"] == "device_interviewed" and message.payload["ieee"] == ieee


def announcements(frames: list[ApsFrame]) -> list[ApsFrame]:
    """The Device_annce frames among ``frames``."""
    return [frame for frame in frames if frame.profile == ZDO_PROFILE and frame.cluster == DEVICE_ANNCE]


def test_zigpy_reads_and_keeps_the_network_zigbee2mqtt_left(tmp_path: Path) -> None:
    run_sync(_zigpy_reads_and_keeps_the_network_zigbee2mqtt_left(tmp_path))


async def _zigpy_reads_and_keeps_the_network_zigbee2mqtt_left(tmp_path: Path) -> None:
    shutil.copyfile(MOVE / "stick.json", tmp_path / "stick.json")
    stick = StickState.load(tmp_path / "stick.json")
    before = network_of(stick)
    counter = stick.frame_counter
    emulator = Emulator(stick=stick, devices=load_scenario(HOUSEHOLD).build_devices())
    assert all(device.joined for device in emulator.devices.values())  # members, remembered by the stick
    written: list[ApsFrame] = []
    emulator.on_indication.append(written.append)
    await emulator.start()
    try:
        async with Running(tmp_path, device=emulator.device_path, database=str(tmp_path / "zigpy.db")) as running:
            await running.wait_connected()
            await emulator.wait_host_ready()
            backup = json.loads((MOVE / "zigbee2mqtt" / "coordinator_backup.json").read_text())
            expected = {key: backup[key] for key in ("coordinator_ieee", "pan_id", "extended_pan_id", "channel")}
            assert zigpy_network(running) == {**expected, "network_key": backup["network_key"]["key"]}
            assert running.node.application is not None
            assert running.node.application.state.network_info.network_key.tx_counter >= counter
    finally:
        await emulator.aclose()
    touched = sorted({f"0x{param:02x}" for param, _ in emulator.parameter_writes if param in NETWORK_PARAMETERS})
    assert touched == []
    assert 0 not in emulator.network_state_changes  # never taken offline to re-form
    assert network_of(StickState.load(tmp_path / "stick.json")) == before
    assert announcements(written) == []
    assert emulator.interview_requests() == []


SCENARIO = """
network:
  channel: 25
  pan_id: 0x4b1d
  extended_pan_id: "aa:bb:cc:dd:ee:ff:00:11"
  network_key: "11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00"
  frame_counter: 70000
  nwk_update_id: 3
  coordinator_ieee: "00:21:2e:ff:ff:0a:0b:0c"
devices:
  hall_motion: {model: RTCGQ11LM, ieee: "00:15:8d:00:07:00:01:02", nwk: 0x3102, member: true}
  hall_light: {model: LED1545G12, ieee: "00:0b:57:ff:fe:00:00:07", nwk: 0x3107}
events:
  - {at: 0.0, device: hall_motion, event: motion, illuminance: 40}
"""


def test_a_scenario_network_forms_a_new_stick_only(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    scenario = parse_scenario(SCENARIO)
    stick = StickState.load(tmp_path / "stick.json")
    scenario.form_network(stick)
    assert stick.formed
    assert stick.read(Param.CURRENT_CHANNEL, b"") == bytes((25,))
    assert stick.read(Param.NWK_PANID, b"") == struct.pack("<H", 0x4B1D)
    assert stick.read(Param.NWK_FRAME_COUNTER, b"") == struct.pack("<I", 70000)
    assert stick.read(Param.NWK_UPDATE_ID, b"") == b"\x03"
    assert stick.ieee == "00:21:2e:ff:ff:0a:0b:0c"
    assert stick.read(Param.TRUST_CENTER_ADDRESS, b"") == stick.read(Param.MAC_ADDRESS, b"")
    assert StickState.load(tmp_path / "stick.json").to_json_obj() == stick.to_json_obj()
    emulator = Emulator(stick=stick)
    scenario.add_devices(emulator)
    assert emulator.device("hall_motion").joined
    assert not emulator.device("hall_light").joined  # not a member: it joins as usual
    # A stick that carries another network keeps it, and says so.
    other = StickState()
    other.form(channel=11)
    kept = network_of(other)
    scenario.form_network(other)
    assert network_of(other) == kept
    assert "another network" in caplog.text


@pytest.mark.parametrize(
    ("network", "message"),
    [
        ("{channel: 27, pan_id: 1, extended_pan_id: '01:02:03:04:05:06:07:08', network_key: '00'}", "network.channel"),
        ("{channel: 15, pan_id: 1, extended_pan_id: '01:02', network_key: '" + "00:" * 15 + "00'}", "8-byte"),
        ("{channel: 15, pan_id: 1, extended_pan_id: '01:02:03:04:05:06:07:08', network_key: '00:01'}", "16-byte"),
        ("{channel: 15, pan_id: 1, extended_pan_id: '01:02:03:04:05:06:07:08', key: 'x'}", "network.key"),
    ],
)
def test_bad_scenario_networks_are_refused_with_the_place(network: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(f"network: {network}\n", "s.yaml")


def test_members_never_announce_and_zigpy_keeps_the_scenario_network(tmp_path: Path) -> None:
    run_sync(_members_never_announce_and_zigpy_keeps_the_scenario_network(tmp_path))


async def _members_never_announce_and_zigpy_keeps_the_scenario_network(tmp_path: Path) -> None:
    scenario = parse_scenario(SCENARIO)
    stick = StickState.load(tmp_path / "stick.json")
    scenario.form_network(stick)
    emulator = Emulator(stick=stick)
    scenario.add_devices(emulator)
    written: list[ApsFrame] = []
    emulator.on_indication.append(written.append)
    runner = ScenarioRunner(emulator, scenario)
    await emulator.start()
    try:
        async with Running(tmp_path, device=emulator.device_path, database=str(tmp_path / "zigpy.db")) as running:
            await running.wait_connected()
            await runner.run()
            assert zigpy_network(running) == {
                "coordinator_ieee": "00212effff0a0b0c",
                "pan_id": "4b1d",
                "extended_pan_id": "aabbccddeeff0011",
                "channel": 25,
                "network_key": "112233445566778899aabbccddeeff00",
            }
            # hall_light (not a member) announced itself; the member only sent its two reports.
            assert [(sent.device, sent.event is None) for sent in runner.sent] == [
                ("hall_light", True),
                ("hall_motion", False),
            ]
            motion = emulator.device("hall_motion")
            for ieee in (motion.ieee, emulator.device("hall_light").ieee):
                await running.events.wait_for(interviewed(ieee))
    finally:
        await emulator.aclose()
    reports = [frame for frame in written if frame.src_ieee == motion.ieee and frame.profile != ZDO_PROFILE]
    assert [frame.cluster for frame in reports[:2]] == [0x0400, 0x0406]  # illuminance, occupancy
    assert [frame.src_ieee for frame in announcements(written)] == ["00:0b:57:ff:fe:00:00:07"]
    assert [p for p, _ in emulator.parameter_writes if p in NETWORK_PARAMETERS] == []
    # zigpy, whose database does not know the member, asks it itself after its first report:
    # a move must seed zigpy's database, the network alone is not enough.
    asked = [request for request in emulator.interview_requests() if request.device == "hall_motion"]
    assert asked
    first_report = reports[0].written_at
    assert first_report is not None
    assert min(request.at for request in asked) > first_report


def test_a_second_run_on_the_same_stick_and_database_asks_no_device_anything(tmp_path: Path) -> None:
    run_sync(_a_second_run_on_the_same_stick_and_database_asks_no_device_anything(tmp_path))


async def _a_second_run_on_the_same_stick_and_database_asks_no_device_anything(tmp_path: Path) -> None:
    database = str(tmp_path / "zigpy.db")

    def household() -> Emulator:
        emulator = Emulator(stick=StickState.load(tmp_path / "stick.json"))
        for device in load_scenario(HOUSEHOLD).build_devices():
            if device.name in ("door_contact", "living_weather"):
                emulator.add_device(device)
        return emulator

    first = household()
    first.stick.form(channel=15)
    await first.start()
    try:
        async with Running(tmp_path, device=first.device_path, database=database) as running:
            await running.wait_connected()
            await first.wait_host_ready()
            for name in first.devices:
                mark = len(running.events.messages)
                first.join(name)
                await running.wait_event("device_interviewed", start=mark)
    finally:
        await first.aclose()
    assert {request.device for request in first.interview_requests()} == {"door_contact", "living_weather"}

    second = household()
    assert all(device.joined for device in second.devices.values())
    written: list[ApsFrame] = []
    second.on_indication.append(written.append)
    await second.start()
    try:
        async with Running(tmp_path, device=second.device_path, database=database) as running:
            await running.wait_connected()
            await second.wait_host_ready()
            second.send_event("door_contact", "open")
            second.send_event("living_weather", "temperature", temperature=19.5)
            reports = await running.out.wait_count(2)
    finally:
        await second.aclose()
    assert {(report.payload["ieee"], report.payload["cluster"]) for report in reports} == {
        ("00:15:8d:00:07:00:01:01", 0x0006),
        ("00:15:8d:00:07:00:01:03", 0x0402),
    }
    assert announcements(written) == []
    assert [request for request in second.requests if request.device is not None] == []
    assert [p for p, _ in second.parameter_writes if p in NETWORK_PARAMETERS] == []


@pytest.mark.parametrize(
    ("request_", "step"),
    [
        (ApsRequest(0, ZDO_PROFILE, 0x0002, 0, b"\x01\x02\x31"), "Node descriptor request"),
        (ApsRequest(0, ZDO_PROFILE, 0x0005, 0, b"\x01\x02\x31"), "Active endpoints request"),
        (ApsRequest(0, ZDO_PROFILE, 0x0004, 0, b"\x01\x02\x31\x01"), "Simple descriptor request"),
        (ApsRequest(1, 0x0104, 0x0000, 1, bytes.fromhex("00 07 00 0400 0500")), "manufacturerName and modelId"),
        (ApsRequest(1, 0x0104, 0x0000, 1, bytes.fromhex("04 5f11 07 00 0500")), "modelId"),
        (ApsRequest(1, 0x0104, 0x0000, 1, bytes.fromhex("00 07 00 0700")), None),  # powerSource only
        (ApsRequest(1, 0x0104, 0x0000, 1, bytes.fromhex("01 07 00")), None),  # a Basic command (reset)
        (ApsRequest(1, 0x0104, 0x0006, 1, bytes.fromhex("00 07 00 0500")), None),  # not Basic
        (ApsRequest(0, ZDO_PROFILE, 0x0021, 0, b"\x01"), None),  # Bind_req
    ],
)
def test_interview_steps_are_named(request_: ApsRequest, step: str | None) -> None:
    found = interview_step(request_)
    assert found == step if step is None else step in (found or "")


def test_an_emulated_zigbee_node_takes_its_scenario_network(tmp_path: Path) -> None:
    run_sync(_an_emulated_zigbee_node_takes_its_scenario_network(tmp_path))


async def _an_emulated_zigbee_node_takes_its_scenario_network(tmp_path: Path) -> None:
    (tmp_path / "scenario.yaml").write_text(SCENARIO)
    async with Running(tmp_path, device="emulated", scenario="scenario.yaml", database="zigbee.db") as running:
        await running.wait_connected()
        assert zigpy_network(running)["pan_id"] == "4b1d"
        assert zigpy_network(running)["coordinator_ieee"] == "00212effff0a0b0c"
        emulator = running.node.emulator
        assert emulator is not None
        assert emulator.device("hall_motion").joined
        assert emulator.stick.frame_counter >= 70000
