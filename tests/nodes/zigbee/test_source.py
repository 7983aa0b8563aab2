"""End-to-end: the ``zigbee`` node on real zigpy + zigpy-deconz against the emulator over TCP."""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import pytest

from flowengine.testing import run_sync
from flowengine_nodes.emulator.devices import ApsFrame
from tests.nodes.zigbee.harness import LOCK_IEEE, Running, formed_emulator, join_and_interview, make_lock


def _report_of(frame: ApsFrame) -> dict[str, object]:
    return {"frame": frame.payload.hex(), "cluster": frame.cluster, "endpoint": frame.src_endpoint,
            "lqi": frame.lqi, "rssi": frame.rssi}


def _picked(payload: dict[str, object]) -> dict[str, object]:
    return {key: payload[key] for key in ("frame", "cluster", "endpoint", "lqi", "rssi")}


def test_lock_joins_is_interviewed_and_every_scripted_frame_is_a_raw_report(tmp_path: Path) -> None:
    async def scenario() -> None:
        emulator = formed_emulator(tmp_path, make_lock())
        await emulator.start()
        try:
            async with Running(tmp_path, device=emulator.device_path, database="zigbee.db") as running:
                await running.wait_connected()
                await emulator.wait_host_ready()
                emulator.join("front_door")
                joined = await running.wait_event("device_joined")
                assert joined.payload["ieee"] == LOCK_IEEE
                assert joined.payload["nwk"] == "0x1a2b"
                interviewed = await running.wait_event("device_interviewed")
                assert interviewed.payload["model"] == "lumi.lock.aq1"
                assert interviewed.payload["manufacturer"] == "LUMI"
                assert interviewed.payload["endpoints"][0]["in_clusters"] == [0x0000, 0x0001, 0x0003, 0x0101]
                assert interviewed.meta["ieee"] == LOCK_IEEE

                start = len(running.out.messages)
                sent = [
                    emulator.send_event("front_door", "finger_open", role="admin", user=1, lqi=201, rssi=-41),
                    emulator.send_event("front_door", "password_open", role="user", user=217, lqi=17, rssi=-90),
                    emulator.send_event("front_door", "finger_not_match", repeat=3, lqi=56, rssi=-77),
                    emulator.send_event("front_door", "password_not_match", repeat=5),
                    emulator.send_event("front_door", "ring_bell", lqi=109),
                    emulator.send_event("front_door", "finger_add", user=57, lqi=132, rssi=-50),
                    emulator.send_event("front_door", "password_delete", user=3),
                    emulator.send_event("front_door", "door_closed", role="admin", user=5),
                ]
                await running.out.wait_count(start + len(sent))
                reports = running.out.messages[start:]
                assert [_picked(m.payload) for m in reports] == [_report_of(f) for f in sent]
                first = reports[0]
                assert first.payload["frame"] == "1c5f11" + f"{sent[0].payload[3]:02x}" + "0a10ff2310000011"
                assert first.topic == f"zigbee/{LOCK_IEEE}/1/257"
                assert first.payload["ieee"] == LOCK_IEEE
                assert first.payload["nwk"] == "0x1a2b"
                assert first.payload["model"] == "lumi.lock.aq1"
                assert first.payload["manufacturer"] == "LUMI"
                assert first.payload["profile"] == 260
                assert first.meta == {"ts": first.payload["ts"], "ieee": LOCK_IEEE, "source": "radio"}
                # The 0xFF11 value of a failed fingerprint, three tries: 0x30000400.
                assert reports[2].payload["frame"].endswith("11ff2300040030")
                assert running.node.counters["frames"] >= len(sent)
        finally:
            await emulator.aclose()

    run_sync(scenario())


