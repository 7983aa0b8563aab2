"""The broker fixtures themselves: they start, restart on the same port, speak TLS, check passwords."""

from __future__ import annotations

import socket
import ssl

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.mosquitto import TEST_PASSWORD, TEST_USER, Certs, Mosquitto, Subscribe, publish_messages, tls_client_context


def test_plain_broker_delivers_to_subscriber(mosquitto: Mosquitto, mqtt_subscriber: Subscribe) -> None:
    subscriber = mqtt_subscriber(mosquitto, "fixture/#")
    publish_messages(mosquitto, [("fixture/a", b"1"), ("fixture/b", b"2")])
    assert subscriber.wait_for_count(2, timeout=10)
    assert [(m.topic, m.payload) for m in subscriber.snapshot()] == [("fixture/a", b"1"), ("fixture/b", b"2")]


def test_persistent_broker_keeps_queued_messages_across_restart(
    mosquitto_persistent: Mosquitto, mqtt_subscriber: Subscribe
) -> None:
    broker = mosquitto_persistent
    port = broker.port
    subscriber = mqtt_subscriber(broker, "keep/#", client_id="keeper")
    subscriber.close()  # offline: the broker queues for the persistent session
    publish_messages(broker, [("keep/x", b"queued")])
    broker.stop()
    assert not broker.running
    broker.start()
    assert broker.port == port
    again = mqtt_subscriber(broker, "keep/#", client_id="keeper")
    assert again.wait_for_count(1, timeout=10), broker.log()
    assert again.payloads() == [b"queued"]


def test_tls_listener_uses_the_test_ca(mosquitto_tls: Mosquitto, test_ca: Certs) -> None:
    assert mosquitto_tls.tls_port is not None
    context = tls_client_context(test_ca)
    with socket.create_connection(("127.0.0.1", mosquitto_tls.tls_port)) as raw, \
            context.wrap_socket(raw, server_hostname="localhost") as tls:
        assert tls.version() is not None
    untrusting = ssl.create_default_context()
    with socket.create_connection(("127.0.0.1", mosquitto_tls.tls_port)) as raw, \
            pytest.raises(ssl.SSLCertVerificationError):
        untrusting.wrap_socket(raw, server_hostname="localhost")


def test_password_file_refuses_wrong_credentials(mosquitto_auth: Mosquitto) -> None:
    def connect(username: str, password: str) -> int:
        client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
        result: list[int] = []
        client.on_connect = lambda c, u, f, reason, p: result.append(reason.value)
        client.username_pw_set(username, password)
        client.connect(mosquitto_auth.host, mosquitto_auth.port)
        while not result:
            client.loop(timeout=1.0)
        client.disconnect()
        return result[0]

    assert connect(TEST_USER, TEST_PASSWORD) == 0
    assert connect(TEST_USER, "wrong") != 0
