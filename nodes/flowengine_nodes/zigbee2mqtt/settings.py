"""The settings of ``mqtt-out``'s Zigbee2MQTT mode (``zigbee2mqtt: {...}``), apart from the mode.

``mqtt-out``'s config names these models, so they load with the node type; the mode itself
(:mod:`.bridge` and its Home Assistant discovery) loads only when a flow turns it on.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from flowengine import Duration, NodeConfig

LastSeen = Literal["disable", "ISO_8601", "ISO_8601_local", "epoch"]
"""Zigbee2MQTT's ``advanced.last_seen``."""
Output = Literal["json", "attribute", "attribute_and_json"]
"""Zigbee2MQTT's ``advanced.output``."""

#: Zigbee2MQTT's passive availability timeout (battery devices): 1500 minutes.
PASSIVE_TIMEOUT = 1500 * 60.0


class AvailabilityConfig(NodeConfig):
    """``zigbee2mqtt.availability`` as a mapping."""

    timeout: Duration = Field(
        default=PASSIVE_TIMEOUT,
        description="A device silent for this long is published offline (default 1500 minutes, "
        "Zigbee2MQTT's passive timeout).",
    )


class HomeAssistantConfig(NodeConfig):
    """``zigbee2mqtt.homeassistant`` as a mapping."""

    discovery_topic: str = Field(default="homeassistant", description="Home Assistant's discovery prefix.")
    status_topic: str = Field(
        default="homeassistant/status",
        description="Where Home Assistant says 'online' after a restart: discovery is published again.",
    )


class DevicePublishing(NodeConfig):
    """How one device's state is published: Zigbee2MQTT's device options of the same names."""

    retain: bool | None = Field(default=None, description="Publish the device's state retained (default: as the node).")
    qos: Literal[0, 1, 2] | None = Field(default=None, description="QoS of the device's state (default: the node's).")
    filtered_attributes: list[str] = Field(
        default_factory=list,
        description="Regular expressions (each matching a whole key): keys left out of the published state "
        "(last_seen and linkquality included), as Zigbee2MQTT's filtered_attributes.",
    )

    @field_validator("filtered_attributes")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"filtered_attributes: {pattern!r} is not a regular expression ({exc})") from None
        return value


class Zigbee2MqttConfig(NodeConfig):
    """``zigbee2mqtt`` on ``mqtt-out``: Zigbee2MQTT's settings of the same names and defaults."""

    base_topic: str = Field(
        default="zigbee2mqtt",
        description="First level of the topics. One per flow: left unset, it is the decoder's `base_topic`; "
        "set differently on both, the flow does not validate.",
    )
    availability: bool | AvailabilityConfig = Field(
        default=False, description="Publish <base>/<name>/availability (true, or {timeout: 25h})."
    )
    homeassistant: bool | HomeAssistantConfig = Field(
        default=False, description="Publish Home Assistant MQTT discovery (true, or {discovery_topic, status_topic})."
    )
    last_seen: LastSeen = Field(
        default="disable",
        description="Zigbee2MQTT's advanced.last_seen: add last_seen (when the device last sent anything, in event "
        "time) to every device state, as ISO_8601, ISO_8601_local or epoch (milliseconds); disable: no last_seen.",
    )
    output: Output = Field(
        default="json",
        description="Zigbee2MQTT's advanced.output: a device state as one JSON object on <base>/<name> (json), "
        "each key on <base>/<name>/<key> (attribute), or both (attribute_and_json).",
    )
    device_options: DevicePublishing = Field(
        default_factory=DevicePublishing,
        description="retain, qos, filtered_attributes for every device (Zigbee2MQTT's device_options).",
    )
    devices: dict[str, DevicePublishing] = Field(
        default_factory=dict,
        description="IEEE address (any usual form) -> retain, qos, filtered_attributes of that device, over "
        "device_options (Zigbee2MQTT's devices.<ieee> keys).",
    )

    @field_validator("base_topic")
    @classmethod
    def _plain_topic(cls, value: str) -> str:
        if not value or "+" in value or "#" in value or value.endswith("/"):
            raise ValueError("base_topic is a topic without wildcards or a trailing '/'")
        return value
