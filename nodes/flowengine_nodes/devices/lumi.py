"""Xiaomi/Aqara (LUMI) converters shared by the lock family and the household's sensors, plug and button.

``lumi_basic`` is zigbee-herdsman-converters' ``numericAttributes2Payload`` over genBasic: the
heartbeat every LUMI device sends, a MI_STRUCT in 0xFF01, a ZCL structure in 0xFF02 or a TLV octet
string in 0x00F7, whose keys mean different things per model (voltage and battery, device
temperature, power-outage count, trigger count, the contact/temperature/humidity/pressure/state of
key 100-102, the plug's energy/voltage/current/power …). The per-model switches are reproduced for
the models defined here (ZNMS12LM and the six household models); ``compat: 1`` keeps converters
20.58's differences that the lock's vectors pin (key 0x0509's table, no rounding of key 0x020B,
key 0x0401 unmodelled).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Mapping
from typing import Any, Final

from flowengine_nodes.devices.converters import (
    ATTR_ON_OFF,
    ATTR_PRESENT_VALUE,
    CLUSTER_ANALOG_INPUT,
    CLUSTER_BASIC,
    CLUSTER_ILLUMINANCE,
    CLUSTER_MULTISTATE_INPUT,
    CLUSTER_ON_OFF,
    CLUSTER_TEMPERATURE,
    REPORT_TYPES,
    assert_number,
    get_from_lookup,
    js_divide,
    js_key,
    js_round,
    number_value,
    parse_float,
    precision_round,
    strict_equals,
    to_number,
)
from flowengine_nodes.devices.definitions import Converter, ConvertInput
from flowengine_nodes.devices.jsvalues import (
    UNDEFINED,
    JsBigInt,
    JsObject,
    JsTypeError,
    StructElement,
    parse_int16,
    to_string16,
    utf16_units,
)

# genBasic attribute ids zigbee-herdsman names (so ``lumi_basic`` sees a name, not a number).
BASIC_NAMED: Final = frozenset([*range(0, 21), 0x4000])

_TEMPERATURE_100: Final = frozenset({"WSDCGQ11LM"})
_STATE_100_IGNORED: Final = frozenset({"ZNMS12LM", "RTCGQ11LM", "SJCGQ11LM"})
_BOOLEAN_KEYS: Final = {513: "power_outage_memory", 514: "auto_off", 515: "led_disabled_night",
                        519: "consumer_connected", 645: "lock_relay"}


def battery_percentage(voltage: float, low: float, high: float) -> float:
    """``batteryVoltageToPercentage`` with ``{min: low, max: high}`` (``toPercentage``)."""
    clamped = high if voltage > high else low if voltage < low else voltage
    percent = (clamped - low) / (high - low) * 100
    if percent - percent == 0:  # finite: js_round inlined (halves go up)
        floor = math.floor(percent)
        return floor + 1 if percent - floor >= 0.5 else floor
    return js_round(percent)


def _battery(payload: dict[str, Any], voltage: Any, meta: Mapping[str, Any]) -> None:
    battery_range = meta.get("battery_range")
    if battery_range is not None:
        low, high = battery_range
        payload["battery"] = battery_percentage(voltage if type(voltage) is int else assert_number(voltage), low, high)


def entries(value: Any) -> tuple[Iterable[int], Any]:
    """``Object.entries(value)`` for the values a MI_STRUCT slot can hold, as (keys, indexable).

    The integer keys in ``Object.entries`` order, and what ``indexable[key]`` reads the values
    from; no (key, value) pairs are built.
    """
    if value is None:
        raise JsTypeError("Object.entries(undefined)")
    if isinstance(value, dict):
        return sorted(value), value  # the keys are distinct: sorting them sorts the entries
    if isinstance(value, (bytes, list)):
        return range(len(value)), value
    if isinstance(value, str):
        units = utf16_units(value)
        return range(len(units)), units
    return (), None  # numbers, BigInts and plain objects have no integer keys


def numeric_attributes(msg: ConvertInput, keys: Iterable[int], values: Any) -> dict[str, Any]:
    """``numericAttributes2Payload`` for one model over ``values[key]`` for ``keys`` in order."""
    model = msg.model
    compat = msg.compat
    payload: dict[str, Any] = {}
    for key in keys:
        if key not in _KNOWN_KEYS:
            continue  # most heartbeat keys mean nothing to the converter: skip the chain below
        value = values[key]
        # The heartbeat's keys first: the keys are distinct, so the order of these tests
        # changes nothing but how many are made.
        if key == 1:
            payload["voltage"] = UNDEFINED if value is None else value
            battery_range = msg.meta.get("battery_range")
            if battery_range is not None:  # (_battery inlined: every heartbeat has this key)
                payload["battery"] = battery_percentage(
                    value if type(value) is int else assert_number(value), *battery_range
                )
        elif key == 3:  # an int needs no assertNumber call (the usual value)
            payload["device_temperature"] = value if type(value) is int else assert_number(value)
        elif key == 5:
            payload["power_outage_count"] = (value if type(value) is int else assert_number(value)) - 1
        elif key == 65281:  # the MI_STRUCT heartbeat
            payload.update(numeric_attributes(msg, *entries(value)))
        elif key == 0:
            payload["detection_period"] = _plain(value)
        elif key == 6:
            if model in ("MCCGQ11LM", "SJCGQ11LM"):
                count = parse_int16(to_string16(assert_number(value))[-4:])
                payload["trigger_count"] = count - 1
        elif key == 11:
            if model == "RTCGQ11LM":
                payload["illuminance"] = assert_number(value)
        elif key == 100:
            if model == "MCCGQ11LM":
                payload["contact"] = strict_equals(value, 0)
            elif model in _TEMPERATURE_100:
                temperature = number_value(js_divide(parse_float(value), 100.0))
                if -65 < temperature < 65:
                    payload["temperature"] = temperature
            elif model not in _STATE_100_IGNORED:
                payload["state"] = "ON" if strict_equals(value, 1) else "OFF"
        elif key == 101:
            if model in _TEMPERATURE_100:
                humidity = number_value(js_divide(parse_float(value), 100.0))
                if 0 <= humidity <= 100:
                    payload["humidity"] = humidity
        elif key == 102:
            if model in _TEMPERATURE_100:
                payload["pressure"] = number_value(js_divide(assert_number(value), 100.0))
        elif key == 149:
            payload["energy"] = payload["consumption"] = assert_number(value)
        elif key == 150:
            payload["voltage"] = number_value(assert_number(value) * 0.1)
        elif key == 151:
            payload["current"] = number_value(assert_number(value) * 0.001)
        elif key == 152:
            payload["power"] = assert_number(value)
        elif key == 240:
            payload["flip_indicator_light"] = "ON" if strict_equals(value, 1) else "OFF"
        elif key == 247:
            tlv = buffer_to_data(value)
            payload.update(numeric_attributes(msg, sorted(tlv), tlv))
        elif key == 258:
            payload["detection_interval"] = _plain(value)
        elif key == 293:
            payload["click_mode"] = get_from_lookup(value, {1: "fast", 2: "multi"})
        elif key == 512:
            payload["operation_mode"] = get_from_lookup(value, {0: "decoupled", 1: "control_relay"})
        elif key in _BOOLEAN_KEYS:
            payload[_BOOLEAN_KEYS[key]] = strict_equals(value, 1)
        elif key == 523:
            number = assert_number(value)
            payload["overload_protection"] = precision_round(number, 2) if compat == 2 else number
        elif key == 550:
            payload["button_switch_mode"] = "relay_and_usb" if strict_equals(value, 1) else "relay"
        elif key == 1028:
            payload["motor_state"], payload["running"] = get_from_lookup(
                value, {0: ("stopped", False), 1: ("opening", True), 2: ("closing", True)}
            )
        elif key == 1289:
            table = {1: "dual_ct", 3: "rgbw"} if compat == 1 else {1: "dual_ct", 2: "rgb", 3: "rgbw"}
            payload["dimmer_mode"] = get_from_lookup(value, table)
        elif key == 1025:
            if compat == 1:
                # Window-covering options under converters 20.58: not modelled; publish nothing rather than guess.
                raise JsTypeError("attribute 0x0401 is not modelled")
            payload["options"] = {
                "reverse_direction": _char_at(value, 2) == "\x01",
                "hand_open": _char_at(value, 5) == "\x00",
            }
        elif key == 65282:
            _struct_ff02(payload, value, msg.meta)
    return payload


#: Every key ``numeric_attributes`` reads (the others produce nothing).
_KNOWN_KEYS: Final = frozenset({0, 1, 3, 5, 6, 11, 100, 101, 102, 149, 150, 151, 152, 240, 247, 258, 293, 512,
                                *_BOOLEAN_KEYS, 523, 550, 1028, 1289, 1025, 65281, 65282})


def _char_at(value: Any, index: int) -> Any:
    """``value[index]`` compared with a one-character string: only strings can match."""
    if isinstance(value, str):
        units = utf16_units(value)
        return units[index] if index < len(units) else None
    return None


def _plain(value: Any) -> Any:
    """A value copied into the payload as is; values without a faithful JSON form are refused."""
    if _contains_object(value):
        raise JsTypeError("time-of-day and date values are not modelled")
    return UNDEFINED if value is None else value


def _contains_object(value: Any) -> bool:
    if isinstance(value, JsObject):
        return True
    if isinstance(value, list):
        return any(_contains_object(item) for item in value)
    if isinstance(value, StructElement):
        return _contains_object(value.value)
    if isinstance(value, dict):
        return any(_contains_object(item) for item in value.values())
    return False


def _element(value: Any, index: int) -> Any:
    """``value[index].elmVal`` (throws where ``value[index]`` is undefined)."""
    if isinstance(value, (list, str, bytes)):
        if index >= len(value):
            raise JsTypeError("cannot read elmVal of undefined")
        item = value[index]
        return item.value if isinstance(item, StructElement) else None
    if isinstance(value, dict):
        if index not in value:
            raise JsTypeError("cannot read elmVal of undefined")
        return None
    raise JsTypeError("cannot read elmVal of undefined")


def _struct_ff02(payload: dict[str, Any], value: Any, meta: Mapping[str, Any]) -> None:
    """0xFF02 as a ZCL structure: element 1 is the voltage, element 4 the power-outage count + 1."""
    voltage = _element(value, 1)
    payload["voltage"] = UNDEFINED if voltage is None else voltage
    _battery(payload, voltage, meta)
    count = _element(value, 4)
    payload["power_outage_count"] = math.nan if count is None else to_number(count) - 1


_UNSIGNED: Final = {16: 1, 32: 1, 33: 2, 34: 3, 35: 4, 36: 5, 37: 6, 38: 7}
_SIGNED: Final = {40: 1, 41: 2, 42: 3, 43: 4, 44: 5, 45: 6, 46: 7}


def buffer_to_data(value: Any) -> dict[int, Any]:
    """``buffer2DataObject``: index/type/value entries of a Buffer (anything else gives ``{}``).

    Reads past the end throw (``RangeError``), as Node's ``Buffer.read*`` do.
    """
    result: dict[int, Any] = {}
    if not isinstance(value, bytes):
        return result
    size = len(value)
    i = 0
    while i < size - 1:
        index = value[i]
        type_id = value[i + 1]
        item: Any = None
        width = _UNSIGNED.get(type_id) or _SIGNED.get(type_id)
        if width is not None:
            if i + 2 + width > size:
                raise JsTypeError("RangeError: out of range")
            item = int.from_bytes(value[i + 2 : i + 2 + width], "little", signed=type_id in _SIGNED)
            i += width + 1
        elif type_id in (39, 47):
            if i + 10 > size:
                raise JsTypeError("RangeError: out of range")
            item = JsBigInt(int.from_bytes(value[i + 2 : i + 10], "big", signed=type_id == 47))
            i += 9
        elif type_id == 57:
            if i + 6 > size:
                raise JsTypeError("RangeError: out of range")
            item = number_value(struct.unpack_from("<f", value, i + 2)[0])
            i += 5
        elif type_id == 58:
            if i + 10 > size:
                raise JsTypeError("RangeError: out of range")
            item = number_value(struct.unpack_from("<d", value, i + 2)[0])
            i += 5  # sic: the reference moves past a double by five bytes
        elif type_id == 66:
            i += 2
        elif type_id == 95:
            i += 5
        if item is not None:
            result[index] = item
        i += 1
    return result


def lumi_basic(msg: ConvertInput) -> dict[str, Any]:
    """``lumi_basic``: the genBasic heartbeat (MI_STRUCT in 0xFF01, structure in 0xFF02, TLV in 0x00F7)."""
    data = msg.data
    keys = sorted(data)
    if not BASIC_NAMED.isdisjoint(keys):
        keys = [key for key in keys if key not in BASIC_NAMED]
    return numeric_attributes(msg, keys, data)


def lumi_basic_struct(value: Any, msg: ConvertInput) -> dict[str, Any]:
    """``lumi_basic`` of a report of the 0xFF01 structure alone (its single form)."""
    if type(value) is dict:  # the parsed structure (the usual value): ``entries`` without the call
        return numeric_attributes(msg, sorted(value), value)
    return numeric_attributes(msg, *entries(value))


def lumi_contact(msg: ConvertInput) -> dict[str, Any]:
    """``lumi_contact``: genOnOff's onOff, 0 meaning closed (``contact: true``)."""
    return lumi_contact_value(msg.data.get(ATTR_ON_OFF), msg)


