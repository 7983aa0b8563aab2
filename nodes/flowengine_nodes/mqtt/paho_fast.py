"""The one door to paho-mqtt's and aiomqtt's private names: the MQTT fast paths, checked at import.

aiomqtt's publish and receive paths cost an ``await`` (and, when receiving, a Task) per
message, and paho's own receive path a system call per byte of a packet's length. The nodes'
hot paths therefore go below both, and every name that is not public API is used here and
nowhere else:

* aiomqtt's ``Client._client`` (:func:`paho_client`): the paho client under an aiomqtt one,
  whose public API (``publish``, ``on_message``, ``on_publish``) the nodes then use;
* the read path (:class:`BufferedReads`): paho's ``_sock_recv``, ``loop_read``, ``_in_packet``,
  ``_sock``, ``_protocol``, ``_last_bytes_received``;
* the write path (:func:`write_packets`): paho's ``_sock``, ``_out_packet`` and the shape of
  its queue entries (paho's ``_OutPacket``), and ``loop_write``;
* the connection (:func:`direct_connections`): paho's ``_create_socket_connection`` and the
  connection settings it reads (``_host``, ``_port``, ``_connect_timeout``, ``_bind_address``,
  ``_bind_port``, ``_proxy``), and its module's ``socks`` (PySocks, when installed) and
  the ``urllib.request`` it imports (:func:`prepare_proxy_lookup`).

When this module is imported (lazily, by the first connection) it checks the installed paho
against :data:`SUPPORTED`, the range these paths were checked against and the one
``pyproject.toml`` pins, and then checks both paths on a throwaway client: the private
methods are there, a packet paho queues has exactly the entry keys :func:`write_packets`
writes. :data:`FAST` says whether all of that holds; :data:`UNAVAILABLE` says why not. When it
does not hold the nodes fall back to paho's public API — paho reads every packet itself and
QoS 0 messages go out one ``publish`` each — which is slower and otherwise the same.
Setting ``FLOWENGINE_MQTT_FAST=0`` forces the fallback (for tests and diagnosis).
"""

from __future__ import annotations

import collections
import logging
import os
import socket
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

import paho.mqtt
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from flowengine_nodes.mqtt.packets import TOPIC_CACHE, PublishCallback

if TYPE_CHECKING:
    import aiomqtt

#: paho-mqtt versions the fast paths were checked against, as pinned in pyproject.toml. paho 2.1 is
#: not one of them: it keeps the keepalive's receive time in ``_last_msg_in``, so the read path would
#: leave the keepalive blind (the check below finds this and turns the fast paths off there).
SUPPORTED = ((2, 2), (2, 3))
#: :data:`SUPPORTED` as a requirement.
SUPPORTED_TEXT = ">=2.2,<2.3"
#: Environment variable that, set to ``0``, turns the fast paths off.
SWITCH = "FLOWENGINE_MQTT_FAST"
#: What :func:`direct_connections` reads of a paho client: the connection settings paho's own
#: ``_create_socket_connection`` reads (``_host`` is set by ``connect``, the rest at construction).
CONNECTION_STATE = ("_port", "_connect_timeout", "_bind_address", "_bind_port", "_proxy")
#: The keys of an entry of paho's outgoing queue (its ``_OutPacket``), as :func:`write_packets` writes one.
OUT_PACKET_KEYS = frozenset({"command", "mid", "qos", "pos", "to_process", "packet", "info"})


