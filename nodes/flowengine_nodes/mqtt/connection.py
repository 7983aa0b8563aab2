"""One broker connection on aiomqtt, its errors in plain words, and the hooks the hot paths use.

aiomqtt owns the connection: it connects (TLS, credentials, last will), runs paho-mqtt's
network I/O on the asyncio loop and reports the disconnect. It does not reconnect: the
nodes wrap :func:`connect` in :func:`flowengine.supervision.supervise`, one fresh client per
attempt (an aiomqtt ``Client`` must be built inside the running loop).

aiomqtt's own publish and receive paths cost an ``await`` (and, when receiving, a Task) per
message. The nodes' hot paths therefore talk to the paho client underneath: ``publish`` is
synchronous and non-blocking (it queues the packet and returns a message id),
acknowledgements and incoming messages arrive as callbacks on the loop thread. Reaching that
client, and the faster read and write paths below paho's public API, is the business of
:mod:`flowengine_nodes.mqtt.paho_fast`, the one module that uses private names; it is
imported with the first connection (paho stays off the start path) and says whether the fast
paths hold for the installed paho (:data:`~flowengine_nodes.mqtt.paho_fast.FAST`).
:meth:`Connection.write_packets` is the QoS 0 write either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, NoReturn, cast

from flowengine import ConnectionState, PermanentError, deferred_imports
from flowengine_nodes.mqtt.broker import ConnectionSettings
from flowengine_nodes.mqtt.packets import PublishCallback, publishes

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
#: What paho-mqtt imports at module level for its proxy lookup alone (≈ 0.5 MB with ``http.client``),
#: a lookup it makes only when PySocks is installed: loaded on first use (see :func:`import_clients`).
PROXY_IMPORTS = ("urllib.request",)


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
    #: Writes encoded QoS 0 PUBLISH packets (see :meth:`write_packets`); set by :func:`connect`.
    writer: Callable[[bytes | bytearray], bool] = field(default=lambda packets: False, repr=False)

    def write_packets(self, packets: bytes | bytearray) -> bool:
        """Send QoS 0 PUBLISH packets encoded by :func:`~flowengine_nodes.mqtt.packets.add_publish`, in order.

        On the fast path the bytes go behind what paho has queued, in one ``send``; otherwise
        each message goes through paho's public ``publish``. Returns False when the connection
        does not take them (lost, or the broker does not read): the caller counts them dropped.
        """
        return self.writer(packets)


def publish_each(paho_instance: paho.Client, v5: bool, packets: bytes | bytearray) -> bool:
    """The fallback QoS 0 write: each packet's message through paho's public ``publish``.

    Returns False when paho refuses the first (no connection); a later refusal (the
    connection lost in between) drops the rest, as the fast path's lost write does.
    """
    for index, (topic, payload, retain) in enumerate(publishes(packets, v5)):
        if paho_instance.publish(topic, payload, 0, retain).rc:
            return index > 0
    return True


def import_clients() -> None:
    """Import aiomqtt, paho-mqtt and :mod:`~flowengine_nodes.mqtt.paho_fast`, paho's proxy imports deferred.

    The first connection of a process comes here first (paho stays off the start path until then).
    paho imports :mod:`urllib.request` for ``getproxies()`` and ``proxy_bypass()``, which its
    connect calls only when PySocks is installed (and the fast path not even then unless a proxy
    may be set: :func:`~flowengine_nodes.mqtt.paho_fast.direct_connections`); with
    :data:`PROXY_IMPORTS` deferred it loads before the first connect that looks a proxy up
    (:func:`~flowengine_nodes.mqtt.paho_fast.prepare_proxy_lookup`, on the loop's thread), or never.
    """
    with deferred_imports(PROXY_IMPORTS):
        import aiomqtt  # noqa: F401 - imported here so that paho's imports are deferred

        import flowengine_nodes.mqtt.paho_fast  # noqa: F401


def make_client(
    settings: ConnectionSettings,
    *,
    will: Will | None = None,
    on_message: MessageCallback | None = None,
    on_publish: PublishCallback | None = None,
    on_read_end: Callable[[], None] | None = None,
    manual_ack: bool = False,
    receive_maximum: int | None = None,
) -> aiomqtt.Client:
    """Build an aiomqtt client for ``settings`` (call inside the running loop; it does not connect).

    ``on_message(client, userdata, message)`` replaces aiomqtt's queue for incoming messages;
    it is set before connecting, so what a persistent session delivers right after the
    CONNACK reaches it too. ``on_publish(topic, payload, retain)`` takes QoS 0 messages on
    :class:`~flowengine_nodes.mqtt.paho_fast.BufferedReads`' fast path (the others, and all of them
    where the fast path is off, still reach ``on_message``), and
    ``on_read_end()`` is called when a read of the socket is over. With ``manual_ack`` paho
    sends no PUBACK (QoS 1) or PUBCOMP (QoS 2) by itself: the node acknowledges each message
    with ``paho.ack(mid, qos)`` once the flow has it durably (docs/delivery.md).
    ``receive_maximum`` (MQTT 5 only) is sent in the CONNECT: how many QoS 1/2 messages the
    broker may send before our acknowledgements (Mosquitto applies its
    ``max_inflight_messages``, 20 by default, to a client that does not say).

    paho's own in-flight limit is off: the nodes keep their own window (paho's costs a scan
    of every unacknowledged message per acknowledgement). Its log is off unless
    ``flowengine.mqtt.client`` logs at debug level (two calls per message otherwise).

    Our sockets get ``TCP_NODELAY``: a publish leaves at once instead of waiting for the ACK
    of the previous segment (Nagle), which would add up to a delayed-ACK timeout (~40 ms) per
    message on a connection that both sends and receives.
    """
    import_clients()
    import aiomqtt
    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    from flowengine_nodes.mqtt.paho_fast import BufferedReads, direct_connections, paho_client, prepare_proxy_lookup

    url = settings.url
    v5 = settings.protocol == "5"
    properties = None
    clean_start: int | bool = mqtt.MQTT_CLEAN_START_FIRST_ONLY
    if v5 and (not settings.clean_session or receive_maximum is not None):
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        if not settings.clean_session:
            expiry = settings.session_expiry
            properties.SessionExpiryInterval = PERSISTENT_SESSION_EXPIRY if expiry is None else expiry
            clean_start = False
        if receive_maximum is not None:
            properties.ReceiveMaximum = receive_maximum
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
    _unregister_writes_in_order(paho_instance)
    BufferedReads.install(paho_instance, on_publish, on_read_end)
    prepare_proxy_lookup(paho_instance, direct=direct_connections(paho_instance))
    if on_message is not None:
        paho_instance.on_message = on_message
    if manual_ack:
        paho_instance.manual_ack_set(True)
    if not _CLIENT_LOG.logger.isEnabledFor(logging.DEBUG):
        paho_instance.disable_logger()
    return client


def _unregister_writes_in_order(paho_instance: paho.Client) -> None:
    """Make aiomqtt's "stop watching the socket for writing" as late as its "start watching".

    aiomqtt starts watching with ``call_soon_threadsafe(add_writer, …)`` (paho may ask from
    another thread) but stops at once (``remove_writer``). When paho asks for both in one turn
    of the loop (a packet queued, then ``loop_write`` writing everything, as the acknowledgements
    and the fast write path do), the removal comes first and the late ``add_writer`` stays:
    the always-writable socket then wakes the loop on every turn (a busy loop, 100 % CPU while
    idle) until paho queues its next packet. So the removal is made at once (the socket may
    close next) and once more behind whatever aiomqtt has scheduled, which keeps the last word
    to the last of paho's requests (a later "start watching" is scheduled after it).
    """
    unregister = paho_instance.on_socket_unregister_write
    if unregister is None:
        return
    loop = asyncio.get_running_loop()

    def unregister_in_order(client: Any, userdata: Any, sock: Any) -> None:
        unregister(client, userdata, sock)
        fd = sock.fileno()

        def once_more() -> None:
            if sock.fileno() == fd:  # still the same open socket
                loop.remove_writer(fd)

        loop.call_soon_threadsafe(once_more)

    paho_instance.on_socket_unregister_write = unregister_in_order


@contextlib.asynccontextmanager
async def connect(
    settings: ConnectionSettings,
    *,
    will: Will | None = None,
    on_message: MessageCallback | None = None,
    on_publish: PublishCallback | None = None,
    on_read_end: Callable[[], None] | None = None,
    manual_ack: bool = False,
    receive_maximum: int | None = None,
) -> AsyncIterator[Connection]:
    """Connect, yield the :class:`Connection`, disconnect on exit (arguments as :func:`make_client`).

    Raises:
        PermanentError: the broker refused us for a reason retrying cannot fix (credentials,
            authorisation, a certificate that does not verify), with one clear line of text.
        ConnectionLostError: the broker cannot be reached or refused us for now.
    """
    import_clients()
    import aiomqtt

    from flowengine_nodes.mqtt import paho_fast

    client = make_client(settings, will=will, on_message=on_message, on_publish=on_publish,
                         on_read_end=on_read_end, manual_ack=manual_ack, receive_maximum=receive_maximum)
    paho_instance = paho_fast.paho_client(client)
    if paho_fast.FAST:
        writer = partial(paho_fast.write_packets, paho_instance)
    else:
        writer = partial(publish_each, paho_instance, settings.protocol == "5")
    connection = Connection(client, paho_instance, writer=writer)
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