def lumi_contact_value(value: Any, msg: ConvertInput) -> dict[str, Any]:
    """``lumi_contact`` of one onOff value (its single form)."""
    return {"contact": value == 0 and (type(value) is int or type(value) is float)}  # value === 0


_CLICKS: Final = {"1": "single", "2": "double", "3": "triple", "4": "quadruple"}


def lumi_action(msg: ConvertInput) -> dict[str, Any] | None:
    """``lumi_action`` for WXKG11LM: onOff truthy is a single click, else attribute 0x8000 counts clicks."""
    data = msg.data
    return _action(data.get(ATTR_ON_OFF), data.get(0x8000))


def _action(on_off: Any, count: Any) -> dict[str, Any] | None:
    clicks: Any = None
    if _truthy(on_off):
        clicks = 1
    elif _truthy(count):
        clicks = count
    action = _CLICKS.get(js_key(clicks))
    return {"action": action} if action is not None else None


def lumi_action_on_off(value: Any, msg: ConvertInput) -> dict[str, Any] | None:
    """``lumi_action`` of a report of onOff alone (a single form)."""
    return _action(value, None)


def lumi_action_clicks(value: Any, msg: ConvertInput) -> dict[str, Any] | None:
    """``lumi_action`` of a report of the click count (0x8000) alone (a single form)."""
    return _action(None, value)