def _version(text: str) -> tuple[int, ...]:
    parts: list[int] = []
    for part in text.split("."):
        digits = "".join(c for c in part if c.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def check(version: str | None = None) -> str | None:
    """Return why the fast paths cannot be used with the installed paho-mqtt, or None when they can.

    ``version`` stands in for paho's own (tests). Beyond the version, both paths are checked on
    a throwaway client that never connects: the read path's private methods and state, and the
    write path's queue, into which a packet is queued through paho's own code to compare the
    entry's keys with :data:`OUT_PACKET_KEYS`.
    """
    if os.environ.get(SWITCH, "1") == "0":
        return f"{SWITCH}=0"
    installed = version if version is not None else str(getattr(paho.mqtt, "__version__", "unknown"))
    low, high = SUPPORTED
    if not low <= _version(installed)[:2] < high:
        return f"paho-mqtt {installed} is outside the range the fast paths were checked against ({SUPPORTED_TEXT})"
    try:
        return _check_paths(installed)
    except Exception as exc:  # noqa: BLE001 - whatever fails, the paths are not the ones checked
        return f"paho-mqtt {installed}: checking its read and write paths failed: {type(exc).__name__}: {exc}"


def _check_paths(installed: str) -> str | None:
    """The part of :func:`check` that looks at a throwaway client of the installed paho."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    state = vars(client)
    missing = [name for name in ("_sock_recv", "loop_read", "loop_write", "_packet_queue", "_create_socket_connection")
               if not callable(getattr(client, name, None))]
    missing += [name for name in ("_sock", "_protocol", "_last_bytes_received", *CONNECTION_STATE)
                if name not in state]
    if missing:
        return f"paho-mqtt {installed} lacks {', '.join(missing)}"
    if not isinstance(state.get("_in_packet"), dict) or "command" not in state["_in_packet"]:
        return f"paho-mqtt {installed}: its incoming packet state is not the one the read path knows"
    queue = state.get("_out_packet")
    if not isinstance(queue, collections.deque):
        return f"paho-mqtt {installed}: its outgoing queue is not the one the write path knows"
    try:
        client._packet_queue(0, b"", 0, 0)  # not connected: queued, nothing written
        keys = set(queue[-1]) if queue else set()
    finally:
        queue.clear()
    if keys != OUT_PACKET_KEYS:
        return f"paho-mqtt {installed}: its outgoing queue entries have keys {sorted(keys)}, not the write path's"
    return None


#: Why the fast paths are off in this process, or None when they are on.
UNAVAILABLE = check()
#: Whether :class:`BufferedReads` and :func:`write_packets` may be used with the installed paho.
FAST = UNAVAILABLE is None
if not FAST:
    logging.getLogger("flowengine.mqtt").info("MQTT fast paths off (%s): paho's public API is used", UNAVAILABLE)


#: Bytes asked for by one read of the socket.
READ_SIZE = 65536
#: Socket reads one :meth:`BufferedReads.loop_read` call makes at most: the loop gets back to the
#: flow after at most this many times 64 KiB, so a flood cannot starve what handles the messages.
READS_PER_CALL = 4
#: Bytes, and queue entries, paho may hold unwritten (the socket is full: the broker does not
#: read) before :func:`write_packets` refuses more.
UNWRITTEN_BYTES = 8 * 1024 * 1024
UNWRITTEN_ENTRIES = 4096


class BufferedReads:
    """Read the socket 64 KiB at a time, and take QoS 0 PUBLISH packets without paho's receive path.

    paho-mqtt 2.x reads a packet's first byte, then its length byte by byte, then its body,
    each with a system call: for small messages that is most of the receive cost. This
    replaces two private methods of one paho client (``_sock_recv`` and ``loop_read``, as
    the peer benchmark's meter does): bytes come from a user-space
    buffer refilled by one large read, and ``loop_read`` goes on while the buffer holds data
    (the socket may not signal readable again for bytes already read). Installed only when
    the installed paho is one this module was checked against (:data:`FAST`); elsewhere paho
    reads as it always did.

    With ``on_publish`` set, whole QoS 0 PUBLISH packets (the bulk of a subscriber's
    traffic) are cut out of the buffer here and handed to ``on_publish(topic, payload,
    retain)``: paho would build a message object with a lock, decode the topic, match it
    against its callback filters and take two mutexes for each. Everything else (QoS 1/2,
    acknowledgements, pings, a packet paho has begun to read, a topic that is not UTF-8 or
    an MQTT 5 topic alias) goes through paho's own path, in order.
    """

    __slots__ = ("_buffer", "_error", "_loop_read", "_paho", "_position", "_recv", "_topics", "_v5", "on_publish",
                 "on_read_end")

    def __init__(self, paho_instance: mqtt.Client) -> None:
        self._paho = paho_instance
        self._recv: Callable[[int], bytes] = paho_instance._sock_recv
        self._loop_read: Callable[[int], int] = paho_instance.loop_read
        self._buffer = b""
        self._position = 0
        #: What the last read of our own raised, for paho's read to raise (and handle) in turn.
        self._error: BaseException | None = None
        self._topics: dict[bytes, str] = {}
        self._v5 = paho_instance._protocol == 5
        #: The fast path's callback for QoS 0 PUBLISH packets; None: paho handles every packet.
        self.on_publish: PublishCallback | None = None
        #: Called (with the fast path on) when a read is over: the messages it queued can go now.
        self.on_read_end: Callable[[], None] | None = None

    @classmethod
    def install(cls, paho_instance: mqtt.Client, on_publish: PublishCallback | None = None,
                on_read_end: Callable[[], None] | None = None) -> bool:
        """Buffer the reads of ``paho_instance``; return False (and change nothing) when the fast path is off.

        ``on_publish`` turns on the fast path for QoS 0 PUBLISH packets (see the class), and
        ``on_read_end()`` is called after each read (when a burst's messages are all queued).
        """
        if not FAST:
            return False
        reads = cls(paho_instance)
        reads.on_publish = on_publish
        reads.on_read_end = on_read_end
        vars(paho_instance)["_sock_recv"] = reads.sock_recv
        vars(paho_instance)["loop_read"] = reads.loop_read
        return True

    def sock_recv(self, size: int) -> bytes:
        """Return up to ``size`` bytes, from the buffer or one large read (which may raise as paho's)."""
        buffer, position = self._buffer, self._position
        if position >= len(buffer):
            error = self._error
            if error is not None:
                self._error = None
                raise error
            buffer = self._recv(65536)
            if not buffer:
                return buffer  # end of stream
            self._buffer, position = buffer, 0
        chunk = buffer[position : position + size]
        self._position = position + len(chunk)
        return chunk

    def loop_read(self, max_packets: int = 1) -> int:
        """Read what the socket holds: QoS 0 PUBLISH packets on the fast path, the rest through paho."""
        paho_instance = self._paho
        if self.on_publish is None or paho_instance._sock is None:
            result = self._loop_read(max_packets)
            while result == 0 and paho_instance._sock is not None and self._position < len(self._buffer):
                result = self._loop_read(max_packets)
            return result
        try:
            return self._read_fast(max_packets)
        finally:
            if self.on_read_end is not None:
                self.on_read_end()

    def _read_fast(self, max_packets: int) -> int:
        paho_instance = self._paho
        reads = 0
        drained = False
        while True:
            if paho_instance._in_packet["command"] != 0:
                # paho has begun a packet: it finishes it from the buffer (and the socket).
                result = self._loop_read(1)
                if result or paho_instance._sock is None or paho_instance._in_packet["command"] != 0:
                    return result
                continue
            whole = self._take_publishes()
            if whole:
                # A whole packet that is not a plain QoS 0 PUBLISH waits at the head: paho's turn.
                result = self._loop_read(1)
                if result or paho_instance._sock is None:
                    return result
                continue
            if drained or reads >= READS_PER_CALL:
                return 0
            reads += 1
            try:
                data = self._recv(READ_SIZE)
            except BlockingIOError:
                return 0
            except OSError as exc:  # paho's read raises it again and handles the lost connection
                self._error = exc
                return self._loop_read(max_packets)
            if not data:  # end of stream: paho's read sees it too
                self._buffer, self._position = b"", 0
                self._error = ConnectionResetError("the broker closed the connection")
                return self._loop_read(max_packets)
            # A short read emptied the socket: no second read (and its EAGAIN) before the loop says
            # the socket is readable again.
            drained = len(data) < READ_SIZE
            position = self._position
            buffer = self._buffer
            self._buffer = buffer[position:] + data if position < len(buffer) else data
            self._position = 0

    def _take_publishes(self) -> bool:
        """Hand the whole QoS 0 PUBLISH packets at the head of the buffer to ``on_publish``.

        Returns True when a whole packet of another kind waits at the head (for paho), False
        when the buffer is used up or ends in an incomplete packet.
        """
        buffer, position = self._buffer, self._position
        end_of_data = len(buffer)
        callback = self.on_publish
        assert callback is not None
        topics = self._topics
        v5 = self._v5
        found = 0
        try:
            while position < end_of_data:
                first = buffer[position]
                # Remaining length: a variable byte integer of 1-4 bytes.
                index = position + 1
                length = 0
                shift = 0
                while True:
                    if index >= end_of_data:
                        return False
                    byte = buffer[index]
                    index += 1
                    length |= (byte & 0x7F) << shift
                    if byte < 0x80:
                        break
                    shift += 7
                    if shift > 21:
                        return True  # malformed: paho reports it
                end = index + length
                if end > end_of_data:
                    return False
                if first & 0xF6 != 0x30 or length < 2:  # not a QoS 0 PUBLISH (retain bit aside)
                    return True
                topic_end = index + 2 + ((buffer[index] << 8) | buffer[index + 1])
                raw_topic = buffer[index + 2 : topic_end]
                start = topic_end
                if v5:
                    # Properties: a variable byte integer length, then the properties, skipped.
                    size = 0
                    shift = 0
                    while True:
                        if start >= end:
                            return True
                        byte = buffer[start]
                        start += 1
                        size |= (byte & 0x7F) << shift
                        if byte < 0x80:
                            break
                        shift += 7
                    start += size
                if not raw_topic or start > end:
                    return True  # a topic alias, or malformed: paho's path
                topic = topics.get(raw_topic)
                if topic is None:
                    try:
                        topic = raw_topic.decode()
                    except UnicodeDecodeError:
                        return True
                    if len(topics) >= TOPIC_CACHE:
                        topics.clear()
                    topics[raw_topic] = topic
                callback(topic, buffer[start:end], bool(first & 1))
                found += 1
                position = end
            return False
        finally:
            self._position = position
            if found:
                self._paho._last_bytes_received = time.monotonic()


def write_packets(paho_instance: mqtt.Client, packets: bytes | bytearray) -> bool:
    """Queue already encoded packets behind what paho has queued and write what the socket takes now.

    One ``send`` for a whole batch instead of paho's queue entry, lock, info object and (on
    the event loop) writer registration per message. What the socket does not take now is
    written by paho's loop when the socket is writable again, in order. Returns False, and
    queues nothing, when there is no connection or :data:`UNWRITTEN_BYTES` wait unwritten
    already (the broker does not read).
    """
    if paho_instance._sock is None:
        return False
    queue = paho_instance._out_packet
    if queue and (len(queue) >= UNWRITTEN_ENTRIES
                  or sum(entry["to_process"] for entry in queue) + len(packets) > UNWRITTEN_BYTES):
        return False
    queue.append({
        "command": 0,  # none of paho's: written as bytes, no callback after
        "mid": 0,
        "qos": 0,
        "pos": 0,
        "to_process": len(packets),
        "packet": packets,
        "info": None,
    })
    paho_instance.loop_write()
    return True


def direct_connections(paho_instance: mqtt.Client) -> bool:
    """Have ``paho_instance`` look up an ASCII broker host as bytes; False (nothing changed) off the fast path.

    paho's connect passes the host as text to ``socket.create_connection``, and ``getaddrinfo``
    encodes any text host (an IP address too) with the ``idna`` codec, which loads
    ``encodings.idna``, ``stringprep`` and ``unicodedata`` (≈ 0.4 MB of resident memory) for
    what is, for an ASCII host, the same bytes. This replaces paho's
    ``_create_socket_connection`` of one client: when the host is ASCII and no proxy may be set
    (:func:`_proxy_possible`), it connects as paho does (same timeout and bind address) with the
    host encoded as ASCII bytes. A non-ASCII host, or any proxy, goes to paho's own method
    unchanged. TLS is not touched: paho wraps the socket afterwards with its text host as
    ``server_hostname``.
    """
    if not FAST:
        return False
    paho_connection = paho_instance._create_socket_connection

    def create_socket_connection() -> socket.socket:
        host = paho_instance._host
        if not host.isascii() or _proxy_possible(paho_instance):
            return paho_connection()
        source = (paho_instance._bind_address, paho_instance._bind_port)
        address = cast("tuple[str, int]", (host.encode("ascii"), paho_instance._port))  # getaddrinfo takes bytes
        return socket.create_connection(address, timeout=paho_instance._connect_timeout, source_address=source)

    vars(paho_instance)["_create_socket_connection"] = create_socket_connection
    return True


def prepare_proxy_lookup(paho_instance: mqtt.Client, *, direct: bool) -> None:
    """Load paho's proxy imports now, on the caller's thread, when its connect will look a proxy up.

    paho imports :mod:`urllib.request` deferred (:func:`flowengine.deferred_imports`), and its
    connect runs on an executor thread; Python 3.11's :class:`importlib.util.LazyLoader` is not
    thread-safe, so two connections loading the module at once could each see it half-made.
    Called on the event loop's thread before the connect is dispatched, this loads it first
    whenever the connect will call paho's ``_get_proxy``: PySocks installed and either paho's own
    connection is used (``direct`` False: the fast path is off) or a proxy may be set.
    """
    if getattr(mqtt, "socks", None) is not None and (not direct or _proxy_possible(paho_instance)):
        _ = sys.modules["urllib.request"].getproxies  # paho imported it: the first attribute access runs its code


def _proxy_possible(paho_instance: mqtt.Client) -> bool:
    """Whether paho's proxy lookup (``_get_proxy``) could find a proxy for ``paho_instance``.

    paho looks for one only when PySocks is installed, in three places: a proxy set with
    ``proxy_set`` (``_proxy``), an ``mqtt_proxy`` environment variable (through
    :func:`urllib.request.getproxies`, which reads the environment, and on Windows the registry
    too) and PySocks' default proxy. When none of them can give one, the lookup returns None
    and would only have loaded :mod:`urllib.request` to say so.
    """
    socks = getattr(mqtt, "socks", None)
    if socks is None:
        return False
    return (bool(paho_instance._proxy) or socks.get_default_proxy() is not None or sys.platform == "win32"
            or any(name.lower() == "mqtt_proxy" for name in os.environ))


def paho_client(client: aiomqtt.Client) -> mqtt.Client:
    """Return the paho-mqtt client under an aiomqtt client (for the synchronous hot paths).

    Raises:
        TypeError: this aiomqtt keeps no paho client where aiomqtt 2.x does.
    """
    paho_instance = getattr(client, "_client", None)
    if not isinstance(paho_instance, mqtt.Client):
        raise TypeError("this aiomqtt keeps no paho client in Client._client (aiomqtt 2.x does)")
    return paho_instance


def attach_socket(paho_instance: mqtt.Client, sock: socket.socket) -> None:
    """Give a paho client that never connected a socket to read and write (benchmarks and tests)."""
    paho_instance._sock = sock


def unwritten(paho_instance: mqtt.Client) -> int:
    """Return how many bytes paho holds queued and not yet written to the socket."""
    return sum(entry["to_process"] for entry in paho_instance._out_packet)
