"""QoS 0 PUBLISH packets as bytes: encoded by ``mqtt-out``'s fast path, and read back for the fallback.

Also the PUBACKs ``mqtt-in`` writes for a batch of durable QoS 1 messages (:func:`pubacks`).

Plain MQTT (3.1.1 and 5), no client library: the fast write path hands these bytes to the
socket (:func:`flowengine_nodes.mqtt.paho_fast.write_packets`); where that path is off,
:func:`publishes` reads them back so that paho's public ``publish`` sends each message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

#: Topic names kept encoded or decoded (once per distinct topic, not per message).
TOPIC_CACHE = 1024

PublishCallback = Callable[[str, bytes, bool], None]
"""A fast receive path's callback: ``(topic, payload, retain)`` of one QoS 0 PUBLISH."""


def pubacks(mids: Iterable[int]) -> bytes:
    """Return one PUBACK packet per message id: fixed header 0x40, remaining length 2, the id.

    The same bytes in MQTT 3.1.1 and 5 (a version 5 PUBACK without a reason code means success).
    """
    return b"".join(b"\x40\x02" + mid.to_bytes(2, "big") for mid in mids)


def publish_header(topic: str, v5: bool) -> bytes:
    """Return a PUBLISH packet's variable header for ``topic`` (QoS 0: no packet id)."""
    encoded = topic.encode()
    return len(encoded).to_bytes(2, "big") + encoded + (b"\x00" if v5 else b"")


def add_publish(packets: bytearray, header: bytes, payload: bytes, retain: bool) -> None:
    """Append one QoS 0 PUBLISH packet (``header`` from :func:`publish_header`) to ``packets``.

    Raises:
        ValueError: the packet is longer than MQTT allows.
    """
    size = len(header) + len(payload)
    packets.append(0x31 if retain else 0x30)
    if size < 0x80:
        packets.append(size)
    elif size < 0x4000:
        packets.append((size & 0x7F) | 0x80)
        packets.append(size >> 7)
    else:
        if size > 268_435_455:
            raise ValueError("payload too large for MQTT")
        while True:
            byte = size & 0x7F
            size >>= 7
            packets.append(byte | 0x80 if size else byte)
            if not size:
                break
    packets += header
    packets += payload


def publishes(packets: bytes | bytearray, v5: bool) -> Iterator[tuple[str, bytes, bool]]:
    """Yield ``(topic, payload, retain)`` of each QoS 0 PUBLISH packet :func:`add_publish` wrote.

    Raises:
        ValueError: ``packets`` holds something else (a truncated or foreign packet).
    """
    view = memoryview(packets)
    position = 0
    end_of_data = len(packets)
    while position < end_of_data:
        first = packets[position]
        if first & 0xF6 != 0x30:
            raise ValueError(f"not a QoS 0 PUBLISH packet at byte {position}")
        index, length = _variable_integer(packets, position + 1)
        end = index + length
        topic_end = index + 2 + ((packets[index] << 8) | packets[index + 1])
        start = topic_end
        if v5:
            start, size = _variable_integer(packets, start)
            start += size
        if end > end_of_data or start > end:
            raise ValueError(f"truncated PUBLISH packet at byte {position}")
        yield bytes(view[index + 2 : topic_end]).decode(), bytes(view[start:end]), bool(first & 1)
        position = end


def _variable_integer(data: bytes | bytearray, index: int) -> tuple[int, int]:
    """Read an MQTT variable byte integer at ``index``; return (the index after it, its value)."""
    value = 0
    shift = 0
    while True:
        if index >= len(data) or shift > 21:
            raise ValueError("malformed variable byte integer")
        byte = data[index]
        index += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return index, value
        shift += 7
