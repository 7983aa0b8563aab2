"""The emulator's parts on their own: framing, commands, stick state, device frames, scenarios, CLI."""

from __future__ import annotations

import asyncio
import json
import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flowengine.testing import run_sync
from flowengine_nodes.emulator import cli
from flowengine_nodes.emulator.commands import Command, FrameError, Status, build_frame, parse_frame, state_byte
from flowengine_nodes.emulator.devices import ApsRequest, LumiLock, ZclHeader
from flowengine_nodes.emulator.protocol import FrameDecoder, checksum, encode
from flowengine_nodes.emulator.scenario import ScenarioError, ScenarioRunner, parse_scenario
from flowengine_nodes.emulator.server import Emulator
from flowengine_nodes.emulator.stick import Param, ParamError, StickState, ieee_to_wire

# ---- framing (DECONZ.md §2) ------------------------------------------------------------

def test_the_documented_example_frame_encodes_byte_for_byte() -> None:
    body = bytes.fromhex("179a00280021002202000001022b1a0104010101"
                         "0a0018810a10ff23010000110000b400000000c3")
    wire = bytes.fromhex("c0179a00280021002202000001022b1a01040101010a0018810a10ff23010000110000b400000000c32afbc0")
    assert checksum(body) == bytes.fromhex("2afb")
    assert encode(body) == wire
    assert encode(bytes.fromhex("0e000007002a00")) == bytes.fromhex("c00e000007002a00c1ffc0")


