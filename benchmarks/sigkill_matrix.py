"""The SIGKILL matrix, long form: each delivery row with many random SIGKILLs, 0 lost expected.

Usage:
    .venv/bin/python -m benchmarks.sigkill_matrix [--kills 20] [--rows replay-file,mqtt,zigbee,...] [--seed N]
    .venv/bin/python -m benchmarks.sigkill_matrix --acceptance   # issue 13's acceptance 1

Every row runs real ``flowengine run`` processes against a private Mosquitto (persistence on)
and prints one line: arrived/expected, lost, duplicates, and how many kills hit a running
runner. The radio rows (``zigbee``: the source's frame journal on, frames as fast as the
host takes them; ``zigbee-50``: 50 frames/s; ``zigbee-no-journal``: the journal off, to
compare) count frames the emulated stick handed over, and say which lost frames were in
transit at a kill (handed over, not yet journaled; docs/zigbee.md). The short forms (3
kills per row) are in ``tests/delivery/``.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.delivery.harness import Tally, fan_out, mqtt_in_to_out, replay_to_file, replay_to_mqtt
from tests.delivery.radio import TOPIC, RadioTally, zigbee_to_mqtt
from tests.mosquitto import Mosquitto, Subscriber, mosquitto_binary

Row = Callable[[Path, Mosquitto, random.Random, int, int], Tally]


def _subscriber(broker: Mosquitto, topic: str = "out/#") -> Subscriber:
    return Subscriber(broker, [topic], client_id=f"matrix-{time.monotonic_ns()}").start()


def row_replay_file(folder: Path, broker: Mosquitto, rng: random.Random, total: int, kills: int) -> Tally:
    """replay (resume, speed 0) → file."""
    return replay_to_file(folder, total, kills, rng)


def row_replay_mqtt(folder: Path, broker: Mosquitto, rng: random.Random, total: int, kills: int) -> Tally:
    """replay (resume) → mqtt-out QoS 1."""
    subscriber = _subscriber(broker)
    try:
        return replay_to_mqtt(folder, broker, subscriber, total, kills, rng)
    finally:
        subscriber.close()


def row_mqtt(folder: Path, broker: Mosquitto, rng: random.Random, total: int, kills: int) -> Tally:
    """mqtt-in (persistent, QoS 1) → change → mqtt-out QoS 1."""
    subscriber = _subscriber(broker)
    try:
        return mqtt_in_to_out(folder, broker, subscriber, total, kills, rng)
    finally:
        subscriber.close()


def row_fan_out(folder: Path, broker: Mosquitto, rng: random.Random, total: int, kills: int) -> Tally:
    """replay → fan-out to a filter, a rule and a file."""
    return fan_out(folder, total, kills, rng)


def row_zigbee(folder: Path, broker: Mosquitto, rng: random.Random, total: int, kills: int) -> Tally:
    """zigbee (the emulator over TCP) → decode → mqtt-out QoS 1, the source's frame journal on (its default)."""
    subscriber = _subscriber(broker, TOPIC)
    try:
        return zigbee_to_mqtt(folder, broker, subscriber, total, kills, rng)
    finally:
        subscriber.close()


def row_zigbee_50(folder: Path, broker: Mosquitto, rng: random.Random, total: int, kills: int) -> Tally:
    """The same at 50 frames/s (a busy home network) instead of as fast as the host takes them."""
    subscriber = _subscriber(broker, TOPIC)
    try:
        return zigbee_to_mqtt(folder, broker, subscriber, total, kills, rng, interval=0.02)
    finally:
        subscriber.close()


def row_zigbee_no_journal(folder: Path, broker: Mosquitto, rng: random.Random, total: int, kills: int) -> Tally:
    """The same with ``journal: false``: what the journal saves."""
    subscriber = _subscriber(broker, TOPIC)
    try:
        return zigbee_to_mqtt(folder, broker, subscriber, total, kills, rng, journal=False)
    finally:
        subscriber.close()


ROWS: dict[str, tuple[Row, int]] = {
    "replay-file": (row_replay_file, 50_000),
    "replay-mqtt": (row_replay_mqtt, 20_000),
    "mqtt": (row_mqtt, 5_000),
    "fan-out": (row_fan_out, 50_000),
    "zigbee": (row_zigbee, 10_000),
    "zigbee-50": (row_zigbee_50, 3_000),
    "zigbee-no-journal": (row_zigbee_no_journal, 10_000),
}


def run_row(name: str, total: int, kills: int, seed: int) -> Tally:
    """Run one row in a fresh folder with a fresh broker; print and return its tally."""
    binary = mosquitto_binary()
    if binary is None:
        raise SystemExit("mosquitto is not installed")
    row, _ = ROWS[name]
    with tempfile.TemporaryDirectory(prefix=f"sigkill-{name}-") as tmp:
        folder = Path(tmp)
        broker = Mosquitto(folder / "broker", binary=binary, persistence=True)
        broker.start()
        began = time.monotonic()
        try:
            tally = row(folder, broker, random.Random(seed), total, kills)
        finally:
            broker.kill()
        print(f"{tally.line(name)}  [{total} messages, seed {seed}, {time.monotonic() - began:.0f} s]", flush=True)
        return tally


def main() -> None:
    """Run the chosen rows (or acceptance 1) and exit 1 when any message was lost."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--rows", default=",".join(ROWS))
    parser.add_argument("--records", type=int, default=0, help="messages per row (0: the row's default)")
    parser.add_argument("--seed", type=int, default=random.randrange(1 << 30))
    parser.add_argument("--acceptance", action="store_true",
                        help="replay → file 200,000 records / 4 kills; mqtt 3,000 messages / 3 kills")
    args = parser.parse_args()
    if args.acceptance:
        plan = [("replay-file", 200_000, 4), ("mqtt", 3_000, 3)]
    else:
        plan = [(name, args.records or ROWS[name][1], args.kills) for name in args.rows.split(",")]
    lost = 0
    for name, total, kills in plan:
        tally = run_row(name, total, kills, args.seed)
        if isinstance(tally, RadioTally):
            # A frame in transit at a kill (handed over, not yet journaled) is the radio's known limit,
            # reported on the row's line; anything else lost fails the run. The row without the
            # journal is there to compare: it never fails the run.
            lost += 0 if name == "zigbee-no-journal" else len(tally.lost_beyond_transit)
        else:
            lost += len(tally.lost)
    raise SystemExit(1 if lost else 0)


if __name__ == "__main__":
    main()
