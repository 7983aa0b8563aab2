"""End-to-end: the ``zigbee`` node on real zigpy + zigpy-deconz against the emulator over TCP."""

from __future__ import annotations

from pathlib import Path

from flowengine.testing import run_sync
from nodes.zigbee.emulator.devices import ApsFrame
from nodes.zigbee.emulator.server import Emulator
from tests.nodes.zigbee.harness import LOCK_IEEE, Running, formed_emulator, make_lock


def _report_of(frame: ApsFrame) -> dict[str, object]:
    return {"frame": frame.payload.hex(), "cluster": frame.cluster, "endpoint": frame.src_endpoint,
            "lqi": frame.lqi, "rssi": frame.rssi}


def _picked(payload: dict[str, object]) -> dict[str, object]:
    return {key: payload[key] for key in ("frame", "cluster", "endpoint", "lqi", "rssi")}


async def _joined(tmp_path: Path, emulator: Emulator, running: Running) -> None:
    await running.wait_connected()
    await emulator.wait_host_ready()
    emulator.join("front_door")
    await running.wait_event("device_interviewed")


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
