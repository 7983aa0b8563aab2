"""The settings of ``mqtt-out``'s Zigbee2MQTT mode (``zigbee2mqtt: {...}``), apart from the mode.

``mqtt-out``'s config names these models, so they load with the node type; the mode itself
(:mod:`.bridge` and its Home Assistant discovery) loads only when a flow turns it on.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from flowengine import Duration, NodeConfig

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

    @field_validator("base_topic")
    @classmethod
    def _plain_topic(cls, value: str) -> str:
        if not value or "+" in value or "#" in value or value.endswith("/"):
            raise ValueError("base_topic is a topic without wildcards or a trailing '/'")
        return value
