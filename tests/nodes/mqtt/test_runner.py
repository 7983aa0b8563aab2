"""The MQTT nodes under the real runner (``flowengine run``): SIGKILL mid-stream, two runners on $share."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.delivery.harness import write_capture
from tests.mosquitto import Mosquitto, ReceivedMessage, Subscribe, Subscriber, publish_messages

FLOWENGINE = [sys.executable, "-m", "flowengine.cli"]
LANES = 3


def sigkill_flow(broker: Mosquitto) -> str:
    return f"""
version: 1
nodes:
  - id: capture
    type: zigbee-replay
    path: capture.jsonl
    speed: 4
    resume: true
    wires: [publish]
  - id: publish
    type: mqtt-out
    broker: {broker.url}
    topic: "load/{{{{ payload.lane }}}}"
    qos: 1
    inline: true
"""


def run_flow_process(folder: Path, number: int) -> subprocess.Popen[bytes]:
    with (folder / f"run{number}.log").open("wb") as log:  # the child keeps its own descriptor
        return subprocess.Popen([*FLOWENGINE, "run", "flow.yaml"], cwd=folder, stdout=subprocess.DEVNULL,
                                stderr=log)


def seqs(subscriber: Subscriber, topic: str | None = None) -> list[int]:
    return [json.loads(payload)["seq"] for payload in subscriber.payloads(topic)]


def test_at_least_once_in_order_across_sigkill_restarts(
    mosquitto_persistent: Mosquitto, mqtt_subscriber: Subscribe, tmp_path: Path
) -> None:
    """Acceptance 1 (runner part): 10,000 QoS 1 messages, the runner SIGKILLed twice mid-stream."""
    total = 10_000
    write_capture(tmp_path / "capture.jsonl", total)
    (tmp_path / "flow.yaml").write_text(sigkill_flow(mosquitto_persistent))
    subscriber = mqtt_subscriber(mosquitto_persistent, "load/#", client_id="sigkill-acceptance")
    for number, kill_after in enumerate((2500, 6000)):
        process = run_flow_process(tmp_path, number)
        try:
            arrived = subscriber.wait_for_count(kill_after, timeout=60)
            assert arrived, (tmp_path / f"run{number}.log").read_text()
            assert process.poll() is None, "the runner ended before the kill: not mid-stream"
        finally:
            os.kill(process.pid, signal.SIGKILL)
            assert process.wait(10) == -signal.SIGKILL
    last = run_flow_process(tmp_path, 2)
    assert last.wait(90) == 0, (tmp_path / "run2.log").read_text()

    assert subscriber.wait_for_distinct("seq", total, 30)
    received = seqs(subscriber)
    assert set(received) == set(range(total))
    for lane in range(LANES):
        first_seen = list(dict.fromkeys(seqs(subscriber, f"load/{lane}")))
        assert first_seen == list(range(lane, total, LANES)), f"lane {lane} out of order"
    duplicates = len(received) - total
    print(f"10,000 messages, 2 SIGKILLs: {duplicates} duplicates")


def share_flow(broker: Mosquitto, name: str) -> str:
    return f"""
version: 1
state: memory
nodes:
  - id: jobs
    type: mqtt-in
    broker: {broker.url}
    topics: ["$share/workers/jobs/#"]
    qos: 1
    format: text
    wires: [tag]
  - id: tag
    type: change
    set: {{topic: "collected/{name}/{{{{ topic }}}}"}}
    wires: [forward]
  - id: forward
    type: mqtt-out
    broker: {broker.url}
    qos: 1
"""


def test_two_runners_split_a_shared_subscription_with_none_lost(
    mosquitto: Mosquitto, mqtt_subscriber: Subscribe, tmp_path: Path
) -> None:
    """Acceptance 4: two runners with the same $share subscription split a stream, none lost."""
    collected = mqtt_subscriber(mosquitto, "collected/#", client_id="collector")
    processes = []
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "flow.yaml").write_text(share_flow(mosquitto, name))
        processes.append(run_flow_process(folder, 0))
    try:
        # Both runners are subscribed once each has forwarded a probe (the group alternates).
        deadline = time.monotonic() + 60
        while not {"a", "b"} <= {m.topic.split("/")[1] for m in collected.snapshot()}:
            assert time.monotonic() < deadline, "the runners did not both subscribe"
            assert all(p.poll() is None for p in processes)
            before = len(collected.snapshot())
            publish_messages(mosquitto, [("jobs/probe", b"probe")])
            collected.wait_for_count(before + 1, timeout=0.5)  # one probe at a time
        total = 2000
        publish_messages(mosquitto, [(f"jobs/{n % 5}", str(n).encode()) for n in range(total)])

        def real(messages: list[ReceivedMessage]) -> list[ReceivedMessage]:
            return [m for m in messages if not m.topic.endswith("/probe")]

        assert collected.wait_until(lambda m: len(real(m)) >= total, timeout=60)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        codes = [process.wait(60) for process in processes]
    assert codes == [0, 0]
    messages = real(collected.snapshot())
    numbers = sorted(int(m.payload) for m in messages)
    assert numbers == list(range(total)), "every message once, none lost"
    share = {name: sum(1 for m in messages if m.topic.split("/")[1] == name) for name in ("a", "b")}
    assert share["a"] > 0
    assert share["b"] > 0
    assert all(m.topic == f"collected/{m.topic.split('/')[1]}/jobs/{int(m.payload) % 5}" for m in messages)
