"""Attribute reports the flow decodes bypass zigpy's parsing, cache and database (stack.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
import zigpy.types as zigpy_t

from flowengine.testing import run_sync
from flowengine_nodes.emulator.devices import ApsRequest, LumiLock
from flowengine_nodes.zigbee.stack import is_plain_report
from tests.nodes.zigbee.harness import LOCK_IEEE, TIMEOUT, Running, formed_emulator, join_and_interview, make_lock

DOOR_LOCK = 0x0101
LOCK_STATE = 0x0000


def _lock_state_report(lock: LumiLock, state: int, *, disable_default_response: bool) -> bytes:
    """A ZCL Report Attributes of lock_state (enum8), server to client."""
    control = 0x18 if disable_default_response else 0x08
    return bytes((control, lock.next_tsn(), 0x0A)) + LOCK_STATE.to_bytes(2, "little") + bytes((0x30, state))


def _door_lock_requests(lock: LumiLock) -> list[ApsRequest]:
    return [r for r in lock.requests if r.cluster == DOOR_LOCK]


def _default_responses(lock: LumiLock) -> list[ApsRequest]:
    return [r for r in lock.requests if r.cluster == DOOR_LOCK and len(r.payload) >= 3 and r.payload[2] == 0x0B]


async def _until(condition: Callable[[], object]) -> None:
    """Wait for a condition nothing signals (the emulator records requests without an event)."""
    async with asyncio.timeout(TIMEOUT):
        while not condition():  # noqa: ASYNC110 - no event to await
            await asyncio.sleep(0.01)


def test_reports_reach_the_flow_but_not_zigpy_and_a_restart_still_knows_the_lock(tmp_path: Path) -> None:
    async def first_run() -> None:
        lock = make_lock()
        emulator = formed_emulator(tmp_path, lock)
        await emulator.start()
        try:
            async with Running(tmp_path, device=emulator.device_path, database="zigbee.db") as running:
                await join_and_interview(emulator, running)
                app = running.node.application
                assert app is not None
                device = app.get_device(zigpy_t.EUI64.convert(LOCK_IEEE))
                door_lock = device.endpoints[1].in_clusters[DOOR_LOCK]
                asked = _door_lock_requests(lock)

                plain = lock.frame(_lock_state_report(lock, 1, disable_default_response=True), cluster=DOOR_LOCK,
                                   lqi=33, rssi=-71)
                emulator.send(plain)
                opened = emulator.send_event("front_door", "finger_open", role="admin", user=1, lqi=44, rssi=-72)
                await running.out.wait_for(lambda m: m.payload["frame"] == opened.payload.hex())
                # Both went out as raw reports; zigpy never parsed them: its cache has no lock_state,
                # and the lock was sent nothing (the frames ask for no Default Response).
                assert [m.payload["frame"] for m in running.out.messages[-2:]] == [
                    plain.payload.hex(), opened.payload.hex()]
                assert door_lock.get("lock_state") is None
                assert (device.lqi, device.rssi) == (44, -72)
                assert device.last_seen is not None
                assert _door_lock_requests(lock) == asked

                # A report that asks for a Default Response goes to zigpy, which parses it and answers.
                wanting = lock.frame(_lock_state_report(lock, 2, disable_default_response=False), cluster=DOOR_LOCK)
                emulator.send(wanting)
                await running.out.wait_for(lambda m: m.payload["frame"] == wanting.payload.hex())
                await _until(lambda: _default_responses(lock))
                answer = _default_responses(lock)[0].payload
                assert answer[1] == wanting.payload[1]  # same TSN
                assert answer[3:5] == bytes((0x0A, 0x00))  # to Report Attributes, success
                assert door_lock.get("lock_state") == 2
        finally:
            await emulator.aclose()

    async def second_run() -> None:
        lock = make_lock()
        emulator = formed_emulator(tmp_path, lock)
        await emulator.start()
        try:
            async with Running(tmp_path, device=emulator.device_path, database="zigbee.db") as running:
                restored = await running.wait_event("device_restored")
                assert restored.payload["ieee"] == LOCK_IEEE
                assert restored.payload["model"] == "lumi.lock.aq1"
                assert restored.payload["endpoints"][0]["in_clusters"] == [0x0000, 0x0001, 0x0003, DOOR_LOCK]
                await emulator.wait_host_ready()
                sent = emulator.send_event("front_door", "ring_bell")
                report = await running.out.wait_for(lambda m: m.payload["frame"] == sent.payload.hex())
                assert report.payload["model"] == "lumi.lock.aq1"
                assert _door_lock_requests(lock) == []
        finally:
            await emulator.aclose()

    run_sync(first_run())
    run_sync(second_run())


def _packet(frame: str, *, cluster: int = DOOR_LOCK, profile: int = 0x0104, src_ep: int = 1) -> zigpy_t.ZigbeePacket:
    return zigpy_t.ZigbeePacket(src_ep=src_ep, dst_ep=1, profile_id=profile, cluster_id=cluster,
                                data=zigpy_t.SerializableBytes(bytes.fromhex(frame)))


@pytest.mark.parametrize(
    ("frame", "cluster", "profile", "src_ep", "plain"),
    [
        ("18010a0000" "3001", DOOR_LOCK, 0x0104, 1, True),  # report
        ("1c5f11010a10ff2310000011", DOOR_LOCK, 0x0104, 1, True),  # manufacturer-specific report
        ("08010a00003001", DOOR_LOCK, 0x0104, 1, True),  # report asking for a Default Response (decided later)
        ("1801010000003001", DOOR_LOCK, 0x0104, 1, False),  # read attributes response
        ("19010000", DOOR_LOCK, 0x0104, 1, False),  # cluster-specific command
        ("18010a0500420161", 0x0000, 0x0104, 1, False),  # Basic: zigpy keeps model and manufacturer
        ("18010a00003001", DOOR_LOCK, 0xC05E, 1, False),  # not the HA profile
        ("18010a00003001", DOOR_LOCK, 0x0104, 0, False),  # ZDO endpoint
        ("1c5f11", DOOR_LOCK, 0x0104, 1, False),  # too short for a command id
        ("", DOOR_LOCK, 0x0104, 1, False),
    ],
)
def test_which_frames_are_plain_reports(frame: str, cluster: int, profile: int, src_ep: int, plain: bool) -> None:
    packet = _packet(frame, cluster=cluster, profile=profile, src_ep=src_ep)
    assert is_plain_report(packet, bytes.fromhex(frame)) is plain