def test_restart_on_the_same_database_knows_the_lock_without_a_rejoin(tmp_path: Path) -> None:
    async def first_run() -> None:
        emulator = formed_emulator(tmp_path, make_lock())
        await emulator.start()
        try:
            async with Running(tmp_path, device=emulator.device_path, database="zigbee.db") as running:
                await join_and_interview(emulator, running)
        finally:
            await emulator.aclose()

    async def second_run() -> None:
        lock = make_lock()
        emulator = formed_emulator(tmp_path, lock)
        assert lock.joined  # the stick remembers it, as a real one would
        await emulator.start()
        try:
            async with Running(tmp_path, device=emulator.device_path, database="zigbee.db") as running:
                restored = await running.wait_event("device_restored")
                assert restored.payload["ieee"] == LOCK_IEEE
                assert restored.payload["model"] == "lumi.lock.aq1"
                await emulator.wait_host_ready()
                sent = emulator.send_event("front_door", "finger_open", role="user", user=9, lqi=77, rssi=-66)
                report = await running.out.wait_for(lambda m: m.payload["frame"] == sent.payload.hex())
                assert report.payload["model"] == "lumi.lock.aq1"
                assert (report.payload["lqi"], report.payload["rssi"]) == (77, -66)
                # No re-join and no interview: zigpy sent the lock nothing at all.
                assert lock.requests == []
                assert not [m for m in running.events.messages if m.payload["event"] == "device_joined"]
                assert emulator.stats.connections == 1
        finally:
            await emulator.aclose()

    run_sync(first_run())
    run_sync(second_run())


def test_dropped_connection_reconnects_and_reports_keep_flowing(tmp_path: Path) -> None:
    async def scenario() -> None:
        emulator = formed_emulator(tmp_path, make_lock())
        await emulator.start()
        try:
            async with Running(tmp_path, device=emulator.device_path, database="zigbee.db") as running:
                await join_and_interview(emulator, running)
                before = emulator.send_event("front_door", "ring_bell")
                await running.out.wait_for(lambda m: m.payload["frame"] == before.payload.hex())

                mark = len(running.events.messages)
                emulator.drop_connection()
                lost = await running.events.wait_for(
                    lambda m: m.payload["event"] == "coordinator" and m.payload["state"] == "disconnected",
                    start=mark)
                assert "lost" in lost.payload["detail"]
                await running.wait_connected(start=mark)
                await emulator.wait_host_ready()
                assert emulator.stats.connections == 2
                restored = await running.wait_event("device_restored", start=mark)
                assert restored.payload["ieee"] == LOCK_IEEE

                after = emulator.send_event("front_door", "finger_open", role="admin", user=2, lqi=99, rssi=-70)
                report = await running.out.wait_for(lambda m: m.payload["frame"] == after.payload.hex())
                assert (report.payload["lqi"], report.payload["rssi"]) == (99, -70)
        finally:
            await emulator.aclose()

    run_sync(scenario())


def test_frames_zigpy_cannot_parse_still_go_out_as_raw_reports(tmp_path: Path) -> None:
    frames = [
        "18010a10ff231000",          # truncated uint32 (the reference rejects it)
        "1c5f11020a10ff42",          # char string without its length
        "1c5f1103ff0102",            # unknown foundation command
        "19040099",                  # cluster-specific command zigpy does not know
        "18050a10ff2310000011",      # well formed, client-to-server direction
    ]

    async def scenario() -> None:
        emulator = formed_emulator(tmp_path, make_lock())
        await emulator.start()
        try:
            async with Running(tmp_path, device=emulator.device_path, database="zigbee.db") as running:
                await join_and_interview(emulator, running)
                start = len(running.out.messages)
                sent = [emulator.send_event("front_door", "raw", frame=hex_frame, lqi=10 + index)
                        for index, hex_frame in enumerate(frames)]
                sent.append(emulator.send_event("front_door", "raw", frame="1c5f11060a11ff2300000010",
                                                cluster=0xFCC0, endpoint=1))
                await running.out.wait_count(start + len(sent))
                reports = running.out.messages[start:]
                assert [m.payload["frame"] for m in reports] == [*frames, "1c5f11060a11ff2300000010"]
                assert [m.payload["lqi"] for m in reports[:5]] == [10, 11, 12, 13, 14]
                assert reports[-1].topic == f"zigbee/{LOCK_IEEE}/1/{0xFCC0}"
                assert running.node.application is not None  # still connected, nothing crashed
        finally:
            await emulator.aclose()

    run_sync(scenario())


