"""Xiaomi/Aqara door locks: ZNMS11LM (lumi.lock.aq1), ZNMS12LM (lumi.lock.acn02), ZNMS13LM (lumi.lock.acn03).

The converters reproduce Zigbee2MQTT's ``lumi_door_lock_report`` (closuresDoorLock),
``lumi_basic`` (genBasic) and ``lumi_door_lock_low_battery`` (genPowerCfg), quirks included
(LOCK_REFERENCE.md sections 5 and 9.2): ``compat: 1`` is converters 20.58 with the ``legacy``
option, ``compat: 2`` converters 26.x. Values are the JavaScript model of
:mod:`flowengine_nodes.devices.jsvalues`, so ``toString(16)``, ``parseInt`` and ``Buffer.from`` behave
exactly as in the reference.
"""

from __future__ import annotations

import math
import re
from typing import Any, Final

from flowengine_nodes.devices.definitions import Converter, ConvertInput, Definition, Expose, Option, ValueSet
from flowengine_nodes.devices.jsvalues import (
    UNDEFINED,
    JsBigInt,
    JsObject,
    JsTypeError,
    StructElement,
    buffer_from_ascii,
    number_to_string,
    parse_int16,
    to_string16,
    truthy,
    utf16_units,
)

CLUSTER_BASIC: Final = 0x0000
CLUSTER_POWER_CFG: Final = 0x0001
CLUSTER_DOOR_LOCK: Final = 0x0101

ATTR_OPEN: Final = 0xFF10  # opened by finger or password
ATTR_FAILED: Final = 0xFF11  # failed attempt or door bell
ATTR_STRUCT: Final = 0xFF01  # Xiaomi structure / user added or deleted
ATTR_LANGUAGE: Final = 0xFFF2
ATTR_STATUS: Final = 0xFFF6  # lock status (S2 / S2 Pro)
ATTR_BATTERY_ALARM_MASK: Final = 0x0035

#: The converter's ``lockStatusLookup``.
LOOKUP: Final[dict[int, str]] = {
    1: "finger_not_match",
    2: "password_not_match",
    3: "reverse_lock",
    4: "reverse_lock_cancel",
    5: "locked",
    6: "lock_opened",
    7: "finger_add",
    8: "finger_delete",
    9: "password_add",
    10: "password_delete",
    11: "lock_opened_inside",
    12: "lock_opened_outside",
    13: "ring_bell",
    14: "change_language_to",
    15: "finger_open",
    16: "password_open",
    17: "door_closed",
}

#: The 17 ``action`` values of the seed page, in its order.
ACTIONS: Final = tuple(LOOKUP[i] for i in range(1, 18))

#: 0xFFF6 status code (bytes 3-4 as hex) -> (action, state, reverse).
_STATUS: Final[dict[str, tuple[str, str, str]]] = {}
for _codes, _entry in (
    (("0301", "0341"), ("reverse_lock_cancel", "UNLOCK", "UNLOCK")),
    (("0311", "0351"), ("reverse_lock_cancel", "LOCK", "UNLOCK")),
    (("0205", "0245"), ("reverse_lock", "UNLOCK", "LOCK")),
    (("0215", "0255", "1355"), ("reverse_lock", "LOCK", "LOCK")),
    (("0111", "1351", "1451"), ("locked", "LOCK", "UNLOCK")),
    (("0b00", "0640", "0600"), ("lock_opened_outside", "UNLOCK", "UNLOCK")),
    (("0c00", "2300", "0540", "0440"), ("lock_opened_inside", "UNLOCK", "UNLOCK")),
    (("2400", "2401"), ("door_closed", "UNLOCK", "UNLOCK")),
):
    for _code in _codes:
        _STATUS[_code] = _entry

# genBasic attribute ids zigbee-herdsman names (so ``lumi_basic`` sees a name, not a number).
_BASIC_NAMED: Final = frozenset([*range(0, 21), 0x4000])


def _lookup_text(index: float) -> str:
    """``lockStatusLookup[index]`` concatenated into a string: a miss reads ``undefined``."""
    return LOOKUP.get(index, "undefined") if isinstance(index, int) else "undefined"


