"""The SIGKILL matrix's radio row: zigbee (the emulator over TCP) → decode → mqtt-out, killed at random.

The deCONZ emulator runs in this process, on its own loop in a thread, listening on a
loopback port; ``flowengine run`` connects to it with ``device: socket://…`` like a host
to a ConBee over ser2net, and survives nothing of the emulator's state but what a stick
would keep. A virtual smart plug sends ``power`` reports whose value is the frame's
number; decode turns each into a Zigbee2MQTT payload whose ``power`` is that number, and
``mqtt-out`` (QoS 1) publishes it to a persistent subscriber.

What counts (docs/zigbee.md, "Frame journal"): a frame is *handed over* when the emulator
wrote its APS data indication to the host connection (the stick never sends it again).
It is *lost* when it was handed over and never published. zigpy-deconz asks for the next
indication only once the previous one went through the frame tap (where the journal
writes it), so at any moment at most one frame is between the stick and the journal: the
last one handed over. After each kill the journal file is read; when that last frame is
not in it, it was *in transit* at the kill (in the socket, or in a runner the scheduler
had not run yet), the one window a journal in the host cannot close. Any other lost frame
is a failure.
"""

from __future__ import annotations

import asyncio
import functools
import json
import random
import signal
import struct
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from flowengine_nodes.emulator.devices import ApsFrame
from flowengine_nodes.emulator.server import Emulator
from flowengine_nodes.emulator.stick import StickState
from flowengine_nodes.emulator.xiaomi import SmartPlug
from tests.delivery.harness import Tally, kill_targets, kill_when, start_runner, wait_for_log
from tests.mosquitto import Mosquitto, Subscriber

PLUG_IEEE = "00:15:8d:00:0a:0b:0c:0d"
#: Seconds between two frames of the plug (as fast as the host takes them, about 700 a second).
FRAME_INTERVAL = 0.001
#: Where decode publishes the plug's payloads.
TOPIC = "zigbee2mqtt/#"


def radio_flow(port: int, broker_url: str, *, journal: bool = True) -> str:
    """zigbee (socket://) → decode → mqtt-out (QoS 1); the radio's events into a file (to see the interview)."""
    return f"""
version: 1
nodes:
  - id: radio
    type: zigbee
    device: socket://127.0.0.1:{port}
    journal: {"true" if journal else "false"}
    wires: {{out: [decode], events: [events]}}
  - id: events
    type: file
    path: events.jsonl
  - id: decode
    type: decode
    cache_state: false
    wires: [publish]
  - id: publish
    type: mqtt-out
    broker: {broker_url}
    client_id: delivery-radio
    qos: 1
"""


@dataclass
class RadioTally(Tally):
    """A :class:`Tally` over the frames the stick handed over (not a range), split by cause of loss."""

    handed: set[int] = field(default_factory=set)
    #: Lost frames in transit at a kill: the last frame handed over to the killed run, not in its journal.
    in_transit: list[int] = field(default_factory=list)
    #: Milliseconds from each in-transit frame's hand-over to the kill.
    in_transit_ms: list[float] = field(default_factory=list)
    #: Frames seen in the journal after a kill, and whether they were committed there.
    journaled: dict[int, bool] = field(default_factory=dict)

    @property
    def lost(self) -> list[int]:
        """Frames handed over and never published."""
        return [seq for seq in sorted(self.handed) if seq not in self.seen]

    @property
    def lost_beyond_transit(self) -> list[int]:
        """Lost frames that were not in transit at a kill: failures of the journal (must be none)."""
        return [seq for seq in self.lost if seq not in self.in_transit]

    def line(self, name: str) -> str:
        """One line for a report, with the frames lost in transit at a kill."""
        ages = ", ".join(f"{ms:.2f}" for ms in self.in_transit_ms)
        return (
            f"{name}: {len(self.seen)}/{len(self.handed)} handed-over frames published, {len(self.lost)} lost "
            f"({len(self.lost_beyond_transit)} beyond, {len(self.in_transit)} in transit at a kill"
            f"{f': handed over {ages} ms before it' if ages else ''}), {self.duplicates} duplicates, "
            f"{self.kills} kills mid-stream{self._beyond()}"
        )

    def _beyond(self) -> str:
        """Where the frames lost beyond transit were last seen (a failure's first clue)."""
        beyond = self.lost_beyond_transit
        if not beyond:
            return ""
        where = {"committed in the journal": 0, "in the journal, not committed": 0, "never in the journal": 0}
        for seq in beyond:
            state = self.journaled.get(seq)
            key = (
                "never in the journal"
                if state is None
                else ("committed in the journal" if state else "in the journal, not committed")
            )
            where[key] += 1
        return "; lost beyond transit: " + ", ".join(f"{count} {key}" for key, count in where.items() if count)