def test_short_frames_are_emitted_counted_and_do_not_stall_the_poller(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    short = ["18", "1c5f11", "", "0c5f"]

    async def scenario() -> None:
        emulator = formed_emulator(tmp_path, make_lock())
        await emulator.start()
        try:
            async with Running(tmp_path, device=emulator.device_path, database="zigbee.db") as running:
                await join_and_interview(emulator, running)
                caplog.clear()
                start = len(running.out.messages)
                sent = []
                for index, hex_frame in enumerate(short):
                    sent.append(emulator.send_event("front_door", "raw", frame=hex_frame, lqi=30 + index))
                    sent.append(emulator.send_event("front_door", "finger_open", role="admin", user=index))
                await running.out.wait_count(start + len(sent))
                reports = running.out.messages[start:]
                assert [m.payload["frame"] for m in reports] == [f.payload.hex() for f in sent]
                assert [m.payload["lqi"] for m in reports[0::2]] == [30, 31, 32, 33]
                assert running.node.counters["short_frames"] == len(short)
                # zigpy raised on them and the node shielded zigpy-deconz's poller: it never restarted.
                assert running.node.counters["zigpy_errors"] >= 1
                assert not [r for r in caplog.records if "restarting" in r.getMessage()]
        finally:
            await emulator.aclose()

    with caplog.at_level(logging.DEBUG, logger="zigpy_deconz"):
        run_sync(scenario())


SCENARIO = """
devices:
  front_door: {model: lumi.lock.aq1, ieee: "00:15:8d:00:01:02:03:04", nwk: 0x1a2b, lqi: 120, rssi: -60}
  back_door: {model: ZNMS12LM, ieee: "00:15:8d:00:0a:0b:0c:0d", nwk: 0x2b3c, join: 0.05}
  garage: {model: lumi.lock.acn03, ieee: "00:15:8d:00:0e:0f:10:11", nwk: 0x3c4d, join: 0.1}
events:
  - {at: 0.2, device: front_door, event: finger_open, role: admin, user: 1}
  - {at: 0.2, device: front_door, event: finger_not_match, repeat: 2, lqi: 56, rssi: -80}
  - {at: 0.25, device: front_door, event: ring_bell, lqi: 109}
  - {at: 0.25, device: front_door, event: password_add, user: 7}
  - {at: 0.3, device: back_door, event: lock_state, state: locked, lqi: 22, rssi: -88}
  - {at: 0.3, device: back_door, event: finger_open, role: user, user: 13}
  - {at: 0.3, device: back_door, event: battery, voltage: 3050}
  - {at: 0.35, device: garage, event: lock_state, state: lock_opened_outside}
  - {at: 0.35, device: garage, event: password_not_match, repeat: 3}
  - {at: 0.4, every: 0.05, times: 3, device: front_door, event: raw, frame: "1c5f11", lqi: 5}
"""


def test_emulated_device_plays_a_scenario_and_keeps_its_stick_beside_the_database(tmp_path: Path) -> None:
    (tmp_path / "scenario.yaml").write_text(SCENARIO, encoding="utf-8")

    async def run(expect_join: bool) -> None:
        async with Running(tmp_path, device="emulated", scenario="scenario.yaml", permit_join=60,
                           database="state/zigbee.db") as running:
            runner = running.node.scenario_runner
            emulator = running.node.emulator
            assert runner is not None
            assert emulator is not None
            await runner.done.wait()
            sent = [record.frame for record in runner.sent if record.frame is not None and record.event is not None]
            assert len(sent) == 12
            position = 0
            for frame in sent:  # in order: one indication queue carries every device's frames
                match = await running.out.wait_for(
                    lambda m, f=frame: m.payload["frame"] == f.payload.hex() and m.payload["lqi"] == f.lqi
                    and m.payload["rssi"] == f.rssi, start=position)
                position = running.out.messages.index(match) + 1
            by_model = {m.payload.get("model") for m in running.out.messages} - {None}
            assert by_model == {"lumi.lock.aq1", "lumi.lock.acn02", "lumi.lock.acn03"}
            assert running.node.counters["short_frames"] == 3
            assert emulator.permit_join_seconds == 60
            permit = await running.wait_event("permit_join")
            assert permit.payload["seconds"] == 60
            joins = [m for m in running.events.messages if m.payload["event"] == "device_joined"]
            assert len(joins) == (3 if expect_join else 0)

    run_sync(run(expect_join=True))
    assert (tmp_path / "state" / "zigbee.stick.json").exists()
    assert (tmp_path / "state" / "zigbee.db").exists()
    run_sync(run(expect_join=False))


def _ota_image(manufacturer: int, image_type: int, version: int, payload: bytes) -> bytes:
    """A Zigbee OTA file: 56-byte header and one upgrade-image sub-element."""
    total = 56 + 6 + len(payload)
    header = struct.pack("<IHHHHHIH32sI", 0x0BEEF11E, 0x0100, 56, 0x0000, manufacturer, image_type, version,
                         0x0002, b"flowengine test image".ljust(32, b"\0"), total)
    return header + struct.pack("<HI", 0x0000, len(payload)) + payload


@pytest.mark.parametrize("auto_update", [False, True])
def test_ota_image_query_is_answered_from_ota_dir(tmp_path: Path, auto_update: bool,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # After an update zigpy waits 10 s (a real device reboots) before reading the version back.
    monkeypatch.setattr("zigpy.device.AFTER_OTA_ATTR_READ_DELAY", 0.01)
    ota_dir = tmp_path / "ota"
    ota_dir.mkdir()
    image = _ota_image(0x115F, 0x1000, 0x00000020, bytes(range(256)) * 2)
    (ota_dir / "lumi-lock.ota").write_bytes(image)

    async def scenario() -> None:
        lock = make_lock()
        emulator = formed_emulator(tmp_path, lock)
        await emulator.start()
        try:
            async with Running(tmp_path, device=emulator.device_path, database="zigbee.db", ota_dir="ota",
                               ota_auto_update=auto_update) as running:
                await join_and_interview(emulator, running)
                available = await running.wait_event("ota_image_available")
                assert available.payload["ieee"] == LOCK_IEEE
                assert available.payload["current_version"] == 0x10
                assert available.payload["version"] == 0x20
                assert str(ota_dir) in available.payload["source"]
                if not auto_update:
                    # zigpy answers a spontaneous query "no image" and only reports what it found.
                    assert lock.ota_progress.last_query_status == 0x98
                    return
                finished = await running.wait_event("ota_update_finished")
                assert finished.payload["ok"] is True
                assert finished.payload["version"] == 0x20
                assert lock.ota_progress.offered_version == 0x20
                assert bytes(lock.ota_progress.received) == image
                assert lock.ota_progress.finished_version == 0x20
        finally:
            await emulator.aclose()

    run_sync(scenario())


def test_coordinator_gone_for_a_while_is_retried_until_it_is_back(tmp_path: Path) -> None:
    async def scenario() -> None:
        emulator = formed_emulator(tmp_path, make_lock())
        await emulator.start()
        port = emulator.port
        async with Running(tmp_path, device=emulator.device_path, database="zigbee.db") as running:
            await join_and_interview(emulator, running)
            mark = len(running.events.messages)
            await emulator.aclose()  # the stick is unplugged: connections are refused from now on
            await running.events.wait_for(
                lambda m: m.payload["event"] == "coordinator" and m.payload["state"] == "disconnected"
                and "lost" in m.payload["detail"], start=mark)
            refused = await running.events.wait_for(
                lambda m: m.payload["event"] == "coordinator" and m.payload["state"] == "disconnected"
                and "lost" not in m.payload["detail"], start=mark)
            assert refused.payload["detail"]  # why it failed, e.g. connection refused
            back = formed_emulator(tmp_path, make_lock())
            await back.start(port=port)
            try:
                await running.wait_connected(start=mark)
                await back.wait_host_ready()
                sent = back.send_event("front_door", "password_open", role="admin", user=4, lqi=81, rssi=-59)
                report = await running.out.wait_for(lambda m: m.payload["frame"] == sent.payload.hex())
                assert report.payload["model"] == "lumi.lock.aq1"
            finally:
                await back.aclose()

    run_sync(scenario())


def test_a_missing_serial_port_is_reported_as_failed_not_crashing(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Running(tmp_path, device=str(tmp_path / "ttyACM9")) as running:
            failed = await running.events.wait_for(
                lambda m: m.payload["event"] == "coordinator" and m.payload["state"] == "failed")
            assert "does not exist" in failed.payload["detail"]
            assert failed.payload["device"] == str(tmp_path / "ttyACM9")

    run_sync(scenario())


def test_config_is_checked() -> None:
    from pydantic import ValidationError

    from flowengine_nodes.zigbee.source import ZigbeeConfig

    ZigbeeConfig.model_validate({"device": "emulated", "scenario": "s.yaml", "permit_join": 254,
                                 "network": {"channel": 25, "pan_id": 0x1A62,
                                             "extended_pan_id": "DD:DD:DD:DD:DD:DD:DD:DD",
                                             "network_key": ":".join(["01"] * 16)}})
    # One flow serves the emulator and a real stick (device: ${ZIGBEE_DEVICE:-emulated}): a scenario
    # beside a real device is accepted and ignored at start, with a warning.
    ZigbeeConfig.model_validate({"device": "/dev/ttyACM0", "scenario": "s.yaml"})
    for bad in ({"device": "emulated", "permit_join": 255},
                {"device": "emulated", "network": {"channel": 27}},
                {"device": "emulated", "network": {"network_key": "01:02"}},
                {"device": "emulated", "radio": "ezsp"}, {"device": "emulated", "colour": "red"}):
        with pytest.raises(ValidationError):
            ZigbeeConfig.model_validate(bad)
    secret = ZigbeeConfig.model_validate({"device": "emulated", "network": {"network_key": ":".join(["ab"] * 16)}})
    assert "ab:ab" not in repr(secret)


def test_a_device_the_stick_knows_but_the_database_lost_is_rediscovered(tmp_path: Path) -> None:
    async def first_run() -> None:
        emulator = formed_emulator(tmp_path, make_lock())
        await emulator.start()
        try:
            async with Running(tmp_path, device=emulator.device_path, database="zigbee.db") as running:
                await join_and_interview(emulator, running)
        finally:
            await emulator.aclose()

    async def second_run() -> None:
        emulator = formed_emulator(tmp_path, make_lock())
        await emulator.start()
        try:
            async with Running(tmp_path, device=emulator.device_path, database="fresh.db") as running:
                await running.wait_connected()
                await emulator.wait_host_ready()
                lost = emulator.send_event("front_door", "finger_open", role="admin", user=1)
                # Unknown address: no report, zigpy asks who it is (IEEE_addr_req) and interviews it.
                interviewed = await running.wait_event("device_interviewed")
                assert interviewed.payload["ieee"] == LOCK_IEEE
                assert running.node.counters["unknown_source"] == 1
                assert lost.payload.hex() not in [m.payload["frame"] for m in running.out.messages]
                sent = emulator.send_event("front_door", "ring_bell")
                await running.out.wait_for(lambda m: m.payload["frame"] == sent.payload.hex())
        finally:
            await emulator.aclose()

    run_sync(first_run())
    run_sync(second_run())