def _lookup_value(index: float) -> Any:
    """``lockStatusLookup[index]`` as a value: a miss is ``undefined``."""
    return LOOKUP.get(index, UNDEFINED) if isinstance(index, int) else UNDEFINED


def _composite(command: float, user_type: str, user_id: float) -> str:
    """The 0xFF10 action text: ``finger_open_admin_id1``, ``undefined_user_idNaN``, …."""
    role = "_admin" if user_type == "1" else "_user"
    return _lookup_text(14 + command if isinstance(command, int) else command) + role + "_id" + number_to_string(
        user_id
    )


def door_lock_report(msg: ConvertInput) -> dict[str, Any]:
    """``lumi_door_lock_report``: open, failed attempt, bell, user changes, lock status, language."""
    data = msg.data
    result: dict[str, Any] = {}
    if msg.model == "ZNMS11LM":
        value = data.get(ATTR_OPEN)
        if truthy(value):
            text = to_string16(value)
            units = utf16_units(text)
            user_id = parse_int16(units[5:7])
            result["data"] = text
            result["action"] = _composite(parse_int16(units[0:1]), units[1:2], user_id)
            result["action_user"] = user_id
        elif truthy(value := data.get(ATTR_FAILED)):
            text = to_string16(value)
            units = utf16_units(text)
            kind = units[5:7]
            result["data"] = text
            if kind == "40":
                result["action_action"] = LOOKUP[1]
                result["action_repeat"] = parse_int16(units[0:1])
            elif kind == "02":
                result["action"] = LOOKUP[2]
                result["action_repeat"] = parse_int16(units[0:1])
            elif kind == "00":
                result["action"] = LOOKUP[13]
        elif truthy(value := data.get(ATTR_STRUCT)) and truthy(entry := _property_1(value)):
            text = to_string16(entry)
            units = utf16_units(text)
            command = parse_int16(units[0:1])
            result["action"] = _lookup_value(6 + command if isinstance(command, int) else command)
            result["action_user"] = parse_int16(units[5:7])
            if msg.compat == 1:
                result["data"] = text
        if msg.compat == 1:
            if msg.legacy:
                result["repeat"] = result.get("action_repeat", UNDEFINED)
                result["user"] = result.get("action_user", UNDEFINED)
            else:
                result.pop("data", None)
        return result
    if msg.model in ("ZNMS12LM", "ZNMS13LM"):
        if truthy(value := data.get(ATTR_STATUS)):
            status = _STATUS.get(buffer_from_ascii(value).hex()[6:10])
            if status is not None:
                result["action"], result["state"], result["reverse"] = status
        elif truthy(value := data.get(ATTR_OPEN)):
            hexed = buffer_from_ascii(value).hex()
            user_id = parse_int16(hexed[12:14])
            result["action"] = _composite(parse_int16(hexed[6:8]), hexed[8:9], user_id)
            result["action_user"] = user_id
        elif truthy(value := data.get(ATTR_FAILED)):
            hexed = buffer_from_ascii(value).hex()
            kind = hexed[12:14]
            if kind == "40":
                result["action"] = LOOKUP[1]
                result["action_repeat"] = parse_int16(hexed[6:8])
            elif kind == "00":
                result["action"] = LOOKUP[13]
                result["action_repeat"] = None
            elif kind == "02":
                result["action"] = LOOKUP[2]
                result["action_repeat"] = parse_int16(hexed[6:8])
        elif truthy(value := data.get(ATTR_STRUCT)):
            hexed = buffer_from_ascii(value).hex()
            command = parse_int16(hexed[18:20])
            result["action"] = _lookup_value(6 + command if isinstance(command, int) else command)
            result["action_user"] = parse_int16(hexed[12:14])
        elif truthy(value := data.get(ATTR_LANGUAGE)):
            language = buffer_from_ascii(value).hex()[6:8]
            result["action"] = LOOKUP[14] + ("_english" if language == "2" else "_chinese")
        if msg.compat == 1 and msg.legacy:
            result["repeat"] = result.get("action_repeat", UNDEFINED)
            result["user"] = result.get("action_user", UNDEFINED)
    return result


