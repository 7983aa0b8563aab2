"""One broker connection on aiomqtt, its errors in plain words, and the hooks the hot paths use.

aiomqtt owns the connection: it connects (TLS, credentials, last will), runs paho-mqtt's
network I/O on the asyncio loop and reports the disconnect. It does not reconnect: the
nodes wrap :func:`connect` in :func:`flowengine.supervision.supervise`, one fresh client per
attempt (an aiomqtt ``Client`` must be built inside the running loop).

aiomqtt's own publish and receive paths cost an ``await`` (and, when receiving, a Task) per
message. The nodes' hot paths therefore talk to the paho client underneath, through
:func:`paho_client`: ``publish`` is synchronous and non-blocking (it queues the packet and
returns a message id), acknowledgements and incoming messages arrive as callbacks on the
loop thread. That is the only place this package reaches into aiomqtt's internals.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, cast

from flowengine import ConnectionState, PermanentError
from flowengine_nodes.mqtt.broker import ConnectionSettings

if TYPE_CHECKING:
    import aiomqtt
    import paho.mqtt.client as paho

#: CONNACK reason codes that retrying will not fix (MQTT 5 numbering; paho maps 3.1.1's onto them):
#: unsupported protocol version, client id not valid, bad user name or password, not authorised,
#: banned, bad authentication method.
PERMANENT_REFUSALS = frozenset({0x84, 0x85, 0x86, 0x87, 0x8A, 0x8C})
#: Refusals that mean "wrong credentials" (Mosquitto answers a wrong password with "not authorised").
CREDENTIAL_REFUSALS = frozenset({0x86, 0x87})
#: MQTT 5 session expiry for a persistent session: the broker keeps it until it is resumed.
PERSISTENT_SESSION_EXPIRY = 0xFFFFFFFF
#: Seconds aiomqtt waits for a CONNACK, a SUBACK or the DISCONNECT to go out.
OPERATION_TIMEOUT = 10.0


class _DebugOnly(logging.LoggerAdapter):  # type: ignore[type-arg]
    """paho's and aiomqtt's log, all at debug level.

    paho logs a reset connection as an error; the node reports each connection change
    itself (one line, through supervision), so the client's own lines are detail.
    """

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        super().log(logging.DEBUG, msg, *args, **kwargs)


_CLIENT_LOG = _DebugOnly(logging.getLogger("flowengine.mqtt.client"), {})


class ConnectionLostError(ConnectionError):
    """The connection to the broker ended (or could not be made); retrying may help."""


Will = tuple[str, bytes, int, bool]
"""A last will: ``(topic, payload, qos, retain)``."""
MessageCallback = Callable[[Any, Any, Any], None]
"""paho's ``on_message(client, userdata, message)``."""
PublishCallback = Callable[[str, bytes, bool], None]
"""A fast receive path's callback: ``(topic, payload, retain)`` of one QoS 0 PUBLISH."""



class ConnectionStatus:
    """A node's connection as supervision reports it: the state now, and how often each change came.

    Pass :meth:`update` as ``supervise``'s ``on_state``. :meth:`wait_for` lets a caller (a
    status page, a test) await a condition instead of polling.
    """

    def __init__(self) -> None:
        self.state: ConnectionState = "disconnected"
        self.detail = ""
        #: Connections made.
        self.connects = 0
        #: Attempts refused for a reason retrying cannot fix (PermanentError).
        self.refusals = 0
        #: Connections lost, or attempts that failed for a reason that may pass.
        self.losses = 0
        self._changed = asyncio.Event()

    @property
    def connected(self) -> bool:
        """True while the connection is up."""
        return self.state == "connected"

    def update(self, state: ConnectionState, detail: str = "") -> None:
        """Record a state change and wake whoever waits for one."""
        self.state = state
        self.detail = detail
        if state == "connected":
            self.connects += 1
        elif state == "failed":
            self.refusals += 1
        elif state == "disconnected" and detail not in ("stopped", "done"):
            self.losses += 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait_for(self, condition: Callable[[ConnectionStatus], bool]) -> None:
        """Return once ``condition(self)`` holds (at once when it already does)."""
        while not condition(self):
            await self._changed.wait()


@dataclass(eq=False)
class Connection:
    """One live connection: the aiomqtt client, the paho client under it, what the broker granted."""

    client: aiomqtt.Client
    paho: paho.Client
    #: MQTT 5: the broker's Receive Maximum (QoS 1/2 messages it accepts unacknowledged); None: not said.
    receive_maximum: int | None = None


