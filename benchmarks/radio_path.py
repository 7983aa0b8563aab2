"""The radio path, end to end: lock frames from the deCONZ emulator to Zigbee2MQTT payloads on MQTT.

The same 857 lock frames are replayed by the project's deCONZ emulator (a TCP server in this
process) into a runner in its own process, which publishes Zigbee2MQTT payloads to its own
Mosquitto; a subscriber in this process takes the time each payload arrives:

* ``flowengine``: ``flowengine run`` of ``zigbee`` → ``decode`` (compat 2, no state cache) →
  ``mqtt-out`` in Zigbee2MQTT mode (QoS 0), the real zigpy + zigpy-deconz stack;
* ``zigbee2mqtt``: the real Zigbee2MQTT (``serial: {port: tcp://…, adapter: deconz}``,
  ``cache_state: false``) when it is installed (``ZIGBEE2MQTT_DIR``, see
  :mod:`benchmarks.zigbee2mqtt_bed`). Without it the row is skipped with a message.

The frames: ``tests/data/vectors/generated_z2m2.jsonl`` holds 1,500 generated reports of Aqara
locks (ZNMS11LM, ZNMS12LM, ZNMS13LM) with what Zigbee2MQTT 2.x publishes for each; the replay
takes every door-lock-cluster frame the reference does not reject, in file order: 857, of which
547 have a reference payload (the others must publish nothing), from six virtual locks (see
:func:`load_frames`). Each frame gets a fresh ZCL sequence number from its virtual lock (both
stacks drop repeats).

Each target first pairs the six locks (a session that joins them and waits until each
one's payloads come out), then every repetition is a fresh start on that known network:

* ``start``: from spawning the runner to ``zigbee2mqtt/bridge/state`` ``online``;
* ``CPU/frame``: the runner's CPU time (``/proc``: user + system of it and its children,
  every thread) during the replay, minus its idle rate over the same time, per frame;
* ``p50``/``p99``: from the emulator queueing a frame (the radio received it; the host is
  notified next) to the subscriber receiving the payload, one clock (``perf_counter``);
* ``RSS``: the runner's resident memory after the replays;
* ``agree``: payloads equal to the reference's (each payload is matched to the oldest
  frame of its device still waiting).

Rates: 50 and 200 frames/s and ``max`` (all 857 queued at once: the p50/p99 then mostly
measure the queue, the throughput is the figure).

    .venv/bin/python benchmarks/radio_path.py                      # both targets, 3 repetitions
    ZIGBEE2MQTT_DIR=/opt/z2m .venv/bin/python benchmarks/radio_path.py --reps 5
    .venv/bin/python benchmarks/radio_path.py --targets flowengine --rates 50 --reps 1

The machine is shared: compare ratios within one run (the targets alternate within each
repetition), not figures across runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
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
from flowengine_nodes.emulator.devices import ApsFrame, LumiLock  # noqa: E402
from flowengine_nodes.emulator.replay import RecordedFrame, replay  # noqa: E402
from flowengine_nodes.emulator.server import Emulator  # noqa: E402
from tests.mosquitto import Mosquitto, mosquitto_binary  # noqa: E402

VECTORS = REPO / "tests" / "data" / "vectors" / "generated_z2m2.jsonl"
DOOR_LOCK = 0x0101
#: Seconds allowed after the last frame of a replay for its payloads to arrive.
DRAIN = 15.0


@dataclass(frozen=True)
class LockFrame:
    """One frame of the replay with what the reference publishes for it."""

    recorded: RecordedFrame
    model: str
    nwk: int
    expected: dict[str, Any] | None  # None: the reference publishes nothing for it

    @property
    def topic(self) -> str:
        """``zigbee2mqtt/0x<ieee>``: both runners' default friendly name."""
        return f"{BASE}/0x{self.recorded.ieee.replace(':', '')}"


