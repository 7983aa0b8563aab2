"""Replay recorded device frames through the emulator at a chosen rate (benchmarks, soak runs).

A recorded raw report (CONTRACT §3: ``ieee``, ``endpoint``, ``profile``, ``cluster``,
``lqi``, ``rssi``, ``frame``) becomes an APS indication from the virtual device with that
IEEE address. Each frame gets the device's next ZCL transaction sequence number (the
recorded one is replaced) so that no host drops it as a repeat of a recent frame, as
zigpy and Zigbee2MQTT's Xiaomi converters do; nothing else of the frame changes.

:func:`replay` paces the frames on the event loop (``rate`` frames per second, or all at
once with ``rate=None``) and records when each was queued, which is when "the radio"
received it: the host learns of it from the DEVICE_STATE_CHANGED notification that the
emulator sends next.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flowengine_nodes.emulator.devices import ApsFrame, VirtualDevice
from flowengine_nodes.emulator.server import Emulator


@dataclass(frozen=True, slots=True)
class RecordedFrame:
    """One recorded frame to replay: who sent it and the APS payload, as a raw report has them."""

    ieee: str
    endpoint: int
    profile: int
    cluster: int
    lqi: int
    rssi: int
    payload: bytes

    @classmethod
    def from_report(cls, report: Mapping[str, Any]) -> RecordedFrame:
        """Build from a raw report (CONTRACT §3); ``lqi``/``rssi`` default to 120/-60 when absent."""
        return cls(
            ieee=str(report["ieee"]).lower(),
            endpoint=int(report.get("endpoint", 1)),
            profile=int(report.get("profile", 260)),
            cluster=int(report["cluster"]),
            lqi=120 if report.get("lqi") is None else int(report["lqi"]),
            rssi=-60 if report.get("rssi") is None else int(report["rssi"]),
            payload=bytes.fromhex(str(report["frame"])),
        )


def with_tsn(payload: bytes, tsn: int) -> bytes:
    """Return ``payload`` with its ZCL transaction sequence number replaced by ``tsn``.

    The TSN follows the frame control byte, and the manufacturer code when the frame
    control says there is one. A payload too short to hold a TSN is returned unchanged.
    """
    index = 3 if payload and payload[0] & 0x04 else 1
    if len(payload) <= index:
        return payload
    return payload[:index] + bytes((tsn & 0xFF,)) + payload[index + 1 :]


def aps_frame(device: VirtualDevice, recorded: RecordedFrame) -> ApsFrame:
    """Return the indication ``device`` sends for ``recorded``, with the device's next TSN."""
    return device.frame(
        with_tsn(recorded.payload, device.next_tsn()),
        cluster=recorded.cluster,
        endpoint=recorded.endpoint,
        profile=recorded.profile,
        lqi=recorded.lqi,
        rssi=recorded.rssi,
    )


async def replay(
    emulator: Emulator,
    frames: Sequence[RecordedFrame],
    *,
    rate: float | None,
    on_queued: Callable[[int, ApsFrame, float], None] | None = None,
) -> None:
    """Send ``frames`` in order from the emulator's devices, ``rate`` per second (``None``: at once).

    Frames are scheduled on absolute times (``start + i / rate``), so a late loop turn does
    not slow the whole replay down. ``on_queued(index, frame, time)`` is called right after
    each frame is queued, with ``time.perf_counter()``.

    Raises:
        KeyError: a frame's ``ieee`` is not one of the emulator's devices.
        ValueError: ``rate`` is not positive.
    """
    by_ieee = {device.ieee: device for device in emulator.devices.values()}
    missing = sorted({frame.ieee for frame in frames} - by_ieee.keys())
    if missing:
        raise KeyError(f"no emulated device for {', '.join(missing)}")
    if rate is not None and rate <= 0:
        raise ValueError(f"rate must be positive, not {rate}")

    def send(index: int) -> None:
        frame = emulator.send(aps_frame(by_ieee[frames[index].ieee], frames[index]))
        if on_queued is not None:
            on_queued(index, frame, time.perf_counter())

    if rate is None:
        for index in range(len(frames)):
            send(index)
        return
    loop = asyncio.get_running_loop()
    start = loop.time()
    for index in range(len(frames)):
        delay = start + index / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        send(index)
