"""toZigbee: the ZCL frames a Zigbee2MQTT ``/set`` or ``/get`` sends, as zigbee-herdsman-converters builds them.

Each converter mirrors one of zigbee-herdsman-converters 26.112.0's ``toZigbee`` converters
(``on_off``, ``light_onoff_brightness``, ``light_colortemp``, ``light_brightness_step``,
``light_colortemp_step``, ``transition``, the LUMI plug's ``power_outage_memory`` and ``power``) and
zigbee-herdsman 10.9.5's frame building (frame control, manufacturer code, payload layout). A converter
talks to a :class:`Target` (the device endpoint: the zigbee node's zigpy endpoint live, a recorder in
tests) and returns Zigbee2MQTT's optimistic state (``{"state": {...}}``) or None.
``tests/data/commands/z2m_commands.jsonl`` holds the reference frames and states.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from flowengine_nodes.devices.converters import (
    _hue,
    _xy_from_mireds,
    _xy_to_hsv,
    map_number_range,
    number_of,
    precision_round,
)
from flowengine_nodes.devices.definitions import ToZigbee

__all__ = [
    "LIGHT",
    "LUMI_PLUG",
    "CommandError",
    "Meta",
    "Target",
    "ZclRequest",
]

#: Cluster ids.
BASIC, ON_OFF, LEVEL, ANALOG_INPUT, COLOR, LUMI = 0x0000, 0x0006, 0x0008, 0x000C, 0x0300, 0xFCC0
#: Zigbee manufacturer codes.
IKEA, LUMI_CODE = 0x117C, 0x115F

_SPECIFIC, _MANUFACTURER_SPECIFIC, _DISABLE_DEFAULT_RESPONSE = 0x01, 0x04, 0x10
_READ, _WRITE = 0x00, 0x02


class CommandError(ValueError):
    """A converter refused the request (bad value) or the device did not accept it; the text is Z2M's."""


@dataclass(frozen=True, slots=True)
class ZclRequest:
    """One ZCL frame to send, sequence number aside.

    Attributes:
        cluster: cluster id.
        command: command id (foundation command id when ``is_global``).
        is_global: a foundation command (read, write) rather than a cluster command.
        manufacturer_code: the header's manufacturer code, or None.
        frame_control: the header's frame-control byte (type, manufacturer-specific, default-response bits).
        payload: the bytes after the header.
        name: ``cluster.command`` as zigbee-herdsman names it (for logs).
        read_attributes: the attribute ids a read asks for (empty otherwise).
    """

    cluster: int
    command: int
    is_global: bool
    manufacturer_code: int | None
    frame_control: int
    payload: bytes
    name: str
    read_attributes: tuple[int, ...] = ()

    @property
    def expects_reply(self) -> bool:
        """Whether the device answers (a read response, or a default response it was not told to skip)."""
        return self.is_global or not self.frame_control & _DISABLE_DEFAULT_RESPONSE

    def to_bytes(self, sequence: int) -> bytes:
        """Return the whole ZCL frame with ``sequence`` as its transaction sequence number."""
        header = bytes([self.frame_control])
        if self.manufacturer_code is not None:
            header += struct.pack("<H", self.manufacturer_code)
        return header + bytes([sequence & 0xFF, self.command]) + self.payload


def cluster_command(cluster: int, command: int, payload: bytes, name: str, *,
                    manufacturer_code: int | None = None, disable_default_response: bool = False) -> ZclRequest:
    """A cluster-specific command, client to server, as zigbee-herdsman's ``endpoint.command`` frames it."""
    control = _SPECIFIC | (_MANUFACTURER_SPECIFIC if manufacturer_code is not None else 0)
    control |= _DISABLE_DEFAULT_RESPONSE if disable_default_response else 0
    return ZclRequest(cluster, command, False, manufacturer_code, control, payload, name)


def read_request(cluster: int, attributes: tuple[int, ...], name: str, *,
                 manufacturer_code: int | None = None) -> ZclRequest:
    """A foundation read (default response disabled: the read response answers it)."""
    control = _DISABLE_DEFAULT_RESPONSE | (_MANUFACTURER_SPECIFIC if manufacturer_code is not None else 0)
    payload = b"".join(struct.pack("<H", attribute) for attribute in attributes)
    return ZclRequest(cluster, _READ, True, manufacturer_code, control, payload, f"{name}.read", attributes)


