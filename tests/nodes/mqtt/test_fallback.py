"""Without the fast paths: the version check that turns them off, and the nodes on paho's public API.

The fast paths (flowengine_nodes.mqtt.paho_fast) hold only for the paho-mqtt versions they were
checked against. Here they are turned off in this process and a real flow goes through a real
Mosquitto on paho's public API alone; CI also runs all of tests/nodes/mqtt in a venv whose
paho-mqtt is outside the range (.ci/run), where the fallback is what runs everywhere.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from flowengine.testing import run_sync
from flowengine_nodes.mqtt import paho_fast
from flowengine_nodes.mqtt.connection import publish_each
from flowengine_nodes.mqtt.packets import add_publish, publish_header, publishes
from tests.mosquitto import Mosquitto, Subscriber, publish_messages
from tests.nodes.mqtt.support import Collector, cancel, messages, mqtt_in, mqtt_out


@pytest.mark.parametrize("version", ["2.1.0", "2.3.0", "3.0.0", "1.6.1", "unknown"])
def test_versions_outside_the_range_turn_the_fast_paths_off(version: str) -> None:
    reason = paho_fast.check(version)
    assert reason is not None
    assert version in reason
    assert paho_fast.SUPPORTED_TEXT in reason


def test_the_pin_is_the_range_the_door_checks() -> None:
    pyproject = (Path(__file__).resolve().parents[3] / "pyproject.toml").read_text(encoding="utf-8")
    assert f'"paho-mqtt{paho_fast.SUPPORTED_TEXT}"' in pyproject


def test_the_switch_turns_the_fast_paths_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(paho_fast.SWITCH, "0")
    assert paho_fast.check("2.2.0") == "FLOWENGINE_MQTT_FAST=0"


@pytest.mark.skipif(not paho_fast.FAST, reason=f"MQTT fast paths off: {paho_fast.UNAVAILABLE}")
def test_a_version_inside_the_range_passes_both_checks_on_the_installed_paho() -> None:
    assert paho_fast.check("2.2.0") is None
    assert paho_fast.check("2.2.9") is None


@pytest.mark.skipif(not paho_fast.FAST, reason=f"MQTT fast paths off: {paho_fast.UNAVAILABLE}")
def test_a_paho_whose_private_paths_changed_turns_the_fast_paths_off(monkeypatch: pytest.MonkeyPatch) -> None:
    import paho.mqtt.client as mqtt

    def queue_another_shape(self: Any, command: int, packet: bytes, mid: int, qos: int, info: Any = None) -> int:
        vars(self)["_out_packet"].append({"command": command, "packet": packet, "sent": 0})  # paho, changed
        return 0

    monkeypatch.setattr(mqtt.Client, "_packet_queue", queue_another_shape)
    assert paho_fast.check("2.2.0") == ("paho-mqtt 2.2.0: its outgoing queue entries have keys "
                                        "['command', 'packet', 'sent'], not the write path's")

    def broken(self: Any, *args: Any) -> int:
        raise TypeError("takes 3 arguments")

    monkeypatch.setattr(mqtt.Client, "_packet_queue", broken)
    assert paho_fast.check("2.2.0") == ("paho-mqtt 2.2.0: checking its read and write paths failed: "
                                        "TypeError: takes 3 arguments")
    monkeypatch.delattr(mqtt.Client, "_sock_recv")
    assert paho_fast.check("2.2.0") == "paho-mqtt 2.2.0 lacks _sock_recv"


@pytest.mark.parametrize("v5", [False, True], ids=["3.1.1", "5"])
def test_publishes_reads_back_what_add_publish_wrote(v5: bool) -> None:
    sent = [("a/1", b"one", False), ("a/é", b"", True), ("b", bytes(range(256)) * 80, False)]
    packets = bytearray()
    for topic, payload, retain in sent:
        add_publish(packets, publish_header(topic, v5), payload, retain)
    assert list(publishes(packets, v5)) == sent
    with pytest.raises(ValueError, match="truncated"):
        list(publishes(packets[:-1], v5))
    with pytest.raises(ValueError, match="not a QoS 0 PUBLISH"):
        list(publishes(b"\xd0\x00", v5))


class _Refusing:
    """A paho client stand-in that takes ``accepted`` publishes, then reports no connection."""

    def __init__(self, accepted: int) -> None:
        self.accepted = accepted
        self.published: list[tuple[str, bytes, int, bool]] = []

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> Any:
        class Info:
            rc = 0 if len(self.published) < self.accepted else 4
        if Info.rc == 0:
            self.published.append((topic, payload, qos, retain))
        return Info()


def test_publish_each_says_whether_the_connection_took_them() -> None:
    packets = bytearray()
    for n in range(3):
        add_publish(packets, publish_header("t", False), b"%d" % n, False)
    for accepted, taken in [(3, True), (1, True), (0, False)]:
        client = _Refusing(accepted)
        assert publish_each(client, False, packets) is taken  # type: ignore[arg-type]
        assert client.published == [("t", b"%d" % n, 0, False) for n in range(accepted)]


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_mqtt_in_and_out_work_on_paho_public_api(mosquitto: Mosquitto, mqtt_subscriber: Any, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch, protocol: str) -> None:
    monkeypatch.setattr(paho_fast, "FAST", False)
    subscriber: Subscriber = mqtt_subscriber(mosquitto, "out/#")

    async def main() -> None:
        source = mqtt_in(tmp_path, broker=mosquitto.url, topics=["in/#"], qos=0, protocol=protocol)
        got = Collector()
        source.bind_output("out", got)
        plain = mqtt_out(tmp_path, "plain", broker=mosquitto.url, qos=0, protocol=protocol)
        kept = mqtt_out(tmp_path, "kept", broker=mosquitto.url, qos=1, protocol=protocol, outbox="memory")
        for node in (plain, kept):
            await node.start()
            await node.status.wait_for(lambda s: s.connected)
            assert node._paho is not None
            assert "loop_read" not in vars(node._paho)  # paho reads as it always does
        await source.start()
        task = asyncio.create_task(source.run())
        await source.status.wait_for(lambda s: s.connected)
        await asyncio.to_thread(publish_messages, mosquitto, [(f"in/{n}", b"%d" % n) for n in range(50)])
        received = await got.wait(50)
        await cancel(task)
        await source.aclose()
        assert [(m.topic, m.payload) for m in received] == [(f"in/{n}", n) for n in range(50)]
        for n, msg in enumerate(received):
            plain.write_now(msg.evolve(topic=f"out/plain/{n}"))
        await kept.write(messages("out/kept", list(range(20))))
        for node in (plain, kept):
            await node.aclose()
        assert plain.counters["published"] == 50
        assert kept.counters["published"] == 20

    run_sync(main())
    assert subscriber.wait_for_count(70, timeout=10)
    assert subscriber.payloads("out/kept") == [b"%d" % n for n in range(20)]
    assert [m.topic for m in subscriber.snapshot() if m.topic.startswith("out/plain/")] == \
        [f"out/plain/{n}" for n in range(50)]