_MULTISTATE: Final = {"0": "hold", "1": "single", "2": "double", "3": "triple", "255": "release"}


def lumi_action_multistate(msg: ConvertInput) -> dict[str, Any]:
    """``lumi_action_multistate`` for WXKG11LM: presentValue 0 hold, 1-3 clicks, 255 release.

    Any other value (or none) gives ``{action: undefined}``: a payload of ``linkquality`` alone.
    Zigbee2MQTT also drops a repeated transaction sequence number within 10 s; reports are
    decoded one at a time here, so that never applies.
    """
    return lumi_action_multistate_value(msg.data.get(ATTR_PRESENT_VALUE), msg)


def lumi_action_multistate_value(value: Any, msg: ConvertInput) -> dict[str, Any]:
    """``lumi_action_multistate`` of one presentValue (its single form)."""
    return {"action": _MULTISTATE.get(js_key(value), UNDEFINED)}


def _truthy(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, (int, float, str)):
        return bool(value) and value == value
    return True


def lumi_temperature(msg: ConvertInput) -> dict[str, Any] | None:
    """``lumi_temperature``: measuredValue / 100 when strictly within -65..65 °C."""
    return lumi_temperature_value(msg.data.get(0x0000), msg)


def lumi_temperature_value(value: Any, msg: ConvertInput) -> dict[str, Any] | None:
    """``lumi_temperature`` of one measuredValue (its single form)."""
    if type(value) is int and -(2**53) < value < 2**53:  # the usual value: plain division
        celsius: float = value / 100
        if -65 < celsius < 65:
            return {"temperature": int(celsius) if celsius.is_integer() else celsius}  # number_value
        return None
    temperature = js_divide(to_number(value), 100.0)
    if -65 < temperature < 65:
        return {"temperature": number_value(temperature)}
    return None