def write_octets(cluster: int, attribute: int, octets: bytes, name: str, *, manufacturer_code: int) -> ZclRequest:
    """A foundation write of one octet-string attribute (type 0x41)."""
    control = _DISABLE_DEFAULT_RESPONSE | _MANUFACTURER_SPECIFIC
    payload = struct.pack("<HBB", attribute, 0x41, len(octets)) + octets
    return ZclRequest(cluster, _WRITE, True, manufacturer_code, control, payload, f"{name}.write")


class Target(Protocol):
    """The device endpoint a converter talks to.

    ``send`` transmits one request and waits for its answer: the attributes of a read response
    (attribute id -> value, missing ones absent), an empty mapping otherwise. It raises
    :class:`CommandError` when the device does not answer or answers with an error status.
    """

    manufacturer_code: int | None

    async def send(self, request: ZclRequest) -> Mapping[int, Any]:
        """Send ``request``; return the read response's values (empty for a command)."""

    async def sleep(self, seconds: float) -> None:
        """Wait as the converter does before a read-back (a recorder need not)."""


@dataclass
class Meta:
    """What a converter sees besides key and value (zigbee-herdsman-converters' ``meta``).

    Attributes:
        message: the request's payload (a converter's own copy: ``light_onoff_brightness`` writes to it).
        state: the device's cached state before the request.
        options: the device options.
        model: the definition's model (``power_outage_memory`` differs per model).
        store: the converter store of this device (zigbee-herdsman-converters' ``globalStore`` and
            ``endpoint.meta``): kept between requests by the caller.
    """

    message: dict[str, Any]
    state: Mapping[str, Any]
    options: Mapping[str, Any]
    model: str
    store: MutableMapping[str, Any] = field(default_factory=dict)


#: ``convertSet(target, key, value, meta)`` -> ``{"state": {...}}`` or None; raises CommandError.
ConvertSet = Callable[[Target, str, Any, Meta], Awaitable["dict[str, Any] | None"]]
#: ``convertGet(target, key, meta)``; raises CommandError.
ConvertGet = Callable[[Target, str, Meta], Awaitable[None]]


def js_json(value: Any) -> str:
    """``JSON.stringify`` of a message (compact, as Zigbee2MQTT's error texts quote it)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def js_number(value: Any) -> float:
    """``Number(value)`` (NaN for what does not convert)."""
    try:
        return number_of(value)
    except (TypeError, ValueError):
        return math.nan


def _is_nan(value: float) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _plain(value: float) -> float:
    """A whole float as an int, so published numbers look as JavaScript prints them."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _assert_number(value: float, key: str | None = None) -> float:
    if _is_nan(value):
        prefix = f"'{key}' is" if key else "Value is"
        raise CommandError(f"Error: {prefix} not a number, got number (NaN)")
    return value


def _js_text(value: Any) -> str:
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True, slots=True)
class Transition:
    """``utils.getTransition``: tenths of a second, and whether the request or the options set it."""

    time: float
    specified: bool


def get_transition(target: Target, key: str, meta: Meta) -> Transition:
    """The transition of ``key``; IKEA lights drop the brightness transition when colour also changes."""
    message, options = meta.message, meta.options
    if target.manufacturer_code == IKEA and key == "brightness" and (
            message.get("color") is not None or message.get("color_temp") is not None):
        return Transition(0, False)
    if message.get("transition") is not None:
        return Transition(_to_number(message["transition"], "transition") * 10, True)
    if options.get("transition") is not None and options.get("transition") != "":
        return Transition(_to_number(options["transition"], "transition") * 10, True)
    return Transition(0, False)


def _to_number(value: Any, key: str) -> float:
    number = js_number(value)
    if _is_nan(number):
        raise CommandError(f"Error: {key} is not a number, got {type(value).__name__} ({_js_text(value)})")
    return number


def _u8(value: float) -> bytes:
    number = int(value)
    if not 0 <= number <= 0xFF:
        raise CommandError(f"RangeError [ERR_OUT_OF_RANGE]: The value of \"value\" is out of range. "
                           f"It must be >= 0 and <= 255. Received {_js_text(value)}")
    return bytes([number])


def _u16(value: float) -> bytes:
    number = int(value)
    if not 0 <= number <= 0xFFFF:
        raise CommandError(f"RangeError [ERR_OUT_OF_RANGE]: The value of \"value\" is out of range. "
                           f"It must be >= 0 and <= 65535. Received {_js_text(value)}")
    return struct.pack("<H", number)


