"""The ``zigbee`` source's frame journal: frames kept until committed, replayed first, torn tails cut, bounded."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flowengine import Counters
from flowengine.testing import run_sync
from flowengine_nodes.zigbee import journal as journal_module
from flowengine_nodes.zigbee.journal import FrameJournal
from tests.nodes.zigbee.harness import LOCK_IEEE, Running, formed_emulator, join_and_interview, make_lock

LOGGER = logging.getLogger("test.journal")


def _record(number: int, ts: float = 1_700_000_000.0) -> dict[str, Any]:
    """A raw report as the source builds it; ``number`` in its frame so each one is told apart."""
    return {"ts": ts + number, "ieee": LOCK_IEEE, "nwk": "0x1a2b", "model": "lumi.lock.aq1", "manufacturer": "LUMI",
            "endpoint": 1, "profile": 260, "cluster": 257, "lqi": 120, "rssi": -60,
            "frame": f"1c5f11{number % 256:02x}0a10ff23{number:08x}"}


class Held:
    """A ``when_durable`` whose callbacks run only when the test says (a flow whose sinks have not caught up)."""

    def __init__(self) -> None:
        self.callbacks: list[Callable[[], object]] = []

    def __call__(self, callback: Callable[[], object]) -> None:
        self.callbacks.append(callback)

    def release(self) -> None:
        """Everything asked so far is durable."""
        callbacks, self.callbacks = self.callbacks, []
        for callback in callbacks:
            callback()


def _journal(path: Path, when_durable: Callable[[Callable[[], object]], object], **options: Any) -> FrameJournal:
    return FrameJournal(path, when_durable=when_durable, counters=Counters(), logger=LOGGER, **options)


def _reopened(path: Path) -> list[dict[str, Any]]:
    """What the next start would emit again from the journal at ``path`` (opened and closed)."""
    journal = _journal(path, Held())
    try:
        return journal.open()
    finally:
        journal.close()


async def _settle() -> None:
    """Let the journal's scheduled checkpoint (CHECKPOINT_DELAY after the first frame) run."""
    await asyncio.sleep(journal_module.CHECKPOINT_DELAY * 2)


def test_frames_not_committed_come_back_in_order_and_committed_ones_do_not(tmp_path: Path) -> None:
    path = tmp_path / "radio.journal"

    async def scenario() -> None:
        held = Held()
        first = _journal(path, held)
        assert first.open() == []
        for number in range(5):
            assert first.append(_record(number))
        await _settle()  # one checkpoint over frames 0-4
        held.release()  # ... acknowledged: committed
        for number in range(5, 8):
            first.append(_record(number))
        await _settle()  # a checkpoint over 5-7, never acknowledged: the runner is killed
        first.close()
        assert len(held.callbacks) == 1

        assert _reopened(path) == [_record(5), _record(6), _record(7)]

    run_sync(scenario())


def test_frames_of_a_checkpoint_taken_before_they_were_emitted_are_not_committed(tmp_path: Path) -> None:
    """A checkpoint is never taken inside ``append``: it would not wait for the frame being emitted."""
    path = tmp_path / "radio.journal"

    async def scenario() -> None:
        asked_after: list[int] = []
        emitted = 0

        def when_durable(callback: Callable[[], object]) -> None:
            asked_after.append(emitted)
            callback()

        journal = _journal(path, when_durable)
        journal.open()
        for number in range(journal_module.CHECKPOINT_FRAMES):
            journal.append(_record(number))
            emitted += 1  # the source emits right after append
        await asyncio.sleep(0)
        assert asked_after == [journal_module.CHECKPOINT_FRAMES]
        journal.close()

    run_sync(scenario())


def test_a_torn_last_line_and_a_damaged_line_are_cut_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "radio.journal"

    async def scenario() -> None:
        journal = _journal(path, Held())
        journal.open()
        for number in range(4):
            journal.append(_record(number))
        journal.close()
        lines = path.read_bytes().split(b"\n")
        lines[1] = lines[1].replace(b'"lqi":120', b'"lqi":121')  # its CRC no longer matches
        path.write_bytes(b"\n".join(lines) + b'17 0badc0de {"ts":1700000017.0,"ie')  # killed mid-write

        with caplog.at_level(logging.WARNING, logger=LOGGER.name):
            assert _reopened(path) == [_record(0), _record(2), _record(3)]
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert str(path) in warnings[0]
        assert "1 damaged line" in warnings[0]
        assert path.read_bytes().endswith(b"\n")  # the next append starts a line of its own
        assert _reopened(path) == [_record(0), _record(2), _record(3)]

    run_sync(scenario())


