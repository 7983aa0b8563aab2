"""``mqtt-out``: publish messages to an MQTT broker, at least once for QoS 1 and 2 (CONTRACT §4, §6)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, cast

import orjson
from pydantic import Field, field_validator

from flowengine import (
    Backoff,
    Duration,
    Message,
    NodeConfig,
    NodeContext,
    NodeError,
    Sink,
    Template,
    TemplateValue,
    TimerHandle,
    WallClock,
    format_text,
    supervise,
)
from flowengine_nodes.mqtt.broker import MqttClientConfig, connection_settings
from flowengine_nodes.mqtt.connection import ConnectionLostError, ConnectionStatus, Will, connect, wait_disconnected
from flowengine_nodes.mqtt.outbox import Entry, Outbox, OutboxBusyError
from flowengine_nodes.mqtt.packets import TOPIC_CACHE, add_publish, publish_header
from flowengine_nodes.zigbee2mqtt.settings import Zigbee2MqttConfig

if TYPE_CHECKING:
    import aiomqtt
    import paho.mqtt.client as paho

    from flowengine import FlowSetting
    from flowengine_nodes.mqtt.broker import ConnectionSettings
    from flowengine_nodes.zigbee2mqtt.bridge import Zigbee2Mqtt

#: The flow-wide setting this node shares with ``decode`` (named alike there).
BASE_TOPIC_SETTING = "Zigbee2MQTT base topic"

#: Seconds between two log lines about dropped messages (the counter has every drop).
DROP_LOG_INTERVAL = 10.0
#: Extra time the engine grants ``aclose`` beyond ``drain_timeout`` (disconnect, last will).
CLOSE_MARGIN = 15.0
#: Default publish windows (``max_inflight``): QoS 2 stays within Mosquitto's default receive limit.
QOS1_WINDOW = 256
QOS2_WINDOW = 20
#: How long ``aclose`` waits for the broker to acknowledge ``bridge/state`` offline.
OFFLINE_TIMEOUT = 5.0
#: Most seconds between two checks for devices gone silent (Zigbee2MQTT availability).
EXPIRY_CHECK = 60.0
MEMORY = "memory"


def encode_payload(payload: Any) -> bytes:
    """Return the bytes to publish: strings and bytes as they are, anything else as compact JSON.

    JSON has sorted keys and no spaces, as Zigbee2MQTT publishes it.

    Raises:
        TypeError: the payload has a value JSON cannot represent.
    """
    if type(payload) is str:
        return payload.encode()
    if isinstance(payload, bytes | bytearray | memoryview):
        return bytes(payload)
    return orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)


def check_topic(topic: str) -> None:
    """Refuse a topic a broker would refuse: empty, with a wildcard or NUL, or too long.

    Raises:
        ValueError: with the reason.
    """
    if not topic:
        raise ValueError("empty topic")
    if "+" in topic or "#" in topic or "\0" in topic:
        raise ValueError(f"a topic to publish to cannot contain '+', '#' or NUL: {topic!r}")
    if len(topic) > 16383 and len(topic.encode()) > 65535:
        raise ValueError("topic longer than 65535 bytes")


def compile_topic(template: Template | None) -> Callable[[Message], str] | None:
    """Return a function giving a message's topic from ``template``, or None to keep the message's."""
    if template is None:
        return None
    render = template.function
    if template.is_constant:
        constant = format_text(render(Message("", None, {})))
        return lambda msg: constant

    def topic_of(msg: Message) -> str:
        value = render(msg)
        return value if type(value) is str else format_text(value)

    return topic_of


class MqttOutConfig(MqttClientConfig):
    """Config of ``mqtt-out``."""

    topic: TemplateValue | None = Field(
        default=None,
        description="Topic to publish to, a template like 'alerts/{{ meta.friendly_name }}' "
        "(default: the message's topic).",
    )
    qos: Literal[0, 1, 2] = Field(
        default=1, description="0: best effort, no outbox; 1 or 2: kept in the outbox until acknowledged."
    )
    retain: bool = Field(default=False, description="Publish with the retain flag.")
    outbox: str | None = Field(
        default=None,
        description="SQLite file of the durable outbox (QoS 1/2), or 'memory' "
        "(default: .flowengine/<flow>-<node id>.outbox.db beside the flow; memory when the flow's "
        "state is memory).",
    )
    outbox_limit: int = Field(
        default=100_000, ge=1, description="Most messages the outbox holds; beyond it `overflow` applies."
    )
    overflow: Literal["drop_oldest", "drop_newest"] = Field(
        default="drop_oldest",
        description="What a full outbox drops: the oldest messages or the incoming ones.",
    )
    drain_timeout: Duration = Field(
        default=30.0,
        description="When the run ends, how long to keep delivering what the outbox holds "
        "(a duration: 30s, 2m; 0: do not wait). What is left stays for the next run.",
    )
    max_inflight: int | None = Field(
        default=None,
        ge=1,
        le=65000,
        description="QoS 1/2 messages sent but not yet acknowledged at any time, the publish window "
        "(default 256 for QoS 1, 20 for QoS 2: Mosquitto drops an MQTT 3.1.1 client that has more "
        "than its max_inflight_messages QoS 2 messages in flight). With MQTT 5 the broker's Receive "
        "Maximum caps it.",
    )
    inline: bool = Field(
        default=False,
        description="Write each message to the outbox as it arrives, on the flow's hot path, instead of "
        "in batches behind a channel: slower, but a resumable source (zigbee-replay with resume) then "
        "never moves past a message that is not yet in the outbox, so a SIGKILL loses nothing.",
    )
    zigbee2mqtt: Zigbee2MqttConfig | None = Field(
        default=None,
        description="Zigbee2MQTT 2.x's conventions for decode output: bridge/state with a last will, "
        "availability, Home Assistant discovery, last_seen, output ({} for the defaults).",
    )

    @field_validator("topic")
    @classmethod
    def _topic_is_text(cls, value: Template | None) -> Template | None:
        if value is not None and not isinstance(value.source, str):
            raise ValueError("topic is a string (a template like 'alerts/{{ meta.friendly_name }}')")
        return value


class MqttOut(Sink[MqttOutConfig]):
    """Publishes messages to an MQTT broker; QoS 1/2 go through a durable outbox (at least once).

    Payloads: objects, arrays, numbers, booleans and null as compact JSON with sorted keys
    (as Zigbee2MQTT publishes), strings and bytes as they are. A message whose topic or
    payload cannot be published goes to ``errors`` (counted).

    Delivery (CONTRACT §6). With ``qos`` 1 or 2, :meth:`write` stores each batch in the outbox
    (one SQLite transaction) and returns: it never waits for the network, so a broker that
    is away never holds up the rest of the flow. A sender publishes the outbox in order
    with up to ``max_inflight`` messages awaiting acknowledgement, and deletes each once
    the broker acknowledges it. After a reconnect or a restart everything unacknowledged is
    sent again, oldest first, so a subscriber may see a message twice but never loses
    one. At ``outbox_limit`` the ``overflow`` policy drops messages (counted in
    ``dropped`` and logged). With ``qos: 0`` there is no outbox: messages go out at once,
    and are dropped (counted) while the broker is away; without the Zigbee2MQTT mode they
    are taken on the flow's hot path (no channel) and written to the socket once per turn
    of the event loop, and when the broker stops reading at most 8 MiB wait for it (more
    is dropped, counted). Reconnects use the engine's
    supervision (backoff with jitter); a refused login is one error line, retried slowly.
    When the run ends, delivery goes on until the outbox is empty or ``drain_timeout`` has
    passed; the log says how many messages stay for the next run.

    Example:
        ```yaml
        version: 1
        nodes:
          - id: capture
            type: zigbee-replay
            path: captures/front_door.jsonl
            wires: [publish]
          - id: publish
            type: mqtt-out
            broker: mqtt://127.0.0.1:1883
            topic: "raw/{{ meta.ieee }}"
            qos: 1
            drain_timeout: 10s
        ```
    """

    config_model: ClassVar[type[NodeConfig]] = MqttOutConfig
    #: Reconnect policy (the engine's default; tests shorten it).
    backoff: ClassVar[Backoff] = Backoff()

    @classmethod
    def flow_settings(cls, config: MqttOutConfig) -> list[FlowSetting]:
        """In Zigbee2MQTT mode, the flow-wide base topic (shared with ``decode``)."""
        from flowengine import FlowSetting  # the lint pulls in the graph library; only load it here

        mode = config.zigbee2mqtt
        if mode is None:
            return []
        explicit = "base_topic" in mode.model_fields_set
        return [FlowSetting(BASE_TOPIC_SETTING, mode.base_topic, ("zigbee2mqtt", "base_topic"), explicit)]

    @classmethod
    def with_flow_setting(cls, config: MqttOutConfig, name: str, value: Any) -> MqttOutConfig:
        """Return ``config`` with the flow's base topic (set on a decoder) in place of the default."""
        if name != BASE_TOPIC_SETTING or config.zigbee2mqtt is None:
            return config
        return config.model_copy(update={"zigbee2mqtt": config.zigbee2mqtt.model_copy(update={"base_topic": value})})

    def __init__(self, config: MqttOutConfig, context: NodeContext) -> None:
        super().__init__(config, context)
        self.close_timeout = config.drain_timeout + CLOSE_MARGIN
        #: Plain QoS 0 (no outbox, no Zigbee2MQTT mode): messages are encoded as they arrive and
        #: written to the socket once per turn of the event loop (see :meth:`write_now`).
        self._direct = config.qos == 0 and config.zigbee2mqtt is None
        if config.inline or self._direct:
            # The engine reads ``inline`` when it wires the flow: this node chooses it per config.
            self.inline = True
        self._v5 = config.protocol == "5"
        #: Encoded PUBLISH headers by topic (QoS 0).
        self._headers: dict[str, bytes] = {}
        #: QoS 0 packets encoded by :meth:`write_now`, not yet written, and how many.
        self._packets = bytearray()
        self._pending = 0
        self._flush_scheduled = False
        self._topic_of = compile_topic(config.topic)
        self._qos = config.qos
        self._retain = config.retain
        self._settings: ConnectionSettings | None = None
        self._outbox: Outbox | None = None
        self._task: asyncio.Task[None] | None = None
        self._paho: paho.Client | None = None
        #: The connection's QoS 0 packet writer (:meth:`Connection.write_packets`), while connected.
        self._write_direct: Callable[[bytes | bytearray], bool] | None = None
        #: paho message id -> outbox sequence number of the QoS 1/2 messages awaiting an ack.
        self._inflight: dict[int, int] = {}
        self._acked: list[int] = []
        self._ack_flush_pending = False
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._next_drop_log = 0.0
        self._name = f"mqtt-out '{self.id}'"
        self._max_inflight = config.max_inflight or (QOS2_WINDOW if config.qos == 2 else QOS1_WINDOW)
        self._window = self._max_inflight
        #: The connection's state, as supervision reports it.
        self.status = ConnectionStatus()
        self._client: aiomqtt.Client | None = None
        self._z2m: Zigbee2Mqtt | None = None
        if config.zigbee2mqtt is not None:
            from flowengine_nodes.zigbee2mqtt.bridge import Zigbee2Mqtt  # the mode loads only when used

            self._z2m = Zigbee2Mqtt(config.zigbee2mqtt, context.state, now=context.clock.now)
        self._expiry: TimerHandle | None = None

    # ---- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        """Read the TLS files, open the outbox, and start the connection in the background.

        Returns without waiting for the broker: messages are kept (QoS 1/2) or dropped
        (QoS 0) until it is reachable.

        Raises:
            NodeError: a TLS file cannot be read, or the outbox is used by another process.
        """
        config = self.config
        try:
            self._settings = connection_settings(config, self.context)
        except (OSError, ValueError) as exc:
            raise NodeError(self.id, f"TLS files: {exc}") from exc
        self._name = f"mqtt-out '{self.id}' ({self._settings.url})"
        if config.qos > 0:
            path = self._outbox_path()
            try:
                self._outbox = Outbox(path, limit=config.outbox_limit, overflow=config.overflow)
            except OutboxBusyError as exc:
                raise NodeError(self.id, str(exc)) from exc
            left = len(self._outbox)
            if left:
                self.logger.info("%s: %d messages left by an earlier run go out first", self._name, left)
            else:
                self._drained.set()
        self._task = self.context.spawn(self._run(), name=f"mqtt-out:{self.id}")
        z2m = self._z2m
        if z2m is not None and z2m.availability is not None and isinstance(self.context.clock, WallClock):
            # Only on the wall clock: a replay must not mark every device offline at its end.
            self._expiry = self.context.clock.call_later(self._expiry_interval(), self._expire)

    def _expiry_interval(self) -> float:
        assert self._z2m is not None
        assert self._z2m.availability is not None
        return min(EXPIRY_CHECK, self._z2m.availability.timeout / 10)

    def _expire(self) -> None:
        assert self._z2m is not None
        self._deliver(self._z2m.expire())
        self._expiry = self.context.clock.call_later(self._expiry_interval(), self._expire)

    def _outbox_path(self) -> Path | None:
        configured = self.config.outbox
        if configured == MEMORY:
            return None
        if configured is None:
            if not self.context.state.durable:
                return None
            configured = f".flowengine/{self.context.flow_name}-{self.id}.outbox.db"
        return self.context.resolve_path(configured)

    async def aclose(self) -> None:
        """Deliver what the outbox holds (up to ``drain_timeout``), disconnect, close the outbox."""
        outbox = self._outbox
        self._flush_direct()
        try:
            if outbox is not None and len(outbox) and self.config.drain_timeout > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.config.drain_timeout):
                        await self._drained.wait()
        finally:
            if self._expiry is not None:
                self._expiry.cancel()
                self._expiry = None
            if self._z2m is not None:
                await self._say_offline()
                self._z2m.save()
            if self._task is not None:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
                self._task = None
            if outbox is not None:
                self._flush_acks()
                left = len(outbox)
                if left:
                    where = outbox.path or "memory (lost)"
                    self.logger.warning("%s: %d messages stay in the outbox for the next run: %s",
                                        self._name, left, where)
                outbox.close()
                self._outbox = None

    async def _say_offline(self) -> None:
        """Zigbee2MQTT mode: publish ``bridge/state`` offline before a clean disconnect."""
        import aiomqtt

        client = self._client
        if client is None or self._z2m is None:
            return
        topic, payload, qos, retain = self._z2m.bridge_offline()
        try:
            async with asyncio.timeout(OFFLINE_TIMEOUT):
                await client.publish(topic, payload, qos=qos, retain=retain)
        except (TimeoutError, aiomqtt.MqttError) as exc:
            self.logger.debug("%s: bridge/state offline not acknowledged: %s", self._name, exc)

    def gauges(self) -> dict[str, int]:
        """The outbox's depth (stored, not yet acknowledged, or QoS 0 not yet written) and timers."""
        levels = super().gauges()
        outbox = self._outbox
        levels["outbox_depth"] = (len(outbox) if outbox is not None else 0) + self._pending
        return levels

    # ---- the hot path ---------------------------------------------------------------

    async def write(self, batch: Sequence[Message]) -> None:
        """Publish a batch: store it in the outbox (QoS 1/2) or send it now (QoS 0). Never waits."""
        self._write(batch)

    def write_now(self, msg: Message) -> None:
        """Publish one message on the flow's hot path.

        With ``inline: true`` it is stored in the outbox before this returns. Plain QoS 0 is
        always taken this way: the message is encoded into a buffer now, and the buffer is
        written to the socket in one ``send`` once the current turn of the event loop is
        over, so a burst costs one system call instead of one per message, and a lone
        message leaves at once.
        """
        if not self._direct:
            self._write((msg,))
            return
        try:
            topic = msg.topic if self._topic_of is None else self._topic_of(msg)
            header = self._headers.get(topic)
            if header is None:
                check_topic(topic)
                header = self._header(topic)
            add_publish(self._packets, header, encode_payload(msg.payload), self._retain)
        except (ValueError, TypeError) as exc:
            self._reject(msg, exc)
            return
        self._pending += 1
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_direct)

    def _header(self, topic: str) -> bytes:
        headers = self._headers
        if len(headers) >= TOPIC_CACHE:
            headers.clear()
        header = headers[topic] = publish_header(topic, self._v5)
        return header

    def _flush_direct(self) -> None:
        """Write the QoS 0 packets :meth:`write_now` encoded (or drop them, counted, when it cannot)."""
        self._flush_scheduled = False
        count = self._pending
        if not count:
            return
        packets = self._packets
        self._packets = bytearray()
        self._pending = 0
        self._write_packets(packets, count)

    def _write_packets(self, packets: bytearray, count: int) -> None:
        write = self._write_direct
        if write is None:
            self._dropped(count, "not connected to the broker (QoS 0)", "not_connected")
        elif write(packets):
            self.counters["published"] += count
        else:
            self._dropped(count, "the connection does not take them (lost, or the broker is not reading) (QoS 0)",
                          "connection_busy")

    def _write(self, batch: Sequence[Message]) -> None:
        entries: list[Entry] = []
        append = entries.append
        topic_of = self._topic_of
        qos = self._qos
        retain = self._retain
        z2m = self._z2m
        shapes = z2m is not None and z2m.shapes
        for msg in batch:
            try:
                topic = msg.topic if topic_of is None else topic_of(msg)
                check_topic(topic)
                payload = encode_payload(msg.payload)
            except (ValueError, TypeError) as exc:
                self._reject(msg, exc)
                continue
            if z2m is None:
                append((topic, payload, qos, retain))
                continue
            before, after = z2m.around(msg, topic)
            state = z2m.state_payload(msg, topic)
            if state is not msg.payload:
                payload = encode_payload(state)
            entries.extend(before)
            # The bridge's retained topics (zigbee2mqtt-api) say so in meta.mqtt_retain (not meta.retain,
            # which mqtt-in sets on a retained message it received).
            retained = msg.meta.get("mqtt_retain", retain) is True
            shaped = z2m.shaped(msg, topic, payload, qos, retained) if shapes else None
            if shaped is None:
                append((topic, payload, qos, retained))
            else:
                entries.extend(shaped)
            entries.extend(after)
        self._deliver(entries)

    def _deliver(self, entries: list[Entry]) -> None:
        if not entries:
            return
        outbox = self._outbox
        if outbox is not None:
            dropped = outbox.append(entries)
            if dropped:
                self._dropped(dropped, f"the outbox is full ({outbox.limit} messages, {outbox.overflow})",
                              "outbox_full")
            if len(outbox):
                self._drained.clear()
            self._wake.set()
            return
        client = self._paho
        if client is None:
            self._dropped(len(entries), "not connected to the broker (QoS 0)", "not_connected")
            return
        self._flush_direct()  # what write_now took first
        publish = client.publish
        headers = self._headers
        packets = bytearray()
        queued = 0
        lost = 0
        sent = 0
        for topic, payload, qos, retain in entries:
            if qos == 0:
                add_publish(packets, headers.get(topic) or self._header(topic), payload, retain)
                queued += 1
                continue
            if queued:  # in order: the QoS 0 packets before this one go first
                self._write_packets(packets, queued)
                packets = bytearray()
                queued = 0
            if publish(topic, payload, qos, retain).rc:
                lost += 1
            else:
                sent += 1
        if queued:
            self._write_packets(packets, queued)
        self.counters["published"] += sent
        if lost:
            self._dropped(lost, "the connection was lost (QoS 0)", "connection_lost")

    def _reject(self, msg: Message, exc: Exception) -> None:
        self.fail(msg, exc)

    def _dropped(self, count: int, reason: str, code: str) -> None:
        self.counters.drop(count, code)
        now = time.monotonic()
        if now >= self._next_drop_log:
            self._next_drop_log = now + DROP_LOG_INTERVAL
            self.logger.warning("%s: dropped %d message(s): %s; %d dropped in all",
                                self._name, count, reason, self.counters["dropped"])

    # ---- the connection -------------------------------------------------------------

    async def _run(self) -> None:
        await supervise(self._serve, name=self._name, logger=self.logger, backoff=self.backoff,
                        on_state=self.status.update)

    def _will(self) -> Will | None:
        return self._z2m.will() if self._z2m is not None else None

    async def _serve(self, connected: Callable[[], None]) -> None:
        """One connection: connect, (re)send the outbox in order, serve until the connection ends."""
        settings = self._settings
        assert settings is not None
        status_hook = self._on_status if self._z2m is not None and self._z2m.status_topic else None
        async with connect(settings, will=self._will(), on_message=status_hook) as connection:
            client = connection.client
            paho_instance = connection.paho
            self._window = min(self._max_inflight, connection.receive_maximum or self._max_inflight)
            if self._outbox is None and self._z2m is None:
                # QoS 0 only: no acknowledgement to wait for; without a callback paho skips building
                # a reason code and properties for every message it writes.
                paho_instance.on_publish = None
            else:
                self._hook_acks(paho_instance)
            try:
                outbox = self._outbox
                if outbox is not None:
                    self._flush_acks()
                    self._inflight.clear()
                    outbox.rewind()
                self._paho = paho_instance
                self._write_direct = connection.write_packets
                self._client = client
                await self._on_connected(client)
                connected()  # after the announcements: "connected" means ready, as the status reports
                await self._serve_connection(client, paho_instance)
            finally:
                self._paho = None
                self._write_direct = None
                self._client = None
                self._flush_acks()
                self._inflight.clear()

    async def _on_connected(self, client: aiomqtt.Client) -> None:
        """Zigbee2MQTT mode: bridge/state online, then everything retained again (after the backlog)."""
        z2m = self._z2m
        if z2m is None:
            return
        topic, payload, qos, retain = z2m.bridge_online()
        await client.publish(topic, payload, qos=qos, retain=retain)
        if z2m.status_topic:
            await client.subscribe(z2m.status_topic, qos=1)
        self._deliver(z2m.reannounce())

    def _on_status(self, client: Any, userdata: Any, message: Any) -> None:
        """Home Assistant's status: after its restart ('online') publish discovery again."""
        z2m = self._z2m
        if z2m is not None and bytes(message.payload).strip().lower() == b"online":
            # Out of paho's callback first: delivering writes to the outbox and may publish.
            asyncio.get_running_loop().call_soon(lambda: self._deliver(z2m.discovery()))

    async def _serve_connection(self, client: aiomqtt.Client, paho_instance: paho.Client) -> None:
        watcher = asyncio.ensure_future(wait_disconnected(client))
        tasks: set[asyncio.Future[Any]] = {watcher}
        if self._outbox is not None:
            tasks.add(asyncio.ensure_future(self._send(paho_instance)))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for task in done:
            task.result()  # raises why the connection ended

    async def _send(self, paho_instance: paho.Client) -> None:
        """Keep up to ``max_inflight`` outbox messages published and unacknowledged, in order."""
        outbox = self._outbox
        assert outbox is not None
        inflight = self._inflight
        wake = self._wake
        window = self._window
        publish = paho_instance.publish
        while True:
            wake.clear()
            free = window - len(inflight)
            if free > 0:
                for seq, topic, payload, qos, retain in outbox.take(free):
                    try:
                        info = publish(topic, payload, qos, retain)
                    except ValueError as exc:  # stored by a run that checked less; never sendable
                        self.logger.error(
                            "%s: dropping an unsendable message on %r: %s", self._name, topic, exc
                        )
                        self.counters["errors"] += 1
                        self._acked.append(seq)
                        continue
                    if info.rc:
                        import paho.mqtt.client as mqtt

                        raise ConnectionLostError(f"publish failed: {mqtt.error_string(info.rc)}")
                    inflight[info.mid] = seq
            await wake.wait()

    def _hook_acks(self, paho_instance: paho.Client) -> None:
        """Route PUBACK/PUBCOMP of outbox messages to us; others stay with aiomqtt."""
        inherited = cast("Callable[..., None] | None", paho_instance.on_publish)
        inflight = self._inflight
        acked = self._acked
        loop = asyncio.get_running_loop()

        def on_publish(client: Any, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
            seq = inflight.pop(mid, None)
            if seq is None:
                if inherited is not None:
                    inherited(client, userdata, mid, reason, properties)
                return
            if reason.is_failure:
                # MQTT 5: the broker took the message but refused it; sending it again will not help.
                self.counters["rejected"] += 1
                self.logger.warning("%s: the broker refused a message: %s", self._name, reason)
            acked.append(seq)
            if not self._ack_flush_pending:
                self._ack_flush_pending = True
                loop.call_soon(self._flush_acks)

        paho_instance.on_publish = on_publish

    def _flush_acks(self) -> None:
        """Delete the acknowledged messages from the outbox (one transaction) and wake the sender."""
        self._ack_flush_pending = False
        outbox = self._outbox
        if not self._acked or outbox is None:
            return
        seqs = self._acked.copy()
        self._acked.clear()  # in place: the paho callback holds this list
        outbox.ack(seqs)
        self.counters["published"] += len(seqs)
        if not len(outbox):
            self._drained.set()
        self._wake.set()
