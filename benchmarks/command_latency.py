"""Command latency: MQTT ``/set`` -> the ZCL frame at the emulated device, and a paced burst of 1,000.

``flows/household.yaml`` runs in this process (``FlowRun``; coordinator = the built-in deCONZ
emulator, broker = a private Mosquitto). A plain MQTT client publishes
``zigbee2mqtt/hall_light/set`` (QoS 1); the latency is from just before the publish to the moment the
emulated bulb receives the command frame (its ``handle``: the frame has crossed Mosquitto,
``mqtt-in``, ``zigbee2mqtt-api``, the ``zigbee`` node's queue and converters, zigpy, zigpy-deconz and
the emulated serial link). Sequential commands (one every 50 ms) give p50/p99; then 1,000 commands
are published at once (500 brightness changes for the bulb, 500 on/off for the plug, interleaved)
and the time until the last frame reaches its device is measured, with the order checked per device
(what arrived is what was published, in order, less what expired).

Figures (shared 2-core machine, load average 0.6-2, one run each): sequential /set -> frame at the
bulb p50 2.0-2.3 ms, p99 2.8-3.5 ms. Burst of 1,000 (500 per device), published in 1.9 s: with the
default 10 s expiry 776 frames reached the devices and 224 commands expired (dropped, counted, never
sent late), the last frame after 11.9 s; with --expiry 60 all 1,000 arrived in order, the last after
12.7 s (79 commands/s). The pacing is zigpy's: it drops a frame identical to one the same device
sent in the last 10 s, so a device gets at most 255 commands of one kind per 10 s (the 8-bit ZCL
sequence number); see docs/zigbee.md.

    .venv/bin/python benchmarks/command_latency.py                 # 200 sequential, then the burst
    .venv/bin/python benchmarks/command_latency.py --samples 100 --burst 0
    .venv/bin/python benchmarks/command_latency.py --expiry 60      # a burst that may wait longer

Zigbee2MQTT beside it on the same emulator is not measured here (benchmarks/radio_path.sh installs
Zigbee2MQTT for the report path only).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import aiomqtt  # noqa: E402

from flowengine.flow import load_flow_or_raise  # noqa: E402
from flowengine.registry import Registry  # noqa: E402
from flowengine.runtime import FlowRun  # noqa: E402
from tests.mosquitto import Mosquitto, mosquitto_binary  # noqa: E402

BULB, PLUG = "00:0b:57:ff:fe:00:00:07", "00:15:8d:00:07:00:01:06"


def percentile(values: list[float], share: float) -> float:
    """The ``share`` percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def is_subsequence(got: list[int], published: list[int]) -> bool:
    """Whether ``got`` is ``published`` with some items left out (expired), in the same order."""
    remaining = iter(published)
    return all(any(item == candidate for candidate in remaining) for item in got)


class Arrivals:
    """Records when each command frame reaches a device (On/Off and Level Control requests)."""

    def __init__(self, device: Any) -> None:
        self.times: list[float] = []
        self.payloads: list[bytes] = []
        self.arrived = asyncio.Event()
        handle = device.handle

        def recording(request: Any) -> Any:
            if request.cluster in (6, 8) and request.payload[:1] == b"\x01":
                self.times.append(time.perf_counter())
                self.payloads.append(request.payload)
                self.arrived.set()
            return handle(request)

        device.handle = recording


async def ready(run: FlowRun) -> tuple[Any, Any]:
    """Wait until both actuators are interviewed; return the emulated bulb and plug."""
    radio: Any = run.nodes["radio"]
    while True:
        app = radio.application
        if app is not None and radio.emulator is not None:
            models = {str(ieee): device.model for ieee, device in app.devices.items()}
            if models.get(BULB) and models.get(PLUG):
                devices = {device.ieee: device for device in radio.emulator.devices.values()}
                return devices[BULB], devices[PLUG]
        await asyncio.sleep(0.1)


