"""``mqtt-in`` against the suite's own Mosquitto: formats, errors, wildcards, $share, reconnects."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from flowengine import Message
from flowengine.testing import run_sync
from flowengine_nodes.mqtt.broker import BrokerURL, ConnectionSettings
from flowengine_nodes.mqtt.connection import connect
from flowengine_nodes.mqtt.mqtt_in import MqttInConfig
from tests.mosquitto import TEST_USER, Mosquitto, publish_messages
from tests.nodes.mqtt.support import Collector, LogWatch, cancel, mqtt_in


def test_json_messages_with_topic_and_meta(mosquitto: Mosquitto, tmp_path: Path) -> None:
    async def main() -> None:
        node = mqtt_in(tmp_path, broker=mosquitto.url, topics=["zigbee2mqtt/+"], qos=1)
        out, errors = Collector(), Collector()
        node.bind_output("out", out)
        node.bind_output("errors", errors)
        await node.start()
        task = asyncio.create_task(node.run())
        await node.status.wait_for(lambda s: s.connected)
        await asyncio.to_thread(publish_messages, mosquitto, [
            ("zigbee2mqtt/front_door", b'{"action":"finger_not_match","linkquality":120}'),
            ("zigbee2mqtt/front_door", b"not json"),
            ("zigbee2mqtt/back_door", b""),
            ("other/topic", b"{}"),
        ])
        await out.wait(2)
        await errors.wait(1)
        await cancel(task)
        await node.aclose()
        first, second = out.messages
        assert first.topic == "zigbee2mqtt/front_door"
        assert first.payload == {"action": "finger_not_match", "linkquality": 120}
        assert first.meta["source"] == "in"
        assert isinstance(first.meta["ts"], float)
        assert "retain" not in first.meta
        assert (second.topic, second.payload) == ("zigbee2mqtt/back_door", None)
        bad = errors.messages[0]
        assert (bad.topic, bad.payload) == ("zigbee2mqtt/front_door", "not json")
        assert bad.meta["error"]["node"] == "in"
        assert bad.meta["source"] == "in"
        assert node.counters["errors"] == 1

    run_sync(main())


@pytest.mark.parametrize(("fmt", "raw", "expected"), [
    ("text", "héllo".encode(), "héllo"),
    ("bytes", b"\x00\xff", b"\x00\xff"),
    ("json", b"[1, 2.5, null]", [1, 2.5, None]),
])
def test_formats_and_retained_messages(mosquitto: Mosquitto, tmp_path: Path, fmt: str, raw: bytes,
                                       expected: object) -> None:
    publish_messages(mosquitto, [("kept/value", raw)], retain=True)

    async def main() -> None:
        node = mqtt_in(tmp_path, broker=mosquitto.url, topics="kept/#", format=fmt, protocol="5")
        out = Collector()
        node.bind_output("out", out)
        await node.start()
        task = asyncio.create_task(node.run())
        (msg,) = await out.wait(1)
        await cancel(task)
        assert (msg.topic, msg.payload, msg.meta["retain"]) == ("kept/value", expected, True)

    run_sync(main())


def test_text_that_is_not_utf8_goes_to_errors(mosquitto: Mosquitto, tmp_path: Path) -> None:
    async def main() -> None:
        node = mqtt_in(tmp_path, broker=mosquitto.url, topics=["t"], format="text")
        errors = Collector()
        node.bind_output("errors", errors)
        await node.start()
        task = asyncio.create_task(node.run())
        await node.status.wait_for(lambda s: s.connected)
        await asyncio.to_thread(publish_messages, mosquitto, [("t", b"\xff\xfe")])
        (bad,) = await errors.wait(1)
        await cancel(task)
        assert bad.meta["error"]["type"] == "UnicodeDecodeError"
        assert node.counters["errors"] == 1

    run_sync(main())


def test_shared_subscription_splits_a_stream_with_none_lost(mosquitto: Mosquitto, tmp_path: Path) -> None:
    """Acceptance 4 (two nodes here; two runners in the runner test)."""
    total = 400

    async def main() -> None:
        nodes = [mqtt_in(tmp_path, f"in{i}", broker=mosquitto.url, topics=["$share/workers/jobs/#"], qos=1)
                 for i in range(2)]
        both = Collector()
        collectors = [Collector(), Collector()]
        tasks = []
        for node, collector in zip(nodes, collectors, strict=True):

            def deliver(msg: Message, collector: Collector = collector) -> None:
                collector(msg)
                both(msg)

            node.bind_output("out", deliver)
            await node.start()
            tasks.append(asyncio.create_task(node.run()))
        for node in nodes:
            await node.status.wait_for(lambda s: s.connected)
        await asyncio.to_thread(publish_messages, mosquitto,
                                [(f"jobs/{n % 4}", str(n).encode()) for n in range(total)])
        await both.wait(total)
        for task in tasks:
            await cancel(task)
        got = [[int(m.payload) for m in c.messages] for c in collectors]
        assert sorted(got[0] + got[1]) == list(range(total))  # none lost, none twice
        assert got[0], "both consumers get a share"
        assert got[1], "both consumers get a share"
        assert all(m.topic == f"jobs/{int(m.payload) % 4}" for c in collectors for m in c.messages)

    run_sync(main())


def test_resubscribes_after_the_broker_restarts(mosquitto: Mosquitto, tmp_path: Path) -> None:
    async def main() -> None:
        node = mqtt_in(tmp_path, broker=mosquitto.url, topics=["again/#"], qos=1)
        out = Collector()
        node.bind_output("out", out)
        await node.start()
        task = asyncio.create_task(node.run())
        await node.status.wait_for(lambda s: s.connected)
        await asyncio.to_thread(publish_messages, mosquitto, [("again/1", b"1")])
        await out.wait(1)
        await asyncio.to_thread(mosquitto.stop)  # no persistence: the subscription is gone
        await node.status.wait_for(lambda s: s.losses >= 1)
        await asyncio.to_thread(mosquitto.start)
        await node.status.wait_for(lambda s: s.connected and s.connects >= 2)
        await asyncio.to_thread(publish_messages, mosquitto, [("again/2", b"2")])
        await out.wait(2)
        await cancel(task)
        assert [m.payload for m in out.messages] == [1, 2]

    run_sync(main())


def test_persistent_session_keeps_messages_while_the_flow_is_stopped(mosquitto: Mosquitto,
                                                                      tmp_path: Path) -> None:
    config: dict[str, Any] = {"broker": mosquitto.url, "topics": ["later/#"], "qos": 1, "clean_session": False,
              "client_id": "flow-later"}

    async def run_until(count: int) -> list[object]:
        node = mqtt_in(tmp_path, **config)
        out = Collector()
        node.bind_output("out", out)
        await node.start()
        task = asyncio.create_task(node.run())
        await node.status.wait_for(lambda s: s.connected)
        await out.wait(count)
        await cancel(task)
        return [m.payload for m in out.messages]

    assert run_sync(run_until(0)) == []
    publish_messages(mosquitto, [("later/x", b"1"), ("later/x", b"2")])
    assert run_sync(run_until(2)) == [1, 2]


def test_an_mqtt5_session_expiry_bounds_how_long_the_broker_keeps_messages(mosquitto: Mosquitto,
                                                                          tmp_path: Path) -> None:
    """Kept while the flow is away less than ``session_expiry``; gone, with what came meanwhile, after it."""

    async def session(client_id: str, expiry: int, marker: bytes | None) -> list[object]:
        node = mqtt_in(tmp_path, broker=mosquitto.url, topics=[f"{client_id}/#"], qos=1, protocol="5",
                       clean_session=False, client_id=client_id, session_expiry=expiry)
        out = Collector()
        node.bind_output("out", out)
        await node.start()
        task = asyncio.create_task(node.run())
        await node.status.wait_for(lambda s: s.connected)
        if marker is not None:
            publish_messages(mosquitto, [(f"{client_id}/x", marker)])
            while not any(m.payload == int(marker) for m in out.messages):
                await out.wait(len(out.messages) + 1)
        await cancel(task)
        return [m.payload for m in out.messages]

    assert run_sync(session("kept", 60, None)) == []
    assert run_sync(session("gone", 1, None)) == []
    publish_messages(mosquitto, [("kept/x", b"1"), ("gone/x", b"1")])
    time.sleep(3)  # the broker's clock: nothing to wait for but its 1 s session expiry
    assert run_sync(session("kept", 60, b"2")) == [1, 2]
    assert run_sync(session("gone", 1, b"2")) == [2]  # the session, and the message kept for it, expired


def test_session_expiry_needs_mqtt5_and_a_persistent_session() -> None:
    with pytest.raises(ValidationError, match="session_expiry needs protocol: 5"):
        MqttInConfig(broker="mqtt://h", topics=["x"], clean_session=False, client_id="c", session_expiry=10)
    with pytest.raises(ValidationError, match="session_expiry needs protocol: 5"):
        MqttInConfig(broker="mqtt://h", topics=["x"], protocol="5", session_expiry=10)


@pytest.mark.parametrize(("protocol", "window"), [("5", 50), ("3.1.1", 20)])
def test_the_broker_sends_at_most_the_window_before_our_acknowledgements(
        mosquitto: Mosquitto, tmp_path: Path, protocol: str, window: int) -> None:
    """A persistent QoS 1 session acknowledges only durable messages; the broker's window bounds what is
    in the flow: with MQTT 5 the node's ``max_inflight`` (its Receive Maximum), with MQTT 3.1.1
    Mosquitto's ``max_inflight_messages`` (20 by default). Acknowledged, the rest follows."""
    async def main() -> None:
        node = mqtt_in(tmp_path, broker=mosquitto.url, topics=["window/#"], qos=1, clean_session=False,
                       client_id=f"window-{protocol}", protocol=protocol, max_inflight=50)
        held: list[Callable[[], object]] = []
        node._checkpoint = held.append  # the engine's hook (flowengine.acks): nothing becomes durable yet
        out = Collector()
        node.bind_output("out", out)
        await node.start()
        task = asyncio.create_task(node.run())
        await node.status.wait_for(lambda s: s.connected)
        await asyncio.to_thread(publish_messages, mosquitto, [("window/x", str(i).encode()) for i in range(200)])
        await out.wait(window)
        with pytest.raises(TimeoutError):
            await out.wait(window + 1, within=0.5)  # nothing more until acknowledged
        while len(out.messages) < 200:
            callbacks, held[:] = held[:], []
            for callback in callbacks:
                callback()  # durable now: the PUBACKs go out and the broker sends more
            await out.wait(min(200, len(out.messages) + 1))
        await cancel(task)
        await node.aclose()
        assert [m.payload for m in out.messages] == list(range(200))

    run_sync(main())


