"""Acceptance (issue 11): Zigbee2MQTT's MQTT API on ``flowengine run flows/household.yaml`` and a real Mosquitto.

The runner in its own process, the coordinator the built-in emulator, the broker the suite's
Mosquitto: a ``/set`` switches the emulated bulb and ``zigbee2mqtt/hall_light`` carries the state
within 2 s, ``/get`` is answered with the state, permit_join and health_check are answered on
``bridge/response`` with the transaction, a request the YAML bridge does not serve answers an error,
bad commands end in the log, and ``bridge/info`` and ``bridge/devices`` (all eight devices) are
retained. After the bad input the same runner still switches the light.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.flows.test_household import HOUSEHOLD, copy_flow, household_complete
from tests.mosquitto import Mosquitto, ReceivedMessage, Subscribe, free_port, publish_messages


def _last_json(messages: list[ReceivedMessage], topic: str) -> object:
    payloads = [m.payload for m in messages if m.topic == topic]
    return json.loads(payloads[-1]) if payloads else None


def _light_has(state: dict[str, object]) -> Callable[[list[ReceivedMessage]], bool]:
    def check(messages: list[ReceivedMessage]) -> bool:
        for message in messages:
            if message.topic == "zigbee2mqtt/hall_light":
                payload = json.loads(message.payload)
                if all(payload.get(k) == v for k, v in state.items()):
                    return True
        return False
    return check


def test_the_household_takes_zigbee2mqtt_commands_and_bridge_requests(
    mosquitto: Mosquitto, mqtt_subscriber: Subscribe, tmp_path: Path
) -> None:
    flow = copy_flow(tmp_path)
    subscriber = mqtt_subscriber(mosquitto, "#", client_id="household-commands")
    env = {**os.environ, "MQTT_URL": mosquitto.url}
    env.pop("ZIGBEE_DEVICE", None)
    log_path = tmp_path / "run.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "flowengine.cli", "run", flow.name], cwd=tmp_path,
                                   env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        assert subscriber.wait_until(household_complete, timeout=30), log_path.read_text()[-3000:]

        # /set -> the light's state within 2 s
        start = len(subscriber.snapshot())
        sent = time.monotonic()
        publish_messages(mosquitto, [("zigbee2mqtt/hall_light/set", '{"state":"ON","brightness":200}')])
        assert subscriber.wait_until(lambda m: _light_has({"state": "ON", "brightness": 200})(m[start:]),
                                     timeout=2), log_path.read_text()[-3000:]
        print(f"/set -> zigbee2mqtt/hall_light in {time.monotonic() - sent:.3f} s")

        # /get -> the state is published again (from the device's read response)
        start = len(subscriber.snapshot())
        publish_messages(mosquitto, [("zigbee2mqtt/hall_light/get", '{"state":""}')])
        assert subscriber.wait_until(lambda m: _light_has({"state": "ON"})(m[start:]), timeout=5)

        # bridge requests, answered with the transaction echoed
        publish_messages(mosquitto, [
            ("zigbee2mqtt/bridge/request/permit_join", '{"time": 60, "transaction": "t1"}'),
            ("zigbee2mqtt/bridge/request/health_check", '{"transaction": 7}'),
            ("zigbee2mqtt/bridge/request/device/rename", '{"from": "hall_light", "to": "x", "transaction": "r"}'),
        ])
        responses = ("permit_join", "health_check", "device/rename")
        assert subscriber.wait_until(lambda m: all(
            any(x.topic == f"zigbee2mqtt/bridge/response/{r}" for x in m) for r in responses), timeout=5)
        messages = subscriber.snapshot()
        assert _last_json(messages, "zigbee2mqtt/bridge/response/permit_join") == {
            "data": {"time": 60}, "status": "ok", "transaction": "t1"}
        assert _last_json(messages, "zigbee2mqtt/bridge/response/health_check") == {
            "data": {"healthy": True}, "status": "ok", "transaction": 7}
        rename = _last_json(messages, "zigbee2mqtt/bridge/response/device/rename")
        assert isinstance(rename, dict)
        assert rename["status"] == "error"
        assert rename["transaction"] == "r"
        assert "not served" in rename["error"]

        # bad input: refused, logged, the runner keeps going
        publish_messages(mosquitto, [("zigbee2mqtt/hall_light/set", "not json"),
                                     ("zigbee2mqtt/nobody/set", '{"state":"ON"}'),
                                     ("zigbee2mqtt/door_contact/set", '{"state":"ON"}'),
                                     ("zigbee2mqtt/hall_light/set", '{"brightness":300}')])
        start = len(subscriber.snapshot())
        publish_messages(mosquitto, [("zigbee2mqtt/hall_light/set", '{"state":"OFF"}')])
        assert subscriber.wait_until(lambda m: _light_has({"state": "OFF"})(m[start:]), timeout=5)
        log_text = log_path.read_text()
        assert "is not a Zigbee2MQTT request" in log_text
        assert "unknown device 'nobody'" in log_text
        assert "takes no commands" in log_text
        assert "Brightness value" in log_text
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0, log_path.read_text()[-3000:]

    # retained: a subscriber arriving now gets bridge/info and bridge/devices (all eight devices)
    late = mqtt_subscriber(mosquitto, "zigbee2mqtt/bridge/#", client_id="late", persistent=False)
    assert late.wait_until(lambda m: {"zigbee2mqtt/bridge/info", "zigbee2mqtt/bridge/devices",
                                      "zigbee2mqtt/bridge/groups"} <= {x.topic for x in m}, timeout=5)
    retained = {m.topic: m for m in late.snapshot() if m.retain}
    assert {"zigbee2mqtt/bridge/info", "zigbee2mqtt/bridge/devices", "zigbee2mqtt/bridge/groups"} <= set(retained)
    devices = json.loads(retained["zigbee2mqtt/bridge/devices"].payload)
    assert {d["friendly_name"]: d["ieee_address"] for d in devices} == HOUSEHOLD
    light = next(d for d in devices if d["friendly_name"] == "hall_light")
    assert light["definition"]["model"] == "LED1545G12"
    assert light["model_id"] == "TRADFRI bulb E27 WS opal 980lm"
    assert light["interview_state"] == "SUCCESSFUL"
    assert light["type"] == "Router"
    assert light["endpoints"]["1"]["clusters"]["input"][:2] == ["genBasic", "genIdentify"]


def _start(tmp_path: Path, flow: Path, env: dict[str, str], log_name: str) -> tuple[subprocess.Popen[bytes], Path]:
    log_path = tmp_path / log_name
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "flowengine.cli", "run", flow.name], cwd=tmp_path,
                                   env=env, stdout=log, stderr=subprocess.STDOUT)
    return process, log_path


def _log_says(log_path: Path, text: str, timeout: float) -> bool:
    """Whether the runner's log shows ``text`` within ``timeout`` (the log is a file: read as it grows)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log_path.read_text(errors="replace"):
            return True
        time.sleep(0.05)
    return False


