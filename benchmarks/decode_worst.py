"""The worst raw reports of at most 2 KB we could build, and what each costs to decode (issue 19).

Each shape aims at one place where a decoder's work could outgrow its input: arrays of
elements that take no bytes (65,534 of them cost 1.1-1.6 s before the element budget),
arrays of arrays, deep nesting, structures, the Xiaomi 0xFF01 structure, many records,
strings whose length points past the end, invalid UTF-8, EUI-64 and 128-bit arrays, and a
frame longer than any Zigbee frame. Every shape is decoded cold (a new decoder, no memo) in
both compat modes, for the lock's clusters and the Basic cluster, with the lock's model so
the converters run; then 2,000 random mutations of the shapes. The acceptance: none costs
more than 10 ms. Run: ``.venv/bin/python benchmarks/decode_worst.py``.
"""

from __future__ import annotations

import random
import time

from flowengine_nodes.devices.decoder import Decoder
from flowengine_nodes.devices.zcl import MAX_FRAME_BYTES

LIMIT = 2048
HEADER = bytes([0x18, 0x01, 0x0A])  # global, server to client, report attributes


def u16(value: int) -> bytes:
    return value.to_bytes(2, "little")


def fill(prefix: bytes, unit: bytes) -> bytes:
    """``prefix`` then as many ``unit`` as fit in LIMIT bytes."""
    return prefix + unit * ((LIMIT - len(prefix)) // len(unit))


def shapes() -> dict[str, bytes]:
    """Name -> frame, each at most LIMIT bytes (except the one that tests the length bound)."""
    nested = HEADER + u16(0) + bytes([0x48]) + bytes([0x48]) + u16(500)
    nested += (bytes([0x00]) + u16(3)) * 500
    deep = HEADER + u16(0) + bytes([0x48]) + (bytes([0x48]) + u16(1)) * 600 + bytes([0x20]) + u16(1) + b"\x01"
    mi = bytearray(HEADER + u16(0xFF01) + bytes([0x42, 0xFE]))
    while len(mi) < LIMIT - 3:
        mi += bytes([random.randrange(256), 0x21]) + u16(random.randrange(65536))
    return {
        "array of 65,534 no-data elements": HEADER + u16(0) + bytes([0x48, 0x00]) + u16(0xFFFE),
        "array of 65,534 unknown (0xff) elements": HEADER + u16(0) + bytes([0x48, 0xFF]) + u16(0xFFFE),
        "array of 65,534 EUI-64 past the end": HEADER + u16(0) + bytes([0x48, 0xF0]) + u16(0xFFFE),
        "array filling 2 KB of uint8": fill(HEADER + u16(0) + bytes([0x48, 0x20]) + u16(2030), b"\x07"),
        "array of 500 arrays of no-data": nested,
        "arrays nested 600 deep": deep[:LIMIT],
        "structure of 1,000 uint8 elements": fill(HEADER + u16(0) + bytes([0x4C]) + u16(1000), b"\x20\x05"),
        "0xFF01 structure of 254 members": bytes(mi),
        "510 uint16 records": fill(HEADER, u16(0x0055) + b"\x21\x34\x12"),
        "records of strings pointing past the end": fill(HEADER, u16(0x0005) + b"\x42\xfe"),
        "invalid UTF-8 strings": fill(HEADER, u16(0x0005) + b"\x42\x10" + b"\xff\xfe" * 8),
        "read response of failed records": fill(bytes([0x18, 0x01, 0x01]), u16(0x0005) + b"\x86"),
        "array of 128-bit keys": fill(HEADER + u16(0) + bytes([0x48, 0xF1]) + u16(120), b"\xaa" * 16),
        "array of doubles": fill(HEADER + u16(0) + bytes([0x48, 0x3A]) + u16(250), b"\x00" * 7 + b"\x40"),
        "cluster-specific, random 2 KB": bytes([0x19, 0x01, 0x00]) + random.randbytes(LIMIT - 3),
        "a frame longer than any Zigbee frame": HEADER + b"\x00" * (MAX_FRAME_BYTES + 1),
    }


def record(frame: bytes, cluster: int) -> dict[str, object]:
    return {"ts": 1.0, "ieee": "00:15:8d:00:01:02:03:04", "nwk": "0x1a2b", "model": "lumi.lock.aq1",
            "manufacturer": "LUMI", "endpoint": 1, "profile": 260, "cluster": cluster, "lqi": 100,
            "rssi": -60, "frame": frame.hex()}


def cost(frame: bytes, repeat: int = 5) -> tuple[float, str]:
    """The worst cold decode CPU time (seconds) over modes and clusters, and one outcome.

    Each case is the best of ``repeat`` cold decodes (CPU time of this thread), so that the
    other programs on a shared machine do not show up as decoding cost.
    """
    worst, outcome = 0.0, ""
    for compat in (1, 2):
        for cluster in (0x0101, 0x0000, 0xFCC0):
            report = record(frame, cluster)
            elapsed = float("inf")
            for _ in range(repeat):
                decoder = Decoder(compat=compat)
                began = time.thread_time()
                result = decoder.decode(report)
                elapsed = min(elapsed, time.thread_time() - began)
            if elapsed >= worst:
                worst = elapsed
                outcome = result.error or f"{len(result.payload or {})} key(s)"
    return worst, outcome


def mutate(frame: bytes, rng: random.Random) -> bytes:
    data = bytearray(frame[:LIMIT])
    for _ in range(rng.randint(1, 8)):
        choice = rng.random()
        if choice < 0.5 and data:
            data[rng.randrange(len(data))] = rng.randrange(256)
        elif choice < 0.75:
            data[3:3] = rng.choice([b"\x48\x00\xfe\xff", b"\x4c\xff\x00", b"\x42\xfe", b"\x48\x48\x01\x00"])
        elif data:
            del data[rng.randrange(len(data)):]
    return bytes(data[:LIMIT])


def main() -> None:
    """Print each shape's worst cost, then the worst of 2,000 mutations."""
    random.seed(19)
    Decoder().decode(record(HEADER + b"\x00\x00\x20\x01", 0x0101))  # warm the imports
    overall = 0.0
    for name, frame in shapes().items():
        seconds, outcome = cost(frame)
        overall = max(overall, seconds)
        print(f"{name:42} {len(frame):6} B {seconds * 1000:8.3f} ms  {outcome[:70]}")
    rng = random.Random(19)
    frames = list(shapes().values())[:-1]
    worst, worst_frame = 0.0, b""
    for _ in range(2_000):
        frame = mutate(rng.choice(frames), rng)
        seconds, _ = cost(frame, repeat=2)
        if seconds > worst:
            worst, worst_frame = seconds, frame
    worst, _ = cost(worst_frame)  # measured again like the shapes, best of five
    print(f"{'worst of 2,000 mutations':42} {len(worst_frame):6} B {worst * 1000:8.3f} ms")
    print(f"\nworst overall: {max(overall, worst) * 1000:.3f} ms (acceptance: 10 ms)")


if __name__ == "__main__":
    main()