def lumi_illuminance(msg: ConvertInput) -> dict[str, Any] | None:
    """``lumi_illuminance``: an illuminance report is also a motion detection (occupancy with timeout).

    Runs ``occupancy_with_timeout`` first, which throws in the reference (see
    :func:`~flowengine_nodes.devices.converters.illuminance_occupancy_guard`): nothing is
    published; live, it adds ``illuminance`` (measuredValue, as is) to ``{occupancy: true}``.
    """
    return lumi_illuminance_value(msg.data.get(0x0000), msg)


def lumi_illuminance_value(value: Any, msg: ConvertInput) -> dict[str, Any] | None:
    """``lumi_illuminance`` of one measuredValue (its single form)."""
    if not msg.options.get("live_timers"):
        return None
    return {"occupancy": True, "illuminance": UNDEFINED if value is None else value}


def lumi_power(msg: ConvertInput) -> dict[str, Any]:
    """``lumi_power`` (genAnalogInput): presentValue as ``power`` (undefined when absent)."""
    return lumi_power_value(msg.data.get(ATTR_PRESENT_VALUE), msg)


def lumi_power_value(value: Any, msg: ConvertInput) -> dict[str, Any]:
    """``lumi_power`` of one presentValue (its single form)."""
    return {"power": UNDEFINED if value is None else value}