class EmulatedStick:
    """The emulator on its own loop in a thread, with a plug that sends numbered ``power`` reports."""

    def __init__(self, folder: Path) -> None:
        stick = StickState.load(folder / "stick.json")
        if not stick.formed:
            stick.form(channel=15)
            stick.save()
        self.plug = SmartPlug("plug", ieee=PLUG_IEEE, nwk=0x2B3C)
        self.emulator = Emulator(stick=stick, devices=[self.plug])
        self.emulator.on_indication.append(self._handed_over)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="emulated-stick", daemon=True)
        self._numbers: dict[int, tuple[ApsFrame, int]] = {}
        #: Frame number -> time.perf_counter() when its indication was written to the host.
        self.handed: dict[int, float] = {}
        self.done = threading.Event()

    def start(self) -> int:
        """Start the loop and the emulator; return its port."""
        self.thread.start()
        self.call(self.emulator.start())
        return self.emulator.port

    def call(self, coroutine: object, timeout: float = 60.0) -> object:
        """Run ``coroutine`` on the emulator's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)  # type: ignore[arg-type]

    def stop(self) -> None:
        """Close the emulator and its loop."""
        self.call(self.emulator.aclose())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    async def _join(self) -> None:
        await self.emulator.wait_host_ready()
        self.emulator.join("plug")

    def join(self) -> None:
        """Let the plug join once the host is up."""
        self.call(self._join())

    def stream(self, total: int, interval: float) -> None:
        """Send frames 0..total-1, one every ``interval`` seconds while a host is up (in the background)."""
        asyncio.run_coroutine_threadsafe(self._stream(total, interval), self.loop)

    async def _stream(self, total: int, interval: float) -> None:
        try:
            for number in range(total):
                await self.emulator.wait_host_ready()
                for frame in self.emulator.send_event_frames(self.plug, "power", power=float(number)):
                    self._numbers[id(frame)] = (frame, number)
                await asyncio.sleep(interval)
        finally:
            self.done.set()

    def _handed_over(self, frame: ApsFrame) -> None:
        known = self._numbers.pop(id(frame), None)
        if known is not None:
            self.handed[known[1]] = time.perf_counter()


def journal_numbers(path: Path) -> dict[int, bool]:
    """The plug frames in a journal file (their numbers), each with whether it is committed."""
    frames: dict[int, int] = {}
    committed = 0
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    for line in data.split(b"\n")[:-1]:
        parts = line.split(b" ", 2)
        if parts[0] == b"c" and len(parts) == 2:
            committed = max(committed, int(parts[1]))
        elif len(parts) == 3:
            record = json.loads(parts[2])
            if record.get("cluster") == 0x000C:
                frames[round(_power(bytes.fromhex(record["frame"])))] = int(parts[0])
    return {number: line <= committed for number, line in frames.items()}


def _power(frame: bytes) -> float:
    """The single float at the end of an Analog Input presentValue report."""
    return float(struct.unpack("<f", frame[-4:])[0])


def zigbee_to_mqtt(
    folder: Path,
    broker: Mosquitto,
    subscriber: Subscriber,
    total: int,
    kills: int,
    rng: random.Random,
    *,
    journal: bool = True,
    interval: float = FRAME_INTERVAL,
) -> RadioTally:
    """The matrix row zigbee → decode → mqtt-out: ``kills`` SIGKILLs while frames flow, then a clean stop.

    ``journal=False`` runs the same row with the source's journal off: what it loses is what
    the journal saves. ``interval``: seconds between two frames of the plug.
    """
    stick = EmulatedStick(folder)
    port = stick.start()
    (folder / "flow.yaml").write_text(radio_flow(port, broker.url, journal=journal))
    journal_file = folder / ".flowengine" / "flow-radio.zigbee.journal"
    tally = RadioTally(total)
    try:
        process = start_runner(folder, 0)
        stick.join()
        assert wait_for_log(process, folder / "events.jsonl", "device_interviewed"), (folder / "run0.log").read_text()
        stick.stream(total, interval)
        since = 0.0
        for number, target in enumerate(kill_targets(rng, total, kills), start=1):
            tally.kills += kill_when(process, functools.partial(_reached, stick, target, rng.uniform(0, 0.02)))
            at_kill = time.perf_counter()
            in_journal = journal_numbers(journal_file)
            for seq, committed in in_journal.items():
                tally.journaled[seq] = tally.journaled.get(seq, False) or committed
            published = set(subscriber_numbers(subscriber))
            # zigpy-deconz asks for the next indication only once the last one went through the frame
            # tap: the one frame between the stick and the journal is the last one handed over.
            run = [(handed_at, seq) for seq, handed_at in stick.handed.items() if since < handed_at <= at_kill]
            if run:
                handed_at, seq = max(run)
                if seq not in in_journal and seq not in published:
                    tally.in_transit.append(seq)
                    tally.in_transit_ms.append((at_kill - handed_at) * 1000)
            since = at_kill
            process = start_runner(folder, number)
        assert stick.done.wait(300), "the plug's frames did not all go out"
        # Every frame sent is handed over (or dropped) and every one handed over is published, or the wait ends.
        # A frame in transit at a kill was never journaled: it cannot come, the wait does not wait for it.
        gone = set(tally.in_transit)
        subscriber.wait_until(
            lambda m: stick.emulator.queued == 0 and set(stick.handed) - gone <= {_number(x.payload) for x in m},
            timeout=60,
        )
        process.send_signal(signal.SIGTERM)
        code = process.wait(60)
        assert code == 0, f"runner exit {code}: " + (folder / f"run{kills}.log").read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        stick.stop()
    tally.handed = set(stick.handed)
    tally.add(subscriber_numbers(subscriber))
    # Frames published in the end were not lost in transit, whatever the journal showed at the kill.
    kept = [(seq, ms) for seq, ms in zip(tally.in_transit, tally.in_transit_ms, strict=True) if seq not in tally.seen]
    tally.in_transit = [seq for seq, _ in kept]
    tally.in_transit_ms = [ms for _, ms in kept]
    return tally


def _reached(stick: EmulatedStick, target: int, jitter: float) -> bool:
    """True once ``target`` frames were handed over, ``jitter`` seconds later.

    The emulator shares this process's interpreter lock with the check: a kill at the
    moment of the check would fall between two frames nearly every time. The random
    pause lets the stick and the runner go on, so the kill lands anywhere in a frame's path.
    """
    if len(stick.handed) < target:
        return False
    time.sleep(jitter)
    return True


def _number(payload: bytes) -> int:
    value = json.loads(payload).get("power")
    return -1 if value is None else round(float(value))


def subscriber_numbers(subscriber: Subscriber) -> list[int]:
    """The frame number of every plug payload the subscriber received."""
    return [n for n in (_number(p) for p in subscriber.payloads()) if n >= 0]