_NO_OPTIONS: Final = b"\x00\x00"  # optionsMask, optionsOverride


# --- on/off --------------------------------------------------------------------------------------

async def on_off_set(target: Target, key: str, value: Any, meta: Meta) -> dict[str, Any] | None:
    """``tz.on_off``: on, off, toggle, or onWithTimedOff when ``on_time``/``off_wait_time`` come along."""
    raw = meta.message.get("state")
    state = raw.lower() if isinstance(raw, str) else None
    if state not in ("toggle", "off", "on"):
        raise CommandError(f"Error: '{_js_text(state)}' not allowed, choose between: toggle,off,on")
    message = meta.message
    if state == "on" and (message.get("on_time") is not None or message.get("off_wait_time") is not None):
        on_time = message.get("on_time") if message.get("on_time") is not None else 0
        off_wait = message.get("off_wait_time") if message.get("off_wait_time") is not None else 0
        if not isinstance(on_time, int | float) or isinstance(on_time, bool):
            raise CommandError("Error: The on_time value must be a number!")
        if not isinstance(off_wait, int | float) or isinstance(off_wait, bool):
            raise CommandError("Error: The off_wait_time value must be a number!")
        payload = b"\x00" + _u16(_js_round(on_time * 10)) + _u16(_js_round(off_wait * 10))
        await target.send(cluster_command(ON_OFF, 0x42, payload, "genOnOff.onWithTimedOff"))
        return None
    await target.send(cluster_command(ON_OFF, {"off": 0, "on": 1, "toggle": 2}[state], b"", f"genOnOff.{state}"))
    if state == "toggle":
        current = meta.state.get("state")
        return {"state": {"state": "ON" if current == "OFF" else "OFF"}} if current else {}
    return {"state": {"state": state.upper()}}


def _js_round(value: float) -> float:
    return math.floor(value + 0.5)


async def on_off_get(target: Target, key: str, meta: Meta) -> None:
    """Read genOnOff onOff."""
    await target.send(read_request(ON_OFF, (0x0000,), "genOnOff"))


# --- brightness ----------------------------------------------------------------------------------

async def light_onoff_brightness_set(target: Target, key: str, value: Any, meta: Meta) -> dict[str, Any] | None:
    """``tz.light_onoff_brightness``: state and brightness (or brightness_percent) in one command.

    Off with a transition is moveToLevelWithOnOff to 0; on with a transition restores the level the
    device's on_level (read once) or the remembered brightness gives.
    """
    message, store = meta.message, meta.store
    transition = get_transition(target, "brightness", meta)
    state: str | None
    absent = "state" not in message
    state = (message["state"].lower() if isinstance(message["state"], str) else None) if not absent else None
    brightness: float | None = None
    if message.get("brightness") is not None:
        brightness = js_number(message["brightness"])
    elif message.get("brightness_percent") is not None:
        percent = js_number(message["brightness_percent"])
        brightness = math.nan if _is_nan(percent) else map_number_range(percent, 0, 100, 0, 255)
    if brightness == 255:
        brightness = 254
    if brightness is not None and (_is_nan(brightness) or brightness < 0 or brightness > 254):
        raise CommandError(f"Error: Brightness value of message: '{js_json(message)}' invalid, "
                           "must be a number >= 0 and =< 254")
    if not absent and state is not None and state not in ("on", "off", "toggle"):
        raise CommandError(f"Error: State value of message: '{js_json(message)}' invalid, "
                           "must be 'ON', 'OFF' or 'TOGGLE'")
    if state is None and brightness is None:
        raise CommandError(f"Error: At least one of \"brightness\" or \"state\" must have a value: "
                           f"'{js_json(message)}'")
    if absent:
        state = "off" if brightness == 0 else "on"
        message["state"] = state
    publish_brightness = brightness is not None
    target_state = ("off" if meta.state.get("state") == "ON" else "on") if state == "toggle" else state
    if target_state == "off":
        brightness = 0 if transition.specified or brightness == 0 else None
        if meta.state.get("brightness") is not None and meta.state.get("state") == "ON":
            store["brightness"] = meta.state["brightness"]
            store["turnedOffWithTransition"] = brightness is not None
    elif target_state == "on" and brightness is None and (
            transition.specified or store.get("turnedOffWithTransition") is True):
        level_config = meta.state.get("level_config") or {}
        on_level: Any = level_config.get("on_level", 0) if isinstance(level_config, Mapping) else 0
        if on_level == 0 and store.get("onLevelSupported") is not False:
            try:
                answer = await target.send(read_request(LEVEL, (0x0011,), "genLevelCtrl"))
            except CommandError:
                pass  # OnLevel not supported: zigbee-herdsman-converters ignores the failure too
            else:
                on_level = answer.get(0x0011)
        if on_level == 0:
            on_level = "previous"
            store["onLevelSupported"] = False
        if on_level in (255, "previous"):
            brightness = store.get("brightness", meta.state.get("brightness", 254))
        else:
            brightness = on_level
        publish_brightness = True
    if brightness is None:
        result = await on_off_set(target, "state", state, meta)
        if result and result.get("state", {}).get("state") == "ON" and meta.state.get("brightness") == 0:
            result["state"]["brightness"] = 1
        return result
    if brightness == 0 and (target_state == "on" or state is None):
        brightness = 1
    if target_state != "off":
        store["brightness"] = brightness
        store.pop("turnedOffWithTransition", None)
    command, name = (0x00, "moveToLevel") if state is None else (0x04, "moveToLevelWithOnOff")
    payload = _u8(brightness) + _u16(transition.time) + _NO_OPTIONS
    await target.send(cluster_command(LEVEL, command, payload, f"genLevelCtrl.{name}"))
    published: dict[str, Any] = {}
    if publish_brightness:
        published["brightness"] = _plain(brightness)
    if state is not None:
        published["state"] = "OFF" if brightness == 0 else "ON"
    return {"state": published}