def _property_1(value: Any) -> Any:
    """``value["1"]`` for the 0xFF01 value (MI_STRUCT object, Buffer, string, array)."""
    if isinstance(value, dict):
        return value.get(1)
    if isinstance(value, (bytes, list)):
        return value[1] if len(value) > 1 else None
    if isinstance(value, str):
        units = utf16_units(value)
        return units[1] if len(units) > 1 else None
    return None


def door_lock_low_battery(msg: ConvertInput) -> dict[str, Any] | None:
    """``lumi_door_lock_low_battery``: ``battery_low`` from genPowerCfg's batteryAlarmMask."""
    value = msg.data.get(ATTR_BATTERY_ALARM_MASK)
    if value is None:
        return None
    return {"battery_low": _strict_equals_1(value)}


def _strict_equals_1(value: Any) -> bool:
    """JavaScript ``value === 1``."""
    return isinstance(value, (int, float)) and not isinstance(value, JsBigInt) and value == 1


def _assert_number(value: Any) -> float:
    """Zigbee2MQTT's ``assertNumber``: a number that is not NaN, else the converter throws."""
    if isinstance(value, JsBigInt) or not isinstance(value, (int, float)) or math.isnan(value):
        raise JsTypeError("value is not a number")
    return value


def _js_round(value: float) -> float:
    """JavaScript ``Math.round``: halves go up (towards +infinity)."""
    if math.isnan(value) or math.isinf(value):
        return value
    floor = math.floor(value)
    return floor + 1 if value - floor >= 0.5 else floor


def _battery(voltage: float) -> float:
    """``batteryVoltageToPercentage`` with ZNMS12LM's ``{min: 3000, max: 4200}``."""
    clamped = 4200 if voltage > 4200 else 3000 if voltage < 3000 else voltage
    return _js_round((clamped - 3000) / 1200 * 100)


def _from_lookup(value: Any, table: dict[int, Any]) -> Any:
    """Zigbee2MQTT's ``getFromLookup`` without a default: a miss throws."""
    if isinstance(value, str):
        for key in (value, value.lower(), value.upper()):
            if key.isdigit() and str(int(key)) == key and int(key) in table:
                return table[int(key)]
    elif isinstance(value, (int, float)) and not isinstance(value, JsBigInt):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int) and value in table:
            return table[value]
    raise JsTypeError("value not in lookup")


def _entries(value: Any) -> list[tuple[int, Any]]:
    """``Object.entries(value)`` with integer keys, for the values a MI_STRUCT slot can hold."""
    if value is None:
        raise JsTypeError("Object.entries(undefined)")
    if isinstance(value, dict):
        return sorted(value.items())
    if isinstance(value, (bytes, list)):
        return list(enumerate(value))
    if isinstance(value, str):
        return list(enumerate(utf16_units(value)))
    return []  # numbers, BigInts and plain objects have no integer keys


