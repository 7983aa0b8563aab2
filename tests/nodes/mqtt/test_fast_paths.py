"""The QoS 0 fast paths of ``flowengine_nodes.mqtt.paho_fast``: packets cut from the read buffer, packets we encode.

A real paho client reads from one end of a socket pair; the test writes MQTT bytes into
the other end, split at awkward places, and mixes in packets that paho must handle itself.
Whatever takes which path, every message arrives once, in order, with its topic, payload
and retain flag. The fast paths exist only with a paho-mqtt inside the range they were checked
against: elsewhere (the CI job with another paho) these tests are skipped and
test_fallback.py shows the nodes work without them.
"""

from __future__ import annotations

import asyncio
import select
import socket
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from flowengine.testing import run_sync
from flowengine_nodes.mqtt import paho_fast
from flowengine_nodes.mqtt.packets import add_publish, publish_header
from flowengine_nodes.mqtt.paho_fast import BufferedReads, attach_socket, unwritten, write_packets
from tests.nodes.mqtt.support import Collector, cancel, mqtt_in

Received = tuple[str, str, bytes | bytearray, bool]  # (path, topic, payload as handed over, retain)

fast_only = pytest.mark.skipif(not paho_fast.FAST, reason=f"MQTT fast paths off: {paho_fast.UNAVAILABLE}")


def publish_packet(topic: str, payload: bytes, *, retain: bool = False, v5: bool = False) -> bytes:
    packets = bytearray()
    add_publish(packets, publish_header(topic, v5), payload, retain)
    return bytes(packets)


def remaining_length(size: int) -> bytes:
    out = bytearray()
    while True:
        byte = size & 0x7F
        size >>= 7
        out.append(byte | 0x80 if size else byte)
        if not size:
            return bytes(out)


def qos1_packet(topic: str, payload: bytes, mid: int, *, v5: bool = False) -> bytes:
    body = len(topic).to_bytes(2, "big") + topic.encode() + mid.to_bytes(2, "big") + (b"\x00" if v5 else b"") + payload
    return bytes([0x32]) + remaining_length(len(body)) + body


def v5_packet_with_properties(topic: str, payload: bytes) -> bytes:
    # Properties: payload format indicator (0x01 = 1) and a user property ("k", "v").
    properties = b"\x01\x01" + b"\x26" + b"\x00\x01k" + b"\x00\x01v"
    body = len(topic).to_bytes(2, "big") + topic.encode() + bytes([len(properties)]) + properties + payload
    return bytes([0x30]) + remaining_length(len(body)) + body


class Harness:
    """A paho client reading from a socket pair, with the fast path installed and both paths recorded."""

    def __init__(self, v5: bool) -> None:
        protocol = mqtt.MQTTv5 if v5 else mqtt.MQTTv311
        self.v5 = v5
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=protocol)
        self.ours, self.broker = socket.socketpair()
        self.ours.setblocking(False)
        attach_socket(self.client, self.ours)
        self.received: list[Received] = []
        self.client.on_message = lambda client, userdata, message: self.received.append(
            ("paho", message.topic, message.payload, bool(message.retain)))
        assert BufferedReads.install(self.client, self.fast)

    def fast(self, topic: str, payload: bytes, retain: bool) -> None:
        self.received.append(("fast", topic, payload, retain))

    def feed(self, data: bytes) -> None:
        """Send ``data`` as the broker would, in pieces the socket takes, reading as the event loop would."""
        for start in range(0, len(data), 32768):
            self.broker.sendall(data[start : start + 32768])
            assert self.client.loop_read() == 0
            while select.select([self.ours], [], [], 0)[0]:  # readable again: the loop calls again
                assert self.client.loop_read() == 0

    def close(self) -> None:
        self.ours.close()
        self.broker.close()


@pytest.fixture(params=[False, True], ids=["3.1.1", "5"])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    made = Harness(request.param)
    yield made
    made.close()


@fast_only
def test_whole_packets_take_the_fast_path_in_order(harness: Harness) -> None:
    v5 = harness.v5
    big = bytes(range(256)) * 80  # 20 KiB: a three-byte remaining length
    harness.feed(publish_packet("a/1", b"one", v5=v5)
                 + publish_packet("a/é", b"", retain=True, v5=v5)
                 + publish_packet("b", big, v5=v5))
    assert harness.received == [("fast", "a/1", b"one", False), ("fast", "a/é", b"", True),
                                ("fast", "b", big, False)]


@fast_only
def test_packets_split_anywhere_arrive_whole_and_once(harness: Harness) -> None:
    v5 = harness.v5
    stream = b"".join(publish_packet(f"t/{n}", str(n).encode() * (n % 7), v5=v5) for n in range(200))
    # Cut into pieces of varying size: packets straddle reads at every offset.
    position = 0
    size = 1
    while position < len(stream):
        harness.feed(stream[position : position + size])
        position += size
        size = size % 13 + 1
    assert harness.received == [("fast", f"t/{n}", str(n).encode() * (n % 7), False) for n in range(200)]


@fast_only
def test_other_packets_go_through_paho_between_the_fast_ones(harness: Harness) -> None:
    v5 = harness.v5
    stream = (publish_packet("q/0", b"a", v5=v5)
              + qos1_packet("q/1", b"b", 7, v5=v5)
              + b"\xd0\x00"  # PINGRESP
              + publish_packet("q/0", b"c", v5=v5))
    harness.feed(stream[:-2])
    harness.feed(stream[-2:])
    assert harness.received == [("fast", "q/0", b"a", False), ("paho", "q/1", b"b", False),
                                ("fast", "q/0", b"c", False)]
    # paho acknowledged the QoS 1 message itself.
    puback = harness.broker.recv(16)
    assert puback[0] == 0x40
    assert puback[2:4] == (7).to_bytes(2, "big")