async def light_onoff_brightness_get(target: Target, key: str, meta: Meta) -> None:
    """Read currentLevel for ``brightness``, onOff for ``state``."""
    if key == "brightness":
        await target.send(read_request(LEVEL, (0x0000,), "genLevelCtrl"))
    elif key == "state":
        await on_off_get(target, key, meta)


async def brightness_step_set(target: Target, key: str, value: Any, meta: Meta) -> dict[str, Any] | None:
    """``tz.light_brightness_step``: step (or stepWithOnOff) up or down; the cached brightness follows."""
    with_on_off = key.endswith("_onoff")
    step = _assert_number(js_number(value), key)
    transition = get_transition(target, key, meta).time
    command, name = (0x06, "stepWithOnOff") if with_on_off else (0x02, "step")
    payload = bytes([0 if step > 0 else 1]) + _u8(abs(step)) + _u16(transition) + _NO_OPTIONS
    await target.send(cluster_command(LEVEL, command, payload, f"genLevelCtrl.{name}"))
    current = meta.state.get("brightness")
    if current is None:
        return None
    on = meta.state.get("state") == "ON"
    brightness = current + step if with_on_off or on else current
    if step == 0:
        answer = await target.send(read_request(LEVEL, (0x0000,), "genLevelCtrl"))
        brightness = answer.get(0x0000)
    brightness = max(0 if with_on_off or meta.state.get("state") == "OFF" else 1, min(254, brightness))
    return {"state": {"brightness": _plain(brightness), "state": "OFF" if brightness == 0 else "ON"}}


# --- colour temperature --------------------------------------------------------------------------

#: The bulb's physical colour-temperature range (colorTempPhysicalMin/Max, mired).
COLOR_TEMP_RANGE: Final = (250, 454)


async def light_colortemp_set(target: Target, key: str, value: Any, meta: Meta) -> dict[str, Any] | None:
    """``tz.light_colortemp``: moveToColorTemp to mired or a named preset, clamped to the bulb's range."""
    low, high = COLOR_TEMP_RANGE
    presets = {"warmest": high, "warm": 454, "neutral": 370, "cool": 250, "coolest": low}
    if key == "color_temp_percent":
        _assert_number(js_number(value)) if not isinstance(value, int | float) else None
        value = _js_text(map_number_range(value, 0, 100, low, high))
    if isinstance(value, str) and value in presets:
        value = presets[value]
    mired = _assert_number(js_number(value))
    mired = min(max(mired, low), high)
    transition = get_transition(target, key, meta).time
    payload = _u16(mired) + _u16(transition) + _NO_OPTIONS
    await target.send(cluster_command(COLOR, 0x0A, payload, "lightingColorCtrl.moveToColorTemp"))
    return {"state": sync_color_temp(_plain(mired), meta.state, meta.options)}


