"""deCONZ serial framing: SLIP encoding with a 16-bit checksum.

A frame on the wire is ``C0 escaped(body + checksum) C0``. Inside, ``C0`` is sent as
``DB DC`` and ``DB`` as ``DB DD``. The checksum is the two's complement of the plain byte
sum of the body, truncated to 16 bits, low byte first. This module is pure: no I/O, no
zigpy, so the emulator never shares code with the host stack it is testing.
"""

from __future__ import annotations

END = 0xC0
ESC = 0xDB
ESC_END = 0xDC
ESC_ESC = 0xDD

#: Unescaped frames shorter than this (command id, sequence, checksum) are ignored, as the host does.
MIN_FRAME = 4


def checksum(body: bytes) -> bytes:
    """Return the two checksum bytes of ``body`` (two's complement of the byte sum, LE)."""
    value = (-sum(body)) & 0xFFFF
    return bytes((value & 0xFF, value >> 8))


def escape(data: bytes) -> bytes:
    """SLIP-escape ``data`` (``C0`` → ``DB DC``, ``DB`` → ``DB DD``)."""
    return data.replace(bytes((ESC,)), bytes((ESC, ESC_ESC))).replace(bytes((END,)), bytes((ESC, ESC_END)))


def unescape(data: bytes) -> bytes | None:
    """Undo :func:`escape`; return ``None`` for a frame that ends inside an escape."""
    out = bytearray()
    index = 0
    while index < len(data):
        byte = data[index]
        if byte == ESC:
            index += 1
            if index >= len(data):
                return None
            following = data[index]
            if following == ESC_END:
                byte = END
            elif following == ESC_ESC:
                byte = ESC
            else:
                byte = following
        out.append(byte)
        index += 1
    return bytes(out)


def encode(body: bytes) -> bytes:
    """Return the wire form of one frame: checksum appended, escaped, framed by ``C0``."""
    return bytes((END,)) + escape(body + checksum(body)) + bytes((END,))


class FrameDecoder:
    """Incremental decoder: feed it bytes as they arrive, get whole checked frames back.

    Empty frames (the host sends ``C0`` before and after each frame), frames shorter than
    :data:`MIN_FRAME` and frames with a bad checksum are dropped and counted in
    :attr:`dropped`.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.dropped = 0

    def feed(self, data: bytes) -> list[bytes]:
        """Add ``data``; return the bodies (checksum stripped) of every frame now complete."""
        self._buffer += data
        frames: list[bytes] = []
        while True:
            end = self._buffer.find(END)
            if end < 0:
                return frames
            raw = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            if not raw:
                continue
            frame = unescape(raw)
            if frame is None or len(frame) < MIN_FRAME:
                self.dropped += 1
                continue
            body, check = frame[:-2], frame[-2:]
            if checksum(body) != check:
                self.dropped += 1
                continue
            frames.append(body)