def _numeric_attributes(payload: dict[str, Any], entries: list[tuple[int, Any]], compat: int) -> None:
    """Zigbee2MQTT's ``numericAttributes2Payload`` for ZNMS12LM (keys that produce something)."""
    for key, value in entries:
        if key == 0:
            payload["detection_period"] = _plain(value)
        elif key == 1:
            payload["voltage"] = value
            payload["battery"] = _battery(_assert_number(value))
        elif key == 3:
            payload["device_temperature"] = _assert_number(value)
        elif key == 5:
            payload["power_outage_count"] = _assert_number(value) - 1
        elif key == 149:
            payload["energy"] = payload["consumption"] = _assert_number(value)
        elif key == 150:
            payload["voltage"] = _assert_number(value) * 0.1
        elif key == 151:
            payload["current"] = _assert_number(value) * 0.001
        elif key == 152:
            payload["power"] = _assert_number(value)
        elif key == 240:
            payload["flip_indicator_light"] = "ON" if _strict_equals_1(value) else "OFF"
        elif key == 258:
            payload["detection_interval"] = _plain(value)
        elif key == 293:
            payload["click_mode"] = _from_lookup(value, {1: "fast", 2: "multi"})
        elif key == 512:
            payload["operation_mode"] = _from_lookup(value, {0: "decoupled", 1: "control_relay"})
        elif key in _BOOLEAN_KEYS:
            payload[_BOOLEAN_KEYS[key]] = _strict_equals_1(value)
        elif key == 523:
            payload["overload_protection"] = _assert_number(value)
        elif key == 550:
            payload["button_switch_mode"] = "relay_and_usb" if _strict_equals_1(value) else "relay"
        elif key == 1028:
            payload["motor_state"], payload["running"] = _from_lookup(
                value, {0: ("stopped", False), 1: ("opening", True), 2: ("closing", True)}
            )
        elif key == 1289:
            table = {1: "dual_ct", 3: "rgbw"} if compat == 1 else {1: "dual_ct", 2: "rgb", 3: "rgbw"}
            payload["dimmer_mode"] = _from_lookup(value, table)
        elif key == 1025:
            # Window-covering options: not modelled for a lock; publish nothing rather than guess.
            raise JsTypeError("attribute 0x0401 is not modelled")
        elif key == 65281:
            _numeric_attributes(payload, _entries(value), compat)
        elif key == 65282:
            _struct_ff02(payload, value)


_BOOLEAN_KEYS: Final = {
    513: "power_outage_memory",
    514: "auto_off",
    515: "led_disabled_night",
    519: "consumer_connected",
    645: "lock_relay",
}


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


def _struct_ff02(payload: dict[str, Any], value: Any) -> None:
    """0xFF02 as a ZCL structure: element 1 is the voltage, element 4 the power-outage count + 1."""
    if not isinstance(value, list) or len(value) < 2 or not isinstance(value[1], StructElement):
        raise JsTypeError("0xFF02 is not a structure")
    voltage = value[1].value
    payload["voltage"] = voltage
    payload["battery"] = _battery(_assert_number(voltage))
    if len(value) < 5 or not isinstance(value[4], StructElement):
        raise JsTypeError("0xFF02 has no element 4")
    count = value[4].value
    if count is None:
        payload["power_outage_count"] = math.nan
    else:
        payload["power_outage_count"] = _assert_number(count) - 1


def lumi_basic(msg: ConvertInput) -> dict[str, Any]:
    """``lumi_basic``: the genBasic heartbeat (MI_STRUCT in 0xFF01, structure in 0xFF02)."""
    payload: dict[str, Any] = {}
    entries = sorted((key, value) for key, value in msg.data.items() if key not in _BASIC_NAMED)
    _numeric_attributes(payload, entries, msg.compat)
    return payload


_REPORT_TYPES: Final = frozenset({"attributeReport", "readResponse"})
DOOR_LOCK_REPORT: Final = Converter("lumi_door_lock_report", CLUSTER_DOOR_LOCK, _REPORT_TYPES, door_lock_report)
LUMI_BASIC: Final = Converter("lumi_basic", CLUSTER_BASIC, _REPORT_TYPES, lumi_basic)
LOW_BATTERY: Final = Converter(
    "lumi_door_lock_low_battery", CLUSTER_POWER_CFG, _REPORT_TYPES, door_lock_low_battery
)

_LOCK_STATE = "UNLOCK", "LOCK"
STATE = Expose("state", "binary", "Lock state (UNLOCK is ON, LOCK is OFF)", value_on="UNLOCK", value_off="LOCK")
REVERSE = Expose("reverse", "binary", "Reverse lock (UNLOCK is ON, LOCK is OFF)", value_on="UNLOCK", value_off="LOCK")
ACTION = Expose("action", "enum", "Triggered action (e.g. a button click)", values=ACTIONS)
LINKQUALITY = Expose(
    "linkquality", "numeric", "Link quality (signal strength)", unit="lqi", value_min=0, value_max=255
)
LEGACY = Option("legacy", "binary", "Set to false to disable the legacy integration (highly recommended!)", True)

_ANY = ValueSet(any_value=True)
_USER_IDS = ValueSet(any_value=True)
_COMPOSITE = re.compile(r"(change_language_to|finger_open|password_open|door_closed|undefined)_(admin|user)_id\S*")
_STRUCT_ACTIONS = frozenset(LOOKUP[i] for i in range(6, 18))


