"""``mqtt-in``: subscribe to topics on an MQTT broker and emit what arrives (CONTRACT §4)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import orjson
from pydantic import Field, field_validator, model_validator

from flowengine import (
    Backoff,
    Message,
    NodeConfig,
    NodeContext,
    NodeError,
    PermanentError,
    Source,
    supervise,
)
from flowengine_nodes.mqtt.broker import MqttClientConfig, connection_settings
from flowengine_nodes.mqtt.connection import ConnectionStatus, connect, wait_disconnected
from flowengine_nodes.mqtt.packets import pubacks

if TYPE_CHECKING:
    import aiomqtt

    from flowengine_nodes.mqtt.broker import ConnectionSettings

#: Messages emitted between two checks of the flow's backpressure.
BATCH = 256
#: Received messages waiting for the flow at most; beyond, new ones are dropped (counted, logged).
INBOX_LIMIT = 100_000
#: Seconds between two log lines about dropped messages.
DROP_LOG_INTERVAL = 10.0
SHARE_PREFIX = "$share/"
#: Default of ``max_inflight``: QoS 1/2 messages the broker may send before our acknowledgements (MQTT 5).
RECEIVE_WINDOW = 1000


def check_filter(topic: str) -> None:
    """Refuse a subscription filter a broker would refuse (wildcards misplaced, empty, bad $share).

    Raises:
        ValueError: with the reason.
    """
    if not topic:
        raise ValueError("an empty topic filter")
    filter_part = topic
    if topic.startswith(SHARE_PREFIX):
        group, _, filter_part = topic[len(SHARE_PREFIX) :].partition("/")
        if not group or "+" in group or "#" in group:
            raise ValueError(f"'{topic}': a shared subscription is $share/<group>/<filter>, with a plain group name")
        if not filter_part:
            raise ValueError(f"'{topic}': a shared subscription needs a topic filter after the group")
    levels = filter_part.split("/")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            raise ValueError(f"'{topic}': '#' must be a whole level, and the last one")
        if "+" in level and level != "+":
            raise ValueError(f"'{topic}': '+' must be a whole level")
    if "\0" in topic:
        raise ValueError(f"'{topic}': NUL in a topic filter")


class MqttInConfig(MqttClientConfig):
    """Config of ``mqtt-in``."""

    topics: list[str] = Field(
        min_length=1,
        description="Topic filters to subscribe to: wildcards (+, #) and shared subscriptions "
        "($share/<group>/<filter>) allowed.",
    )
    qos: Literal[0, 1, 2] = Field(default=0, description="QoS of the subscriptions.")
    format: Literal["json", "text", "bytes"] = Field(
        default="json",
        description="How to read payloads: json (an empty payload is null), text (UTF-8) or bytes.",
    )
    max_inflight: int = Field(
        default=RECEIVE_WINDOW,
        ge=1,
        le=65535,
        description="MQTT 5: QoS 1/2 messages the broker may send before this node acknowledges them "
        "(the Receive Maximum it asks for). It bounds the messages in the flow at once with "
        "clean_session: false. With MQTT 3.1.1 the broker sets it (Mosquitto: max_inflight_messages, "
        "20 by default; raise it for throughput, see docs/delivery.md).",
    )
    clean_session: bool = Field(
        default=True,
        description="false: a persistent session (needs client_id), so the broker keeps QoS 1/2 "
        "messages for this node while the flow is not running.",
    )
    session_expiry: int | None = Field(
        default=None,
        ge=0,
        le=0xFFFFFFFE,
        description="MQTT 5 with clean_session: false: seconds the broker keeps the session (and the "
        "messages for it) after the flow disconnects; default: until the flow comes back. Messages "
        "that must not arrive late (commands) set it to how old they may be.",
    )

    @field_validator("topics", mode="before")
    @classmethod
    def _one_topic(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("topics")
    @classmethod
    def _check_topics(cls, value: list[str]) -> list[str]:
        for topic in value:
            check_filter(topic)
        return value

    @model_validator(mode="after")
    def _session_needs_id(self) -> MqttInConfig:
        if not self.clean_session and not self.client_id:
            raise ValueError("clean_session: false needs a fixed client_id")
        if self.session_expiry is not None and (self.clean_session or self.protocol != "5"):
            raise ValueError("session_expiry needs protocol: 5 and clean_session: false (MQTT 3.1.1 keeps a "
                             "session until it is resumed)")
        return self


class MqttIn(Source[MqttInConfig]):
    """Subscribes to topics on an MQTT broker and emits each message that arrives.

    Each message has ``topic`` = the topic it was published to (for a ``$share/…``
    subscription too), ``payload`` read as ``format`` says, ``meta.ts`` = the receive
    time and ``meta.source`` = this node's id (and ``meta.retain: true`` for a retained
    message). A payload that does not parse as ``format`` goes to ``errors`` with
    ``meta.error`` (counted in ``errors``), its payload the text as received.

    The connection is supervised: lost, it is made again with backoff and jitter, and
    the subscriptions are made again. A refused login or subscription is one error line,
    retried slowly. Messages are read in batches from the client's callback, without a
    task or an ``await`` per message; the flow's backpressure is checked once per batch.
    A flow that falls 100,000 messages behind drops new ones (counted in ``dropped``).
    With ``clean_session: false`` and ``qos`` 1 a message is acknowledged to the broker
    (PUBACK) only once every sink it reached has it durably (docs/delivery.md): a killed
    runner gets what it had not finished again from the broker, whose in-flight window
    bounds the memory: ``max_inflight`` with MQTT 5 (sent as the Receive Maximum), the
    broker's setting with MQTT 3.1.1 (Mosquitto's ``max_inflight_messages``).

    Example:
        ```yaml
        version: 1
        nodes:
          - id: lock
            type: mqtt-in
            broker: mqtt://127.0.0.1:1883
            topics: [zigbee2mqtt/front_door, "$share/alerts/zigbee2mqtt/+/action"]
            qos: 1
            format: json
            wires: [show]
          - id: show
            type: log
        ```
    """

    config_model: ClassVar[type[NodeConfig]] = MqttInConfig
    live: ClassVar[bool] = True
    #: Reconnect policy (the engine's default; tests shorten it).
    backoff: ClassVar[Backoff] = Backoff()

    def __init__(self, config: MqttInConfig, context: NodeContext) -> None:
        super().__init__(config, context)
        self._settings: ConnectionSettings | None = None
        #: Received, not yet emitted: (topic, payload, retain), filled by the client's callback.
        self._inbox: deque[tuple[str, bytes, bool]] = deque()
        self._arrived = asyncio.Event()
        #: The pump waits for messages (the flow has kept up); set by :meth:`_pump`.
        self._idle = False
        #: Messages emitted from the read callback since the pump last checked backpressure.
        self._unchecked = 0
        #: The pump's batch emitter, while the pump runs.
        self._emit_batch: Callable[[int], None] | None = None
        self._next_drop_log = 0.0
        self._name = f"mqtt-in '{self.id}'"
        #: The connection's state, as supervision reports it.
        self.status = ConnectionStatus()
        #: A persistent session acknowledges (PUBACK) only what the flow has durably (docs/delivery.md).
        self._manual_ack = not config.clean_session and config.qos > 0
        #: Messages taken from the inbox so far (emitted or failed), to match acks to batches.
        self._taken = 0
        #: QoS 1/2 messages received, not yet acknowledged: (taken count once emitted, client, mid, qos).
        self._unacked: deque[tuple[int, Any, int, int]] = deque()

    async def start(self) -> None:
        """Read the TLS files (the connection is made by :meth:`run`).

        Raises:
            NodeError: a TLS file cannot be read.
        """
        try:
            self._settings = connection_settings(self.config, self.context, clean_session=self.config.clean_session,
                                                 session_expiry=self.config.session_expiry)
        except (OSError, ValueError) as exc:
            raise NodeError(self.id, f"TLS files: {exc}") from exc
        self._name = f"mqtt-in '{self.id}' ({self._settings.url})"

    async def run(self) -> None:
        """Stay subscribed and emit what arrives, until cancelled."""
        pump = asyncio.ensure_future(self._pump())
        try:
            await supervise(self._serve, name=self._name, logger=self.logger, backoff=self.backoff,
                            on_state=self.status.update)
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump

    async def _serve(self, connected: Callable[[], None]) -> None:
        settings = self._settings
        assert settings is not None
        receive_maximum = self.config.max_inflight if settings.protocol == "5" else None
        async with connect(settings, on_message=self._on_message, on_publish=self._on_publish,
                           on_read_end=self._on_read_end, manual_ack=self._manual_ack,
                           receive_maximum=receive_maximum) as connection:
            await self._subscribe(connection.client)
            connected()
            await wait_disconnected(connection.client)

    async def _subscribe(self, client: aiomqtt.Client) -> None:
        topics = self.config.topics
        wanted: list[tuple[str, int]] = [(topic, self.config.qos) for topic in topics]
        results = await client.subscribe(wanted)
        for topic, result in zip(topics, results, strict=False):
            if getattr(result, "is_failure", False) or result == 0x80:
                raise PermanentError(f"{self._settings.url if self._settings else ''}: "
                                     f"the broker refused the subscription to '{topic}': {result}")

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        """Paho's callback, on the loop thread: queue the message for :meth:`_pump`."""
        inbox = self._inbox
        if len(inbox) >= INBOX_LIMIT:
            self._dropped()
            return
        inbox.append((message.topic, message.payload, message.retain))
        if self._manual_ack and message.qos:
            self._unacked.append((self._taken + len(inbox), client, message.mid, message.qos))
        if not self._arrived.is_set():
            self._arrived.set()

    def _on_publish(self, topic: str, payload: bytes, retain: bool) -> None:
        """The fast receive path's callback (a QoS 0 message), on the loop thread: queue it."""
        inbox = self._inbox
        if len(inbox) >= INBOX_LIMIT:
            self._dropped()
            return
        inbox.append((topic, payload, retain))  # :meth:`_on_read_end` says what happens next

    def _on_read_end(self) -> None:
        """A read of the socket is over: emit what it queued now, or wake the pump.

        A small burst arriving while the pump waits idle (the flow has kept up) goes through
        the flow right here, in the read's callback: a message then leaves one turn of the
        event loop earlier, which is most of the latency at a low rate. At most ``BATCH``
        messages go this way between two of the pump's backpressure checks, as in one of its
        batches; anything more, or anything while the pump is busy, is the pump's.
        """
        inbox = self._inbox
        if not inbox:
            return
        count = len(inbox)
        batch = self._emit_batch
        if batch is not None and self._idle and self._unchecked + count <= BATCH:
            self._unchecked += count
            batch(count)
        elif not self._arrived.is_set():
            self._arrived.set()

    def gauges(self) -> dict[str, int]:
        """Messages received from the broker and not yet emitted into the flow."""
        levels = super().gauges()
        levels["queue_depth"] = len(self._inbox)
        return levels

    def _dropped(self) -> None:
        self.counters["received"] += 1
        self.counters.drop(1, "inbox_full")
        now = time.monotonic()
        if now >= self._next_drop_log:
            self._next_drop_log = now + DROP_LOG_INTERVAL
            self.logger.warning("%s: the flow is behind by %d messages; dropping new ones (%d dropped in all)",
                                self._name, INBOX_LIMIT, self.counters["dropped"])

    async def _pump(self) -> None:
        """Emit queued messages in batches, checking the flow's backpressure between batches."""
        inbox = self._inbox
        arrived = self._arrived
        self._out = self.emitter()
        now = self.context.clock.now
        source = self.id
        decode = self._decoder()
        bad_payload = self._bad_payload

        counters = self.counters
        manual = self._manual_ack

        def emit_batch(count: int) -> None:
            counters["received"] += count
            ts = now()
            emit = self._out
            popleft = inbox.popleft
            for _ in range(count):
                topic, raw, retain = popleft()
                try:
                    payload = decode(raw)
                except ValueError as exc:
                    bad_payload(topic, raw, ts, exc)
                    continue
                meta = {"ts": ts, "source": source, "retain": True} if retain else {"ts": ts, "source": source}
                emit(Message(topic, payload, meta))
            if manual:
                self._taken += count
                self._ack_when_durable()

        self._emit_batch = emit_batch
        try:
            while True:
                if not inbox:
                    arrived.clear()
                    self._idle = True
                    try:
                        await arrived.wait()
                    finally:
                        self._idle = False
                    continue
                emit_batch(min(BATCH, len(inbox)))
                await self.backpressure()
                self._unchecked = 0
        finally:
            self._emit_batch = None

    def rewired(self) -> None:
        """A reload re-bound ``out``: the next batch goes to the new wiring."""
        self._out = self.emitter()

    def _ack_when_durable(self) -> None:
        """Acknowledge to the broker the messages just emitted, once the flow has them durably.

        On a connection lost meanwhile the acknowledgement cannot go out: the broker sends
        those messages again on the next one (duplicates, never losses).
        """
        unacked = self._unacked
        taken = self._taken
        acks: list[tuple[Any, int, int]] = []
        while unacked and unacked[0][0] <= taken:
            _, client, mid, qos = unacked.popleft()
            acks.append((client, mid, qos))
        if acks:
            self.when_durable(lambda: _send_acks(acks))

    def _decoder(self) -> Callable[[bytes], Any]:
        fmt = self.config.format
        if fmt == "bytes":
            return bytes
        if fmt == "text":
            return lambda raw: raw.decode()
        loads = orjson.loads

        def json_or_null(raw: bytes) -> Any:
            return loads(raw) if raw else None

        return json_or_null

    def _bad_payload(self, topic: str, raw: bytes, ts: float, exc: ValueError) -> None:
        self.fail(Message(topic, raw.decode(errors="replace"), {"ts": ts, "source": self.id}), exc)


def _send_acks(acks: list[tuple[Any, int, int]]) -> None:
    """Send the PUBACKs (PUBCOMPs) of durable messages; on a lost connection paho refuses them quietly.

    The QoS 1 acknowledgements of one connection go out encoded together, in one write on the
    fast write path, instead of paho's queue entry, wake-up byte and write per message. Either
    way they leave now, not a turn of the loop later: the broker's window refills sooner (the
    connection keeps aiomqtt's late writer registration from outliving such a direct write:
    :func:`~flowengine_nodes.mqtt.connection.make_client`).
    """
    from flowengine_nodes.mqtt import paho_fast  # loaded with the first connection already

    client = acks[0][0]
    together = paho_fast.FAST and all(entry[0] is client and entry[2] == 1 for entry in acks)
    if together and paho_fast.write_packets(client, pubacks(mid for _, mid, _ in acks)):
        return
    for client, mid, qos in acks:
        client.ack(mid, qos)
    acks[-1][0].loop_write()