async def bench(args: argparse.Namespace, broker: Mosquitto, folder: Path) -> None:
    shutil.copy(REPO / "flows" / "household.yaml", folder / "household.yaml")
    shutil.copytree(REPO / "flows" / "scenarios", folder / "scenarios")
    os.environ["MQTT_URL"] = broker.url
    os.environ.pop("ZIGBEE_DEVICE", None)
    run = FlowRun(load_flow_or_raise(folder / "household.yaml", Registry.from_entry_points()))
    stop = asyncio.Event()
    runner = asyncio.create_task(run.run(stop))
    try:
        bulb, plug = await asyncio.wait_for(ready(run), 60)
        radio: Any = run.nodes["radio"]
        if args.expiry is not None:
            radio.commands.expiry = args.expiry
        light, socket = Arrivals(bulb), Arrivals(plug)
        async with aiomqtt.Client(broker.host, broker.port) as client:
            latencies = []
            for index in range(args.samples):
                light.arrived.clear()
                sent = time.perf_counter()
                await client.publish("zigbee2mqtt/hall_light/set",
                                     json.dumps({"brightness": 1 + (index * 37) % 254}), qos=1)
                await light.arrived.wait()
                latencies.append((light.times[-1] - sent) * 1000)
                await asyncio.sleep(0.05)
            if latencies:
                print(f"/set -> frame at the bulb, {len(latencies)} sequential commands: "
                      f"p50 {statistics.median(latencies):.2f} ms, p99 {percentile(latencies, 0.99):.2f} ms, "
                      f"max {max(latencies):.2f} ms")
            if args.burst:
                await asyncio.sleep(11)  # sequence numbers of the sequential run come free (zigpy's 10 s)
                light.times.clear()
                light.payloads.clear()
                socket.times.clear()
                socket.payloads.clear()
                levels = [1 + (i * 53) % 254 for i in range(args.burst // 2)]
                taken = radio.counters["commands_taken"]
                started = time.perf_counter()
                for index, level in enumerate(levels):
                    await client.publish("zigbee2mqtt/hall_light/set", json.dumps({"brightness": level}), qos=1)
                    await client.publish("zigbee2mqtt/kitchen_plug/set",
                                         json.dumps({"state": "ON" if index % 2 else "OFF"}), qos=1)
                published = time.perf_counter() - started
                while radio.counters["commands_taken"] < taken + 2 * len(levels):
                    await radio.commands.join()  # the last publications may still be on their way in
                    await asyncio.sleep(0.1)
                await radio.commands.join()
                done = max(light.times[-1:] + socket.times[-1:]) - started
                in_order = is_subsequence([payload[3] for payload in light.payloads], levels)
                states = [payload[2] for payload in socket.payloads]
                print(f"burst of {args.burst}: published in {published:.2f} s, "
                      f"frames at the devices {len(light.times)} + {len(socket.times)}, "
                      f"last after {done:.2f} s ({args.burst / done:.0f} commands/s), "
                      f"expired (expiry {radio.commands.expiry:g} s): {radio.counters['commands_expired']}, "
                      f"bulb order kept: {in_order}, plug order kept: "
                      f"{is_subsequence(states, [1 if i % 2 else 0 for i in range(len(levels))])}")
    finally:
        stop.set()
        await asyncio.wait_for(runner, 60)


def main() -> None:
    """Start a broker, run the household flow in this process, measure."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=200, help="sequential commands (default 200)")
    parser.add_argument("--burst", type=int, default=1000, help="commands in the burst (default 1000; 0: none)")
    parser.add_argument("--expiry", type=float, default=None,
                        help="the zigbee node's command_expiry for the run (default: the flow's, 10 s)")
    args = parser.parse_args()
    binary = mosquitto_binary()
    if binary is None:
        raise SystemExit("mosquitto is not installed")
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        broker = Mosquitto(folder / "broker", binary=binary)
        broker.start()
        try:
            asyncio.run(bench(args, broker, folder))
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