@fast_only
def test_mqtt5_properties_are_skipped_and_a_topic_alias_goes_to_paho() -> None:
    harness = Harness(v5=True)
    try:
        harness.feed(v5_packet_with_properties("p/1", b"x"))
        # An empty topic (MQTT 5 topic alias) is paho's business.
        alias = b"\x00\x00" + b"\x03\x23\x00\x01" + b"y"
        harness.feed(bytes([0x30, len(alias)]) + alias)
        assert harness.received[0] == ("fast", "p/1", b"x", False)
        assert [entry[0] for entry in harness.received[1:]] == ["paho"]
    finally:
        harness.close()


@fast_only
def test_end_of_stream_is_reported_by_paho(harness: Harness) -> None:
    v5 = harness.v5
    lost: list[object] = []
    harness.client.on_disconnect = lambda *args: lost.append(args)
    harness.broker.sendall(publish_packet("e", b"last", v5=v5))
    harness.broker.shutdown(socket.SHUT_WR)
    results = [harness.client.loop_read()]
    while results[-1] == 0 and select.select([harness.ours], [], [], 0)[0]:  # readable: the loop calls again
        results.append(harness.client.loop_read())
    assert results[-1] != 0  # the connection is lost
    assert harness.received == [("fast", "e", b"last", False)]
    assert lost  # paho saw the connection end and said so


@fast_only
def test_write_packets_sends_encoded_publishes_after_what_paho_queued(harness: Harness) -> None:
    client = harness.client
    v5 = harness.v5
    packets = bytearray()
    header = publish_header("out/x", v5)
    for n in range(3):
        add_publish(packets, header, str(n).encode(), n == 2)
    assert write_packets(client, packets)
    data = harness.broker.recv(65536)
    assert data == b"".join(publish_packet("out/x", str(n).encode(), retain=n == 2, v5=v5) for n in range(3))
    # Read back through the fast path: the same messages.
    other = Harness(v5)
    try:
        other.feed(data)
        assert other.received == [("fast", "out/x", b"0", False), ("fast", "out/x", b"1", False),
                                  ("fast", "out/x", b"2", True)]
    finally:
        other.close()


@fast_only
def test_write_packets_refuses_without_a_connection() -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    assert not write_packets(client, bytearray(b"\x30\x03\x00\x01a"))
    assert unwritten(client) == 0


@fast_only
def test_write_packets_bounds_what_waits_for_a_broker_that_does_not_read(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(paho_fast, "UNWRITTEN_BYTES", 256 * 1024)
    client = harness.client
    header = publish_header("slow", harness.v5)
    accepted = 0
    for n in range(100_000):
        packets = bytearray()
        add_publish(packets, header, n.to_bytes(4, "big") * 256, False)
        if not write_packets(client, packets):
            break
        accepted += 1
    else:
        pytest.fail("never refused")
    assert unwritten(client) <= 256 * 1024
    # The broker reads again: everything accepted arrives, in order, and nothing else.
    reader = Harness(harness.v5)
    try:
        harness.broker.setblocking(False)
        while True:
            try:
                data = harness.broker.recv(1 << 20)
            except BlockingIOError:
                if not unwritten(client):
                    break
                client.loop_write()
                continue
            reader.feed(data)
        payloads = [payload for _, _, payload, _ in reader.received]
        assert payloads == [n.to_bytes(4, "big") * 256 for n in range(accepted)]
    finally:
        reader.close()


def test_mqtt_in_emits_a_small_burst_in_the_read_callback_and_leaves_the_rest_to_the_pump(tmp_path: Path) -> None:
    async def main() -> None:
        node = mqtt_in(tmp_path, broker="mqtt://127.0.0.1:1", topics=["t"])
        out = Collector()
        node.bind_output("out", out)
        checks: list[int] = []

        async def backpressure() -> None:
            checks.append(len(out.messages))
            await asyncio.sleep(0)

        node._backpressure = backpressure
        pump = asyncio.create_task(node._pump())
        await asyncio.sleep(0)  # the pump waits, idle

        def read(first: int, count: int) -> None:  # one read of the socket, as BufferedReads reports it
            for n in range(first, first + count):
                node._on_publish("t", b"%d" % n, n == 0)
            node._on_read_end()

        read(0, 3)
        # Emitted at once, in order, before the event loop has turned.
        assert [m.payload for m in out.messages] == [0, 1, 2]
        assert out.messages[0].meta["retain"] is True
        assert "retain" not in out.messages[1].meta
        read(3, 100)
        read(103, 100)
        assert len(out.messages) == 203  # still within one pump batch (256) without a backpressure check
        read(203, 100)  # would make 303 unchecked: the pump's turn
        assert len(out.messages) == 203
        await out.wait(303)
        assert checks == [303]  # the pump emitted the 100 and checked the flow's backpressure
        read(303, 1)  # the pump is busy (in its backpressure check): its turn too
        assert len(out.messages) == 303
        await out.wait(304)
        for _ in range(3):  # let the pump come back from its check and wait again (turns, not time)
            await asyncio.sleep(0)
        assert node._idle
        read(304, 2)  # the pump is idle again and the count starts over: back to the read callback
        assert len(out.messages) == 306
        assert [m.payload for m in out.messages] == list(range(306))
        await cancel(pump)

    run_sync(main())