def load_frames(path: Path) -> list[LockFrame]:
    """Every door-lock-cluster vector of ``path`` that the reference does not reject, in file order.

    The generated vectors give one IEEE address several lock models; each (address, model)
    pair becomes its own virtual lock, the extra ones with the address's last byte and the
    NWK address shifted (what the reference publishes does not depend on either).
    """
    frames = []
    remap: dict[tuple[str, str], tuple[str, int]] = {}
    per_ieee: dict[str, int] = defaultdict(int)
    with path.open() as lines:
        for line in lines:
            case = json.loads(line)
            expected = case["expected"]
            if case["input"]["cluster"] != DOOR_LOCK or (expected is not None and "error" in expected):
                continue
            report = dict(case["input"])
            key = (report["ieee"], report["model"])
            if key not in remap:
                shift = per_ieee[report["ieee"]]
                per_ieee[report["ieee"]] += 1
                *head, last = report["ieee"].split(":")
                ieee = ":".join([*head, f"{(int(last, 16) + 0x10 * shift) & 0xFF:02x}"])
                remap[key] = (ieee, (int(report["nwk"], 16) + shift) & 0xFFFF)
            report["ieee"], nwk = remap[key]
            frames.append(LockFrame(RecordedFrame.from_report(report), report["model"], nwk, expected))
    return frames


# ---- the runner process -----------------------------------------------------------------------


class FlowengineTarget(Target):
    """``flowengine run`` with zigbee → decode → mqtt-out (Zigbee2MQTT mode)."""

    name = "flowengine"

    def __init__(self, workdir: Path, python: str, source: Path | None = None, path: Path | None = None) -> None:
        super().__init__(workdir)
        self.python = python
        self.source = source
        self.path = path
        if source is not None:
            self.name = "before"
        elif path is not None:
            self.name = "flowengine+uv"

    def command(self, emulator_port: int, broker_port: int) -> tuple[list[str], dict[str, str]]:
        """Write the flow (once) and return ``python -m flowengine.cli run flow.yaml``."""
        flow = self.workdir / "radio.yaml"
        flow.write_text(
            f"""version: 1
name: radio
state: memory
nodes:
  - id: radio
    type: zigbee
    device: socket://127.0.0.1:{emulator_port}
    database: radio.zigbee.db
    permit_join: 60
    wires: {{out: [decode]}}
  - id: decode
    type: decode
    compat: 2
    cache_state: false
    wires: {{out: [publish]}}
  - id: publish
    type: mqtt-out
    broker: mqtt://127.0.0.1:{broker_port}
    qos: 0
    zigbee2mqtt: {{}}
"""
        )
        env = {}
        if self.source is not None:
            env["PYTHONPATH"] = f"{self.source}:{self.source / 'nodes'}"
        elif self.path is not None:
            env["PYTHONPATH"] = str(self.path)
        return [self.python, "-m", "flowengine.cli", "run", str(flow)], env


# ---- one session of a runner --------------------------------------------------------------------


@dataclass
class RateResult:
    """What one replay at one rate gave."""

    rate: str
    frames: int
    sent: int
    extra: int
    received: int
    agree: int
    cpu_ms: float
    p50: float
    p99: float
    seconds: float
    disagreements: list[tuple[dict[str, Any], Any]] = field(default_factory=list)


@dataclass
class SessionResult:
    """One start of a runner and its replays."""

    target: str
    start: float
    idle_cpu: float
    rss: float = 0.0
    rates: list[RateResult] = field(default_factory=list)