@given(st.lists(st.binary(min_size=2, max_size=64), min_size=1, max_size=8), st.integers(1, 7))
def test_decoder_recovers_every_frame_however_the_stream_is_split(bodies: list[bytes], pieces: int) -> None:
    bodies = [bytes((0xC0, 0xDB)) + body for body in bodies]  # both special bytes in every frame
    stream = b"".join(bytes((0xC0,)) + encode(body) for body in bodies)
    decoder = FrameDecoder()
    step = max(1, len(stream) // pieces)
    got: list[bytes] = []
    for start in range(0, len(stream), step):
        got += decoder.feed(stream[start:start + step])
    assert got == bodies
    assert decoder.dropped == 0


def test_decoder_drops_bad_checksums_and_short_frames() -> None:
    decoder = FrameDecoder()
    good = encode(b"\x0d\x01\x00\x09\x00\x00\x00\x00\x00")
    corrupted = bytearray(encode(b"\x0d\x02\x00\x09\x00\x00\x00\x00\x00"))
    corrupted[3] ^= 0xFF
    assert decoder.feed(bytes(corrupted) + b"\xc0\x01\x02\xc0" + good) == [b"\x0d\x01\x00\x09\x00\x00\x00\x00\x00"]
    assert decoder.dropped == 2


def test_frame_lengths_are_computed_and_checked() -> None:
    version = build_frame(Command.VERSION, 7, struct.pack("<I", 0x26720700))
    assert version == bytes.fromhex("0d0700090000077226")
    read = build_frame(Command.READ_PARAMETER, 3, b"\x22\x0c\x01")
    assert read == bytes.fromhex("0a03000a00030022" "0c01")
    parsed = parse_frame(read)
    assert (parsed.command, parsed.sequence, parsed.status, parsed.body) == (0x0A, 3, 0, b"\x22\x0c\x01")
    with pytest.raises(FrameError):
        parse_frame(read[:-1] )
    with pytest.raises(FrameError):
        parse_frame(bytes.fromhex("0a03000b00040022" "0c01"))
    unsupported = build_frame(Command.READ_PARAMETER, 4, b"\x13", Status.UNSUPPORTED)
    assert unsupported[2] == Status.UNSUPPORTED


def test_state_byte_always_has_free_slots() -> None:
    assert state_byte(0, confirm=False, indication=False) == 0x20
    assert state_byte(2, confirm=False, indication=False) == 0x22
    assert state_byte(2, confirm=True, indication=True) == 0x2E


# ---- stick state (DECONZ.md §4, §5, §10) ---------------------------------------------------

def test_new_stick_is_not_formed_and_formation_applies_on_connect(tmp_path: Path) -> None:
    stick = StickState.load(tmp_path / "stick.json")
    assert not stick.formed
    assert stick.ieee.startswith("00:21:2e:")
    stick.write(Param.NWK_ADDRESS, b"\x00\x00")
    stick.write(Param.NWK_PANID, struct.pack("<H", 0x1A62))
    stick.write(Param.APS_EXTENDED_PANID, ieee_to_wire("dd:dd:dd:dd:dd:dd:dd:dd"))
    stick.write(Param.CHANNEL_MASK, struct.pack("<I", 1 << 20))
    assert stick.read(Param.CURRENT_CHANNEL, b"") == b"\x00"  # applied only when CONNECTED
    stick.apply_network()
    assert stick.read(Param.CURRENT_CHANNEL, b"") == bytes((20,))
    assert stick.formed
    stick.save()
    again = StickState.load(tmp_path / "stick.json")
    assert again.to_json_obj() == stick.to_json_obj()
    assert json.loads((tmp_path / "stick.json").read_text())["aps_extended_panid"] == "dd:dd:dd:dd:dd:dd:dd:dd"


def test_endpoint_slots_end_with_unsupported_and_unknown_parameters_are_refused() -> None:
    stick = StickState()
    assert [stick.read(Param.CONFIGURE_ENDPOINT, bytes((index,)))[0] for index in range(3)] == [0, 1, 2]
    with pytest.raises(ParamError):
        stick.read(Param.CONFIGURE_ENDPOINT, b"\x03")
    with pytest.raises(ParamError):
        stick.read(0x99, b"")
    with pytest.raises(ParamError):
        stick.write(Param.NETWORK_KEY, b"\x00\x01")


# ---- device frames (LOCK.md, LOCK_REFERENCE.md §5) ----------------------------------------

@pytest.mark.parametrize(("event", "params", "attribute", "value"), [
    ("finger_open", {"role": "admin", "user": 1}, "10ff", 0x11000010),
    ("password_open", {"role": "user", "user": 217}, "10ff", 0x22000D90),
    ("door_closed", {"role": "admin", "user": 5}, "10ff", 0x31000050),
    ("finger_not_match", {"repeat": 3}, "11ff", 0x30000400),
    ("password_not_match", {"repeat": 5}, "11ff", 0x50000020),
    ("ring_bell", {}, "11ff", 0x10000000),
])
def test_znms11lm_numeric_reports(event: str, params: dict[str, object], attribute: str, value: int) -> None:
    lock = LumiLock("door", ieee="00:15:8d:00:01:02:03:04", nwk=0x1A2B)
    frame = lock.event_frame(event, params)
    payload = frame.payload
    assert payload[:3] == bytes.fromhex("1c5f11")
    assert payload[4] == 0x0A
    assert payload[5:8] == bytes.fromhex(attribute + "23")
    assert struct.unpack_from("<I", payload, 8)[0] == value
    assert (frame.cluster, frame.src_endpoint, frame.profile) == (0x0101, 1, 0x0104)


def test_znms11lm_user_added_is_a_mi_struct_and_tsns_change() -> None:
    lock = LumiLock("door", ieee="00:15:8d:00:01:02:03:04", nwk=0x1A2B)
    first = lock.event_frame("finger_add", {"user": 57}).payload
    second = lock.event_frame("finger_add", {"user": 57}).payload
    assert first[5:9] == bytes.fromhex("01ff4209")
    assert first[9:15] == bytes.fromhex("0123") + struct.pack("<I", 0x11000390)
    assert first[3] != second[3]
    assert first[4:] == second[4:]


def test_znms12lm_strings_and_lock_states() -> None:
    lock = LumiLock("door", ieee="00:15:8d:00:01:02:03:04", nwk=0x1A2B, model="lumi.lock.acn02")
    state = lock.event_frame("lock_state", {"state": "locked"}).payload
    assert state[5:8] == bytes.fromhex("f6ff42")
    value = state[9:9 + state[8]]
    assert value[3:5] == bytes.fromhex("0111")
    assert all(byte < 0x80 for byte in value)  # survives the reference's UTF-8 round trip
    opened = lock.event_frame("finger_open", {"role": "user", "user": 13}).payload
    text = opened[9:]
    assert (text[3], text[4] >> 4, text[6]) == (1, 2, 13)
    added = lock.event_frame("password_add", {"user": 23}).payload
    assert added[5:8] == bytes.fromhex("01ff41")
    octets = added[9:]
    assert (octets[6], octets[9]) == (23, 3)
    with pytest.raises(ValueError, match="no event"):
        LumiLock("x", ieee="00:15:8d:00:01:02:03:05", nwk=2).event_frame("lock_state", {})


def test_device_answers_interview_requests_and_flips_the_direction() -> None:
    lock = LumiLock("door", ieee="00:15:8d:00:01:02:03:04", nwk=0x1A2B)
    (node,) = lock.handle(ApsRequest(0, 0, 0x0002, 0, b"\x07\x2b\x1a"))
    assert (node.cluster, node.payload[:4]) == (0x8002, bytes.fromhex("07002b1a"))
    assert len(node.payload) == 4 + 13
    (read,) = lock.handle(ApsRequest(1, 0x0104, 0x0000, 1, bytes.fromhex("00090004000500")))
    header = ZclHeader.parse(read.payload)
    assert header is not None
    assert (header.tsn, header.command, header.server_to_client) == (9, 0x01, True)
    assert read.payload[3:] == bytes.fromhex("0400") + b"\x00\x42\x04LUMI" + bytes.fromhex("0500") + \
        b"\x00\x42\x0dlumi.lock.aq1"


# ---- scenarios ------------------------------------------------------------------------------

GOOD = """
devices:
  door: {model: ZNMS11LM, ieee: "00:15:8d:00:01:02:03:04", nwk: 0x1a2b}
events:
  - {at: 0, device: door, event: finger_open, role: admin, user: 1}
  - {at: 0, every: 0.01, times: 3, device: door, event: raw, frame: "18 01", lqi: 7}
"""


HOUSE = """
devices:
  weather: {model: WSDCGQ11LM, ieee: "00:15:8d:00:07:00:01:03", nwk: 0x3103}
  plug: {model: lumi.plug, ieee: "00:15:8d:00:07:00:01:06", nwk: 0x3106}
  button: {model: WXKG11LM, ieee: "00:15:8d:00:07:00:01:04", nwk: 0x3104}
  leak: {model: SJCGQ11LM, ieee: "00:15:8d:00:07:00:01:05", nwk: 0x3105}
  light: {model: LED1545G12, ieee: "00:0b:57:ff:fe:00:00:07", nwk: 0x3107}
events:
"""


@pytest.mark.parametrize(("text", "message"), [
    ("devices: {door: {ieee: '00:15:8d:00:01:02:03:04', nwk: 1, colour: red}}", "colour"),
    ("devices: {door: {ieee: 'zz', nwk: 1}}", "ieee"),
    ("devices: {door: {model: lumi.sensor_cube, ieee: '00:15:8d:00:01:02:03:04', nwk: 1}}", "unknown model"),
    (GOOD + "  - {at: 1, device: window, event: ring_bell}", "events[2]: unknown device 'window'"),
    (GOOD + "  - {at: 1, device: door, event: fly}", "events[2]: device 'door'"),
    (GOOD + "  - {at: 1, device: door, event: finger_open, role: king}", "role must be admin or user"),
    (GOOD + "  - {at: 1, device: door, event: finger_not_match, repeat: 16}", "repeat must be"),
    (GOOD + "  - {at: 1, device: door, event: raw, frame: xyz}", "not hex"),
    (GOOD + "  - {at: 1, times: 2, device: door, event: ring_bell}", "times needs every"),
    (GOOD + "  - {at: 1, device: door, event: finger_open, usr: 3}", "events[2]: event 'finger_open' takes no usr"),
    ("events: [", "scenario"),
    (HOUSE + "  - {at: 1, device: weather, event: weather, temperature: hot}", "temperature must be a number"),
    (HOUSE + "  - {at: 1, device: plug, event: heartbeat, state: on}", "state must be ON or OFF"),
    (HOUSE + "  - {at: 1, device: button, event: double, clicks: 2}", "event 'double' takes no clicks"),
    (HOUSE + "  - {at: 1, device: leak, event: wet, battery_low: 1}", "battery_low must be true or false"),
    (HOUSE + "  - {at: 1, device: light, event: color_temp, color_temp: 100}", "color_temp must be an integer"),
    (HOUSE + "  - {at: 1, device: light, event: finger_open}", "device 'light'"),
])
def test_bad_scenarios_are_refused_with_the_place(text: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_scenario(text, "scenario.yaml")


def test_shipped_demo_scenario_is_valid(repo: Path) -> None:
    scenario = parse_scenario((repo / "flows" / "scenarios" / "demo.yaml").read_text(), "demo.yaml")
    assert set(scenario.devices) == {"front_door"}
    assert all(event.every for event in scenario.events[:-1])


def test_shipped_household_scenario_is_valid_and_every_device_reports_early(repo: Path) -> None:
    scenario = parse_scenario((repo / "flows" / "scenarios" / "household.yaml").read_text(), "household.yaml")
    assert len(scenario.devices) == 8
    early = {event.device for event in scenario.events if event.at < 8}
    assert early == set(scenario.devices)
    models = {device.name: (device.model, device.manufacturer) for device in scenario.build_devices()}
    assert models["hall_light"] == ("TRADFRI bulb E27 WS opal 980lm", "IKEA of Sweden")
    assert models["kitchen_plug"] == ("lumi.plug", "LUMI")


def test_a_heartbeat_is_the_lumi_struct_with_the_devices_state() -> None:
    from flowengine_nodes.emulator.catalog import make_device

    door = make_device("door", {"model": "MCCGQ11LM", "ieee": "00:15:8d:00:07:00:01:01", "nwk": 0x3101})
    door.event_frames("open", {})
    (frame,) = door.event_frames("heartbeat", {"voltage": 2985, "device_temperature": 19, "power_outage_count": 3})
    # Manufacturer-specific (Lumi 0x115F) Report Attributes of Basic 0xFF01, type 0x42, 29 bytes of entries.
    assert frame.cluster == 0x0000
    assert frame.payload[:3] == bytes.fromhex("1c5f11")
    assert frame.payload[4:9] == bytes.fromhex("0a01ff421d")
    assert frame.payload[9:] == bytes.fromhex(
        "0121a90b"          # 1: voltage 2985 mV
        "032813"            # 3: device temperature 19 °C
        "0421a813"          # 4: constant
        "05210400"          # 5: power outages + 1
        "06240200000000"    # 6: triggers + 1 (uint40): the opening
        "0a210000"          # 10: parent NWK
        "641001")           # 0x64: contact open
    plug = make_device("plug", {"model": "ZNCZ02LM", "ieee": "00:15:8d:00:07:00:01:06", "nwk": 0x3106})
    (frame,) = plug.event_frames("heartbeat", {"power": 42.5, "energy": 1.25, "voltage": 230.5, "current": 0.25})
    assert frame.payload[9:].hex() == (
        "03281e" "05210100" "07270000000000000000" "08212e10" "09210004" "641001"
        "95390000a03f" "963900101045" "973900007a43" "983900002a42" "9a2000")


def test_runner_sends_repeats_and_skips_known_devices() -> None:
    async def play() -> None:
        scenario = parse_scenario(GOOD)
        emulator = Emulator(devices=scenario.build_devices())
        emulator._host_ready.set()  # no host: frames are dropped, the runner still plays
        runner = ScenarioRunner(emulator, scenario)
        await runner.run()
        kinds = [(r.event.event if r.event else "join", r.frame.payload.hex() if r.frame else None)
                 for r in runner.sent]
        assert kinds[0][0] == "join"
        assert [k for k, _ in kinds[1:]] == ["finger_open", "raw", "raw", "raw"]
        assert [frame for _, frame in kinds[2:]] == ["1801"] * 3
        assert emulator.stats.dropped_without_host == 5
        again = ScenarioRunner(emulator, scenario)  # the stick now knows the device: no second join
        await again.run()
        assert again.sent[0].frame is None

    run_sync(play())


# ---- the command ---------------------------------------------------------------------------

def test_cli_refuses_a_bad_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("devices: {door: {nwk: 1}}")
    assert cli.main(["--scenario", str(bad)]) == 2
    assert "ieee" in capsys.readouterr().err


def test_one_host_at_a_time() -> None:
    async def connect() -> None:
        emulator = Emulator()
        await emulator.start()
        try:
            first = await asyncio.open_connection("127.0.0.1", emulator.port)
            await emulator.wait_host_connected()
            second_reader, second_writer = await asyncio.open_connection("127.0.0.1", emulator.port)
            assert await second_reader.read() == b""  # closed at once
            second_writer.close()
            await second_writer.wait_closed()
            assert emulator.stats.refused_connections == 1
            # The first host still gets answers: VERSION.
            first[1].write(encode(build_frame(Command.VERSION, 1, b"\x00\x00\x00\x00")))
            reply = await first[0].read(64)
            assert FrameDecoder().feed(reply) == [build_frame(Command.VERSION, 1, struct.pack("<I", 0x26720700))]
            first[1].close()
            await first[1].wait_closed()
        finally:
            await emulator.aclose()

    run_sync(connect())
