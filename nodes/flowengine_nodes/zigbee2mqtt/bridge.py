"""Zigbee2MQTT 2.x's MQTT conventions for ``mqtt-out`` (CONTRACT §6).

With ``zigbee2mqtt: {}`` an ``mqtt-out`` that receives ``decode`` output publishes what a
Zigbee2MQTT bridge would, beside the device states themselves:

* ``<base>/bridge/state`` ``{"state":"online"}`` retained (QoS 1) on every connect, with the
  last will ``{"state":"offline"}`` (retained); ``{"state":"offline"}`` again when the run ends;
* with ``availability``: ``<base>/<name>/availability`` ``{"state":"online"}`` (retained, QoS 1)
  when a device is first heard from or comes back, ``{"state":"offline"}`` once it has been
  silent for ``timeout`` (Zigbee2MQTT's passive timeout, 25 h, as for battery devices like
  locks; checked on the wall clock only, so a replay never marks devices offline);
* with ``homeassistant``: Home Assistant MQTT discovery (retained, QoS 1) built from the
  device definition's exposes exactly as Zigbee2MQTT 2.x builds it (:mod:`.discovery`:
  lights, switches, binary sensors, sensors, selects, buttons, numbers, the OTA update
  entity); ``action`` is not an entity: as in 2.x, each new action value is announced as a
  device trigger ``homeassistant/device_automation/<ieee>/action_<value>/config`` and the
  value is published to ``<base>/<name>/action``);
* after every reconnect (and when Home Assistant reports ``online`` on its status topic)
  everything retained is announced again, because a broker without persistence forgets it.

A device state message is one whose topic is ``<base>/<friendly name>`` and whose ``meta``
names the device (``ieee``; ``friendly_name`` and ``model`` as ``decode`` sets them); other
messages pass through unchanged. What is known about devices (name, model, actions seen,
last seen) is kept in the node's durable state, so a restarted flow announces them again.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from flowengine import Message, NodeState
from flowengine_nodes.zigbee2mqtt.discovery import (
    adjust_state,
    definition_exposes,
    device_payload,
    discovery_payload,
    expose_configs,
)
from flowengine_nodes.zigbee2mqtt.output import attribute_payloads, epoch_ms, format_last_seen
from flowengine_nodes.zigbee2mqtt.settings import AvailabilityConfig, HomeAssistantConfig, Zigbee2MqttConfig

Entry = tuple[str, bytes, int, bool]
"""A publication: ``(topic, payload, qos, retain)``, the shape ``mqtt-out``'s outbox stores."""

ONLINE = b'{"state":"online"}'
OFFLINE = b'{"state":"offline"}'
STATE_KEY = "zigbee2mqtt.devices"

@dataclass
class DeviceInfo:
    """What the mode knows about one device."""

    ieee: str
    name: str
    model: str | None = None
    actions: list[str] = field(default_factory=list)
    last_seen: float = 0.0
    online: bool = False
    #: Discovery published under this name and model during this run.
    discovered: tuple[str, str | None] | None = None
    #: State properties added to every published state that lacks them (discovery's mock properties).
    mock: list[tuple[str, Any]] = field(default_factory=list)
    ota: bool = False
    #: When the device last sent anything (event time, milliseconds), for ``last_seen`` in its states.
    heard: int | None = None

    def to_state(self) -> dict[str, Any]:
        """Return what is kept in the node's durable state."""
        saved = {"name": self.name, "model": self.model, "actions": self.actions, "last_seen": self.last_seen}
        if self.heard is not None:
            saved["heard"] = self.heard
        return saved


def zigbee2mqtt_ieee(address: str) -> str:
    """Return Zigbee2MQTT's form of an IEEE address (``0x00158d0001020304``) from any usual form."""
    text = address.lower()
    if text.startswith("0x"):
        return text
    return "0x" + "".join(ch for ch in text if ch in "0123456789abcdef")