def sync_color_temp(mired: float, old: Mapping[str, Any], options: Mapping[str, Any]) -> dict[str, Any]:
    """``syncColorState`` for a new colour temperature: the cached x/y and hue/saturation follow it."""
    result: dict[str, Any] = {"color_mode": "color_temp", "color_temp": mired}
    if options.get("color_sync") is not None and not options.get("color_sync"):
        return result
    color = old.get("color")
    color = color if isinstance(color, Mapping) else {}
    synced: dict[str, Any] = {}
    x, y = _xy_from_mireds(mired)
    if color.get("x") is not None and color.get("y") is not None:
        synced["x"], synced["y"] = precision_round(x, 4), precision_round(y, 4)
    if color.get("hue") is not None and color.get("saturation") is not None:
        hue, saturation, _ = _xy_to_hsv(x, y)
        synced["hue"], synced["saturation"] = _hue(precision_round(hue, 0)), precision_round(saturation, 0)
    if synced:
        result["color"] = synced
    return result


async def light_colortemp_get(target: Target, key: str, meta: Meta) -> None:
    """Read colorMode and colorTemperature."""
    await target.send(read_request(COLOR, (0x0008, 0x0007), "lightingColorCtrl"))


async def colortemp_step_set(target: Target, key: str, value: Any, meta: Meta) -> dict[str, Any] | None:
    """``tz.light_colortemp_step``: stepColorTemp, then (after the transition) read the temperature back."""
    step = _assert_number(js_number(value), key)
    transition = get_transition(target, key, meta).time
    payload = (bytes([1 if step > 0 else 3]) + _u16(abs(step)) + _u16(transition) + _u16(0) + _u16(600)
               + _NO_OPTIONS)
    await target.send(cluster_command(COLOR, 0x4C, payload, "lightingColorCtrl.stepColorTemp"))
    await target.sleep((100 + transition * 100) / 1000)
    await target.send(read_request(COLOR, (0x0007,), "lightingColorCtrl"))
    return None


async def transition_set(target: Target, key: str, value: Any, meta: Meta) -> dict[str, Any] | None:
    """``tz.transition``: consumed by the other converters, sends nothing."""
    return None


# --- the LUMI plug -------------------------------------------------------------------------------

_OUTAGE_MEMORY: Final = {
    True: (bytes.fromhex("aa8005d147070110 01".replace(" ", "")), bytes.fromhex("aa8003d3070801")),
    False: (bytes.fromhex("aa8005d147090110 00".replace(" ", "")), bytes.fromhex("aa8003d3070a01")),
}


async def power_outage_memory_set(target: Target, key: str, value: Any, meta: Meta) -> dict[str, Any] | None:
    """ZNCZ02LM: two manufacturer-specific writes of genBasic 0xFFF0."""
    for octets in _OUTAGE_MEMORY[bool(value)]:
        await target.send(write_octets(BASIC, 0xFFF0, octets, "genBasic", manufacturer_code=LUMI_CODE))
    return {"state": {"power_outage_memory": value}}


async def power_outage_memory_get(target: Target, key: str, meta: Meta) -> None:
    """Zigbee2MQTT reads manuSpecificLumi 0xFFF0, a cluster ZNCZ02LM's definition never registers: it fails."""
    raise CommandError("Error: Status 'UNSUPPORTED_CLUSTER' manuSpecificLumi")


async def plug_power_get(target: Target, key: str, meta: Meta) -> None:
    """Read genAnalogInput presentValue (the plug's power)."""
    await target.send(read_request(ANALOG_INPUT, (0x0055,), "genAnalogInput"))


#: LED1545G12's command converters, in the definition's order (the first whose keys match wins).
LIGHT: Final[tuple[ToZigbee, ...]] = (
    ToZigbee(("state", "brightness", "brightness_percent", "on_time", "off_wait_time"),
              light_onoff_brightness_set, light_onoff_brightness_get),
    ToZigbee(("transition",), transition_set, None),
    ToZigbee(("brightness_step", "brightness_step_onoff"), brightness_step_set, None),
    ToZigbee(("color_temp", "color_temp_percent"), light_colortemp_set, light_colortemp_get),
    ToZigbee(("color_temp_step",), colortemp_step_set, None),
)

#: ZNCZ02LM's command converters.
LUMI_PLUG: Final[tuple[ToZigbee, ...]] = (
    ToZigbee(("state", "on_time", "off_wait_time"), on_off_set, on_off_get),
    ToZigbee(("power_outage_memory",), power_outage_memory_set, power_outage_memory_get),
    ToZigbee(("power",), None, plug_power_get),
)
