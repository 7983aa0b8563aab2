"""One broker connection on aiomqtt, its errors in plain words, and the hooks the hot paths use.

aiomqtt owns the connection: it connects (TLS, credentials, last will), runs paho-mqtt's
network I/O on the asyncio loop and reports the disconnect. It does not reconnect: the
nodes wrap :func:`connect` in :func:`flowengine.supervise.supervise`, one fresh client per
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
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, cast

from flowengine.supervise import ConnectionState, PermanentError
from nodes.mqtt.broker import ConnectionSettings

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
) -> aiomqtt.Client:
    """Build an aiomqtt client for ``settings`` (call inside the running loop; it does not connect).

    ``on_message(client, userdata, message)`` replaces aiomqtt's queue for incoming messages;
    it is set before connecting, so what a persistent session delivers right after the
    CONNACK reaches it too.

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
    BufferedReads.install(paho_instance)
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
) -> AsyncIterator[Connection]:
    """Connect, yield the :class:`Connection`, disconnect on exit (arguments as :func:`make_client`).

    Raises:
        PermanentError: the broker refused us for a reason retrying cannot fix (credentials,
            authorisation, a certificate that does not verify), with one clear line of text.
        ConnectionLostError: the broker cannot be reached or refused us for now.
    """
    import aiomqtt

    client = make_client(settings, will=will, on_message=on_message)
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


class BufferedReads:
    """Read the socket 64 KiB at a time instead of paho's three ``recv`` calls per packet.

    paho-mqtt 2.x reads a packet's first byte, then its length byte by byte, then its body,
    each with a system call: for small messages that is most of the receive cost. This
    replaces two private methods of one paho client (``_sock_recv`` and ``loop_read``, as
    the benchmark meter in ../shared/bench/loadgen.py does): bytes come from a user-space
    buffer refilled by one large read, and ``loop_read`` goes on while the buffer holds data
    (the socket may not signal readable again for bytes already read). Installed only on
    the paho 2.x it was written against; elsewhere paho reads as it always did.
    """

    __slots__ = ("_buffer", "_loop_read", "_paho", "_position", "_recv")

    def __init__(self, paho_instance: paho.Client) -> None:
        self._paho = paho_instance
        self._recv: Callable[[int], bytes] = paho_instance._sock_recv
        self._loop_read: Callable[[int], int] = paho_instance.loop_read
        self._buffer = b""
        self._position = 0

    @classmethod
    def install(cls, paho_instance: paho.Client) -> bool:
        """Buffer the reads of ``paho_instance``; return False when this paho is not one it knows."""
        import paho.mqtt

        version = getattr(paho.mqtt, "__version__", "")
        if not version.startswith("2.") or not hasattr(paho_instance, "_sock_recv"):
            return False
        reads = cls(paho_instance)
        vars(paho_instance)["_sock_recv"] = reads.sock_recv
        vars(paho_instance)["loop_read"] = reads.loop_read
        return True

    def sock_recv(self, size: int) -> bytes:
        """Return up to ``size`` bytes, from the buffer or one large read (which may raise as paho's)."""
        buffer, position = self._buffer, self._position
        if position >= len(buffer):
            buffer = self._recv(65536)
            if not buffer:
                return buffer  # end of stream
            self._buffer, position = buffer, 0
        chunk = buffer[position : position + size]
        self._position = position + len(chunk)
        return chunk

    def loop_read(self, max_packets: int = 1) -> int:
        """Run paho's ``loop_read``, repeated while whole packets wait in the buffer."""
        result = self._loop_read(max_packets)
        while result == 0 and self._paho._sock is not None and self._position < len(self._buffer):
            result = self._loop_read(max_packets)
        return result


def paho_client(client: aiomqtt.Client) -> paho.Client:
    """Return the paho-mqtt client under an aiomqtt client (for the synchronous hot paths)."""
    return client._client
