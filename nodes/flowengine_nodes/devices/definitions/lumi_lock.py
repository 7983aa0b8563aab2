"""Xiaomi/Aqara door locks: ZNMS11LM (lumi.lock.aq1), ZNMS12LM (lumi.lock.acn02), ZNMS13LM (lumi.lock.acn03).

The converters reproduce Zigbee2MQTT's ``lumi_door_lock_report`` (closuresDoorLock),
``lumi_basic`` (genBasic) and ``lumi_door_lock_low_battery`` (genPowerCfg), quirks included
: ``compat: 1`` is converters 20.58 with the ``legacy``
option, ``compat: 2`` converters 26.x. Values are the JavaScript model of
:mod:`flowengine_nodes.devices.jsvalues`, so ``toString(16)``, ``parseInt`` and ``Buffer.from`` behave
exactly as in the reference.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from flowengine_nodes.devices.definitions import (
    Converter,
    ConvertInput,
    Definition,
    EventInput,
    Expose,
    Option,
    ValueSet,
)
from flowengine_nodes.devices.events import LOCK_EVENTS, LockEvent, Method, Role
from flowengine_nodes.devices.jsvalues import (
    UNDEFINED,
    JsBigInt,
    buffer_from_ascii,
    number_to_string,
    parse_int16,
    to_string16,
    truthy,
    utf16_units,
)
from flowengine_nodes.devices.lumi import LUMI_BASIC

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


_REPORT_TYPES: Final = frozenset({"attributeReport", "readResponse"})
DOOR_LOCK_REPORT: Final = Converter("lumi_door_lock_report", CLUSTER_DOOR_LOCK, _REPORT_TYPES, door_lock_report)
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



# --- typed lock events --------------------------------------------

_EVENT_COMPOSITE = re.compile(r"(finger_open|password_open|door_closed|change_language_to)_(admin|user)_id")
_LANGUAGE = re.compile(r"change_language_to_(chinese|english)")
_EVENT_VALUES: Final = frozenset(LOCK_EVENTS)

_METHODS: Final[dict[str, Method]] = {}
for _event in LOCK_EVENTS:
    if _event.startswith("finger_"):
        _METHODS[_event] = "finger"
    elif _event.startswith("password_"):
        _METHODS[_event] = "password"

_Parsed = tuple[str, "Role | None"] | None
#: Action text -> (event, role); actions repeat, so each distinct text is parsed once.
_PARSED: dict[str, _Parsed] = {}
_PARSED_LIMIT: Final = 4096


def _parse_action(action: str) -> _Parsed:
    if action in _EVENT_VALUES:
        return action, None
    if (match := _EVENT_COMPOSITE.match(action)) is not None:
        return match.group(1), "admin" if match.group(2) == "admin" else "user"
    if _LANGUAGE.fullmatch(action):
        return "change_language_to", None
    return None  # the reference garbled it ("undefined_admin_id5")


def _number(value: Any) -> int | None:
    """An id or count from the result: ints pass, NaN/None/anything else is unknown."""
    return value if type(value) is int else None


def event_from_result(result: Mapping[str, Any]) -> LockEvent | None:
    """Return the typed event of one converter result, or None when it has no meaningful action.

    ``result`` is the merged converter output of one report (before the state cache), so the
    event is the same whatever ``legacy`` and ``cache_state`` say.
    """
    action = result.get("action")
    if type(action) is not str:
        action = result.get("action_action")
        if type(action) is not str:
            return None
    try:
        parsed = _PARSED[action]
    except KeyError:
        parsed = _parse_action(action)
        if len(_PARSED) < _PARSED_LIMIT:
            _PARSED[action] = parsed
    if parsed is None:
        return None
    event, role = parsed
    state = result.get("state")
    reverse = result.get("reverse")
    return LockEvent(
        event,
        _METHODS.get(event),
        role,
        _number(result.get("action_user")),
        _number(result.get("action_repeat")),
        state if type(state) is str else None,
        reverse if type(reverse) is str else None,
    )


def lock_event(report: EventInput) -> LockEvent | None:
    """The definition's event function: the lock event of the report's converter result."""
    return None if report.result is None else event_from_result(report.result)


#: What a lock event can carry (for the capability lint of the ``events`` port).
LOCK_EVENT_CAPABILITIES: Final = {
    "event": ValueSet(_EVENT_VALUES),
    "method": ValueSet(frozenset({"finger", "password", None})),
    "role": ValueSet(frozenset({"admin", "user", None})),
    "user": ValueSet(any_value=True),
    "repeat": ValueSet(any_value=True),
    "state": ValueSet(frozenset({"LOCK", "UNLOCK", None})),
    "reverse": ValueSet(frozenset({"LOCK", "UNLOCK", None})),
}


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
        events=lock_event,
        event_capabilities=LOCK_EVENT_CAPABILITIES,
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
        events=lock_event,
        event_capabilities=LOCK_EVENT_CAPABILITIES,
        precision={"voltage": 2},
        meta={"battery_range": (3000, 4200)},
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
        events=lock_event,
        event_capabilities=LOCK_EVENT_CAPABILITIES,
    ),
)
