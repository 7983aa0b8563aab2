"""Running ``flowengine run`` and SIGKILLing it at random moments: the delivery matrix's tools.

Shared by the short forms in this folder and the long forms in ``benchmarks/sigkill_matrix.py``.
A kill happens when the run's observable progress (lines in the output file, messages at a
subscriber) first reaches a random target, so the moment is random but never a guess of
time; a kill that comes after the runner ended by itself is reported as such.
"""

from __future__ import annotations

import functools
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tests.mosquitto import Mosquitto, Subscriber, publish_messages

FLOWENGINE = [sys.executable, "-m", "flowengine.cli"]
IEEE = "00:15:8d:00:01:02:03:04"
#: Seconds between two looks at a progress that has no event to wait on (a file's size).
POLL = 0.005


def write_capture(path: Path, count: int, *, lanes: int = 3) -> None:
    """Raw reports 1 ms apart, each carrying its number (``seq``) and a lane."""
    with path.open("w") as capture:
        for seq in range(count):
            capture.write(json.dumps({
                "ts": 1_700_000_000 + seq / 1000, "ieee": IEEE, "endpoint": 1, "profile": 260, "cluster": 6,
                "frame": "18010a00001001", "seq": seq, "lane": seq % lanes,
            }) + "\n")


def start_runner(folder: Path, number: int, flow: str = "flow.yaml") -> subprocess.Popen[bytes]:
    """Start ``flowengine run`` in ``folder``; its stderr goes to ``run<number>.log``."""
    with (folder / f"run{number}.log").open("wb") as log:  # the child keeps its own descriptor
        return subprocess.Popen([*FLOWENGINE, "run", flow], cwd=folder, stdout=subprocess.DEVNULL, stderr=log)


