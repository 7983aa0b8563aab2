"""The ``zigbee`` source's frame journal: a frame taken from the stick is kept until the flow has it.

A coordinator hands each frame to the host once (the deCONZ protocol has no redelivery),
so a frame in flight inside a killed runner cannot be asked for again. The journal keeps
it instead: the source appends every raw report to an append-only file *before* the
report enters the flow, and commits it once the sinks have it durably (the engine's
end-to-end acknowledgement, ``Source.when_durable``), exactly as ``zigbee-replay`` commits
its position. At the next start, the frames journaled and not committed are emitted again
first, with their original ``ts`` (event time), then live frames. See docs/zigbee.md.

File format: one record per line (so a torn tail is easy to see and cut), either a frame
``<number> <crc32 of the JSON, 8 hex digits> <the raw report as JSON>`` or a commit
``c <number>`` (every frame up to ``<number>`` is durable downstream).

Cost per frame: one ``orjson.dumps``, one CRC and one ``write()`` (the line reaches the
OS: enough against a SIGKILL). With ``journal_fsync: batch`` the file is also synced after
each checkpoint, at most every :data:`FSYNC_INTERVAL`, in a worker thread, off the frame's
path (a power cut then loses at most the last second of frames; with ``never`` whatever
the OS had not written back).

Size is bounded: once the file exceeds :data:`COMPACT_BYTES` and its uncommitted part is
small, it is rewritten with only that part (a new file renamed over the old one); when
the uncommitted part alone reaches ``max_bytes`` (the sinks have stopped taking frames),
frames go on into the flow without being journaled, counted, with one log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import zlib
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

#: Frames journaled before the source takes a checkpoint (also taken CHECKPOINT_DELAY after the first).
CHECKPOINT_FRAMES = 64
#: Seconds between the first unchecked frame and its checkpoint: a quiet radio's frames are committed soon.
CHECKPOINT_DELAY = 0.05
#: Seconds between two syncs of the file at most (``fsync: batch``): the bound of what a power cut loses.
FSYNC_INTERVAL = 1.0
#: The file is compacted (rewritten with its uncommitted lines only) once it is this large.
COMPACT_BYTES = 1 << 20
#: Default bound of the uncommitted part: beyond it, frames are not journaled (counted).
DEFAULT_MAX_BYTES = 64 << 20

Record = dict[str, Any]


class FrameJournal:
    """An append-only file of the frames a source took, committed once the flow has them durably.

    Use :meth:`open` once (it returns the frames to emit again, in order), then :meth:`append`
    for every frame before it is emitted, :meth:`checkpoint` when the source stops, and
    :meth:`close`. Everything runs on the flow's loop.
    """

    def __init__(
        self,
        path: Path,
        *,
        when_durable: Callable[[Callable[[], object]], object],
        counters: Any,
        logger: logging.Logger,
        fsync: bool = True,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        """Journal into ``path``; ``when_durable`` is the source's (commits run through it)."""
        self.path = path
        self._when_durable = when_durable
        self._counters = counters
        self._logger = logger
        self._fsync = fsync
        self._max_bytes = max_bytes
        self._fd = -1
        self._size = 0
        #: Uncommitted lines, oldest first: (number, line). Compaction writes these.
        self._pending: deque[tuple[int, bytes]] = deque()
        self._pending_bytes = 0
        self._next = 1
        self._asked = 0  # highest number a checkpoint was taken for
        self._committed = 0
        self._unchecked = 0
        self._timer: asyncio.Handle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._syncing = False
        self._sync_again = False
        self._sync_timer: asyncio.TimerHandle | None = None
        self._synced_at = -FSYNC_INTERVAL
        self._failing: str | None = None

    # ---- start ------------------------------------------------------------------------------

    def open(self) -> list[Record]:
        """Read the journal, cut what is unreadable, keep only its uncommitted frames; return them in order.

        A torn last line (a kill during its ``write``) or a damaged one is dropped with one
        warning line; the file is rewritten with the uncommitted frames only.
        """
        self._loop = asyncio.get_running_loop()
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            data = b""
        lines = data.split(b"\n")
        torn = len(lines.pop())  # after the last newline: a line whose write did not finish
        frames: list[tuple[int, bytes, Record]] = []
        committed = 0
        highest = 0
        bad = 0
        for line in lines:
            parsed = _parse(line)
            if parsed is None:
                bad += 1
            elif isinstance(parsed, int):
                committed = max(committed, parsed)
            else:
                frames.append((parsed[0], line, parsed[1]))
                highest = max(highest, parsed[0])
        if torn or bad:
            self._logger.warning(
                "zigbee journal %s: cut %d bytes of a torn last line and %d damaged line(s) "
                "(frames whose journal write had not finished)",
                self.path,
                torn,
                bad,
            )
        kept = [(number, line, record) for number, line, record in frames if number > committed]
        self._committed = self._asked = committed
        self._next = max(highest, committed) + 1
        self._pending = deque((number, line + b"\n") for number, line, _ in kept)
        self._pending_bytes = sum(len(line) for _, line in self._pending)
        self._rewrite()
        if kept:
            self._logger.info(
                "zigbee journal %s: %d frame(s) taken before the last stop and not yet "
                "committed go into the flow first",
                self.path,
                len(kept),
            )
            self._asked = 0  # the next checkpoint covers them
        return [record for _, _, record in kept]

    # ---- every frame ------------------------------------------------------------------------

    def append(self, record: Record) -> bool:
        """Journal one raw report before it is emitted; False when it could not be (counted, logged once)."""
        data = orjson.dumps(record)
        number = self._next
        line = b"%d %08x %s\n" % (number, zlib.crc32(data), data)
        if self._pending_bytes + len(line) > self._max_bytes:
            self._fail(
                "unjournaled",
                f"the uncommitted frames reached {self._max_bytes} bytes (the sinks do "
                "not take them): frames go on into the flow without being journaled",
            )
            return False
        try:
            written = os.write(self._fd, line)
        except OSError as exc:
            problem = str(exc)
        else:
            problem = "" if written == len(line) else f"short write ({written} of {len(line)} bytes)"
        if problem:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._size)  # no half line for the next one to follow
            self._fail("unjournaled", f"cannot write: {problem}; frames go on into the flow without being journaled")
            return False
        if self._failing is not None:
            self._logger.warning("zigbee journal %s: journals frames again (%s)", self.path, self._failing)
            self._failing = None
        self._next = number + 1
        self._size += len(line)
        self._pending.append((number, line))
        self._pending_bytes += len(line)
        self._unchecked += 1
        # Never a checkpoint here: the frame is not emitted yet, the checkpoint would not wait for it.
        if self._unchecked == CHECKPOINT_FRAMES and self._loop is not None:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = self._loop.call_soon(self.checkpoint)
        elif self._timer is None and self._loop is not None:
            self._timer = self._loop.call_later(CHECKPOINT_DELAY, self.checkpoint)
        return True

    def _fail(self, counter: str, condition: str) -> None:
        self._counters[counter] += 1
        if condition != self._failing:
            self._failing = condition
            self._logger.error("zigbee journal %s: %s", self.path, condition)

    # ---- commits ------------------------------------------------------------------------------

    def checkpoint(self) -> None:
        """Ask the flow to tell when every frame journaled so far is durable in the sinks; commit then."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._unchecked = 0
        last = self._next - 1
        if last <= self._asked:
            return
        self._asked = last
        self._when_durable(lambda: self._commit(last))
        if self._fsync:
            self._schedule_sync()

    def _schedule_sync(self) -> None:
        """Sync the file in a worker thread, at most once per FSYNC_INTERVAL (later if the last one was recent)."""
        loop = self._loop
        if self._syncing or self._sync_timer is not None or loop is None or self._fd < 0:
            self._sync_again = self._syncing  # frames written while a sync runs get the next one
            return
        wait = self._synced_at + FSYNC_INTERVAL - loop.time()
        if wait > 0:
            self._sync_timer = loop.call_later(wait, self._start_sync)
        else:
            self._start_sync()

    def _start_sync(self) -> None:
        self._sync_timer = None
        loop = self._loop
        if self._fd < 0 or loop is None:
            return
        self._syncing = True
        self._synced_at = loop.time()
        loop.run_in_executor(None, self._sync, self._fd).add_done_callback(self._synced)

    def _commit(self, number: int) -> None:
        """Frames up to ``number`` are durable downstream: say so in the file, forget their lines."""
        if number <= self._committed or self._fd < 0:
            return
        self._committed = number
        pending = self._pending
        while pending and pending[0][0] <= number:
            self._pending_bytes -= len(pending.popleft()[1])
        line = b"c %d\n" % number
        try:
            os.write(self._fd, line)
        except OSError as exc:  # the frames come again after a restart: duplicates, never losses
            self._fail("journal_errors", f"cannot write a commit: {exc}")
            return
        self._size += len(line)
        if self._size >= COMPACT_BYTES and self._pending_bytes * 4 < self._size and not self._syncing:
            self._rewrite()

    def _rewrite(self) -> None:
        """Replace the file by its uncommitted lines (a new file renamed over it); reopen for appending."""
        temporary = self.path.with_name(self.path.name + ".new")
        body = b"".join(line for _, line in self._pending)
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, body)
                if self._fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temporary, self.path)
        except OSError as exc:
            if self._fd >= 0:  # keep appending to the old file: it is larger, not wrong
                self._fail("journal_errors", f"cannot compact: {exc}")
                return
            raise
        if self._fd >= 0:
            os.close(self._fd)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        self._size = len(body)

    @staticmethod
    def _sync(fd: int) -> None:
        with contextlib.suppress(OSError):  # closed meanwhile (the flow stops): nothing left to sync
            os.fsync(fd)

    def _synced(self, _: object) -> None:
        self._syncing = False
        if self._sync_again:
            self._sync_again = False
            self._schedule_sync()

    def close(self) -> None:
        """Close the file (frames not committed stay in it for the next start)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._sync_timer is not None:
            self._sync_timer.cancel()
            self._sync_timer = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _parse(line: bytes) -> int | tuple[int, Record] | None:
    """A line's commit number, or its frame (number and record); None for a damaged line."""
    try:
        if line.startswith(b"c "):
            return int(line[2:])
        number, crc, data = line.split(b" ", 2)
        if int(crc, 16) != zlib.crc32(data):
            return None
        record = orjson.loads(data)
        if type(record) is not dict or "frame" not in record:
            return None
        return int(number), record
    except ValueError:  # orjson.JSONDecodeError is a ValueError
        return None