def _lock_capabilities(model: str, compat: int, legacy: bool) -> dict[str, ValueSet]:
    """Which keys ``lumi_door_lock_report`` can publish for ``model`` in a mode, with their values."""
    caps: dict[str, ValueSet] = {"linkquality": _ANY}
    if model == "ZNMS11LM":
        caps["action"] = ValueSet(frozenset({LOOKUP[2], LOOKUP[13]}) | _STRUCT_ACTIONS, (_COMPOSITE,))
        caps["action_action"] = ValueSet(frozenset({LOOKUP[1]}))
        caps["action_user"] = _USER_IDS
        caps["action_repeat"] = _ANY
        if compat == 2 or legacy:
            caps["data"] = _ANY
    else:
        caps["action"] = ValueSet(
            frozenset({LOOKUP[1], LOOKUP[2], LOOKUP[3], LOOKUP[4], LOOKUP[5], LOOKUP[13]})
            | _STRUCT_ACTIONS
            | {"change_language_to_chinese", "change_language_to_english"},
            (_COMPOSITE,),
        )
        caps["action_user"] = _USER_IDS
        caps["action_repeat"] = _ANY
        caps["state"] = caps["reverse"] = ValueSet(frozenset(_LOCK_STATE))
    if compat == 1 and legacy:
        caps["user"] = caps["repeat"] = _ANY
    return caps


def _znms11lm_capabilities(compat: int, legacy: bool) -> dict[str, ValueSet]:
    return _lock_capabilities("ZNMS11LM", compat, legacy)


def _znms12lm_capabilities(compat: int, legacy: bool) -> dict[str, ValueSet]:
    caps = _lock_capabilities("ZNMS12LM", compat, legacy)
    for key in ("battery", "voltage", "device_temperature", "power_outage_count", "detection_period"):
        caps[key] = _ANY
    for key in ("energy", "consumption", "current", "power", "detection_interval", "overload_protection"):
        caps[key] = _ANY
    caps["battery_low"] = ValueSet(frozenset({True, False}))
    caps["flip_indicator_light"] = ValueSet(frozenset({"ON", "OFF"}))
    return caps


def _znms13lm_capabilities(compat: int, legacy: bool) -> dict[str, ValueSet]:
    return _lock_capabilities("ZNMS13LM", compat, legacy)


DEFINITIONS: Final = (
    Definition(
        zigbee_models=("lumi.lock.aq1",),
        model="ZNMS11LM",
        vendor="Xiaomi",
        description="Xiaomi Aqara smart lock",
        exposes=(STATE, REVERSE, ACTION, LINKQUALITY),
        converters=(DOOR_LOCK_REPORT,),
        capabilities=_znms11lm_capabilities,
        options=(LEGACY,),
        ota=True,
    ),
    Definition(
        zigbee_models=("lumi.lock.acn02",),
        model="ZNMS12LM",
        vendor="Xiaomi",
        description="Smart door lock S2",
        exposes=(
            Expose("battery", "numeric", "Remaining battery in %", unit="%", value_min=0, value_max=100),
            Expose("voltage", "numeric", "Voltage of the battery in millivolts", unit="mV"),
            Expose("battery_low", "binary", "Indicates if the battery of this device is almost empty",
                   value_on="true", value_off="false"),
            STATE,
            REVERSE,
            ACTION,
            LINKQUALITY,
        ),
        converters=(LUMI_BASIC, DOOR_LOCK_REPORT, LOW_BATTERY),
        capabilities=_znms12lm_capabilities,
        options=(LEGACY,),
        precision={"voltage": 2},
    ),
    Definition(
        zigbee_models=("lumi.lock.acn03",),
        model="ZNMS13LM",
        vendor="Xiaomi",
        description="Smart door lock S2 Pro",
        exposes=(STATE, REVERSE, ACTION, LINKQUALITY),
        converters=(DOOR_LOCK_REPORT,),
        capabilities=_znms13lm_capabilities,
        options=(LEGACY,),
    ),
)
