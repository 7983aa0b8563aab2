"""The emulator's replay of recorded frames (flowengine_nodes.emulator.replay)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowengine.testing import run_sync
from flowengine_nodes.emulator.devices import ApsFrame
from flowengine_nodes.emulator.replay import RecordedFrame, replay, with_tsn
from tests.nodes.zigbee.harness import LOCK_IEEE, Running, formed_emulator, join_and_interview, make_lock


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ("18330a10ff2310000011", "18070a10ff2310000011"),  # TSN after the frame control
        ("1c5f11330a10ff23", "1c5f11070a10ff23"),  # after the manufacturer code
        ("1c5f11", "1c5f11"),  # too short to hold one: unchanged
        ("", ""),
    ],
)
def test_the_sequence_number_is_replaced(frame: str, expected: str) -> None:
    assert with_tsn(bytes.fromhex(frame), 7).hex() == expected


def test_recorded_frames_reach_the_host_in_order_with_fresh_sequence_numbers(tmp_path: Path) -> None:
    report = {"ieee": LOCK_IEEE.upper(), "endpoint": 1, "profile": 260, "cluster": 257, "lqi": 99, "rssi": -70,
              "frame": "18010a10ff2310000011"}
    recorded = [RecordedFrame.from_report(report)] * 3

    async def scenario() -> None:
        emulator = formed_emulator(tmp_path, make_lock())
        await emulator.start()
        try:
            async with Running(tmp_path, device=emulator.device_path, database="zigbee.db") as running:
                await join_and_interview(emulator, running)
                queued: list[tuple[int, ApsFrame]] = []
                start = len(running.out.messages)
                await replay(emulator, recorded, rate=200.0, on_queued=lambda i, f, _t: queued.append((i, f)))
                await running.out.wait_count(start + 3)
                frames = [m.payload["frame"] for m in running.out.messages[start:]]
                assert frames == [f.payload.hex() for _, f in queued]
                assert [i for i, _ in queued] == [0, 1, 2]
                assert len({f[2:4] for f in frames}) == 3  # three different TSNs, the rest as recorded
                assert {f[:2] + f[4:] for f in frames} == {"180a10ff2310000011"}
                assert all(m.payload["lqi"] == 99 and m.payload["rssi"] == -70 for m in running.out.messages[start:])
                with pytest.raises(KeyError):
                    await replay(emulator, [RecordedFrame.from_report({**report, "ieee": "00:00:00:00:00:00:00:01"})],
                                 rate=None)
                with pytest.raises(ValueError, match="rate"):
                    await replay(emulator, recorded, rate=0)
        finally:
            await emulator.aclose()

    run_sync(scenario())