def test_a_set_received_but_not_taken_by_a_killed_runner_comes_again_and_switches_the_light(
    mosquitto: Mosquitto, mqtt_subscriber: Subscribe, tmp_path: Path
) -> None:
    """QoS 1 requests are acknowledged (PUBACK) only once the radio has taken them.

    The household's requests come through a persistent session. A runner whose coordinator has not
    connected yet receives a ``/set`` and holds it (a log line says so), unacknowledged; killed
    (SIGKILL) there, its session at the broker still has the request, and the next runner, with the
    coordinator back, takes it and switches the light. Acknowledged on receipt, the request would
    be lost with the first runner.
    """
    flow = copy_flow(tmp_path)
    subscriber = mqtt_subscriber(mosquitto, "#", client_id="household-redelivery")
    env = {**os.environ, "MQTT_URL": mosquitto.url}
    env.pop("ZIGBEE_DEVICE", None)

    # 1. a first run: the bulb paired (zigpy's database, the emulated stick) and the session made
    first, first_log = _start(tmp_path, flow, env, "first.log")
    try:
        assert subscriber.wait_until(household_complete, timeout=30), first_log.read_text()[-3000:]
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(30) == 0, first_log.read_text()[-3000:]

    # 2. the coordinator unreachable: the request arrives, waits for it, and the runner is killed
    unreachable = {**env, "ZIGBEE_DEVICE": f"socket://127.0.0.1:{free_port()}"}
    second, second_log = _start(tmp_path, flow, unreachable, "second.log")
    try:
        publish_messages(mosquitto, [("zigbee2mqtt/hall_light/set", '{"state":"ON","brightness":123}')])
        assert _log_says(second_log, "commands wait for the coordinator's first connection", 20), (
            second_log.read_text()[-3000:])
    finally:
        second.kill()
        second.wait(30)

    # 3. the coordinator back: the broker sends the request again, the light switches
    start = len(subscriber.snapshot())
    third, third_log = _start(tmp_path, flow, env, "third.log")
    try:
        assert subscriber.wait_until(lambda m: _light_has({"state": "ON", "brightness": 123})(m[start:]),
                                     timeout=30), third_log.read_text()[-3000:]
    finally:
        third.send_signal(signal.SIGTERM)
        assert third.wait(30) == 0, third_log.read_text()[-3000:]
