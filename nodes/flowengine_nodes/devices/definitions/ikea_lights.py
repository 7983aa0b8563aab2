"""IKEA TRADFRI lights: LED1545G12 (TRADFRI bulb E26/E27, white spectrum, globe, opal, 980 lm).

As zigbee-herdsman-converters 26.112.0 builds it from ``ikeaLight({colorTemp: true})`` and
``identify()``: ``fromZigbee`` on_off, brightness, level_config, color_colortemp (with Zigbee2MQTT's
colour-state sync), power_on_behavior; the light's features (state, brightness, color_temp
250-454 mired, color_temp_startup, level_config) grouped under ``light``.
"""

from __future__ import annotations

from typing import Final

from flowengine_nodes.devices.converters import (
    BRIGHTNESS,
    COLOR_COLORTEMP,
    LEVEL_CONFIG,
    ON_OFF,
    POWER_ON_BEHAVIOR,
)
from flowengine_nodes.devices.definitions import Definition, EventInput, Expose, Option, ToZigbee, ValueSet
from flowengine_nodes.devices.events import DeviceEvent, SwitchEvent
from flowengine_nodes.devices.to_zigbee import LIGHT

LIGHT_EXPOSES: Final = (
    Expose("state", "binary", "On/off state of this light", access=7, value_on="ON", value_off="OFF", group="light"),
    Expose("brightness", "numeric", "Brightness of this light", access=7, value_min=0, value_max=254, group="light"),
    Expose("color_temp", "numeric", "Color temperature of this light", access=7, unit="mired", value_min=250,
           value_max=454, group="light"),
    Expose("color_temp_startup", "numeric", "Color temperature after cold power on of this light", access=7,
           unit="mired", value_min=250, value_max=454, group="light"),
    Expose("level_config", "text", "Configure genLevelCtrl (on_off_transition_time, on_transition_time, "
           "off_transition_time, current_level_startup, on_level, execute_if_off)", access=7, group="light"),
    Expose("effect", "enum", "Triggers an effect on the light (e.g. make light blink for a few seconds)", access=2,
           values=("blink", "breathe", "okay", "channel_change", "finish_effect", "stop_effect")),
    Expose("power_on_behavior", "enum", "Controls the behavior when the device is powered on after power loss",
           access=7, values=("off", "on", "toggle", "previous")),
    Expose("color_options", "text", "Color options (execute_if_off: whether color and color temperature can be "
           "set while light is off)", access=2),
    Expose("identify", "enum", "Initiate device identification", access=2, values=("identify",)),
    Expose("linkquality", "numeric", "Link quality (signal strength)", unit="lqi", value_min=0, value_max=255),
)

OPTIONS: Final = (
    Option("transition", "numeric", "Controls the transition time (in seconds) of on/off, brightness, color "
           "temperature (if applicable) and color (if applicable) changes. Defaults to `0` (no transition).", 0),
    Option("unfreeze_support", "binary", "Whether to unfreeze IKEA lights (that are known to be frozen) before "
           "issuing a command (default true).", True),
    Option("color_sync", "binary", "When enabled colors will be synced, e.g. if the light supports both color x/y "
           "and color temperature a conversion from color x/y to color temperature will be done when setting the "
           "x/y color (default true).", True),
    Option("identify_timeout", "numeric", "Sets the duration of the identification procedure in seconds (1 to "
           "30, default 3).", 3),
    Option("state_action", "binary", "State actions will also be published as 'action' when true (default "
           "false).", False),
)

_ANY = ValueSet(any_value=True)


def _capabilities(compat: int, legacy: bool) -> dict[str, ValueSet]:
    return {
        "state": ValueSet(frozenset({"ON", "OFF"})),
        "action": ValueSet(frozenset({"on", "off"})),
        "brightness": _ANY,
        "level_config": _ANY,
        "color_temp": _ANY,
        "color_temp_startup": _ANY,
        "color_mode": _ANY,
        "color": _ANY,
        "color_options": _ANY,
        "power_on_behavior": ValueSet(frozenset({"off", "on", "toggle", "previous"})),
        "linkquality": _ANY,
    }


_ON: Final = SwitchEvent("switched_on", "light")
_OFF: Final = SwitchEvent("switched_off", "light")


def light_event(report: EventInput) -> DeviceEvent | None:
    """``switched_on``/``switched_off`` (device ``light``) whenever the published state carries ``state``."""
    result = report.result
    state = None if result is None else result.get("state")
    if state == "ON":
        return _ON
    if state == "OFF":
        return _OFF
    return None


DEFINITIONS: Final = (
    Definition(
        zigbee_models=("TRADFRI bulb E27 WS opal 980lm", "TRADFRI bulb E26 WS opal 980lm",
                       "TRADFRI bulb E27 WS\ufffdopal 980lm"),
        model="LED1545G12",
        vendor="IKEA",
        description="TRADFRI bulb E26/E27, white spectrum, globe, opal, 980 lm",
        exposes=LIGHT_EXPOSES,
        converters=(ON_OFF, BRIGHTNESS, LEVEL_CONFIG, COLOR_COLORTEMP, POWER_ON_BEHAVIOR),
        capabilities=_capabilities,
        options=OPTIONS,
        ota=True,
        to_zigbee=(
            *LIGHT,
            ToZigbee(("level_config",)), ToZigbee(("color_temp_startup",)), ToZigbee(("power_on_behavior",)),
            ToZigbee(("effect",)), ToZigbee(("color_options",)), ToZigbee(("identify",)),
        ),
        events=light_event,
        event_capabilities={"event": ValueSet(frozenset({"switched_on", "switched_off"})),
                            "family": ValueSet(frozenset({"switch"})), "device": ValueSet(frozenset({"light"})),
                            "power": ValueSet(frozenset({None}))},
    ),
)