def test_the_file_is_compacted_once_its_frames_are_committed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(journal_module, "COMPACT_BYTES", 20_000)
    path = tmp_path / "radio.journal"

    async def scenario() -> None:
        journal = _journal(path, lambda callback: callback(), fsync=False)
        journal.open()
        largest = 0
        for number in range(2_000):  # about 500 KB of lines
            journal.append(_record(number))
            if number % 50 == 49:
                await asyncio.sleep(0)  # the checkpoint runs, its frames are committed
                largest = max(largest, path.stat().st_size)
        journal.close()
        assert largest < 20_000 + 60 * 300  # never much beyond the threshold
        assert _reopened(path) == []

    run_sync(scenario())


def test_uncommitted_frames_beyond_the_bound_go_on_unjournaled_with_one_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "radio.journal"

    async def scenario() -> None:
        counters = Counters()
        journal = FrameJournal(path, when_durable=Held(), counters=counters, logger=LOGGER, max_bytes=3_000)
        journal.open()
        with caplog.at_level(logging.ERROR, logger=LOGGER.name):
            taken = [journal.append(_record(number)) for number in range(40)]
        journal.close()
        assert taken[0]
        assert not taken[-1]
        assert counters["unjournaled"] == taken.count(False)
        assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1
        assert len(_reopened(path)) == taken.count(True)

    run_sync(scenario())


def test_the_node_emits_journaled_frames_first_with_their_receive_time_then_live_ones(tmp_path: Path) -> None:
    async def scenario() -> None:
        held = Held()
        earlier = _journal(tmp_path / "zigbee.journal", held)
        earlier.open()
        for number in range(3):
            earlier.append(_record(number))
        earlier.close()  # a run killed before its sinks had these three

        emulator = formed_emulator(tmp_path, make_lock())
        await emulator.start()
        try:
            async with Running(tmp_path, device=emulator.device_path, database="zigbee.db") as running:
                first = await running.out.wait_count(3)
                assert [msg.payload for msg in first[:3]] == [_record(0), _record(1), _record(2)]
                assert [msg.meta["ts"] for msg in first[:3]] == [_record(n)["ts"] for n in range(3)]
                await join_and_interview(emulator, running)
                emulator.send_event("front_door", "finger_open", role="admin", user=3)
                live = await running.out.wait_for(lambda msg: msg.payload["frame"] not in
                                                  {_record(n)["frame"] for n in range(3)})
                assert live.meta["ts"] > _record(2)["ts"]
        finally:
            await emulator.aclose()
        # Outside an engine every emit is durable at once: nothing is left for a next start.
        assert _reopened(tmp_path / "zigbee.journal") == []

    run_sync(scenario())


def test_fsync_batch_syncs_at_most_every_interval_and_the_last_frames_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal_module, "FSYNC_INTERVAL", 0.5)
    synced: list[float] = []
    real_fsync = os.fsync

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        second = asyncio.Event()

        def counting_fsync(fd: int) -> None:
            real_fsync(fd)
            synced.append(loop.time())
            if len(synced) == 3:  # open()'s, the first checkpoint's, the deferred one
                loop.call_soon_threadsafe(second.set)

        monkeypatch.setattr(os, "fsync", counting_fsync)
        journal = _journal(tmp_path / "radio.journal", lambda callback: callback(), fsync=True)
        journal.open()
        assert len(synced) == 1  # open() syncs the file it rewrote
        for number in range(3):  # three checkpoints, CHECKPOINT_DELAY * 2 apart: far less than the interval
            journal.append(_record(number))
            await _settle()
        assert len(synced) == 2  # the first checkpoint's sync; the others wait for the interval ...
        async with asyncio.timeout(5):
            await second.wait()  # ... and come once it has passed, though nothing more was written
        assert synced[2] - synced[1] >= 0.5 * 0.9
        journal.close()

    run_sync(scenario())
