"""Command latency beside the real Zigbee2MQTT: MQTT ``/set`` → the ZCL frame at the emulated device.

Each target runs in its own process between the project's deCONZ emulator (TCP, in this process:
the household's IKEA bulb LED1545G12 and Aqara plug ZNCZ02LM) and its own Mosquitto
(:mod:`benchmarks.zigbee2mqtt_bed`):

* ``flowengine``: ``flowengine run flows/household.yaml`` with ``ZIGBEE_DEVICE=socket://…``
  (``mqtt-in`` → ``zigbee2mqtt-api`` → ``zigbee`` → zigpy + zigpy-deconz; its defaults: QoS 1
  requests acknowledged once taken, ``command_expiry`` 10 s);
* ``zigbee2mqtt``: the real Zigbee2MQTT 2.14.1 (deconz adapter over TCP) when installed
  (``ZIGBEE2MQTT_DIR``), else skipped with a message.

Each session starts the runner on a fresh network, opens it (the household flow opens it at start;
Zigbee2MQTT on a ``permit_join`` request), lets both devices join, waits until ``bridge/devices``
says both are interviewed, and sends each a ``/set`` until its frame arrives. Both runners are
addressed the same way, ``zigbee2mqtt/0x<ieee>/set`` (QoS 1). Then:

* sequential: ``--samples`` brightness changes to the bulb, one after the other (the next 20 ms
  after the previous frame arrived): the time from just before the publish to the moment the
  emulated bulb receives the command frame (one clock, ``perf_counter``), p50 and p99;
* burst: ``--burst`` commands published back to back (half brightness levels for the bulb, half
  ON/OFF for the plug, interleaved): the time until the last frame reaches its device, how many
  arrive (waiting until all have, or none came for 15 s), whether each device got its commands in
  the order they were published (and exactly those), and the runner's CPU per command.

    .venv/bin/python benchmarks/command_latency.py                          # both, 200 samples, 1,000 burst
    ZIGBEE2MQTT_DIR=/opt/z2m .venv/bin/python benchmarks/command_latency.py --reps 3
    .venv/bin/python benchmarks/command_latency.py --targets flowengine --burst 0

The machine is shared: compare ratios within one run, not figures across runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import aiomqtt  # noqa: E402

from benchmarks.zigbee2mqtt_bed import (  # noqa: E402
    BASE,
    Target,
    Zigbee2MqttTarget,
    cpu_seconds,
    find_zigbee2mqtt,
    formed_stick,
    is_online,
    rss_mib,
    stop_runner,
)
from flowengine_nodes.emulator.scenario import load_scenario  # noqa: E402
from flowengine_nodes.emulator.server import Emulator  # noqa: E402
from tests.mosquitto import Mosquitto, mosquitto_binary  # noqa: E402

HOUSEHOLD = REPO / "flows" / "household.yaml"
SCENARIO = REPO / "flows" / "scenarios" / "household.yaml"
#: Seconds without a new frame after which a burst counts as over.
QUIET = 15.0


def percentile(values: list[float], share: float) -> float:
    """The ``share`` percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def is_subsequence(got: list[int], published: list[int]) -> bool:
    """Whether ``got`` is ``published`` with some items left out, in the same order."""
    remaining = iter(published)
    return all(any(item == candidate for candidate in remaining) for item in got)


class Arrivals:
    """Records when each On/Off or Level Control command frame reaches one emulated device."""

    def __init__(self, device: Any) -> None:
        self.times: list[float] = []
        self.payloads: list[bytes] = []
        self.arrived = asyncio.Event()
        handle = device.handle

        def recording(request: Any) -> Any:
            # cluster-specific, client to server, no manufacturer code: the command itself (not a read)
            if request.cluster in (6, 8) and request.payload[:1] and request.payload[0] & 0x0F == 0x01:
                self.times.append(time.perf_counter())
                self.payloads.append(bytes(request.payload))
                self.arrived.set()
            return handle(request)

        device.handle = recording

    def clear(self) -> None:
        """Forget what arrived so far."""
        self.times.clear()
        self.payloads.clear()
        self.arrived.clear()


