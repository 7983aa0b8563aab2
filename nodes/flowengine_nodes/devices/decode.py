"""``decode``: raw Zigbee reports -> Zigbee2MQTT payloads and typed lock events (CONTRACT §4)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, field_validator

from flowengine import FlowError, Message, NodeConfig, NodeContext, Transform, event_time
from flowengine_nodes.devices.decoder import DEFAULT_BASE_TOPIC, Decoder, normalize_ieee
from flowengine_nodes.devices.definitions import default_registry
from flowengine_nodes.devices.events import DeviceEvent, MotionEvent
from flowengine_nodes.devices.lint import DecoderProfile, closed_values, event_values, where_else
from flowengine_nodes.devices.occupancy import OccupancyTimers

if TYPE_CHECKING:
    from flowengine import FlowSetting, PayloadValues

#: The flow-wide setting this node shares with ``mqtt-out``'s Zigbee2MQTT mode (named alike there).
BASE_TOPIC_SETTING = "Zigbee2MQTT base topic"

EVENTS_PORT = "events"
#: Durable state key prefix of a device's kept cached state (followed by its normalized address).
CACHE_PREFIX = "cache:"

Emitter = Callable[[Message], object]

#: Builds a Message without the NamedTuple's Python-level ``__new__`` (half the cost, same
#: object): ``_message(Message, (topic, payload, meta))``.
_message = tuple.__new__

#: Typed events whose payload the node keeps ready (cleared when full; see ``process``).
EVENT_PAYLOADS_LIMIT = 1024


def _unwired(msg: Message) -> None:
    """Stand-in for the ``events`` emitter until (unless) the port is wired."""


class DecodeError(FlowError):
    """A raw report could not be decoded: its frame is rejected, or it is not a raw report."""

    def __init__(self, node_id: str, reason: str, frame: str | None = None) -> None:
        self.node_id = node_id
        self.reason = reason
        self.frame = frame
        super().__init__(f"node '{node_id}': {reason}" + (f" (frame {frame})" if frame else ""))


class DecodeConfig(NodeConfig):
    """Config of ``decode`` (CONTRACT §4)."""

    model: str | None = Field(
        default=None,
        description="Decode every report as this device: a Zigbee model id (lumi.lock.aq1) or a "
        "Zigbee2MQTT model (ZNMS11LM). Unset: chosen from each report's `model`.",
    )
    compat: Literal[1, 2] = Field(
        default=1,
        description="1: Zigbee2MQTT 1.x (converters 20.58), which honours `legacy`; "
        "2: Zigbee2MQTT 2.x, which has no `legacy`.",
    )
    legacy: bool | None = Field(
        default=None,
        description="The device option `legacy` of Zigbee2MQTT 1.x (default true). Ignored, with a "
        "warning, when compat is 2.",
    )
    cache_state: bool = Field(
        default=True,
        description="Publish each device's cached state merged with the new keys, as Zigbee2MQTT's "
        "cache_state (action and action_* are never cached).",
    )
    base_topic: str = Field(
        default=DEFAULT_BASE_TOPIC,
        description="First level of the output topics. One per flow: left unset, it is the one an mqtt-out "
        "in Zigbee2MQTT mode sets.",
    )
    friendly_names: dict[str, str] = Field(
        default_factory=dict,
        description="IEEE address (any usual form) -> friendly name; default name: 0x + the address.",
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Zigbee2MQTT device options for every device (occupancy_timeout, temperature_precision, "
        "…); a missing one takes Zigbee2MQTT's default, one a model does not know is ignored.",
    )
    device_options: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="IEEE address -> Zigbee2MQTT device options of that device only, over `options` "
        "(Zigbee2MQTT's devices.<ieee> keys: temperature_calibration, occupancy_timeout, …).",
    )
    keep_state: bool = Field(
        default=False,
        description="Keep each device's cached state in the flow's durable state: read at start, written at "
        "stop, as Zigbee2MQTT keeps state.json (needs cache_state).",
    )
    elapsed: bool = Field(
        default=False,
        description="Add elapsed to each device state: milliseconds (event time) since the device's previous "
        "one, as Zigbee2MQTT's advanced.elapsed (the first state of a device has none; never cached).",
    )
    send_cached_state_on_start: bool = Field(
        default=False,
        description="At start, publish each device's cached state, as Zigbee2MQTT's cache_state_send_on_startup "
        "(with keep_state).",
    )

    @field_validator("model")
    @classmethod
    def _known_model(cls, value: str | None) -> str | None:
        if value is not None and default_registry().find(value) is None:
            known = ", ".join(sorted({m for d in default_registry() for m in (d.model, *d.zigbee_models)}))
            raise ValueError(f"unknown device model {value!r} (known: {known})")
        return value


class Decode(Transform[DecodeConfig]):
    """Decodes raw reports exactly as Zigbee2MQTT publishes them, plus typed lock events.

    Input: raw report messages (CONTRACT §3; ``payload`` is the record). Output ``out``: topic
    ``<base_topic>/<friendly name>`` (the name defaults to ``0x`` + the IEEE address without
    separators), payload the device state object with ``linkquality``, ``meta`` the incoming meta
    plus ``model`` (``ZNMS11LM``) and ``friendly_name``. Output ``events``: topic
    ``<base_topic>/<friendly name>/event``, payload a typed lock event (``event``, ``method``,
    ``role``, ``user``, ``repeat``, ``state``, ``reverse``; every key present).

    A report the reference publishes nothing for emits nothing. A frame that cannot be parsed (or
    a payload that is not a raw report) emits nothing on ``out``: it is counted in
    ``counters["unparsed"]``, logged at debug with its hex, and the message goes to ``errors``
    with ``meta.error``. ``compat: 2`` with ``legacy`` set logs a warning and ignores ``legacy``.

    Example:
        ```yaml
        version: 1
        nodes:
          - id: radio
            type: zigbee-replay
            path: captures/front_door.jsonl
            wires: [decode]
          - id: decode
            type: decode
            legacy: false
            friendly_names: {"00:15:8d:08:29:4b:42:2c": front_door}
            wires: {out: [state], events: [events]}
          - id: state
            type: file
            path: out/front_door_state.jsonl
          - id: events
            type: file
            path: out/front_door_events.jsonl
        ```
    """

    config_model: ClassVar[type[NodeConfig]] = DecodeConfig
    outputs: ClassVar[tuple[str, ...]] = ("out", EVENTS_PORT)

    def __init__(self, config: DecodeConfig, context: NodeContext) -> None:
        super().__init__(config, context)
        if config.compat == 2 and config.legacy is not None:
            self.logger.warning(
                "node '%s': legacy is ignored with compat: 2 (Zigbee2MQTT 2.x has no legacy option)", self.id
            )
        self.decoder = self._new_decoder(config.options)
        #: Normalized address -> the decoder of a device with its own options (see device_options).
        self._by_device: dict[str, Decoder] = {}
        shared: dict[str, Decoder] = {}
        for ieee, own in config.device_options.items():
            options = {**config.options, **own}
            key = repr(sorted(options.items()))
            if key not in shared:
                shared[key] = self._new_decoder(options)
            self._by_device[normalize_ieee(ieee)] = shared[key]
        self._occupancy = OccupancyTimers(context.schedule(), context.state, self._clear_occupancy)
        self._occupancy_pending = self._occupancy.timers  # its truth is tested per report
        # Bound once: the hot path calls it for every report (the ``decode`` method looked up on
        # each call, and ``emit`` looking the port up, cost more than the call itself).
        self._decode = self.decoder.decode if not self._by_device else self._decode_per_device
        self._emit_event: Emitter = _unwired
        #: advanced.elapsed: normalized address -> event time (ms) of the device's previous state.
        self._previous: dict[str, int] | None = {} if config.elapsed else None
        self._event_payloads: dict[int, tuple[DeviceEvent, dict[str, Any]]] = {}

    def _new_decoder(self, options: Mapping[str, Any]) -> Decoder:
        config = self.config
        return Decoder(
            compat=config.compat,
            legacy=True if config.legacy is None else config.legacy,
            cache_state=config.cache_state,
            model=config.model,
            base_topic=config.base_topic,
            friendly_names=config.friendly_names,
            options=options,
            # The node runs the occupancy timers itself, so it publishes occupancy as a live
            # Zigbee2MQTT does (the plain decoder reproduces the reference harness by default).
            live_timers=True,
        )

    def decoder_of(self, ieee: str) -> Decoder:
        """Return the decoder of one device: its own with device_options, else the node's."""
        return self._by_device.get(normalize_ieee(ieee), self.decoder) if self._by_device else self.decoder

    def _decode_per_device(self, record: Mapping[str, Any]) -> Any:
        ieee = record.get("ieee")
        return (self.decoder_of(ieee) if isinstance(ieee, str) else self.decoder).decode(record)

    def _decoders(self) -> list[Decoder]:
        return [self.decoder, *{id(d): d for d in self._by_device.values()}.values()]

    def bind_output(self, port: str, emitter: Emitter) -> None:
        """Connect ``port``; the ``events`` emitter is also kept for the hot path."""
        super().bind_output(port, emitter)
        if port == EVENTS_PORT:
            self._emit_event = emitter

    async def start(self) -> None:
        """Schedule again the occupancy timers a previous run left pending; restore the kept states.

        With ``keep_state`` the cached states a previous run (or ``flowengine import``) kept are
        read back, and with ``send_cached_state_on_start`` each is published at once.
        """
        restored = self._occupancy.restore()
        if restored:
            self.logger.info("decode '%s': restored %d pending occupancy timers", self.id, restored)
        if not (self.config.keep_state and self.config.cache_state):
            return
        now = self.context.clock.now()
        for name, state in sorted(self.context.state.items(CACHE_PREFIX)):
            if not isinstance(state, dict) or not state:
                continue
            address = name.removeprefix(CACHE_PREFIX)
            payload, friendly_name, topic = self.decoder_of(address).publish(address, state)
            if self.config.send_cached_state_on_start:
                meta = {"ts": now, "source": self.id, "friendly_name": friendly_name, "cached": True}
                self.emit(Message(topic, payload, meta))

    async def aclose(self) -> None:
        """With ``keep_state``, write every device's cached state to the durable state."""
        if self.config.keep_state and self.config.cache_state:
            states: dict[str, Any] = {}
            for decoder in self._decoders():
                states.update({CACHE_PREFIX + address: state for address, state in decoder.cached_states().items()})
            if states:
                self.context.state.update(states)

    def flush(self) -> None:
        """The input has ended: pending occupancy timers run out at their deadlines (as rules' do)."""
        self._occupancy.run_all()

    def process(self, msg: Message) -> Message | None:
        """Decode one raw report; return the ``out`` message (or None) and emit the event."""
        if self._occupancy_pending:  # timers a message's event time has passed run first
            self._occupancy.run_due(event_time(msg, self.context.clock))
        record = msg.payload
        # Exact type first: ``isinstance`` against the Mapping ABC costs a few hundred ns.
        if type(record) is not dict and not isinstance(record, Mapping):
            self._unparsed(msg, "payload is not a raw report object", None)
            return None
        payload, event, error, model, friendly_name, topic = self._decode(record)
        if error is not None:
            frame = record.get("frame")
            self._unparsed(msg, error, frame if isinstance(frame, str) else None)
            return None
        if self._previous is not None and payload is not None:
            payload = self._with_elapsed(record.get("ieee"), event_time(msg, self.context.clock), payload)
        if event is None:
            if payload is None:
                return None
            return _message(Message, (topic, payload, {**msg.meta, "model": model, "friendly_name": friendly_name}))
        # Both messages share one meta dict, as messages are read-only (CONTRACT §2).
        meta = {**msg.meta, "model": model, "friendly_name": friendly_name}
        # The decoder hands out the same event object for every report of a memoised frame:
        # its payload is built once and copied (a copy is a third of building 7 keys). Keyed by
        # identity, holding the event so the id cannot be reused while cached.
        cached = self._event_payloads.get(id(event))
        if cached is None or cached[0] is not event:
            if len(self._event_payloads) >= EVENT_PAYLOADS_LIMIT:
                self._event_payloads.clear()
            cached = self._event_payloads[id(event)] = (event, event.to_payload())
        self._emit_event(_message(Message, (topic + "/event", cached[1].copy(), meta)))
        if type(event) is MotionEvent:
            ieee = record.get("ieee")
            if isinstance(ieee, str):
                self._occupancy.detected(normalize_ieee(ieee), ieee, event_time(msg, self.context.clock),
                                         event.timeout, meta)
        if payload is None:
            return None
        return _message(Message, (topic, payload, meta))

    def _with_elapsed(self, ieee: Any, ts: float, payload: dict[str, Any]) -> dict[str, Any]:
        """``payload`` with ``elapsed``: ms since the device's previous state (none for its first), as Zigbee2MQTT."""
        assert self._previous is not None
        if not isinstance(ieee, str):
            return payload
        key = normalize_ieee(ieee)
        now = round(ts * 1000)
        previous = self._previous.get(key)
        self._previous[key] = now
        return payload if previous is None else {**payload, "elapsed": now - previous}

    def _clear_occupancy(self, ieee: str, deadline: float, timeout: float, meta: dict[str, Any]) -> None:
        """An occupancy timeout ran out: publish ``occupancy: false`` and a ``motion_cleared`` event.

        Both messages keep the last detection's meta, with ``ts`` = the deadline.
        """
        payload, _, topic = self.decoder_of(ieee).publish(ieee, {"occupancy": False})
        if self._previous is not None:  # Zigbee2MQTT's timeout publishes through the same path
            payload = self._with_elapsed(ieee, deadline, payload)
        cleared = {**meta, "ts": deadline}
        self.counters["occupancy_cleared"] += 1
        self._emit_event(Message(topic + "/event", MotionEvent("motion_cleared", timeout).to_payload(), cleared))
        self.emit(Message(topic, payload, cleared))

    def _unparsed(self, msg: Message, reason: str, frame: str | None) -> None:
        """Count, log at debug and route to ``errors`` a report that cannot be decoded."""
        self.fail(msg, DecodeError(self.id, reason, frame), counter="unparsed", level=logging.DEBUG)

    @classmethod
    def flow_settings(cls, config: DecodeConfig) -> list[FlowSetting]:
        """The flow-wide Zigbee2MQTT base topic (shared with ``mqtt-out``'s Zigbee2MQTT mode)."""
        from flowengine import FlowSetting  # the lint pulls in the graph library; only load it here

        explicit = "base_topic" in config.model_fields_set
        return [FlowSetting(BASE_TOPIC_SETTING, config.base_topic, ("base_topic",), explicit)]

    @classmethod
    def with_flow_setting(cls, config: DecodeConfig, name: str, value: Any) -> DecodeConfig:
        """Return ``config`` with the flow's base topic (set on another node) in place of the default."""
        return config.model_copy(update={"base_topic": value}) if name == BASE_TOPIC_SETTING else config

    @classmethod
    def payload_values(cls, config: Any, port: str, node_id: str) -> PayloadValues | None:
        """What ``port`` can carry, for the capability lint."""
        from flowengine import PayloadValues  # the lint pulls in the graph library; only load it here

        if port == EVENTS_PORT:
            return PayloadValues(f"the events output of decoder '{node_id}'", event_values())
        profile = DecoderProfile.create(
            node_id,
            model=config.model,
            compat=config.compat,
            legacy=True if config.legacy is None else config.legacy,
        )
        mode = f"compat {profile.compat}" + (
            f", legacy {str(profile.legacy).lower()}" if profile.compat == 1 else ""
        )
        return PayloadValues(
            f"{profile.label} ({mode})",
            closed_values(profile),
            lambda key, value: where_else(profile, key, value),
        )