def test_acknowledging_leaves_no_writer_watching_an_idle_socket(mosquitto: Mosquitto) -> None:
    """PUBACKs queued through paho and written at once (the node's acknowledgement path) must not leave
    the event loop watching the socket for writing: an always-writable socket would wake it on
    every turn (a busy loop while idle). aiomqtt starts watching a turn late; stopping must not
    come before it."""
    settings = ConnectionSettings(url=BrokerURL.parse(mosquitto.url), client_id="acks-idle", keepalive=60,
                                  protocol="3.1.1", clean_session=False)

    async def main() -> None:
        got: list[Any] = []
        arrived = asyncio.Event()

        def on_message(client: Any, userdata: Any, message: Any) -> None:
            got.append(message)
            if len(got) == 5:
                arrived.set()

        async with connect(settings, on_message=on_message, manual_ack=True) as connection:
            await connection.client.subscribe("idle/#", qos=1)
            await asyncio.to_thread(publish_messages, mosquitto, [("idle/x", b"1")] * 5)
            await asyncio.wait_for(arrived.wait(), 20)
            for message in got:
                connection.paho.ack(message.mid, 1)
            connection.paho.loop_write()
            for _ in range(5):
                await asyncio.sleep(0)  # let what aiomqtt scheduled run
            assert not connection.paho.want_write()
            sock = connection.paho.socket()
            assert sock is not None
            assert not asyncio.get_running_loop().remove_writer(sock.fileno())
        # aiomqtt's housekeeping task ends within a second of the disconnect: wait for it.
        housekeeping = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        await asyncio.wait_for(asyncio.gather(*housekeeping, return_exceptions=True), 5)

    run_sync(main())