def _origin() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        release = version("flowengine")
    except PackageNotFoundError:
        release = "unknown"
    return {"name": "flowengine", "sw": release, "url": "https://github.com/flowengine/flowengine"}


def _find_definition(model: str) -> Any:
    """Return the decoder's device definition for a model, or None (no decoder installed)."""
    try:
        from flowengine_nodes.devices.definitions import default_registry
    except ImportError:
        return None
    return default_registry().find(model)


def _json(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


class Zigbee2Mqtt:
    """The Zigbee2MQTT mode of one ``mqtt-out``: which extra messages to publish, and when.

    Every method returns :data:`Entry` tuples for the node to deliver in
    order; nothing here touches the network.
    """

    def __init__(
        self,
        config: Zigbee2MqttConfig,
        state: NodeState,
        *,
        now: Callable[[], float] = time.time,
        definitions: Callable[[str], Any] = _find_definition,
    ) -> None:
        self.config = config
        self.base = config.base_topic
        self._prefix = config.base_topic + "/"
        availability = config.availability
        self.availability: AvailabilityConfig | None = (
            availability if isinstance(availability, AvailabilityConfig)
            else AvailabilityConfig() if availability else None
        )
        homeassistant = config.homeassistant
        self.homeassistant: HomeAssistantConfig | None = (
            homeassistant if isinstance(homeassistant, HomeAssistantConfig)
            else HomeAssistantConfig() if homeassistant else None
        )
        self._state = state
        self._now = now
        self._definitions = definitions
        self._origin = _origin()
        self.devices: dict[str, DeviceInfo] = {}
        for ieee, saved in (state.get(STATE_KEY) or {}).items():
            self.devices[ieee] = DeviceInfo(
                ieee=ieee, name=str(saved.get("name") or ieee), model=saved.get("model"),
                actions=list(saved.get("actions") or []), last_seen=float(saved.get("last_seen") or 0.0),
                heard=saved["heard"] if isinstance(saved.get("heard"), int) else None,
            )
        #: Per device (Zigbee2MQTT's form of the address): its retain, qos and filter, over device_options.
        self._publishing: dict[str, tuple[bool | None, int | None, Callable[[str], Any] | None]] = {}
        defaults = config.device_options
        for ieee, own in {"": defaults, **config.devices}.items():
            retain = own.retain if own.retain is not None else defaults.retain
            qos = own.qos if own.qos is not None else defaults.qos
            patterns = [*defaults.filtered_attributes, *own.filtered_attributes] if ieee else own.filtered_attributes
            # JavaScript's property.match(`^${p}$`) for each pattern, as one search.
            matcher = re.compile("|".join(f"(?:^{p}$)" for p in patterns)).search if patterns else None
            self._publishing[zigbee2mqtt_ieee(ieee) if ieee else ""] = (retain, qos, matcher)
        #: A device state is reshaped (last_seen, output, per-device publishing): checked once per message.
        self.shapes = (config.last_seen != "disable" or config.output != "json"
                       or any(value != (None, None, None) for value in self._publishing.values()))

    # ---- the bridge ---------------------------------------------------------------------

    @property
    def bridge_state_topic(self) -> str:
        """``<base>/bridge/state``."""
        return f"{self.base}/bridge/state"

    def will(self) -> tuple[str, bytes, int, bool]:
        """The last will: ``<base>/bridge/state`` offline, retained."""
        return (self.bridge_state_topic, OFFLINE, 1, True)

    def bridge_online(self) -> Entry:
        """``<base>/bridge/state`` online, retained."""
        return (self.bridge_state_topic, ONLINE, 1, True)

    def bridge_offline(self) -> Entry:
        """``<base>/bridge/state`` offline, retained (a clean stop)."""
        return (self.bridge_state_topic, OFFLINE, 1, True)

    @property
    def status_topic(self) -> str | None:
        """Home Assistant's status topic to listen to, when discovery is on."""
        return self.homeassistant.status_topic if self.homeassistant else None

    # ---- per message ----------------------------------------------------------------------

    def around(self, msg: Message, topic: str) -> tuple[list[Entry], list[Entry]]:
        """Return what to publish before and after a message published on ``topic``."""
        if not topic.startswith(self._prefix):
            return [], []
        meta = msg.meta
        address = meta.get("ieee")
        if not isinstance(address, str):
            return [], []
        name = meta.get("friendly_name")
        if not isinstance(name, str):
            name = topic[len(self._prefix):]
        if topic != self._prefix + name:
            return [], []  # not the device's state topic (an event, an attribute)
        ieee = zigbee2mqtt_ieee(address)
        model = meta.get("model") if isinstance(meta.get("model"), str) else None
        before: list[Entry] = []
        after: list[Entry] = []
        device = self.devices.get(ieee)
        changed = False
        if device is None:
            device = self.devices[ieee] = DeviceInfo(ieee=ieee, name=name, model=model)
            changed = True
        elif device.name != name or (model is not None and device.model != model):
            device.name = name
            device.model = model or device.model
            changed = True
        device.last_seen = self._now()  # the flow's time, as the availability check reads it
        if self.availability is not None and not device.online:
            device.online = True
            before.append(self._availability(device))
        if self.homeassistant is not None:
            if device.discovered != (device.name, device.model):
                before.extend(self._discovery(device))
            payload = msg.payload
            action = payload.get("action") if isinstance(payload, dict) else None
            if isinstance(action, str) and action:
                if action not in device.actions:
                    device.actions.append(action)
                    changed = True
                    before.append(self._trigger(device, action))
                after.append((f"{self._prefix}{device.name}/action", action.encode(), 1, False))
        if changed:
            self.save()
        return before, after

    def state_payload(self, msg: Message, topic: str) -> Any:
        """The payload to publish for ``msg``: with discovery on, a device state gets its mock properties.

        As Zigbee2MQTT 2.x with Home Assistant on, a state lacking a discovered property
        carries it as ``null`` (and a device with OTA an ``update`` member), so Home Assistant's
        templates always find their keys. Call after :meth:`around` (which discovers the device).
        """
        if self.homeassistant is None or not isinstance(msg.payload, dict):
            return msg.payload
        address = msg.meta.get("ieee")
        device = self.devices.get(zigbee2mqtt_ieee(address)) if isinstance(address, str) else None
        if device is None or topic != self._prefix + device.name or not (device.mock or device.ota):
            return msg.payload
        return adjust_state(msg.payload, device.mock, device.ota)

    def shaped(self, msg: Message, topic: str, payload: bytes, qos: int, retain: bool) -> list[Entry] | None:
        """The publications of a device state as its settings shape it; None for any other message.

        The settings: ``last_seen``, ``output`` and the device's retain, qos and ``filtered_attributes``.

        Call after :meth:`around` (which registers the device) when :attr:`shapes` is true. ``payload``
        is the JSON the message would be published as. A message of the device's own (not the cached
        state ``decode`` sends at start, ``meta.cached``) moves its ``last_seen`` to the message's event
        time; a device never heard from has no ``last_seen``, as in Zigbee2MQTT.
        """
        address = msg.meta.get("ieee")
        device = self.devices.get(zigbee2mqtt_ieee(address)) if isinstance(address, str) else None
        if device is None or topic != self._prefix + device.name:
            return None
        state = self.state_payload(msg, topic)
        if not isinstance(state, dict):
            return None
        config = self.config
        if config.last_seen != "disable":
            if not msg.meta.get("cached"):
                ts = msg.meta.get("ts")
                seconds = ts if isinstance(ts, int | float) and not isinstance(ts, bool) else self._now()
                heard = epoch_ms(seconds)
                if device.heard is None or heard > device.heard:
                    device.heard = heard
            if device.heard is not None:
                state = {**state, "last_seen": format_last_seen(device.heard, config.last_seen)}
                payload = _json(state)  # as mqtt-out encodes an object
        own_retain, own_qos, filtered = self._publishing.get(device.ieee) or self._publishing[""]
        retain = retain if own_retain is None else own_retain
        qos = qos if own_qos is None else own_qos
        if filtered is not None:
            state = {key: value for key, value in state.items() if not filtered(key)}
            if not state:
                return []  # Zigbee2MQTT publishes nothing for an empty message
            payload = _json(state)
        entries: list[Entry] = []
        if config.output != "attribute":
            entries.append((topic, payload, qos, retain))
        if config.output != "json":
            entries.extend((sub, value, qos, retain) for sub, value in attribute_payloads(topic + "/", state))
        return entries

    # ---- announcements --------------------------------------------------------------------

    def reannounce(self) -> list[Entry]:
        """Everything retained about known devices, for a broker that may have forgotten it."""
        entries: list[Entry] = []
        now = self._now()
        for device in self.devices.values():
            if self.availability is not None:
                device.online = now - device.last_seen < self.availability.timeout
                entries.append(self._availability(device))
            if self.homeassistant is not None:
                entries.extend(self._discovery(device))
                entries.extend(self._trigger(device, action) for action in device.actions)
        return entries

    def discovery(self) -> list[Entry]:
        """Discovery of every known device again (Home Assistant said it is back online)."""
        entries: list[Entry] = []
        if self.homeassistant is not None:
            for device in self.devices.values():
                entries.extend(self._discovery(device))
                entries.extend(self._trigger(device, action) for action in device.actions)
        return entries

    def expire(self) -> list[Entry]:
        """Publish offline the devices silent for longer than the availability timeout."""
        if self.availability is None:
            return []
        limit = self._now() - self.availability.timeout
        entries = []
        for device in self.devices.values():
            if device.online and device.last_seen < limit:
                device.online = False
                entries.append(self._availability(device))
        return entries

    def save(self) -> None:
        """Keep what is known about the devices in the node's durable state."""
        self._state.set(STATE_KEY, {ieee: device.to_state() for ieee, device in self.devices.items()})

    # ---- builders -------------------------------------------------------------------------

    def _availability(self, device: DeviceInfo) -> Entry:
        return (f"{self._prefix}{device.name}/availability", ONLINE if device.online else OFFLINE, 1, True)

    def _device_payload(self, device: DeviceInfo, definition: Any) -> dict[str, Any]:
        return device_payload(device.name, device.ieee, definition, device.model)

    def _discovery(self, device: DeviceInfo) -> list[Entry]:
        """Discovery configs for the device's exposes, as Zigbee2MQTT 2.x (none when its model is unknown)."""
        assert self.homeassistant is not None
        definition = self._definitions(device.model) if device.model else None
        device.discovered = (device.name, device.model)
        if definition is None:
            return []
        prefix = self.homeassistant.discovery_topic
        payload_device = self._device_payload(device, definition)
        configs = expose_configs(definition_exposes(definition.exposes), ota=bool(definition.ota),
                                 base_topic=self.base, ieee=device.ieee)
        device.ota = bool(definition.ota)
        device.mock = [mock for config in configs for mock in config.mock]
        entries: list[Entry] = []
        for config in configs:
            topic, payload = discovery_payload(
                config, name=device.name, ieee=device.ieee, base_topic=self.base, device=payload_device,
                origin=self._origin, availability=self.availability is not None,
            )
            entries.append((f"{prefix}/{topic}", _json(payload), 1, True))
        return entries

    def _trigger(self, device: DeviceInfo, action: str) -> Entry:
        assert self.homeassistant is not None
        definition = self._definitions(device.model) if device.model else None
        payload = {
            "automation_type": "trigger",
            "type": "action",
            "subtype": action,
            "payload": action,
            "topic": f"{self._prefix}{device.name}/action",
            "device": self._device_payload(device, definition),
            "origin": self._origin,
        }
        topic = f"{self.homeassistant.discovery_topic}/device_automation/{device.ieee}/action_{action}/config"
        return (topic, _json(payload), 1, True)