class FlowengineCommands(Target):
    """``flowengine run flows/household.yaml`` on the emulator over TCP."""

    name = "flowengine"

    def __init__(self, workdir: Path, python: str) -> None:
        super().__init__(workdir)
        self.python = python

    def command(self, emulator_port: int, broker_port: int) -> tuple[list[str], dict[str, str]]:
        """Copy the household flow (once); its coordinator is the emulator, its broker the bed's."""
        flow = self.workdir / "household.yaml"
        if not flow.exists():
            shutil.copy(HOUSEHOLD, flow)
            shutil.copytree(SCENARIO.parent, self.workdir / "scenarios")
        env = {"ZIGBEE_DEVICE": f"socket://127.0.0.1:{emulator_port}", "MQTT_URL": f"mqtt://127.0.0.1:{broker_port}"}
        return [self.python, "-m", "flowengine.cli", "run", str(flow)], env


@dataclass
class Result:
    """One session of one target."""

    target: str
    latencies: list[float]
    burst: int = 0
    published_s: float = 0.0
    arrived: tuple[int, int] = (0, 0)
    last_s: float = float("nan")
    in_order: tuple[bool, bool] = (False, False)
    exact: tuple[bool, bool] = (False, False)
    cpu_ms: float = float("nan")
    rss: float = 0.0


