"""The SIGKILL matrix, short form: real runner processes killed at random moments, nothing lost.

The long form (20 kills per row, bigger inputs) is ``benchmarks/sigkill_matrix.py``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

from tests.delivery.harness import Tally, fan_out, mqtt_in_to_out, replay_to_file, replay_to_mqtt
from tests.delivery.radio import TOPIC, RadioTally, zigbee_to_mqtt
from tests.mosquitto import Mosquitto, Subscriber


def _check(tally: Tally, label: str, seed: int) -> None:
    """Print the row's figures; nothing may be lost, and at least one kill must have hit a runner."""
    print(tally.line(label))
    assert tally.lost == [], f"seed {seed}"
    assert tally.kills >= 1, "no kill hit a running runner: the row tested nothing"


def test_replay_to_file_loses_nothing_across_sigkills(tmp_path: Path) -> None:
    """replay (resume, speed 0) → file: 3 SIGKILLs at random lines, every record in the file at the end."""
    seed = random.randrange(1 << 30)
    tally = replay_to_file(tmp_path, 20_000, 3, random.Random(seed))
    _check(tally, f"replay → file (seed {seed})", seed)


def test_mqtt_in_change_mqtt_out_loses_nothing_across_sigkills(
    mosquitto_persistent: Mosquitto, mqtt_subscriber: Callable[..., Subscriber], tmp_path: Path
) -> None:
    """mqtt-in (persistent, QoS 1) → change → mqtt-out (QoS 1): 3 SIGKILLs, every message at the subscriber."""
    seed = random.randrange(1 << 30)
    subscriber = mqtt_subscriber(mosquitto_persistent, "out/#", client_id="delivery-check")
    tally = mqtt_in_to_out(tmp_path, mosquitto_persistent, subscriber, 1_000, 3, random.Random(seed))
    _check(tally, f"mqtt-in → change → mqtt-out (seed {seed})", seed)


def test_replay_to_mqtt_out_loses_nothing_across_sigkills(
    mosquitto_persistent: Mosquitto, mqtt_subscriber: Callable[..., Subscriber], tmp_path: Path
) -> None:
    """replay (resume) → mqtt-out (QoS 1, not inline): 3 SIGKILLs, every record at the subscriber."""
    seed = random.randrange(1 << 30)
    subscriber = mqtt_subscriber(mosquitto_persistent, "out/#", client_id="delivery-check")
    tally = replay_to_mqtt(tmp_path, mosquitto_persistent, subscriber, 5_000, 3, random.Random(seed))
    _check(tally, f"replay → mqtt-out (seed {seed})", seed)


def test_fan_out_with_a_filter_and_a_rule_loses_nothing_across_sigkills(tmp_path: Path) -> None:
    """replay → (filter → file, rule → file, file): 3 SIGKILLs, every output complete at the end."""
    seed = random.randrange(1 << 30)
    tally = fan_out(tmp_path, 20_000, 3, random.Random(seed))
    _check(tally, f"fan-out (seed {seed})", seed)


def check_radio(tally: RadioTally, label: str, seed: int) -> None:
    """The radio row's check: nothing lost but the frame in transit at a kill (at most one per kill), reported.

    zigpy-deconz asks for one indication at a time, so only the last frame handed over to a
    killed runner can be between the stick and the journal; the line printed says how many
    such frames were lost and how long before the kill they were handed over.
    """
    print(tally.line(label))
    assert tally.lost_beyond_transit == [], f"seed {seed}"
    assert tally.kills >= 1, "no kill hit a running runner: the row tested nothing"
    assert len(tally.handed) >= tally.expected // 2, "most frames were never handed over: the row tested little"


def test_zigbee_decode_mqtt_out_loses_no_journaled_frame_across_sigkills(
    mosquitto_persistent: Mosquitto, mqtt_subscriber: Callable[..., Subscriber], tmp_path: Path
) -> None:
    """zigbee (emulator over TCP) → decode → mqtt-out: 3 SIGKILLs while frames flow, every journaled frame published."""
    seed = random.randrange(1 << 30)
    subscriber = mqtt_subscriber(mosquitto_persistent, TOPIC, client_id="delivery-check")
    tally = zigbee_to_mqtt(tmp_path, mosquitto_persistent, subscriber, 1_500, 3, random.Random(seed))
    check_radio(tally, f"zigbee → decode → mqtt-out (seed {seed})", seed)