def test_wrong_credentials_one_error_line(mosquitto_auth: Mosquitto, tmp_path: Path) -> None:
    url = f"mqtt://{TEST_USER}:nope@{mosquitto_auth.host}:{mosquitto_auth.port}"

    async def main() -> None:
        with LogWatch("test.mqtt.in") as log:
            node = mqtt_in(tmp_path, broker=url, topics=["#"])
            await node.start()
            task = asyncio.create_task(node.run())
            await node.status.wait_for(lambda s: s.refusals >= 3)
            await cancel(task)
        errors = log.at(logging.ERROR)
        assert len(errors) == 1
        assert "refused the connection" in errors[0].getMessage()
        assert "nope" not in errors[0].getMessage()

    run_sync(main())


@pytest.mark.parametrize("topic", ["a/#/b", "a/b+", "$share//x", "$share/g", "$share/g+/x", ""])
def test_bad_topic_filters_are_config_errors(topic: str) -> None:
    with pytest.raises(ValidationError):
        MqttInConfig(broker="mqtt://h", topics=[topic])


def test_persistent_session_needs_a_client_id() -> None:
    with pytest.raises(ValidationError, match="client_id"):
        MqttInConfig(broker="mqtt://h", topics=["x"], clean_session=False)


def test_a_flow_far_behind_drops_new_messages_counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    import flowengine_nodes.mqtt.mqtt_in as module

    monkeypatch.setattr(module, "INBOX_LIMIT", 2)
    node = mqtt_in(tmp_path, broker="mqtt://127.0.0.1:1", topics=["t"])
    for n in range(3):
        node._on_message(None, None, SimpleNamespace(topic="t", payload=str(n).encode(), retain=False))
    assert [raw for _, raw, _ in node._inbox] == [b"0", b"1"]
    assert node.counters["dropped"] == 1