def make_client(
    settings: ConnectionSettings,
    *,
    will: Will | None = None,
    on_message: MessageCallback | None = None,
    on_publish: PublishCallback | None = None,
    on_read_end: Callable[[], None] | None = None,
) -> aiomqtt.Client:
    """Build an aiomqtt client for ``settings`` (call inside the running loop; it does not connect).

    ``on_message(client, userdata, message)`` replaces aiomqtt's queue for incoming messages;
    it is set before connecting, so what a persistent session delivers right after the
    CONNACK reaches it too. ``on_publish(topic, payload, retain)`` takes QoS 0 messages on
    :class:`BufferedReads`' fast path (the others still reach ``on_message``), and
    ``on_read_end()`` is called when a read of the socket is over.

    paho's own in-flight limit is off: the nodes keep their own window (paho's costs a scan
    of every unacknowledged message per acknowledgement). Its log is off unless
    ``flowengine.mqtt.client`` logs at debug level (two calls per message otherwise).

    Our sockets get ``TCP_NODELAY``: a publish leaves at once instead of waiting for the ACK
    of the previous segment (Nagle), which would add up to a delayed-ACK timeout (~40 ms) per
    message on a connection that both sends and receives.
    """
    import aiomqtt
    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    url = settings.url
    v5 = settings.protocol == "5"
    properties = None
    clean_start: int | bool = mqtt.MQTT_CLEAN_START_FIRST_ONLY
    if v5 and not settings.clean_session:
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = PERSISTENT_SESSION_EXPIRY
        clean_start = False
    client = aiomqtt.Client(
        url.host,
        url.port,
        username=url.username,
        password=url.password,
        identifier=settings.client_id,
        protocol=aiomqtt.ProtocolVersion.V5 if v5 else aiomqtt.ProtocolVersion.V311,
        # paho refuses clean_session with MQTT 5, which has clean_start instead.
        clean_session=None if v5 else settings.clean_session,
        clean_start=clean_start,  # type: ignore[arg-type]
        properties=properties,
        will=aiomqtt.Will(will[0], will[1], will[2], will[3]) if will is not None else None,
        keepalive=settings.keepalive,
        timeout=OPERATION_TIMEOUT,
        max_inflight_messages=0,
        tls_context=settings.tls_context,
        socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        logger=cast(logging.Logger, _CLIENT_LOG),
    )
    paho_instance = paho_client(client)
    BufferedReads.install(paho_instance, on_publish, on_read_end)
    if on_message is not None:
        paho_instance.on_message = on_message
    if not _CLIENT_LOG.logger.isEnabledFor(logging.DEBUG):
        paho_instance.disable_logger()
    return client


@contextlib.asynccontextmanager
async def connect(
    settings: ConnectionSettings,
    *,
    will: Will | None = None,
    on_message: MessageCallback | None = None,
    on_publish: PublishCallback | None = None,
    on_read_end: Callable[[], None] | None = None,
) -> AsyncIterator[Connection]:
    """Connect, yield the :class:`Connection`, disconnect on exit (arguments as :func:`make_client`).

    Raises:
        PermanentError: the broker refused us for a reason retrying cannot fix (credentials,
            authorisation, a certificate that does not verify), with one clear line of text.
        ConnectionLostError: the broker cannot be reached or refused us for now.
    """
    import aiomqtt

    client = make_client(settings, will=will, on_message=on_message, on_publish=on_publish,
                         on_read_end=on_read_end)
    paho_instance = paho_client(client)
    connection = Connection(client, paho_instance)
    inherited = cast("Callable[..., None]", paho_instance.on_connect)

    def on_connect(paho_self: Any, userdata: Any, flags: Any, reason: Any, properties: Any = None) -> None:
        maximum = getattr(properties, "ReceiveMaximum", None) if properties is not None else None
        connection.receive_maximum = maximum if isinstance(maximum, int) else None
        inherited(paho_self, userdata, flags, reason, properties)

    paho_instance.on_connect = on_connect
    try:
        await client.__aenter__()
    except aiomqtt.MqttError as exc:
        _close_abandoned_sockets(exc.__context__)
        raise connect_error(exc) from exc
    try:
        yield connection
    except BaseException as exc:
        await _disconnect(client, exc)
        raise
    else:
        await _disconnect(client, None)


async def _disconnect(client: aiomqtt.Client, error: BaseException | None) -> None:
    """Leave the connection (a clean DISCONNECT when it is still up); never raise for it."""
    import aiomqtt

    try:
        await client.__aexit__(type(error) if error else None, error, error.__traceback__ if error else None)
    except aiomqtt.MqttError as exc:
        logging.getLogger("flowengine.mqtt").debug("disconnect did not complete: %s", exc)


def _close_abandoned_sockets(error: BaseException | None) -> None:
    """Close the sockets a failed connect left open.

    paho-mqtt 2.x does not close the TLS socket when the handshake fails (a certificate that
    does not verify): it is only referenced by the frames of the error's traceback.
    """
    traceback = error.__traceback__ if error is not None else None
    while traceback is not None:
        for value in traceback.tb_frame.f_locals.values():
            if isinstance(value, socket.socket) and value.fileno() != -1:
                value.close()
        traceback = traceback.tb_next


