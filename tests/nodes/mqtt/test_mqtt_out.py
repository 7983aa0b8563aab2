"""``mqtt-out`` against the suite's own Mosquitto: payloads, QoS, the outbox, reconnects, errors."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import orjson
import pytest

from flowengine import Message, NodeError, StateStore
from flowengine.testing import run_sync
from flowengine_nodes.mqtt.connection import ConnectionStatus
from flowengine_nodes.mqtt.outbox import Outbox
from tests.mosquitto import TEST_PASSWORD, TEST_USER, Certs, Mosquitto, ReceivedMessage, Subscribe, Subscriber
from tests.nodes.mqtt.support import LogWatch, Wired, messages, mqtt_out


def numbers(subscriber: Subscriber, topic: str) -> list[int]:
    return [int(payload) for payload in subscriber.payloads(topic)]


def test_payloads_are_serialised_as_zigbee2mqtt_does(mosquitto: Mosquitto, mqtt_subscriber: Subscribe,
                                                     tmp_path: Path) -> None:
    subscriber = mqtt_subscriber(mosquitto, "p/#")
    payloads = [{"b": 1, "a": [True, None, 1.5]}, [3, {"z": 0, "y": "é"}], 42, 2.5, True, None,
                "plain text", b"\x00\x01raw"]

    async def main() -> None:
        node = mqtt_out(tmp_path, broker=mosquitto.url, outbox="memory")
        await node.start()
        await node.write(messages("p/x", payloads))
        await node.aclose()
        assert node.counters["published"] == len(payloads)

    run_sync(main())
    assert subscriber.wait_for_count(len(payloads), timeout=10)
    assert subscriber.payloads("p/x") == [
        b'{"a":[true,null,1.5],"b":1}', '[3,{"y":"é","z":0}]'.encode(), b"42", b"2.5", b"true", b"null",
        b"plain text", b"\x00\x01raw",
    ]


@pytest.mark.parametrize(("qos", "protocol"), [(0, "3.1.1"), (1, "5"), (2, "3.1.1"), (2, "5")])
def test_qos_retain_and_topic_template(mosquitto: Mosquitto, mqtt_subscriber: Subscribe, tmp_path: Path,
                                       qos: int, protocol: str) -> None:
    async def main() -> None:
        node = mqtt_out(tmp_path, broker=mosquitto.url, qos=qos, retain=True, protocol=protocol,
                        topic="fixed/topic", outbox="memory")
        await node.start()
        await node.status.wait_for(lambda s: s.connected)
        await node.write(messages("ignored", [1, 2, 3]))
        await node.aclose()

    run_sync(main())
    # A subscriber that comes later still gets the last retained value.
    late = mqtt_subscriber(mosquitto, "fixed/#", client_id="late", persistent=False)
    assert late.wait_for_count(1, timeout=10)
    first = late.snapshot()[0]
    assert (first.topic, first.payload, first.retain) == ("fixed/topic", b"3", True)


def test_default_topic_is_the_message_topic_and_bad_messages_go_to_errors(
    mosquitto: Mosquitto, mqtt_subscriber: Subscribe, tmp_path: Path
) -> None:
    subscriber = mqtt_subscriber(mosquitto, "#")
    wired = Wired()

    async def main() -> None:
        node = mqtt_out(tmp_path, broker=mosquitto.url, outbox="memory")
        wired.bind(node)
        await node.start()
        await node.write([
            Message("a/1", "one", {"ts": 1.0}),
            Message("a/+", "wildcard", {"ts": 2.0}),
            Message("", "empty topic", {}),
            Message("a/2", {"x": {1, 2}}, {}),  # a set is not JSON
            Message("a/3", "three", {}),
        ])
        await node.aclose()
        assert node.counters["errors"] == 3

    run_sync(main())
    assert subscriber.wait_for_count(2, timeout=10)
    assert [(m.topic, m.payload) for m in subscriber.snapshot()] == [("a/1", b"one"), ("a/3", b"three")]
    errors = wired["errors"]
    assert [m.payload for m in errors] == ["wildcard", "empty topic", {"x": {1, 2}}]
    assert errors[0].meta["ts"] == 2.0
    assert errors[0].meta["error"]["node"] == "out"
    assert "wildcard" not in errors[0].meta["error"]["message"] or "+" in errors[0].meta["error"]["message"]


def test_messages_written_while_the_broker_is_away_are_delivered_when_it_comes(
    mosquitto_persistent: Mosquitto, mqtt_subscriber: Subscribe, tmp_path: Path
) -> None:
    broker = mosquitto_persistent
    subscriber = mqtt_subscriber(broker, "away/#", client_id="away-sub")
    broker.stop()

    async def main() -> None:
        node = mqtt_out(tmp_path, broker=broker.url, outbox="out.db")
        await node.start()  # returns although the broker is down
        await node.write(messages("away/t", list(range(50))))  # must not wait for the network
        assert node._outbox is not None
        assert len(node._outbox) == 50
        await asyncio.to_thread(broker.start)
        await node.status.wait_for(lambda s: s.connected)
        await node.aclose()
        assert node.counters["published"] == 50

    run_sync(main())
    assert subscriber.wait_for_count(50, timeout=20), broker.log()
    assert numbers(subscriber, "away/t")[:50] == list(range(50))


def test_qos0_while_disconnected_is_dropped_and_counted(tmp_path: Path, mosquitto: Mosquitto) -> None:
    mosquitto.stop()

    async def main() -> None:
        with LogWatch("test.mqtt.out") as log:
            node = mqtt_out(tmp_path, broker=mosquitto.url, qos=0)
            await node.start()
            await node.write(messages("q0", [1, 2, 3]))
            await node.aclose()
        assert node.counters["dropped"] == 3
        assert any("dropped 3" in r.getMessage() for r in log.at(logging.WARNING))

    run_sync(main())


def test_what_a_run_leaves_in_the_outbox_goes_out_first_in_the_next_run(
    mosquitto_persistent: Mosquitto, mqtt_subscriber: Subscribe, tmp_path: Path
) -> None:
    mosquitto = mosquitto_persistent  # keeps the subscriber's session across the restart
    subscriber = mqtt_subscriber(mosquitto, "runs/#")
    url = mosquitto.url
    mosquitto.stop()
    store = StateStore(tmp_path / "state.db")  # durable state: the default outbox file is used

    async def first_run() -> None:
        with LogWatch("test.mqtt.out") as log:
            node = mqtt_out(tmp_path, broker=url, drain_timeout=0, store=store)
            await node.start()
            await node.write(messages("runs/t", list(range(20))))
            await node.aclose()
        assert any("20 messages stay in the outbox" in r.getMessage() for r in log.records)

    async def second_run() -> None:
        node = mqtt_out(tmp_path, broker=url, drain_timeout="30s", store=store)
        await node.start()
        await node.write(messages("runs/t", list(range(20, 30))))
        await node.aclose()
        assert node.counters["published"] == 30

    run_sync(first_run())
    outbox_file = tmp_path / ".flowengine" / "test-out.outbox.db"
    assert outbox_file.exists()
    mosquitto.start()
    run_sync(second_run())
    store.close()
    assert subscriber.wait_for_count(30, timeout=20)
    assert numbers(subscriber, "runs/t") == list(range(30))
    leftover = Outbox(outbox_file, limit=10)
    assert len(leftover) == 0
    leftover.close()


@pytest.mark.parametrize(("overflow", "kept"), [("drop_oldest", list(range(5, 10))), ("drop_newest", list(range(5)))])
def test_outbox_limit_applies_the_overflow_policy(mosquitto_persistent: Mosquitto, mqtt_subscriber: Subscribe,
                                                  tmp_path: Path, overflow: str, kept: list[int]) -> None:
    mosquitto = mosquitto_persistent
    subscriber = mqtt_subscriber(mosquitto, "full/#")
    url = mosquitto.url
    mosquitto.stop()

    async def main() -> None:
        with LogWatch("test.mqtt.out") as log:
            node = mqtt_out(tmp_path, broker=url, outbox="full.db", outbox_limit=5, overflow=overflow)
            await node.start()
            for value in range(10):
                await node.write(messages("full/t", [value]))
            assert node.counters["dropped"] == 5
            assert any("outbox is full" in r.getMessage() for r in log.at(logging.WARNING))
            await asyncio.to_thread(mosquitto.start)
            await node.aclose()

    run_sync(main())
    assert subscriber.wait_for_count(5, timeout=20)
    assert numbers(subscriber, "full/t") == kept


# paho keeps a wake-up socket pair per client; when the broker drops mid-publish, aiomqtt's writer
# callback can race the socket's close (asyncio logs "Bad file descriptor") and the pair of a dead
# client is sometimes left for the garbage collector: a third-party leak, seen once in a CI run.
@pytest.mark.allow_leaks("fds")
def test_at_least_once_in_order_across_five_broker_restarts(
    mosquitto_persistent: Mosquitto, mqtt_subscriber: Subscribe, tmp_path: Path
) -> None:
    """Acceptance 1: 10,000 QoS 1 messages while the broker is stopped and started 5 times."""
    broker = mosquitto_persistent
    topics = ["load/a", "load/b", "load/c"]
    subscriber = mqtt_subscriber(broker, "load/#", client_id="acceptance")
    total = 10_000
    chunk = total // 10
    sent: dict[str, list[int]] = {topic: [] for topic in topics}
    pending_at_stops: list[int] = []

    def batch(start: int, count: int) -> list[Message]:
        out = []
        for n in range(start, start + count):
            topic = topics[n % len(topics)]
            sent[topic].append(n)
            out.append(Message(topic, str(n), {}))
        return out

    async def main() -> None:
        node = mqtt_out(tmp_path, broker=broker.url, outbox="acceptance.db", qos=1, max_inflight=64)
        await node.start()
        written = 0
        for restart in range(5):
            # Stream a chunk; stop the broker once some of it has arrived (mid-stream).

            def reconnected(s: ConnectionStatus, r: int = restart) -> bool:
                return s.connected and s.connects > r

            await node.status.wait_for(reconnected)
            for start in range(written, written + chunk, 100):
                await node.write(batch(start, 100))
            written += chunk
            seen = len(subscriber.snapshot())

            def more(m: list[ReceivedMessage], seen: int = seen) -> bool:
                return len(m) > seen

            assert await subscriber.until(more, within=30)
            await asyncio.to_thread(broker.stop)
            assert node._outbox is not None
            pending_at_stops.append(len(node._outbox))  # written but not yet acknowledged
            await node.status.wait_for(lambda s: not s.connected)
            # Keep writing while the broker is down: it all goes to the outbox.
            for start in range(written, written + chunk, 100):
                await node.write(batch(start, 100))
            written += chunk
            await asyncio.to_thread(broker.start)
        assert written == total
        assert all(pending_at_stops), "every stop must come mid-stream"
        await node.aclose()
        assert node.counters["dropped"] == 0
        assert node.status.connects >= 6

    run_sync(main())
    assert subscriber.wait_until(
        lambda m: len({int(x.payload) for x in m}) >= total, timeout=60
    ), f"{len(subscriber.snapshot())} received\n{broker.log()[-3000:]}"
    received = subscriber.snapshot()
    duplicates = len(received) - len({int(m.payload) for m in received})
    for topic in topics:
        got = numbers(subscriber, topic)
        first_seen = list(dict.fromkeys(got))
        assert first_seen == sent[topic], f"{topic}: out of order or missing"
    print(f"10,000 messages, 5 broker restarts: {duplicates} duplicates, {pending_at_stops} pending at the stops")


def test_wrong_credentials_give_one_clear_error_line(mosquitto_auth: Mosquitto, tmp_path: Path) -> None:
    url = f"mqtt://{TEST_USER}:wrong-password@{mosquitto_auth.host}:{mosquitto_auth.port}"

    async def main() -> None:
        with LogWatch("test.mqtt.out") as log:
            node = mqtt_out(tmp_path, broker=url, outbox="memory", drain_timeout=0)
            await node.start()
            await node.status.wait_for(lambda s: s.refusals >= 3)  # retried three times
            await node.write(messages("x", [1]))
            await node.aclose()
        errors = log.at(logging.ERROR)
        assert len(errors) == 1, [r.getMessage() for r in errors]
        line = errors[0].getMessage()
        assert "refused the connection" in line
        assert "not authorised" in line.lower() or "not authorized" in line.lower()
        assert "check the user name and password" in line
        assert "wrong-password" not in line
        assert errors[0].exc_info is None
        assert all(r.exc_info is None for r in log.records)

    run_sync(main())


def test_right_credentials_connect(mosquitto_auth: Mosquitto, mqtt_subscriber: Subscribe, tmp_path: Path) -> None:
    subscriber = mqtt_subscriber(mosquitto_auth, "auth/#", username=TEST_USER, password=TEST_PASSWORD)
    url = f"mqtt://{TEST_USER}:{TEST_PASSWORD}@{mosquitto_auth.host}:{mosquitto_auth.port}"

    async def main() -> None:
        node = mqtt_out(tmp_path, broker=url, outbox="memory")
        await node.start()
        await node.write(messages("auth/ok", ["yes"]))
        await node.aclose()

    run_sync(main())
    assert subscriber.wait_for_count(1, timeout=10)


@pytest.mark.parametrize("mutual", [False, True])
def test_tls_with_the_test_ca(mosquitto_tls: Mosquitto, test_ca: Certs, mqtt_subscriber: Subscribe,
                              tmp_path: Path, mutual: bool) -> None:
    subscriber = mqtt_subscriber(mosquitto_tls, "tls/#")
    extra: dict[str, Any] = {"cert": str(test_ca.client_cert), "key": str(test_ca.client_key)} if mutual else {}
    url = mosquitto_tls.mtls_url if mutual else mosquitto_tls.tls_url

    async def main() -> None:
        node = mqtt_out(tmp_path, broker=url, ca=str(test_ca.ca), outbox="memory", **extra)
        await node.start()
        await node.write(messages("tls/secure", [{"ok": True}]))
        await node.aclose()

    run_sync(main())
    assert subscriber.wait_for_count(1, timeout=10)
    assert subscriber.payloads() == [b'{"ok":true}']


def test_tls_without_the_ca_is_one_clear_error(mosquitto_tls: Mosquitto, tmp_path: Path) -> None:
    async def main() -> None:
        with LogWatch("test.mqtt.out") as log:
            node = mqtt_out(tmp_path, broker=mosquitto_tls.tls_url, outbox="memory")
            await node.start()
            await node.status.wait_for(lambda s: s.refusals >= 2)
            await node.aclose()
        errors = log.at(logging.ERROR)
        assert len(errors) == 1
        assert "certificate" in errors[0].getMessage()

    run_sync(main())


def test_missing_tls_file_fails_start(tmp_path: Path) -> None:
    async def main() -> None:
        node = mqtt_out(tmp_path, broker="mqtts://localhost:1", ca="missing-ca.pem", outbox="memory")
        with pytest.raises(NodeError, match="TLS"):
            await node.start()

    run_sync(main())


def test_two_nodes_cannot_share_one_outbox(tmp_path: Path) -> None:
    async def main() -> None:
        first = mqtt_out(tmp_path, broker="mqtt://127.0.0.1:1", outbox="shared.db")
        await first.start()
        second = mqtt_out(tmp_path, "second", broker="mqtt://127.0.0.1:1", outbox="shared.db")
        with pytest.raises(NodeError, match="in use by another process"):
            await second.start()
        await first.aclose()

    run_sync(main())


def test_drain_on_close_delivers_everything(mosquitto: Mosquitto, mqtt_subscriber: Subscribe,
                                            tmp_path: Path) -> None:
    subscriber = mqtt_subscriber(mosquitto, "drain/#")

    async def main() -> None:
        node = mqtt_out(tmp_path, broker=mosquitto.url, outbox="drain.db", max_inflight=8)
        await node.start()
        for start in range(0, 3000, 500):
            await node.write(messages("drain/t", [orjson.dumps(n) for n in range(start, start + 500)]))
        await node.aclose()
        assert node.counters["published"] == 3000

    run_sync(main())
    assert subscriber.wait_for_count(3000, timeout=30)
    assert numbers(subscriber, "drain/t") == list(range(3000))


def test_topic_template_renders_per_message(mosquitto: Mosquitto, mqtt_subscriber: Subscribe,
                                            tmp_path: Path) -> None:
    subscriber = mqtt_subscriber(mosquitto, "alerts/#")

    async def main() -> None:
        node = mqtt_out(tmp_path, broker=mosquitto.url, topic="alerts/{{ meta.friendly_name }}",
                        outbox="memory", drain_timeout="5s")
        errors = Wired()
        errors.bind(node)
        assert node.config.drain_timeout == 5.0
        await node.start()
        await node.write([
            Message("in", {"action": "x"}, {"friendly_name": "front_door"}),
            Message("in", {"action": "y"}, {"friendly_name": "back/door"}),
            Message("in", {"action": "z"}, {}),  # no name: the topic would be "alerts/" + "" -> sent as is
        ])
        await node.aclose()

    run_sync(main())
    assert subscriber.wait_for_count(3, timeout=10)
    assert [m.topic for m in subscriber.snapshot()] == ["alerts/front_door", "alerts/back/door", "alerts/"]


def test_a_topic_must_be_a_string() -> None:
    from pydantic import ValidationError

    from flowengine_nodes.mqtt.mqtt_out import MqttOutConfig

    with pytest.raises(ValidationError, match="topic is a string"):
        MqttOutConfig.model_validate({"broker": "mqtt://h", "topic": {"a": 1}})
    with pytest.raises(ValidationError):
        MqttOutConfig.model_validate({"broker": "mqtt://h", "topic": "x/{{ payload. }}"})


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_qos2_stream_stays_within_the_brokers_receive_limit(mosquitto: Mosquitto, mqtt_subscriber: Subscribe,
                                                            tmp_path: Path, protocol: str) -> None:
    """Mosquitto drops a client with more QoS 2 messages in flight than its limit: the window avoids it."""
    subscriber = mqtt_subscriber(mosquitto, "q2/#", qos=2)

    async def main() -> None:
        node = mqtt_out(tmp_path, broker=mosquitto.url, qos=2, protocol=protocol, outbox="q2.db")
        await node.start()
        await node.write(messages("q2/t", list(range(1000))))
        await node.aclose()
        assert node.counters["published"] == 1000
        assert node.status.connects == 1, "no reconnect loop"
        assert node.status.losses == 0

    run_sync(main())
    assert subscriber.wait_for_count(1000, timeout=30)
    assert numbers(subscriber, "q2/t") == list(range(1000))


def test_mqtt5_receive_maximum_caps_the_window(mosquitto: Mosquitto, tmp_path: Path) -> None:
    async def main() -> None:
        node = mqtt_out(tmp_path, broker=mosquitto.url, qos=1, protocol="5", max_inflight=1000, outbox="memory")
        await node.start()
        await node.status.wait_for(lambda s: s.connected)
        assert node._window == 20  # Mosquitto's default max_inflight_messages, sent as Receive Maximum
        await node.aclose()

    run_sync(main())
