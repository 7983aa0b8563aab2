"""``file``: append each message to a file as one JSON line."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import orjson
from pydantic import Field, ValidationInfo, field_validator

from flowengine import Message, NodeConfig, Sink, expand_home


class FileConfig(NodeConfig):
    """Config of ``file``."""

    path: str = Field(description="File to append to (created with its folder when missing).")
    fsync: Literal["batch", "always", "never"] = Field(
        "batch", description="When written lines reach the disk: batch (one fsync per batch the engine "
        "hands over, before the sources are acknowledged), always (one write and fsync per message), "
        "never (left to the OS: survives a crash of the process, not of the machine).")

    @field_validator("path")
    @classmethod
    def _writable_place(cls, value: str, info: ValidationInfo) -> str:
        """A path whose folder is an existing file (or that is a folder) fails validation in one line."""
        flow_dir = (info.context or {}).get("flow_dir")
        if flow_dir is None or not (info.context or {}).get("check_files", True):
            return value  # validated outside a flow file: start() says the same
        path = expand_home(value)
        problem = place_problem(path if path.is_absolute() else Path(flow_dir) / path)
        if problem is not None:
            raise ValueError(problem)
        return value


def place_problem(path: Path) -> str | None:
    """Say why ``path`` cannot be a file to append to (a folder, or under a file), or return None."""
    if path.is_dir():
        return f"{path} is a folder; give the path of a file inside it"
    for parent in path.parents:  # the nearest existing ancestor decides
        if parent.exists():
            return None if parent.is_dir() else f"{parent} is a file, so it cannot be the folder of {path}"
    return None


def _fallback(value: Any) -> Any:
    """Serialise what JSON has no type for: bytes as hex, anything else as its text."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return str(value)


def encode_line(msg: Message) -> bytes:
    """Return ``{"topic","payload","meta"}`` as one JSON line, newline included."""
    return orjson.dumps({"topic": msg.topic, "payload": msg.payload, "meta": msg.meta},
                        default=_fallback, option=orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS)


def cut_torn_line(fd: int, chunk: int = 1 << 16) -> int:
    """Truncate ``fd`` after its last newline; return how many bytes were cut.

    A killed process can leave a large write half done; those lines were never acknowledged,
    so their source sends them again, and the next line must not be glued to the fragment.
    """
    size = end = os.lseek(fd, 0, os.SEEK_END)
    while end > 0:
        start = max(0, end - chunk)
        data = os.pread(fd, end - start, start)
        newline = data.rfind(b"\n")
        if newline >= 0:
            end = start + newline + 1
            break
        end = start
    if end < size:
        os.ftruncate(fd, end)
    return size - end


class File(Sink[FileConfig]):
    """Appends ``{"topic": …, "payload": …, "meta": …}`` as one JSON line per message.

    Each batch is written with a single ``write`` on a file opened for appending, so
    every line is complete and no line is written twice; bytes in a payload are written
    as hex. With ``fsync: batch`` (the default) the batch is synced to disk before the
    write returns, so the sources upstream acknowledge only lines that are on disk
    (docs/delivery.md). A write that fails (disk full, file-size limit, read-only) leaves
    the file as it was before the batch; the engine retries the batch. A capture written
    on a ``zigbee`` node's output replays unchanged through ``zigbee-replay``.

    Example:
        ```yaml
        version: 1
        nodes:
          - id: capture
            type: zigbee-replay
            path: captures/front_door.jsonl
            wires: [save]
          - id: save
            type: file
            path: out/messages.jsonl
        ```
    """

    config_model: ClassVar[type[NodeConfig]] = FileConfig
    #: Up to 4,096 lines per write: one sync to disk for each (fsync: batch).
    batch_limit = 4096
    _fd: int | None = None

    async def start(self) -> None:
        """Open (and create) the file for appending.

        A place that cannot hold a file fails the start; a folder that cannot be written now
        (read-only, no space) does not: the first write tries again, and the engine retries
        that write until it succeeds (docs/delivery.md).
        """
        path = self.context.resolve_path(self.config.path)
        problem = place_problem(path)
        if problem is not None:  # the file system changed since validation
            raise NotADirectoryError(problem)
        with contextlib.suppress(OSError):
            self._open()

    def _open(self) -> int:
        if self._fd is None:
            path = self.context.resolve_path(self.config.path)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            torn = cut_torn_line(fd)
            if torn:
                self.logger.warning("file '%s': cut %d bytes of a line an earlier run did not finish (it "
                                    "comes again: it was not acknowledged)", path, torn)
            self._fd = fd
        return self._fd

    async def write(self, batch: Sequence[Message]) -> None:
        """Write the batch as complete lines in one system call (more if the kernel asks), then sync it.

        The sync runs on a worker thread: it takes milliseconds (tens on an SD card), and on the
        event loop's thread it would stall every other node meanwhile (a radio's commands, MQTT).
        """
        fd = self._open()
        mode = self.config.fsync
        chunks = [encode_line(msg) for msg in batch]
        if mode != "always":
            chunks = [b"".join(chunks)]
        size = os.lseek(fd, 0, os.SEEK_END)
        try:
            for chunk in chunks:
                data = memoryview(chunk)
                while data:
                    written = os.write(fd, data)
                    data = data[written:]
                if mode == "always":
                    await asyncio.to_thread(os.fsync, fd)
            if mode == "batch":
                await asyncio.to_thread(os.fsync, fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)  # no partial line stays behind: the batch is written again
            raise

    async def aclose(self) -> None:
        """Flush to disk and close."""
        if self._fd is not None:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