def connect_error(exc: Exception) -> Exception:
    """Turn an aiomqtt connect failure into a :class:`PermanentError` or a :class:`ConnectionLostError`.

    The text is one line without the broker's address (the caller's log names it).
    """
    from aiomqtt.exceptions import MqttConnectError
    from paho.mqtt.reasoncodes import ReasonCode

    if isinstance(exc, MqttConnectError):
        code = exc.rc
        value = code.value if isinstance(code, ReasonCode) else code
        reason = str(code) if isinstance(code, ReasonCode) else str(exc)
        if value in CREDENTIAL_REFUSALS:
            reason += " (check the user name and password of the broker URL)"
        if value in PERMANENT_REFUSALS:
            return PermanentError(f"the broker refused the connection: {reason}")
        return ConnectionLostError(f"the broker refused the connection for now: {reason}")
    # aiomqtt re-raises socket errors as MqttError(str(error)) from None; the original is the context.
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, ssl.SSLCertVerificationError):
        return PermanentError(f"TLS: the broker's certificate does not verify: {cause.verify_message}")
    if isinstance(cause, ssl.SSLError):
        return ConnectionLostError(f"TLS: {cause.reason or cause}")
    if isinstance(cause, OSError):
        return ConnectionLostError(f"cannot connect: {cause.strerror or cause}")
    return ConnectionLostError(f"cannot connect: {exc}")


async def wait_disconnected(client: aiomqtt.Client) -> NoReturn:
    """Wait until the connection ends, then raise :class:`ConnectionLostError` with the reason.

    Uses aiomqtt's message iterator, which ends with an error on disconnect; the nodes consume
    incoming messages through their own paho callback, so nothing is queued there.
    """
    import aiomqtt

    try:
        async for _ in client.messages:
            pass
    except aiomqtt.MqttError as exc:
        cause = exc.__cause__
        raise ConnectionLostError(f"connection lost: {cause or exc}") from exc
    raise ConnectionLostError("connection closed")


#: Bytes asked for by one read of the socket.
READ_SIZE = 65536
#: Socket reads one :meth:`BufferedReads.loop_read` call makes at most: the loop gets back to the
#: flow after at most this many times 64 KiB, so a flood cannot starve what handles the messages.
READS_PER_CALL = 4
#: Topic names kept decoded (a message's topic is decoded once per distinct topic, not per message).
TOPIC_CACHE = 1024
#: Bytes, and queue entries, paho may hold unwritten (the socket is full: the broker does not
#: read) before :func:`write_packets` refuses more.
UNWRITTEN_BYTES = 8 * 1024 * 1024
UNWRITTEN_ENTRIES = 4096


class BufferedReads:
    """Read the socket 64 KiB at a time, and take QoS 0 PUBLISH packets without paho's receive path.

    paho-mqtt 2.x reads a packet's first byte, then its length byte by byte, then its body,
    each with a system call: for small messages that is most of the receive cost. This
    replaces two private methods of one paho client (``_sock_recv`` and ``loop_read``, as
    the benchmark meter in ../shared/bench/loadgen.py does): bytes come from a user-space
    buffer refilled by one large read, and ``loop_read`` goes on while the buffer holds data
    (the socket may not signal readable again for bytes already read). Installed only on
    the paho 2.x it was written against; elsewhere paho reads as it always did.

    With ``on_publish`` set, whole QoS 0 PUBLISH packets (the bulk of a subscriber's
    traffic) are cut out of the buffer here and handed to ``on_publish(topic, payload,
    retain)``: paho would build a message object with a lock, decode the topic, match it
    against its callback filters and take two mutexes for each. Everything else (QoS 1/2,
    acknowledgements, pings, a packet paho has begun to read, a topic that is not UTF-8 or
    an MQTT 5 topic alias) goes through paho's own path, in order.
    """

    __slots__ = ("_buffer", "_error", "_loop_read", "_paho", "_position", "_recv", "_topics", "_v5", "on_publish",
                 "on_read_end")

    def __init__(self, paho_instance: paho.Client) -> None:
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
    def install(cls, paho_instance: paho.Client, on_publish: PublishCallback | None = None,
                on_read_end: Callable[[], None] | None = None) -> bool:
        """Buffer the reads of ``paho_instance``; return False when this paho is not one it knows.

        ``on_publish`` turns on the fast path for QoS 0 PUBLISH packets (see the class), and
        ``on_read_end()`` is called after each read (when a burst's messages are all queued).
        """
        import paho.mqtt

        version = getattr(paho.mqtt, "__version__", "")
        if not version.startswith("2.") or not hasattr(paho_instance, "_sock_recv") \
                or not isinstance(getattr(paho_instance, "_in_packet", None), dict):
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


def write_packets(paho_instance: paho.Client, packets: bytes | bytearray) -> bool:
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


def paho_client(client: aiomqtt.Client) -> paho.Client:
    """Return the paho-mqtt client under an aiomqtt client (for the synchronous hot paths)."""
    return client._client