def wait_for_log(process: subprocess.Popen[bytes], log: Path, text: str, timeout: float = 60.0) -> bool:
    """Wait until ``log`` holds ``text`` (the runner got that far) while ``process`` runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if text in log.read_text():
            return True
        time.sleep(POLL)
    return False


def file_lines(path: Path) -> int:
    """Complete lines in ``path`` so far (0 when it does not exist yet)."""
    try:
        with path.open("rb") as handle:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    except FileNotFoundError:
        return 0


def kill_when(process: subprocess.Popen[bytes], reached: Callable[[], bool], timeout: float = 120.0) -> bool:
    """SIGKILL ``process`` once ``reached()``; True when it was still running (a mid-stream kill)."""
    deadline = time.monotonic() + timeout
    while process.poll() is None and not reached() and time.monotonic() < deadline:
        time.sleep(POLL)
    alive = process.poll() is None
    if alive:
        os.kill(process.pid, signal.SIGKILL)
    process.wait(10)
    return alive


@dataclass
class Tally:
    """What arrived, against what was sent: lost, duplicated, and how many kills hit a running runner."""

    expected: int
    seen: Counter[int] = field(default_factory=Counter)
    kills: int = 0
    #: Records missing from the other outputs of a fan-out row.
    missing_elsewhere: int = 0

    def add(self, seqs: Iterable[int]) -> None:
        """Count the sequence numbers that arrived."""
        self.seen.update(seqs)

    @property
    def lost(self) -> list[int]:
        """Sequence numbers that never arrived (a fan-out row's other outputs count as ``-1`` each)."""
        return [seq for seq in range(self.expected) if seq not in self.seen] + [-1] * self.missing_elsewhere

    @property
    def duplicates(self) -> int:
        """Arrivals beyond the first of each number."""
        return sum(self.seen.values()) - len(self.seen)

    def line(self, name: str) -> str:
        """One line for a report."""
        return (f"{name}: {len(self.seen)}/{self.expected} arrived, {len(self.lost)} lost, "
                f"{self.duplicates} duplicates, {self.kills} kills mid-stream")


def file_seqs(path: Path) -> list[int]:
    """The ``seq`` of every line a ``file`` sink wrote (every line must be complete JSON)."""
    with path.open("rb") as handle:
        return [json.loads(line)["payload"]["seq"] for line in handle]


def kill_targets(rng: random.Random, total: int, kills: int) -> list[int]:
    """``kills`` random progress points in the first 90 % of ``total``, ascending."""
    return sorted(rng.randrange(1, max(2, total * 9 // 10)) for _ in range(kills))


REPLAY_TO_FILE = """
version: 1
nodes:
  - id: capture
    type: zigbee-replay
    path: capture.jsonl
    speed: 0
    resume: true
    wires: [save]
  - id: save
    type: file
    path: out.jsonl
"""


def run_with_kills(folder: Path, targets: list[int], progress: Callable[[int], bool]) -> tuple[int, int]:
    """Start the runner once per target and SIGKILL it when ``progress(target)``; return (kills mid-stream, runs)."""
    kills = 0
    for number, target in enumerate(targets):
        process = start_runner(folder, number)
        kills += kill_when(process, functools.partial(progress, target))
    return kills, len(targets)


def finish(folder: Path, number: int, timeout: float = 600.0) -> None:
    """Run the (finite) flow to its end; it must exit 0."""
    code = start_runner(folder, number).wait(timeout)
    assert code == 0, (folder / f"run{number}.log").read_text()


def replay_to_file(folder: Path, total: int, kills: int, rng: random.Random) -> Tally:
    """The matrix row replay (resume) → file: ``kills`` SIGKILLs, then a run to the end."""
    write_capture(folder / "capture.jsonl", total)
    (folder / "flow.yaml").write_text(REPLAY_TO_FILE)
    out = folder / "out.jsonl"
    tally = Tally(total)
    tally.kills, runs = run_with_kills(folder, kill_targets(rng, total, kills), lambda t: file_lines(out) >= t)
    finish(folder, runs)
    tally.add(file_seqs(out))
    return tally


def replay_to_mqtt(folder: Path, broker: Mosquitto, subscriber: Subscriber, total: int, kills: int,
                   rng: random.Random) -> Tally:
    """The matrix row replay (resume) → mqtt-out (QoS 1, its defaults): SIGKILLs, then a run to the end."""
    write_capture(folder / "capture.jsonl", total)
    (folder / "flow.yaml").write_text(REPLAY_TO_FILE.replace("""  - id: save
    type: file
    path: out.jsonl
""", f"""  - id: save
    type: mqtt-out
    broker: {broker.url}
    client_id: delivery-replay
    topic: "out/{{{{ payload.lane }}}}"
    qos: 1
"""))
    tally = Tally(total)
    tally.kills, runs = run_with_kills(
        folder, kill_targets(rng, total, kills), lambda t: subscriber.wait_until(lambda m: len(m) >= t, 0.05))
    finish(folder, runs)
    assert subscriber.wait_for_distinct("seq", total, 30)
    tally.add(subscriber_seqs(subscriber))
    return tally


def mqtt_flow(broker_url: str, *, inline: bool = False) -> str:
    """mqtt-in (QoS 1, persistent session) → change → mqtt-out (QoS 1): the matrix's MQTT row."""
    return f"""
version: 1
nodes:
  - id: inbound
    type: mqtt-in
    broker: {broker_url}
    client_id: delivery-in
    clean_session: false
    topics: [in/#]
    qos: 1
    wires: [mark]
  - id: mark
    type: change
    set:
      topic: "out/{{{{ payload.seq }}}}"
      payload: {{seq: "{{{{ payload.seq }}}}", via: flow}}
    wires: [publish]
  - id: publish
    type: mqtt-out
    broker: {broker_url}
    client_id: delivery-out
    qos: 1
    inline: {"true" if inline else "false"}
"""


def subscriber_seqs(subscriber: Subscriber) -> list[int]:
    """The ``seq`` of every message a subscriber received."""
    return [int(json.loads(payload)["seq"]) for payload in subscriber.payloads()]


def mqtt_in_to_out(folder: Path, broker: Mosquitto, subscriber: Subscriber, total: int, kills: int,
                   rng: random.Random) -> Tally:
    """The matrix row mqtt-in → change → mqtt-out, all QoS 1: ``kills`` SIGKILLs, then a run until all arrived.

    The runner's session is made first and every message published before the first run, so
    the broker holds them for it; ``subscriber`` (persistent, on ``out/#``) counts what arrives.
    """
    Subscriber(broker, ["in/#"], client_id="delivery-in").start().close()  # the session the flow resumes
    publish_messages(broker, [(f"in/{seq % 3}", json.dumps({"seq": seq})) for seq in range(total)])
    (folder / "flow.yaml").write_text(mqtt_flow(broker.url))
    tally = Tally(total)
    tally.kills, runs = run_with_kills(
        folder, kill_targets(rng, total, kills), lambda t: subscriber.wait_until(lambda m: len(m) >= t, 0.05))
    last = start_runner(folder, runs)
    try:
        everything = subscriber.wait_for_distinct("seq", total, 120)
        # Earlier runs may have delivered everything: stop the last one only once it runs (its
        # SIGTERM handler is installed), so its exit code tells a clean shutdown.
        started = wait_for_log(last, folder / f"run{runs}.log", "mqtt-in 'inbound'")
    finally:
        last.send_signal(signal.SIGTERM)
        code = last.wait(60)
    assert everything, (folder / f"run{runs}.log").read_text()
    assert started, (folder / f"run{runs}.log").read_text()
    assert code == 0, (folder / f"run{runs}.log").read_text()
    tally.add(subscriber_seqs(subscriber))
    return tally


FAN_OUT = """
version: 1
nodes:
  - id: capture
    type: zigbee-replay
    path: capture.jsonl
    speed: 0
    resume: true
    wires: [lane0, milestones, later, save]
  - id: lane0
    type: filter
    when: "payload.lane == 0"
    wires: [lane0_file]
  - id: lane0_file
    type: file
    path: lane0.jsonl
  - id: milestones
    type: rule
    when: "payload.seq % 50 == 49"
    wires: [milestone_file]
  - id: milestone_file
    type: file
    path: milestones.jsonl
  - id: later
    type: delay
    for: 2s
    wires: [later_file]
  - id: later_file
    type: file
    path: later.jsonl
  - id: save
    type: file
    path: out.jsonl
"""


def fan_out(folder: Path, total: int, kills: int, rng: random.Random) -> Tally:
    """The matrix row replay → fan-out to a filter, a rule, a delay and a plain sink, each into its own file.

    Every output must be complete: the filter's file holds every lane-0 record, the rule's every
    50th record (the rule swallows the other 49), the delay's (2 s of event time: 2,000 records
    held at any moment, in the flow's state) and the plain file every record. The tally is over
    all three (``expected`` = the sum of what each should hold; a number missing in any is lost).
    """
    write_capture(folder / "capture.jsonl", total)
    (folder / "flow.yaml").write_text(FAN_OUT)
    out = folder / "out.jsonl"
    tally = Tally(total)
    tally.kills, runs = run_with_kills(folder, kill_targets(rng, total, kills), lambda t: file_lines(out) >= t)
    finish(folder, runs)
    tally.add(file_seqs(out))
    wanted = {"lane0.jsonl": [seq for seq in range(total) if seq % 3 == 0],
              "milestones.jsonl": [seq for seq in range(total) if seq % 50 == 49],
              "later.jsonl": list(range(total))}
    for name, seqs in wanted.items():
        seen = set(file_seqs(folder / name))
        missing = [seq for seq in seqs if seq not in seen]
        extra = seen - set(seqs)
        assert not extra, f"{name} holds records it should not: {sorted(extra)[:5]}"
        tally.missing_elsewhere += len(missing)
    return tally
