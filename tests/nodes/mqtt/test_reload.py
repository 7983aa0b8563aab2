"""``run --watch`` applies an edit node by node: only the changed node restarts (issue 14).

A real ``flowengine run --watch`` against the suite's Mosquitto: a rule keeps its window,
and the unchanged ``mqtt-in`` and ``mqtt-out`` keep their connections (the broker's own
log of client connects says so), while the edited ``change`` node takes its new config.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.engine.test_cli import FLOWENGINE
from tests.mosquitto import Mosquitto, Subscriber, publish_messages

FLOW = """
version: 1
state: memory
nodes:
  - id: lock
    type: mqtt-in
    broker: {url}
    client_id: reload-in
    topics: [lock/front]
    qos: 1
    format: json
    wires: [intrusion, shape]
  - id: intrusion
    type: rule
    when: "payload.n > 0"
    count: 3
    within: 1h
    emit:
      topic: alerts/intrusion
      payload: {{attempts: "{{{{ count }}}}"}}
    wires: [alerts]
  - id: shape
    type: change
    set:
      topic: seen/front
      payload: {{n: "{{{{ payload.n }}}}", tag: {tag}}}
    wires: [alerts]
  - id: alerts
    type: mqtt-out
    broker: {url}
    client_id: reload-out
    qos: 1
"""


class Lines:
    """The runner's stderr, read by a thread; :meth:`wait_for` blocks until a line contains a text."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.lines: list[str] = []
        self._condition = threading.Condition()
        assert process.stderr is not None
        self._stream = process.stderr
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for raw in self._stream:
            with self._condition:
                self.lines.append(raw.decode(errors="replace"))
                self._condition.notify_all()

    def wait_for(self, text: str, timeout: float = 30.0) -> bool:
        with self._condition:
            return self._condition.wait_for(lambda: any(text in line for line in self.lines), timeout)

    def join(self) -> str:
        self._thread.join(timeout=30)
        self._stream.close()
        return "".join(self.lines)


def connects(broker: Mosquitto, client_id: str) -> int:
    """How many times the broker saw ``client_id`` connect (its log, ``connection_messages true``)."""
    return sum(1 for line in broker.log().splitlines() if "New client connected" in line
               and f" as {client_id} " in line + " ")


def rewrite(path: Path, text: str) -> None:
    path.write_text(text)
    stamp = time.time() + 5  # a clearly newer mtime, whatever the file system's resolution
    os.utime(path, (stamp, stamp))


def test_an_edit_restarts_only_the_changed_node(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_subscriber: Callable[..., Subscriber]
) -> None:
    flow = tmp_path / "reload.yaml"
    flow.write_text(FLOW.format(url=mosquitto.url, tag="first"))
    subscriber = mqtt_subscriber(mosquitto, ["seen/#", "alerts/#"])
    process = subprocess.Popen([*FLOWENGINE, "run", "--watch", str(flow)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    lines = Lines(process)
    try:
        assert lines.wait_for("mqtt-in 'lock'"), lines.lines
        assert lines.wait_for("mqtt-out 'alerts'"), lines.lines
        publish_messages(mosquitto, [("lock/front", json.dumps({"n": 1})), ("lock/front", json.dumps({"n": 2}))])
        assert subscriber.wait_until(lambda got: len([m for m in got if m.topic == "seen/front"]) == 2)

        rewrite(flow, FLOW.format(url=mosquitto.url, tag="second"))
        assert lines.wait_for("only the changed nodes restarted"), lines.lines
        publish_messages(mosquitto, [("lock/front", json.dumps({"n": 3}))])
        # The third match in the rule's window: the window kept the first two across the edit.
        assert subscriber.wait_until(lambda got: any(m.topic == "alerts/intrusion" for m in got)), \
            subscriber.snapshot()
        assert subscriber.wait_until(lambda got: len([m for m in got if m.topic == "seen/front"]) == 3)
    finally:
        process.terminate()
        process.wait(timeout=60)
    text = lines.join()
    assert process.returncode == 0, text
    assert "restarted shape; 3 node(s) kept running" in text
    shaped = [json.loads(m.payload) for m in subscriber.snapshot() if m.topic == "seen/front"]
    assert shaped == [{"n": 1, "tag": "first"}, {"n": 2, "tag": "first"}, {"n": 3, "tag": "second"}]
    alerts = [json.loads(m.payload) for m in subscriber.snapshot() if m.topic == "alerts/intrusion"]
    assert alerts == [{"attempts": 3}]
    # Neither connection was dropped: each client connected to the broker exactly once.
    assert connects(mosquitto, "reload-out") == 1, mosquitto.log()
    assert connects(mosquitto, "reload-in") == 1, mosquitto.log()


@pytest.mark.parametrize("edit", ["name", "state"])
def test_an_edit_of_the_flow_itself_restarts_it_whole(
    tmp_path: Path, mosquitto: Mosquitto, edit: str
) -> None:
    flow = tmp_path / "whole.yaml"
    flow.write_text(FLOW.format(url=mosquitto.url, tag="first"))
    process = subprocess.Popen([*FLOWENGINE, "run", "--watch", str(flow)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    lines = Lines(process)
    try:
        assert lines.wait_for("mqtt-out 'alerts'"), lines.lines
        text = FLOW.format(url=mosquitto.url, tag="first")
        changed = text.replace("version: 1", "version: 1\nname: renamed") if edit == "name" else \
            text.replace("state: memory", f"state: {tmp_path / 'state.db'}")
        rewrite(flow, changed)
        assert lines.wait_for("restarted as a whole"), lines.lines
        assert lines.wait_for("finished after"), lines.lines
    finally:
        process.terminate()
        process.wait(timeout=60)
    lines.join()
    assert process.returncode == 0