class Session:
    """One runner process between the emulator and the broker, and the subscriber that watches it."""

    def __init__(
        self,
        target: Target,
        emulator: Emulator,
        broker: Mosquitto,
        frames: list[LockFrame],
        py_spy: str | None = None,
    ) -> None:
        self.py_spy = py_spy
        self.target = target
        self.emulator = emulator
        self.broker = broker
        self.frames = frames
        self.process: subprocess.Popen[bytes] | None = None
        self.online = asyncio.Event()
        self.heard: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self.pending: dict[str, deque[tuple[LockFrame, float]]] = defaultdict(deque)
        self.latencies: list[float] = []
        self.agree = 0
        self.received = 0
        self.extra = 0
        self.disagreements: list[tuple[dict[str, Any], Any]] = []
        self.drained = asyncio.Event()
        self.device_topics = {frame.topic for frame in frames}

    def on_message(self, topic: str, payload: bytes, now: float) -> None:
        """Record a payload: the bridge coming online, a device heard from, a replayed frame's output."""
        if topic == f"{BASE}/bridge/state":
            if is_online(topic, payload):
                self.online.set()
            return
        self.heard[topic].set()
        waiting = self.pending.get(topic)
        if not waiting:
            if topic in self.device_topics:
                self.extra += 1
            return
        frame, queued = waiting.popleft()
        self.received += 1
        self.latencies.append((now - queued) * 1000)
        try:
            value = json.loads(payload)
        except ValueError:
            value = payload.decode(errors="replace")
        if value == frame.expected:
            self.agree += 1
        elif len(self.disagreements) < 5:
            self.disagreements.append((frame.expected, value))
        if not any(self.pending.values()):
            self.drained.set()

    async def listen(self, client: aiomqtt.Client) -> None:
        """Feed every message to :meth:`on_message` with its arrival time."""
        async for message in client.messages:
            self.on_message(str(message.topic), bytes(message.payload), time.perf_counter())  # type: ignore[arg-type]

    async def run(self, *, pair: bool, rates: list[float | None], log: Callable[[str], None]) -> SessionResult:
        """Start the runner, (pair the locks,) replay at each rate, stop it; return the figures."""
        async with aiomqtt.Client("127.0.0.1", self.broker.port, identifier=f"bench-{os.getpid()}") as client:
            # A retained 'online' from an earlier session must not count as this start.
            await client.publish(f"{BASE}/bridge/state", b"", retain=True)
            await client.subscribe(f"{BASE}/#")
            listener = asyncio.create_task(self.listen(client))
            started = time.perf_counter()
            self.process = self.target.start(self.emulator.port, self.broker.port)
            try:
                async with asyncio.timeout(60):
                    await self.online.wait()
                result = SessionResult(self.target.name, time.perf_counter() - started, 0.0)
                if pair:
                    await self.target.open_network(client, self.heard)
                    for device in self.emulator.devices.values():
                        self.emulator.join(device)
                await self.probe(90 if pair else 30)
                if pair:
                    return result
                pid = self.process.pid
                await asyncio.sleep(1.0)
                before, at = cpu_seconds(pid), time.perf_counter()
                await asyncio.sleep(3.0)
                result.idle_cpu = (cpu_seconds(pid) - before) / (time.perf_counter() - at)
                for rate in rates:
                    spy = self.profile(rate)
                    result.rates.append(await self.replay(rate, result.idle_cpu))
                    if spy is not None:
                        spy.send_signal(signal.SIGINT)
                        while spy.poll() is None:  # noqa: ASYNC110 - a child's exit
                            await asyncio.sleep(0.05)
                    await asyncio.sleep(1.0)
                result.rss = rss_mib(pid)
                return result
            finally:
                await self.stop()
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                    await listener

    def profile(self, rate: float | None) -> subprocess.Popen[bytes] | None:
        """With ``--py-spy``, record the flowengine runner during this replay (collapsed stacks)."""
        if self.py_spy is None or not isinstance(self.target, FlowengineTarget) or self.process is None:
            return None
        name = "max" if rate is None else f"{rate:g}"
        out = self.target.workdir / f"profile-{name}-{self.process.pid}.txt"
        return subprocess.Popen(
            [self.py_spy, "record", "-r", "200", "-p", str(self.process.pid), "-f", "raw", "-o", str(out), "--threads"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    async def probe(self, seconds: float) -> None:
        """Send each lock's first frame until its payload comes out (joined, interviewed, restored)."""
        first: dict[str, LockFrame] = {}
        for frame in self.frames:
            if frame.expected is not None:
                first.setdefault(frame.topic, frame)
        async with asyncio.timeout(seconds):
            for topic, frame in first.items():
                self.heard[topic].clear()
                while not self.heard[topic].is_set():
                    await replay(self.emulator, [frame.recorded], rate=None)
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(2.0):
                            await self.heard[topic].wait()

    async def replay(self, rate: float | None, idle_cpu: float) -> RateResult:
        """Replay every frame at ``rate`` and wait for their payloads."""
        assert self.process is not None
        pid = self.process.pid
        self.latencies, self.agree, self.received, self.extra, self.disagreements = [], 0, 0, 0, []
        self.pending.clear()
        self.drained.clear()

        def queued(index: int, _frame: ApsFrame, now: float) -> None:
            frame = self.frames[index]
            if frame.expected is not None:
                self.pending[frame.topic].append((frame, now))

        cpu_before, started = cpu_seconds(pid), time.perf_counter()
        await replay(self.emulator, [frame.recorded for frame in self.frames], rate=rate, on_queued=queued)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(DRAIN):
                while any(self.pending.values()):
                    self.drained.clear()
                    await self.drained.wait()
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(pid) - cpu_before - idle_cpu * elapsed
        for waiting in self.pending.values():
            for frame, _ in list(waiting)[:3]:
                self.disagreements.append((frame.expected, f"nothing for frame {frame.recorded.payload.hex()}"))
        latencies = sorted(self.latencies)

        def pct(q: float) -> float:
            return latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else float("nan")

        return RateResult(
            rate="max" if rate is None else f"{rate:g}",
            frames=len(self.frames),
            sent=sum(1 for frame in self.frames if frame.expected is not None),
            extra=self.extra,
            received=self.received,
            agree=self.agree,
            cpu_ms=1000 * cpu / len(self.frames),
            p50=pct(0.50),
            p99=pct(0.99),
            seconds=elapsed,
            disagreements=list(self.disagreements),
        )

    async def stop(self) -> None:
        """Stop the runner (SIGINT, then SIGKILL after 20 s)."""
        await stop_runner(self.process, self.emulator)


# ---- the run -------------------------------------------------------------------------------------


def locks(frames: list[LockFrame]) -> list[LumiLock]:
    """One virtual lock per IEEE address of the replay, with its model and NWK address."""
    seen: dict[str, LumiLock] = {}
    for frame in frames:
        ieee = frame.recorded.ieee
        if ieee not in seen:
            seen[ieee] = LumiLock(f"lock{len(seen) + 1}", ieee=ieee, nwk=frame.nwk, model=frame.model)
    return list(seen.values())


@dataclass
class Bed:
    """A target with its own emulator (stick and locks) and broker."""

    target: Target
    emulator: Emulator
    broker: Mosquitto


async def make_bed(target: Target, frames: list[LockFrame], mosquitto: str) -> Bed:
    """Form the emulated stick (fixed network), start the emulator and the broker."""
    emulator = Emulator(stick=formed_stick(target.workdir / "stick.json"), devices=locks(frames))
    await emulator.start()
    broker = Mosquitto(target.workdir / "broker", binary=mosquitto)
    broker.start()
    return Bed(target, emulator, broker)


def summary(results: list[SessionResult], name: str, rate: str) -> dict[str, float] | None:
    """Medians over the repetitions of one target at one rate."""
    rows = [r for s in results if s.target == name for r in s.rates if r.rate == rate]
    sessions = [s for s in results if s.target == name]
    if not rows:
        return None
    return {
        "cpu": statistics.median(r.cpu_ms for r in rows),
        "p50": statistics.median(r.p50 for r in rows),
        "p99": statistics.median(r.p99 for r in rows),
        "fps": statistics.median(r.frames / r.seconds for r in rows),
        "rss": statistics.median(s.rss for s in sessions),
        "start": statistics.median(s.start for s in sessions),
        "agree": min(r.agree for r in rows),
        "received": min(r.received for r in rows),
    }


def print_row(result: RateResult, target: str, rep: int) -> None:
    """One replay's figures as they come."""
    print(
        f"  rep {rep} {target:<12} {result.rate:>4} fps  {result.received:>4}/{result.sent} received "
        f"{result.agree:>4} agree {result.extra} extra  CPU {result.cpu_ms:6.3f} ms/frame  p50 {result.p50:7.2f} ms  "
        f"p99 {result.p99:7.2f} ms  {result.frames / result.seconds:6.0f} frames/s",
        flush=True,
    )
    for expected, got in result.disagreements[:2]:
        print(f"    expected {json.dumps(expected, sort_keys=True)}\n    got      {json.dumps(got, sort_keys=True)}")


async def main(args: argparse.Namespace) -> None:
    mosquitto = mosquitto_binary()
    if mosquitto is None:
        raise SystemExit("radio_path: mosquitto is not installed (bash tests/bootstrap.sh)")
    frames = load_frames(VECTORS)[: args.frames]
    rates: list[float | None] = [None if r == "max" else float(r) for r in args.rates.split(",") if r]
    payloads = sum(1 for frame in frames if frame.expected is not None)
    print(
        f"{len(frames)} frames from {VECTORS.relative_to(REPO)} ({payloads} with a reference payload, the others "
        f"with none; {len(locks(frames))} locks); rates {args.rates}"
    )
    root = Path(args.workdir or tempfile.mkdtemp(prefix="radio_path-"))
    targets: list[Target] = []
    for name in args.targets.split(","):
        if name == "flowengine":
            targets.append(FlowengineTarget(root / "flowengine", args.python))
        elif name == "before":
            if args.before is None:
                raise SystemExit("radio_path: the target 'before' needs --before SRC")
            targets.append(FlowengineTarget(root / "before", args.before_python or args.python, args.before))
        elif name == "flowengine+uv":
            if args.uvloop is None:
                raise SystemExit("radio_path: the target 'flowengine+uv' needs --uvloop DIR")
            targets.append(FlowengineTarget(root / "uvloop", args.python, path=args.uvloop))
        elif name == "zigbee2mqtt":
            found = find_zigbee2mqtt()
            if isinstance(found, str):
                print(f"zigbee2mqtt: skipped: {found}")
                continue
            targets.append(Zigbee2MqttTarget(root / "zigbee2mqtt", *found, log_level=args.z2m_log_level))
        else:
            raise SystemExit(f"radio_path: unknown target {name!r} (flowengine, before, flowengine+uv, zigbee2mqtt)")
    beds = [await make_bed(target, frames, mosquitto) for target in targets]
    results: list[SessionResult] = []
    try:
        for bed in beds:
            paired = await Session(bed.target, bed.emulator, bed.broker, frames).run(pair=True, rates=[], log=print)
            print(f"{bed.target.name}: paired {len(bed.emulator.devices)} locks (first start {paired.start:.2f} s)")
        for rep in range(1, args.reps + 1):
            for bed in beds:
                session = Session(bed.target, bed.emulator, bed.broker, frames, args.py_spy if rep == 1 else None)
                result = await session.run(pair=False, rates=rates, log=print)
                results.append(result)
                print(
                    f"  rep {rep} {bed.target.name:<12} start {result.start:.2f} s, idle {1000 * result.idle_cpu:.1f} "
                    f"ms CPU/s, RSS {result.rss:.0f} MiB",
                    flush=True,
                )
                for rate_result in result.rates:
                    print_row(rate_result, bed.target.name, rep)
    finally:
        for bed in beds:
            await bed.emulator.aclose()
            bed.broker.stop()
    print(f"\nmedians over {args.reps} repetition(s); ratios = flowengine (or before) / zigbee2mqtt, same run")
    print(f"{'rate':>5} {'target':<12} {'CPU ms/frame':>12} {'p50 ms':>8} {'p99 ms':>8} {'frames/s':>9} "
          f"{'RSS MiB':>8} {'start s':>8} {'agree':>9}")
    for rate in [("max" if r is None else f"{r:g}") for r in rates]:
        rows = {t.name: summary(results, t.name, rate) for t in targets}
        for name, row in rows.items():
            if row is None:
                continue
            print(
                f"{rate:>5} {name:<12} {row['cpu']:12.3f} {row['p50']:8.2f} {row['p99']:8.2f} {row['fps']:9.0f} "
                f"{row['rss']:8.0f} {row['start']:8.2f} {int(row['agree']):>5}/{payloads}"
            )
        theirs = rows.get("zigbee2mqtt")
        for name in ("before", "flowengine", "flowengine+uv"):
            ours = rows.get(name)
            if ours and theirs:
                print(
                    f"{rate:>5} {name + '/z2m':<12} {ours['cpu'] / theirs['cpu']:11.2f}x "
                    f"{ours['p50'] / theirs['p50']:7.2f}x {ours['p99'] / theirs['p99']:7.2f}x "
                    f"{ours['fps'] / theirs['fps']:8.2f}x {ours['rss'] / theirs['rss']:7.2f}x "
                    f"{ours['start'] / theirs['start']:7.2f}x"
                )
    if not args.workdir:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", default="flowengine,zigbee2mqtt", help="comma-separated: flowengine,zigbee2mqtt")
    parser.add_argument("--rates", default="50,200,max", help="frames/s, comma-separated; max = all at once")
    parser.add_argument("--reps", type=int, default=3, help="fresh starts per target (alternating)")
    parser.add_argument("--frames", type=int, default=None, help="replay only the first N frames")
    parser.add_argument("--python", default=str(REPO / ".venv" / "bin" / "python"), help="flowengine's Python")
    parser.add_argument("--z2m-log-level", default="warning", help="Zigbee2MQTT's log level (its runner.log)")
    parser.add_argument(
        "--before",
        type=lambda value: Path(value).resolve(),
        help="a source tree of another flowengine version (git archive REV | tar -x -C DIR): target 'before'",
    )
    parser.add_argument("--before-python", help="the Python for target 'before' (default: --python)")
    parser.add_argument(
        "--uvloop",
        type=lambda value: Path(value).resolve(),
        help="a folder holding uvloop (pip install --target DIR uvloop): target 'flowengine+uv'",
    )
    parser.add_argument("--py-spy", help="py-spy binary: profile flowengine's first repetition (into --workdir)")
    parser.add_argument("--workdir", help="keep the runners' folders (logs, databases) here")
    asyncio.run(main(parser.parse_args()))
