"""Xiaomi/Aqara household devices: contact, motion, weather, button, leak sensors and the smart plug.

MCCGQ11LM (lumi.sensor_magnet.aq2), RTCGQ11LM (lumi.sensor_motion.aq2), WSDCGQ11LM (lumi.weather),
WXKG11LM (lumi.sensor_switch.aq2), SJCGQ11LM (lumi.sensor_wleak.aq1) and ZNCZ02LM (lumi.plug), as
zigbee-herdsman-converters 26.112.0 defines them: the same ``fromZigbee`` converters in the same
order, the same exposes, options and defaults, and ``meta.battery.voltageToPercentage`` (2850 to
3000 mV for the battery devices). Their typed events are declared here too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from flowengine_nodes.devices.converters import (
    CLUSTER_ILLUMINANCE,
    CLUSTER_OCCUPANCY,
    HUMIDITY,
    IAS_WATER_LEAK,
    IGNORE_EVERY_ATTRIBUTE,
    OCCUPANCY_WITH_TIMEOUT,
    ON_OFF,
    PRESSURE,
    REPORT_TYPES,
    ignore,
    is_number,
    number_of,
)
from flowengine_nodes.devices.definitions import Converter, Definition, EventInput, Expose, Option, ToZigbee, ValueSet
from flowengine_nodes.devices.events import (
    ButtonEvent,
    ContactEvent,
    DeviceEvent,
    LeakEvent,
    MotionEvent,
    SwitchEvent,
    motion_detected,
    power_changed,
)
from flowengine_nodes.devices.lumi import (
    LUMI_ACTION,
    LUMI_ACTION_MULTISTATE,
    LUMI_BASIC,
    LUMI_CONTACT,
    LUMI_ILLUMINANCE,
    LUMI_POWER,
    LUMI_TEMPERATURE,
)
from flowengine_nodes.devices.to_zigbee import LUMI_PLUG

# --- exposes (Zigbee2MQTT's presets) ------------------------------------------------------------

BATTERY = Expose("battery", "numeric", "Remaining battery in %, can take up to 24 hours before reported",
                 unit="%", value_min=0, value_max=100)
VOLTAGE = Expose("voltage", "numeric", "Voltage of the battery in millivolts", unit="mV")
DEVICE_TEMPERATURE = Expose("device_temperature", "numeric", "Temperature of the device", unit="°C")
POWER_OUTAGE_COUNT = Expose("power_outage_count", "numeric", "Number of power outages")
TRIGGER_COUNT = Expose("trigger_count", "numeric",
                       "Indicates how many times the sensor was triggered (since last scheduled report)")
IDENTIFY = Expose("identify", "enum", "Initiate device identification. This device is asleep by default.You may "
                  "need to wake it up first before sending the identify command.", access=2, values=("identify",))
CONTACT = Expose("contact", "binary", "Indicates if the contact is closed (= true) or open (= false)",
                 value_on="false", value_off="true")
OCCUPANCY = Expose("occupancy", "binary", "Indicates whether the device detected occupancy",
                   value_on="true", value_off="false")
ILLUMINANCE = Expose("illuminance", "numeric", "Measured illuminance", unit="lx")
TEMPERATURE = Expose("temperature", "numeric", "Measured temperature value", unit="°C")
HUMIDITY_EXPOSE = Expose("humidity", "numeric", "Measured relative humidity", unit="%")
PRESSURE_EXPOSE = Expose("pressure", "numeric", "The measured atmospheric pressure", unit="hPa")
BUTTON_ACTIONS: Final = ("single", "double", "triple", "quadruple", "hold", "release")
ACTION = Expose("action", "enum", "Triggered action (e.g. a button click)", values=BUTTON_ACTIONS)
WATER_LEAK = Expose("water_leak", "binary", "Indicates whether the device detected a water leak",
                    value_on="true", value_off="false")
BATTERY_LOW = Expose("battery_low", "binary", "Indicates whether the battery of the device is almost empty",
                     value_on="true", value_off="false")
SWITCH_STATE = Expose("state", "binary", "On/off state of the switch", access=7, value_on="ON", value_off="OFF",
                      group="switch")
POWER = Expose("power", "numeric", "Instantaneous measured power", access=5, unit="W")
ENERGY = Expose("energy", "numeric", "Sum of consumed energy", unit="kWh")
POWER_OUTAGE_MEMORY = Expose("power_outage_memory", "binary", "Enable/disable the power outage memory, this "
                             "recovers the on/off mode after power failure", access=7, value_on="true",
                             value_off="false")
LINKQUALITY = Expose("linkquality", "numeric", "Link quality (signal strength)", unit="lqi", value_min=0,
                     value_max=255)

# --- options ------------------------------------------------------------------------------------


def _calibration(name: str, percentual: bool = False) -> Option:
    kind = "percentual" if percentual else "absolute"
    return Option(f"{name}_calibration", "numeric", f"Calibrates the {name} value ({kind} offset), takes into "
                  "effect on next report of device.", 0)


def _precision(name: str, default: int) -> Option:
    return Option(f"{name}_precision", "numeric", f"Number of digits after decimal point for {name}, takes into "
                  "effect on next report of device. This option can only decrease the precision, not increase it.",
                  default)


DEVICE_TEMPERATURE_CALIBRATION = _calibration("device_temperature")
IDENTIFY_TIMEOUT = Option("identify_timeout", "numeric", "Sets the duration of the identification procedure in "
                          "seconds (i.e., how long the device would flash).The value ranges from 1 to 30 seconds "
                          "(default: 3).", 3)
OCCUPANCY_TIMEOUT = Option("occupancy_timeout", "numeric", "Time in seconds after which occupancy is cleared after "
                           "detecting it (default 90 seconds).", 90)
NO_OCCUPANCY_SINCE = Option("no_occupancy_since", "list", "Sends a message the last time occupancy (occupancy: "
                            "true) was detected (not supported by flowengine: accepted and ignored).", None)
STATE_ACTION = Option("state_action", "binary", "State actions will also be published as 'action' when true "
                      "(default false).", False)

#: The battery devices' ``meta.battery.voltageToPercentage``.
BATTERY_META: Final = {"battery_range": (2850, 3000)}

# --- capabilities (for the lint) ----------------------------------------------------------------

_ANY = ValueSet(any_value=True)
_BOOL = ValueSet(frozenset({True, False}))
_ON_OFF = ValueSet(frozenset({"ON", "OFF"}))
_BASIC_KEYS: Final = ("voltage", "battery", "device_temperature", "power_outage_count", "detection_period",
                      "energy", "consumption", "current", "power", "detection_interval", "overload_protection",
                      "options", "click_mode", "operation_mode", "dimmer_mode", "motor_state")


def _basic_capabilities(model: str) -> dict[str, ValueSet]:
    """What ``lumi_basic`` can publish for a model (every numeric key, the booleans, the lookups)."""
    caps: dict[str, ValueSet] = {key: _ANY for key in _BASIC_KEYS}
    for key in ("power_outage_memory", "auto_off", "led_disabled_night", "consumer_connected", "lock_relay",
                "running"):
        caps[key] = _BOOL
    caps["flip_indicator_light"] = _ON_OFF
    caps["button_switch_mode"] = ValueSet(frozenset({"relay", "relay_and_usb"}))
    caps["linkquality"] = _ANY
    if model in ("MCCGQ11LM", "SJCGQ11LM"):
        caps["trigger_count"] = _ANY
    if model == "RTCGQ11LM":
        caps["illuminance"] = _ANY
    if model == "MCCGQ11LM":
        caps["contact"] = _BOOL
    if model == "WSDCGQ11LM":
        caps["temperature"] = caps["humidity"] = caps["pressure"] = _ANY
    if model in ("WXKG11LM", "ZNCZ02LM"):
        caps["state"] = _ON_OFF
    return caps


def _capabilities(model: str, extra: Mapping[str, ValueSet]) -> Any:
    caps = {**_basic_capabilities(model), **extra}

    def capabilities(compat: int, legacy: bool) -> dict[str, ValueSet]:
        return dict(caps)

    return capabilities


# --- events -------------------------------------------------------------------------------------


_CLOSED: Final = ContactEvent("contact_closed")
_OPENED: Final = ContactEvent("contact_opened")
#: Events are immutable: the few possible ones are built once.
_BUTTON: Final = {action: ButtonEvent("button_pressed", action) for action in ("single", "double", "triple",
                                                                              "quadruple", "hold", "release")}
_LEAK: Final = {(leak, low): LeakEvent("leak_detected" if leak else "leak_cleared", low)
                for leak in (True, False) for low in (True, False, None)}
_PLUG_ON: Final = SwitchEvent("switched_on", "plug")
_PLUG_OFF: Final = SwitchEvent("switched_off", "plug")


def contact_event(report: EventInput) -> DeviceEvent | None:
    """``contact_closed``/``contact_opened`` whenever the published state carries ``contact``."""
    result = report.result
    contact = None if result is None else result.get("contact")
    if contact is True:
        return _CLOSED
    if contact is False:
        return _OPENED
    return None


def motion_event(report: EventInput) -> DeviceEvent | None:
    """``motion_detected`` for an occupancy report of 1 or any illuminance report (what Zigbee2MQTT times).

    Derived from the report itself, so it is there even where the reference publishes nothing
    (see :func:`~flowengine_nodes.devices.converters.illuminance_occupancy_guard`). ``timeout`` is the
    ``occupancy_timeout`` option (default 90 s; 0: occupancy never clears by itself).
    """
    if report.msg_type not in REPORT_TYPES:
        return None
    illuminance: float | None = None
    if report.cluster == CLUSTER_OCCUPANCY:
        value = report.data.get(0x0000)
        if not (is_number(value) and value == 1):
            return None
    elif report.cluster == CLUSTER_ILLUMINANCE:
        value = report.data.get(0x0000)
        illuminance = value if is_number(value) and value == value else None
    else:
        return None
    timeout = report.options.get("occupancy_timeout")
    seconds = 90 if timeout is None else number_of(timeout)
    return motion_detected(seconds, illuminance)


def button_event(report: EventInput) -> DeviceEvent | None:
    """``button_pressed`` with the published ``action`` (single … release)."""
    action = (report.result or {}).get("action")
    if not isinstance(action, str):
        return None
    return _BUTTON.get(action) or ButtonEvent("button_pressed", action)


def leak_event(report: EventInput) -> DeviceEvent | None:
    """``leak_detected``/``leak_cleared`` from an IAS zone status (with its ``battery_low`` bit)."""
    result = report.result or {}
    leak = result.get("water_leak")
    if not isinstance(leak, bool):
        return None
    low = result.get("battery_low")
    return _LEAK[leak, low if isinstance(low, bool) else None]


def plug_event(report: EventInput) -> DeviceEvent | None:
    """``switched_on``/``switched_off`` from ``state``, else ``power_changed`` from ``power``."""
    result = report.result or {}
    state = result.get("state")
    if state in ("ON", "OFF") and report.cluster == 0x0006:
        return _PLUG_ON if state == "ON" else _PLUG_OFF
    power = result.get("power")
    if (type(power) is float or type(power) is int) and power == power:  # a number, not NaN
        return power_changed("plug", power)
    return None


_EVENT_ANY = ValueSet(any_value=True)


def _event_caps(values: frozenset[str], **fields: ValueSet) -> dict[str, ValueSet]:
    return {"event": ValueSet(values), **fields}


# --- definitions --------------------------------------------------------------------------------

_BASIC_EXPOSES = (BATTERY, VOLTAGE, DEVICE_TEMPERATURE, POWER_OUTAGE_COUNT)

DEFINITIONS: Final = (
    Definition(
        zigbee_models=("lumi.sensor_magnet.aq2",),
        model="MCCGQ11LM",
        vendor="Aqara",
        description="Door and window sensor",
        exposes=(BATTERY, CONTACT, DEVICE_TEMPERATURE, VOLTAGE, POWER_OUTAGE_COUNT, TRIGGER_COUNT, IDENTIFY,
                 LINKQUALITY),
        converters=(LUMI_BASIC, LUMI_CONTACT),
        capabilities=_capabilities("MCCGQ11LM", {"contact": _BOOL}),
        options=(DEVICE_TEMPERATURE_CALIBRATION, IDENTIFY_TIMEOUT),
        precision={"device_temperature": 0, "voltage": 2},
        meta=BATTERY_META,
        to_zigbee=(ToZigbee(("identify",)),),
        events=contact_event,
        event_capabilities=_event_caps(ContactEvent.values, family=ValueSet(frozenset({"contact"}))),
    ),
    Definition(
        zigbee_models=("lumi.sensor_motion.aq2",),
        model="RTCGQ11LM",
        vendor="Aqara",
        description="Motion sensor",
        exposes=(BATTERY, OCCUPANCY, DEVICE_TEMPERATURE, VOLTAGE, ILLUMINANCE, POWER_OUTAGE_COUNT, LINKQUALITY),
        converters=(LUMI_BASIC, OCCUPANCY_WITH_TIMEOUT, LUMI_ILLUMINANCE),
        capabilities=_capabilities("RTCGQ11LM", {"occupancy": ValueSet(frozenset({True, False})),
                                                 "illuminance": _ANY}),
        options=(DEVICE_TEMPERATURE_CALIBRATION, _calibration("illuminance", percentual=True), OCCUPANCY_TIMEOUT,
                 NO_OCCUPANCY_SINCE),
        precision={"device_temperature": 0, "voltage": 2, "illuminance": 0},
        meta=BATTERY_META,
        events=motion_event,
        event_capabilities=_event_caps(MotionEvent.values, family=ValueSet(frozenset({"motion"})),
                                       timeout=_EVENT_ANY, illuminance=_EVENT_ANY),
    ),
    Definition(
        zigbee_models=("lumi.weather",),
        model="WSDCGQ11LM",
        vendor="Aqara",
        description="Temperature and humidity sensor",
        exposes=(BATTERY, TEMPERATURE, HUMIDITY_EXPOSE, PRESSURE_EXPOSE, VOLTAGE, LINKQUALITY),
        converters=(LUMI_BASIC, LUMI_TEMPERATURE, HUMIDITY, PRESSURE),
        capabilities=_capabilities("WSDCGQ11LM", {}),
        options=(_calibration("temperature"), _precision("temperature", 2), _calibration("humidity"),
                 _precision("humidity", 2), _calibration("pressure"), _precision("pressure", 1)),
        precision={"temperature": 2, "humidity": 2, "pressure": 1, "voltage": 2},
        meta=BATTERY_META,
    ),
    Definition(
        zigbee_models=("lumi.sensor_switch.aq2", "lumi.remote.b1acn01"),
        model="WXKG11LM",
        vendor="Aqara",
        description="Wireless mini switch",
        exposes=(BATTERY, VOLTAGE, DEVICE_TEMPERATURE, POWER_OUTAGE_COUNT, IDENTIFY, ACTION, LINKQUALITY),
        converters=(LUMI_ACTION_MULTISTATE, LUMI_ACTION, LUMI_BASIC),
        capabilities=_capabilities("WXKG11LM", {"action": ValueSet(frozenset(BUTTON_ACTIONS))}),
        options=(DEVICE_TEMPERATURE_CALIBRATION, IDENTIFY_TIMEOUT),
        precision={"voltage": 2, "device_temperature": 0},
        meta=BATTERY_META,
        to_zigbee=(ToZigbee(("identify",)),),
        events=button_event,
        event_capabilities=_event_caps(ButtonEvent.values, family=ValueSet(frozenset({"button"})),
                                       action=ValueSet(frozenset(BUTTON_ACTIONS))),
    ),
    Definition(
        zigbee_models=("lumi.sensor_wleak.aq1",),
        model="SJCGQ11LM",
        vendor="Aqara",
        description="Water leak sensor",
        exposes=(BATTERY, VOLTAGE, DEVICE_TEMPERATURE, POWER_OUTAGE_COUNT, TRIGGER_COUNT, WATER_LEAK, BATTERY_LOW,
                 LINKQUALITY),
        converters=(LUMI_BASIC, IAS_WATER_LEAK),
        capabilities=_capabilities("SJCGQ11LM", {"water_leak": _BOOL, "battery_low": _BOOL}),
        options=(DEVICE_TEMPERATURE_CALIBRATION,),
        precision={"voltage": 2, "device_temperature": 0},
        meta=BATTERY_META,
        events=leak_event,
        event_capabilities=_event_caps(LeakEvent.values, family=ValueSet(frozenset({"leak"})),
                                       battery_low=ValueSet(frozenset({True, False, None}))),
    ),
    Definition(
        zigbee_models=("lumi.plug",),
        model="ZNCZ02LM",
        vendor="Xiaomi",
        description="Mi smart plug",
        exposes=(SWITCH_STATE, POWER, ENERGY, DEVICE_TEMPERATURE, POWER_OUTAGE_MEMORY, LINKQUALITY),
        converters=(ON_OFF, LUMI_POWER, LUMI_BASIC,
                    Converter("ignore_occupancy_report", CLUSTER_OCCUPANCY, REPORT_TYPES, ignore,
                              IGNORE_EVERY_ATTRIBUTE),
                    Converter("ignore_illuminance_report", CLUSTER_ILLUMINANCE, REPORT_TYPES, ignore,
                              IGNORE_EVERY_ATTRIBUTE)),
        capabilities=_capabilities("ZNCZ02LM", {"state": _ON_OFF, "power": _ANY,
                                                "action": ValueSet(frozenset({"on", "off"}))}),
        options=(_calibration("power", percentual=True), _precision("power", 2),
                 _calibration("energy", percentual=True), _precision("energy", 2), DEVICE_TEMPERATURE_CALIBRATION,
                 STATE_ACTION),
        precision={"power": 2, "energy": 2, "device_temperature": 0},
        ota=True,
        to_zigbee=LUMI_PLUG,
        events=plug_event,
        event_capabilities=_event_caps(SwitchEvent.values, family=ValueSet(frozenset({"switch"})),
                                       device=ValueSet(frozenset({"plug"})), power=_EVENT_ANY),
    ),
)