LUMI_BASIC: Final = Converter("lumi_basic", CLUSTER_BASIC, REPORT_TYPES, lumi_basic, {0xFF01: lumi_basic_struct})
LUMI_CONTACT: Final = Converter("lumi_contact", CLUSTER_ON_OFF, REPORT_TYPES, lumi_contact,
                                {ATTR_ON_OFF: lumi_contact_value})
LUMI_ACTION: Final = Converter("lumi_action", CLUSTER_ON_OFF, frozenset({"attributeReport"}), lumi_action,
                               {ATTR_ON_OFF: lumi_action_on_off, 0x8000: lumi_action_clicks})
LUMI_ACTION_MULTISTATE: Final = Converter(
    "lumi_action_multistate", CLUSTER_MULTISTATE_INPUT, REPORT_TYPES, lumi_action_multistate,
    {ATTR_PRESENT_VALUE: lumi_action_multistate_value},
)
LUMI_TEMPERATURE: Final = Converter("lumi_temperature", CLUSTER_TEMPERATURE, REPORT_TYPES, lumi_temperature,
                                    {0x0000: lumi_temperature_value})
LUMI_ILLUMINANCE: Final = Converter("lumi_illuminance", CLUSTER_ILLUMINANCE, REPORT_TYPES, lumi_illuminance,
                                    {0x0000: lumi_illuminance_value})
LUMI_POWER: Final = Converter("lumi_power", CLUSTER_ANALOG_INPUT, REPORT_TYPES, lumi_power,
                              {ATTR_PRESENT_VALUE: lumi_power_value})