class Session:
    """One runner between the emulator and the broker, and the client that drives and watches it."""

    def __init__(self, target: Target, folder: Path, mosquitto: str) -> None:
        self.target = target
        devices = {d.name: d for d in load_scenario(SCENARIO).build_devices()}
        self.bulb, self.plug = devices["hall_light"], devices["kitchen_plug"]
        self.emulator = Emulator(stick=formed_stick(folder / "stick.json"), devices=[self.bulb, self.plug])
        self.broker = Mosquitto(folder / "broker", binary=mosquitto)
        self.online = asyncio.Event()
        self.heard: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self.interviewed = asyncio.Event()
        self.light, self.socket = Arrivals(self.bulb), Arrivals(self.plug)

    def topic(self, device: Any) -> str:
        """``zigbee2mqtt/0x<ieee>/set``: both runners take an ieee address as the name."""
        return f"{BASE}/0x{device.ieee.replace(':', '')}/set"

    def on_message(self, topic: str, payload: bytes) -> None:
        """The bridge online, a response heard, both devices interviewed (``bridge/devices``)."""
        if is_online(topic, payload):
            self.online.set()
        self.heard[topic].set()
        if topic == f"{BASE}/bridge/devices":
            with contextlib.suppress(ValueError):
                done = {
                    entry["ieee_address"]
                    for entry in json.loads(payload)
                    if entry.get("interview_completed") and entry.get("supported")
                }
                wanted = {f"0x{d.ieee.replace(':', '')}" for d in (self.bulb, self.plug)}
                if wanted <= done:
                    self.interviewed.set()

    async def listen(self, client: aiomqtt.Client) -> None:
        """Feed every message to :meth:`on_message`."""
        async for message in client.messages:
            self.on_message(str(message.topic), bytes(message.payload))  # type: ignore[arg-type]

    async def probe(self, client: aiomqtt.Client, device: Any, arrivals: Arrivals) -> None:
        """Send ``device`` a ``/set`` until its frame arrives (the runner is ready for it)."""
        async with asyncio.timeout(60):
            while True:
                arrivals.clear()
                await client.publish(self.topic(device), json.dumps({"state": "ON"}), qos=1)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(2.0):
                        await arrivals.arrived.wait()
                        return

    async def run(self, samples: int, burst: int) -> Result:
        """Start the runner, pair both devices, measure, stop."""
        await self.emulator.start()
        self.broker.start()
        process = None
        try:
            async with aiomqtt.Client("127.0.0.1", self.broker.port, identifier="bench-commands") as client:
                await client.subscribe(f"{BASE}/#")
                listener = asyncio.create_task(self.listen(client))
                process = self.target.start(self.emulator.port, self.broker.port)
                async with asyncio.timeout(60):
                    await self.online.wait()
                await self.target.open_network(client, self.heard)
                await self.emulator.wait_host_ready()
                for device in (self.bulb, self.plug):
                    self.emulator.join(device)
                async with asyncio.timeout(90):
                    await self.interviewed.wait()
                await self.probe(client, self.bulb, self.light)
                await self.probe(client, self.plug, self.socket)
                result = Result(self.target.name, await self.sequential(client, samples))
                if burst:
                    await self.burst(client, burst, result, process.pid)
                result.rss = rss_mib(process.pid)
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                    await listener
                return result
        finally:
            await stop_runner(process, self.emulator)
            await self.emulator.aclose()
            self.broker.stop()

    async def sequential(self, client: aiomqtt.Client, samples: int) -> list[float]:
        """``samples`` brightness changes to the bulb, one at a time: publish → frame, ms."""
        latencies = []
        for index in range(samples):
            self.light.clear()
            sent = time.perf_counter()
            await client.publish(self.topic(self.bulb), json.dumps({"brightness": 1 + (index * 37) % 254}), qos=1)
            async with asyncio.timeout(30):
                await self.light.arrived.wait()
            latencies.append((self.light.times[0] - sent) * 1000)
            await asyncio.sleep(0.02)
        return latencies

    async def burst(self, client: aiomqtt.Client, count: int, result: Result, pid: int) -> None:
        """``count`` commands back to back, interleaved between the bulb and the plug."""
        self.light.clear()
        self.socket.clear()
        levels = [1 + (i * 53) % 254 for i in range(count // 2)]
        states = [1 if i % 2 else 0 for i in range(count // 2)]
        cpu_before = cpu_seconds(pid)
        started = time.perf_counter()
        publications = []
        for level, state in zip(levels, states, strict=True):  # in this order; the broker's PUBACKs not awaited
            publications.append(client.publish(self.topic(self.bulb), json.dumps({"brightness": level}), qos=1))
            publications.append(client.publish(self.topic(self.plug), json.dumps({"state": "ON" if state else "OFF"}),
                                               qos=1))
        await asyncio.gather(*publications)
        result.published_s = time.perf_counter() - started
        while len(self.light.times) + len(self.socket.times) < 2 * len(levels):
            self.light.arrived.clear()
            self.socket.arrived.clear()
            waiters = [asyncio.ensure_future(a.arrived.wait()) for a in (self.light, self.socket)]
            done, pending = await asyncio.wait(waiters, timeout=QUIET, return_when=asyncio.FIRST_COMPLETED)
            for waiter in pending:
                waiter.cancel()
            if not done:
                break
        result.cpu_ms = 1000 * (cpu_seconds(pid) - cpu_before) / (2 * len(levels))
        result.burst = 2 * len(levels)
        result.last_s = max(self.light.times[-1:] + self.socket.times[-1:], default=float("nan")) - started
        result.arrived = (len(self.light.times), len(self.socket.times))
        got_levels = [payload[3] for payload in self.light.payloads]
        got_states = [payload[2] for payload in self.socket.payloads]
        result.in_order = (is_subsequence(got_levels, levels), is_subsequence(got_states, states))
        result.exact = (got_levels == levels, got_states == states)


def report(results: list[Result]) -> None:
    """One line per session, then the medians per target and the ratios."""
    print(f"\n{'target':<12} {'p50 ms':>7} {'p99 ms':>7} {'burst':>6} {'arrived':>11} {'last s':>7} "
          f"{'cmd/s':>6} {'order':>6} {'exact':>6} {'CPU ms/cmd':>10} {'RSS MiB':>8}")
    rows: dict[str, dict[str, float]] = {}
    for name in dict.fromkeys(r.target for r in results):
        mine = [r for r in results if r.target == name]
        for r in mine:
            print(f"{r.target:<12} {statistics.median(r.latencies):7.2f} {percentile(r.latencies, 0.99):7.2f} "
                  f"{r.burst:6d} {r.arrived[0]:5d}+{r.arrived[1]:<5d} {r.last_s:7.2f} "
                  f"{(sum(r.arrived) / r.last_s if r.last_s == r.last_s else 0):6.0f} "
                  f"{all(r.in_order)!s:>6} {all(r.exact)!s:>6} {r.cpu_ms:10.3f} {r.rss:8.0f}")
        rows[name] = {
            "p50": statistics.median(statistics.median(r.latencies) for r in mine),
            "p99": statistics.median(percentile(r.latencies, 0.99) for r in mine),
            "last": statistics.median(r.last_s for r in mine),
            "cpu": statistics.median(r.cpu_ms for r in mine),
        }
    ours, theirs = rows.get("flowengine"), rows.get("zigbee2mqtt")
    if ours and theirs:
        print(f"{'flowengine/z2m':<12} {ours['p50'] / theirs['p50']:6.2f}x {ours['p99'] / theirs['p99']:6.2f}x "
              f"{'':>6} {'':>11} {ours['last'] / theirs['last']:6.2f}x {'':>6} {'':>6} {'':>6} "
              f"{ours['cpu'] / theirs['cpu']:9.2f}x")


async def main(args: argparse.Namespace) -> None:
    mosquitto = mosquitto_binary()
    if mosquitto is None:
        raise SystemExit("command_latency: mosquitto is not installed (bash tests/bootstrap.sh)")
    root = Path(args.workdir or tempfile.mkdtemp(prefix="command_latency-"))
    results: list[Result] = []
    for rep in range(1, args.reps + 1):
        for name in args.targets.split(","):
            folder = root / f"{name}-{rep}"
            target: Target
            if name == "flowengine":
                target = FlowengineCommands(folder, args.python)
            elif name == "zigbee2mqtt":
                found = find_zigbee2mqtt()
                if isinstance(found, str):
                    print(f"zigbee2mqtt: skipped: {found}")
                    continue
                target = Zigbee2MqttTarget(folder, *found, log_level=args.z2m_log_level, cache_state=True)
            else:
                raise SystemExit(f"command_latency: unknown target {name!r} (flowengine, zigbee2mqtt)")
            result = await Session(target, folder, mosquitto).run(args.samples, args.burst)
            results.append(result)
            print(f"rep {rep} {name}: /set -> frame p50 {statistics.median(result.latencies):.2f} ms, "
                  f"p99 {percentile(result.latencies, 0.99):.2f} ms ({len(result.latencies)} sequential); "
                  f"burst {result.burst}: published in {result.published_s:.2f} s, frames {result.arrived[0]} + "
                  f"{result.arrived[1]}, last after {result.last_s:.2f} s, in order {result.in_order}, "
                  f"exactly the published {result.exact}", flush=True)
    if results:
        report(results)
    if not args.workdir:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", default="flowengine,zigbee2mqtt", help="comma-separated: flowengine,zigbee2mqtt")
    parser.add_argument("--samples", type=int, default=200, help="sequential commands (default 200)")
    parser.add_argument("--burst", type=int, default=1000, help="commands in the burst (default 1000; 0: none)")
    parser.add_argument("--reps", type=int, default=1, help="sessions per target (alternating)")
    parser.add_argument("--python", default=str(REPO / ".venv" / "bin" / "python"), help="flowengine's Python")
    parser.add_argument("--z2m-log-level", default="warning", help="Zigbee2MQTT's log level (its runner.log)")
    parser.add_argument("--workdir", help="keep the runners' folders (logs, databases) here")
    asyncio.run(main(parser.parse_args()))
