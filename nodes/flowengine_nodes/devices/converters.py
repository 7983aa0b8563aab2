"""The shared ZCL cluster converters (zigbee-herdsman-converters' ``fromZigbee``), one per cluster concern.

Every definition that listens to a cluster uses the converter declared here for it, as
zigbee-herdsman-converters' definitions share ``fz.on_off`` or ``fz.humidity``; vendor-specific ones
live in their family's module (:mod:`flowengine_nodes.devices.lumi`). Each reproduces converters
26.112.0 exactly, quirks included, on the JavaScript value model of
:mod:`flowengine_nodes.devices.jsvalues`: a converter returns the keys it sets (``UNDEFINED``
values count, as ``{action: undefined}`` makes a payload non-empty in Zigbee2MQTT) or None, and
raises one of :data:`~flowengine_nodes.devices.definitions.CONVERTER_FAILURES` where the original
throws (it then contributes nothing).

Also here: the JavaScript number helpers the converters share and :func:`calibrate_and_round`,
Zigbee2MQTT's post-processing of numeric exposes (``<key>_calibration``, ``<key>_precision``).
"""

from __future__ import annotations

import gzip
import math
import re
from array import array
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any, Final

from flowengine_nodes.devices.definitions import (
    Converter,
    ConvertFunction,
    ConvertInput,
    EveryAttribute,
    SingleForm,
)
from flowengine_nodes.devices.jsvalues import (
    UNDEFINED,
    JsBigInt,
    JsObject,
    JsTypeError,
    StructElement,
    js_string,
    string_to_number,
)

REPORT_TYPES: Final = frozenset({"attributeReport", "readResponse"})

CLUSTER_BASIC: Final = 0x0000
CLUSTER_ON_OFF: Final = 0x0006
CLUSTER_LEVEL: Final = 0x0008
CLUSTER_ANALOG_INPUT: Final = 0x000C
CLUSTER_MULTISTATE_INPUT: Final = 0x0012
CLUSTER_COLOR: Final = 0x0300
CLUSTER_ILLUMINANCE: Final = 0x0400
CLUSTER_TEMPERATURE: Final = 0x0402
CLUSTER_PRESSURE: Final = 0x0403
CLUSTER_HUMIDITY: Final = 0x0405
CLUSTER_OCCUPANCY: Final = 0x0406
CLUSTER_IAS_ZONE: Final = 0x0500

ATTR_ON_OFF: Final = 0x0000
ATTR_START_UP_ON_OFF: Final = 0x4003
ATTR_MEASURED_VALUE: Final = 0x0000
ATTR_PRESENT_VALUE: Final = 0x0055


# --- JavaScript number semantics ---------------------------------------------------------------


def is_number(value: Any) -> bool:
    """``typeof value === "number"`` (a BigInt is not a number)."""
    return type(value) is int or type(value) is float


def js_key(value: Any) -> str:
    """``String(value)``: the property key a value looks up in an object literal."""
    return js_string(value)


def to_number(value: Any) -> float:
    """Implicit ``ToNumber`` (arithmetic, comparisons): a BigInt mixed with numbers throws."""
    if is_number(value):
        return value  # type: ignore[no-any-return]
    if isinstance(value, JsBigInt):
        raise JsTypeError("cannot mix BigInt and other types")
    return _coerce(value)


def number_of(value: Any) -> float:
    """Explicit ``Number(value)``: a BigInt converts."""
    if isinstance(value, JsBigInt):
        return float(int(value))
    if is_number(value):
        return value  # type: ignore[no-any-return]
    return _coerce(value)


def _coerce(value: Any) -> float:
    if value is None:
        return math.nan  # undefined
    if isinstance(value, str):
        return string_to_number(value)
    if isinstance(value, (bytes, list)):
        return string_to_number(js_key(value))
    return math.nan  # objects, structures


def to_int32(value: Any) -> int:
    """``ToInt32(value)``, the operand of a bitwise operator (a BigInt mixed with numbers throws)."""
    number = to_number(value)
    if isinstance(number, int) and not -(2**53) <= number <= 2**53:
        number = float(number)  # a number parsed from text is a double first ("0x…" with 16 digits)
    if isinstance(number, float):
        if math.isnan(number) or math.isinf(number):
            return 0
        number = int(number)
    number &= 0xFFFFFFFF
    return number - (1 << 32) if number >= 1 << 31 else number


def js_round(value: float) -> float:
    """``Math.round``: halves go up (towards +infinity); integers stay ints."""
    if isinstance(value, int):
        return value
    if math.isnan(value) or math.isinf(value):
        return value
    floor = math.floor(value)
    return floor + 1 if value - floor >= 0.5 else floor


def js_divide(numerator: float, denominator: float) -> float:
    """``a / b`` with JavaScript's results for zero denominators."""
    if denominator == 0:
        if numerator == 0 or math.isnan(numerator):
            return math.nan
        negative = (numerator < 0) != (math.copysign(1.0, denominator) < 0)
        return -math.inf if negative else math.inf
    return numerator / denominator


def number_value(value: float) -> float:
    """A computed number as JavaScript holds it: an integral float becomes an int (``2`` not ``2.0``)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def precision_round(value: float, decimals: int | float) -> float:
    """Zigbee2MQTT's ``precisionRound``: ``Math.round(value * 10**d) / 10**d``."""
    if type(decimals) is int and decimals >= 0:
        kind = type(value)
        if kind is int and -(2**50) < value < 2**50:
            return value  # an integer times 10**d, rounded and divided back, is itself
        if kind is float:
            # The usual case inlined (js_round, js_divide and number_value below, same results).
            exact: int = 10**decimals
            product: float = value * exact
            if product - product == 0:  # finite (NaN and infinities give NaN)
                floor = math.floor(product)
                rounded = (floor + 1 if product - floor >= 0.5 else floor) / exact
                return int(rounded) if rounded.is_integer() and abs(rounded) < 2**53 else rounded
            return product / exact  # NaN or an infinity: Math.round keeps it, js_divide by 10**d >= 1
    factor = 10**decimals
    scaled = value * factor
    if isinstance(scaled, float) and (math.isnan(scaled) or math.isinf(scaled)):
        return js_divide(scaled, factor)
    return number_value(js_divide(js_round(scaled), factor))


def assert_number(value: Any) -> float:
    """Zigbee2MQTT's ``assertNumber``: a number that is not NaN, else the converter throws."""
    if not is_number(value) or value != value:
        raise JsTypeError("value is not a number")
    return value  # type: ignore[no-any-return]


def strict_equals(value: Any, number: int) -> bool:
    """``value === number`` for a number literal (a BigInt or a string never equals it)."""
    return is_number(value) and value == number


def get_from_lookup(value: Any, table: Mapping[int, Any]) -> Any:
    """Zigbee2MQTT's ``getFromLookup`` without a default: the value, lower or upper case, else throw."""
    if isinstance(value, str):
        for key in (value, value.lower(), value.upper()):
            if key.isdigit() and str(int(key)) == key and int(key) in table:
                return table[int(key)]
    elif is_number(value):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int) and value in table:
            return table[value]
    raise JsTypeError("value not in lookup")


_PERCENTUAL: Final = ("current", "energy", "voltage", "power", "illuminance")


def calibrate_and_round(value: float, options: Mapping[str, Any], name: str, default_precision: int) -> float:
    """Zigbee2MQTT's ``calibrateAndPrecisionRoundOptions`` for one numeric expose.

    ``<name>_calibration`` is an absolute offset, or a percentage for current, energy, voltage,
    power and illuminance; ``<name>_precision`` (default ``default_precision``) the decimals kept.

    Raises:
        JsTypeError: an option that is not a number (Zigbee2MQTT logs it and keeps the value).
    """
    calibration = _option_number(options.get(f"{name}_calibration"), 0)
    if name.startswith(_PERCENTUAL):
        calibration = value * calibration / 100
    value = value + calibration
    precision = _option_number(options.get(f"{name}_precision"), default_precision)
    return precision_round(value, precision)


_FLOAT_PREFIX: Final = re.compile(r"\s*[+-]?(?:Infinity|\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)")


def parse_float(value: Any) -> float:
    """``Number.parseFloat(value)``: the leading decimal number of ``String(value)``, else NaN."""
    if is_number(value):
        return 0 if value == 0 else value
    match = _FLOAT_PREFIX.match(js_key(value))
    if match is None:
        return math.nan
    text = match.group().strip()
    if text.lstrip("+-") == "Infinity":
        return -math.inf if text.startswith("-") else math.inf
    result = float(text)
    return number_value(result)


def _option_number(value: Any, default: float) -> float:
    if value is None or value == "":
        return default
    result = parse_float(value)
    if result != result:
        raise JsTypeError("option is not a number")
    return result


_new = tuple.__new__


def alone(attr_id: int, convert: ConvertFunction) -> SingleForm:
    """The :data:`~flowengine_nodes.devices.definitions.SingleForm` of ``convert`` for one attribute.

    For converters that read several attributes at once: the form runs ``convert`` itself on a
    message holding that attribute only, so it gives exactly what ``convert`` gives.
    """

    def form(value: Any, msg: ConvertInput) -> dict[str, Any] | None:
        return convert(_new(ConvertInput, (msg.model, msg.msg_type, {attr_id: value}, msg.compat, msg.legacy,
                                           msg.options, msg.meta)))

    return form


# --- genOnOff -----------------------------------------------------------------------------------


def on_off(msg: ConvertInput) -> dict[str, Any] | None:
    """``fz.on_off``: ``state`` ON/OFF (and ``action`` on/off with the ``state_action`` option)."""
    value = msg.data.get(ATTR_ON_OFF)
    if value is None:
        return None
    return on_off_value(value, msg)


def on_off_value(value: Any, msg: ConvertInput) -> dict[str, Any]:
    """``fz.on_off`` for an onOff value that is there (its single form)."""
    state = "ON" if value == 1 and (type(value) is int or type(value) is float) else "OFF"  # value === 1
    if msg.options.get("state_action"):
        return {"state": state, "action": state.lower()}
    return {"state": state}


_POWER_ON_BEHAVIOR: Final = {"0": "off", "1": "on", "2": "toggle", "255": "previous"}


def power_on_behavior(msg: ConvertInput) -> dict[str, Any] | None:
    """``fz.power_on_behavior``: genOnOff's startUpOnOff as off/on/toggle/previous (else undefined)."""
    value = msg.data.get(ATTR_START_UP_ON_OFF)
    if value is None:
        return None
    return {"power_on_behavior": _POWER_ON_BEHAVIOR.get(js_key(value), UNDEFINED)}


ON_OFF: Final = Converter("on_off", CLUSTER_ON_OFF, REPORT_TYPES, on_off,
                          {ATTR_ON_OFF: on_off_value, ATTR_START_UP_ON_OFF: None})
POWER_ON_BEHAVIOR: Final = Converter("power_on_behavior", CLUSTER_ON_OFF, REPORT_TYPES, power_on_behavior,
                                     {ATTR_ON_OFF: None, ATTR_START_UP_ON_OFF: alone(ATTR_START_UP_ON_OFF,
                                                                                     power_on_behavior)})


# --- genLevelCtrl -------------------------------------------------------------------------------


def brightness(msg: ConvertInput) -> dict[str, Any] | None:
    """``fz.brightness``: currentLevel as ``brightness``."""
    value = msg.data.get(0x0000)
    if value is None:
        return None
    return brightness_value(value, msg)


def brightness_value(value: Any, msg: ConvertInput) -> dict[str, Any]:
    """``fz.brightness`` for a currentLevel that is there (its single form)."""
    return {"brightness": value}


def _tenths(value: Any) -> float:
    return number_value(js_divide(number_of(value), 10))


def level_config(msg: ConvertInput) -> dict[str, Any] | None:
    """``fz.level_config``: transition times, start-up level, on level, options as ``level_config``."""
    data = msg.data
    config: dict[str, Any] = {}
    if (value := data.get(0x0010)) is not None:
        config["on_off_transition_time"] = _tenths(value)
    if (value := data.get(0x0012)) is not None:
        config["on_transition_time"] = "disabled" if number_of(value) == 65535 else _tenths(value)
    if (value := data.get(0x0013)) is not None:
        config["off_transition_time"] = "disabled" if number_of(value) == 65535 else _tenths(value)
    if (value := data.get(0x4000)) is not None:
        level = number_value(number_of(value))
        config["current_level_startup"] = "previous" if level == 255 else "minimum" if level == 0 else level
    if (value := data.get(0x0011)) is not None:
        level = number_value(number_of(value))
        config["on_level"] = "previous" if level == 255 else level
    if (value := data.get(0x000F)) is not None:
        config["execute_if_off"] = bool(to_int32(number_of(value)) & 1)
    if not config:
        return None
    return {"level_config": config}


BRIGHTNESS: Final = Converter("brightness", CLUSTER_LEVEL, REPORT_TYPES, brightness, {0x0000: brightness_value})
#: (currentLevel alone gives no ``level_config``.)
LEVEL_CONFIG: Final = Converter("level_config", CLUSTER_LEVEL, REPORT_TYPES, level_config, {0x0000: None})


# --- lightingColorCtrl --------------------------------------------------------------------------

_COLOR_MODES: Final = {"0": "hs", "1": "xy", "2": "color_temp"}


def map_number_range(value: Any, from_low: float, from_high: float, to_low: float, to_high: float,
                     decimals: int = 0) -> float:
    """``mapNumberRange``: ``value`` mapped linearly, then ``precisionRound``."""
    mapped = to_low + js_divide((to_number(value) - from_low) * (to_high - to_low), from_high - from_low)
    return precision_round(mapped, decimals)


def color_colortemp(msg: ConvertInput) -> dict[str, Any]:
    """``fz.color_colortemp``: color_temp, color_temp_startup, color_mode, color, color_options.

    Then ``syncColorState`` against an empty previous state (``cache_state: false``) and no
    physical colour-temperature range (the reference endpoint has none cached).
    """
    data = msg.data
    result: dict[str, Any] = {}
    if (value := data.get(0x0007)) is not None:
        result["color_temp"] = value
    if (value := data.get(0x4010)) is not None:
        result["color_temp_startup"] = value
    if (value := data.get(0x0008)) is not None:
        result["color_mode"] = _COLOR_MODES.get(js_key(value), value)
    get = data.get
    x, y, saturation, hue, enhanced_hue = get(0x0003), get(0x0004), get(0x0001), get(0x0000), get(0x4000)
    if x is not None or y is not None or saturation is not None or hue is not None or enhanced_hue is not None:
        color: dict[str, Any] = {}
        if x is not None:
            color["x"] = map_number_range(x, 0, 65535, 0, 1, 4)
        if y is not None:
            color["y"] = map_number_range(y, 0, 65535, 0, 1, 4)
        if saturation is not None:
            color["saturation"] = map_number_range(saturation, 0, 254, 0, 100)
        if hue is not None:
            color["hue"] = map_number_range(hue, 0, 254, 0, 360, 0)
        if enhanced_hue is not None:
            color["hue"] = map_number_range(enhanced_hue, 0, 65535, 0, 360, 1)
        result["color"] = color
    if (value := data.get(0x000F)) is not None:
        result["color_options"] = {"execute_if_off": (to_int32(value) & 1) > 0}
    result.update(_sync_color_state(result, msg.options))
    return result


def _sync_color_state(new: dict[str, Any], options: Mapping[str, Any]) -> dict[str, Any]:
    """``syncColorState(newState, {}, endpoint, options)`` with no colour-temperature range."""
    result: dict[str, Any] = {}
    if options.get("color_sync") is not None and not options.get("color_sync"):
        for key in ("color_mode", "color", "color_temp"):
            if key in new and new[key] is not UNDEFINED:
                result[key] = new[key]
        return result
    color = new.get("color")
    temp = new.get("color_temp")
    if "color_mode" in new:
        result["color_mode"] = new["color_mode"]
    else:
        if temp is not None:
            result["color_mode"] = "color_temp"
        if color is not None:
            result["color_mode"] = "hs" if "hue" in color else "xy"
    targets = set()
    if temp is not None:
        targets.add("color_temp")
    if color is not None and "hue" in color and "saturation" in color:
        targets.add("hs")
    if color is not None and "x" in color and "y" in color:
        targets.add("xy")
    synced: dict[str, Any] = {}
    mode = result.get("color_mode")
    if mode == "hs" and color is not None:
        synced.update((key, color[key]) for key in ("hue", "saturation") if key in color)
        if "hue" in synced and "saturation" in synced:
            hsv = _Hsv(synced["hue"], synced["saturation"])
            if "color_temp" in targets:
                result["color_temp"] = precision_round(hsv.to_mireds(), 0)
            if "xy" in targets:
                cx, cy = hsv.to_xy()
                synced["x"], synced["y"] = precision_round(cx, 4), precision_round(cy, 4)
    elif mode == "xy" and color is not None:
        synced.update((key, color[key]) for key in ("x", "y") if key in color)
        if "x" in synced and "y" in synced:
            if "color_temp" in targets:
                result["color_temp"] = precision_round(_xy_to_mireds(synced["x"], synced["y"]), 0)
            if "hs" in targets:
                h, s, _ = _xy_to_hsv(synced["x"], synced["y"])
                synced["hue"], synced["saturation"] = _hue(precision_round(h, 0)), precision_round(s, 0)
    elif mode == "color_temp" and temp is not None:
        result["color_temp"] = temp
        cx, cy = _xy_from_mireds(temp)
        if "xy" in targets:
            synced["x"], synced["y"] = precision_round(cx, 4), precision_round(cy, 4)
        if "hs" in targets:
            h, s, _ = _xy_to_hsv(cx, cy)
            synced["hue"], synced["saturation"] = _hue(precision_round(h, 0)), precision_round(s, 0)
    if synced:
        result["color"] = synced
    return result


def _hue(value: float) -> float:
    """``ColorHSV``'s constructor keeps ``hue % 360``."""
    return number_value(math.fmod(value, 360)) if math.isfinite(value) else math.nan


@cache
def _kelvin_table() -> array[float]:
    """The converters' ``kelvinToXy`` table (1000 K to 20009 K), x and y interleaved."""
    table = array("d")
    data = resources.files("flowengine_nodes.devices").joinpath("data/kelvin_to_xy.f64.gz").read_bytes()
    table.frombytes(gzip.decompress(data))
    return table


def _xy_from_mireds(mireds: Any) -> tuple[float, float]:
    """``ColorXY.fromMireds``: the table's point for ``Math.round(1e6 / mireds)`` kelvin, else throw."""
    kelvin = js_round(js_divide(1_000_000, to_number(mireds)))
    if isinstance(kelvin, float) and not kelvin.is_integer():
        raise JsTypeError("no such kelvin")
    index = int(kelvin) - 1000 if not (isinstance(kelvin, float) and math.isinf(kelvin)) else -1
    if not 0 <= index <= 19009:
        raise JsTypeError("kelvinToXy has no entry")
    table = _kelvin_table()
    return table[2 * index], table[2 * index + 1]


def _xy_to_mireds(x: float, y: float) -> float:
    n = js_divide(x - 0.332, 0.1858 - y)
    kelvin = abs(437 * n**3 + 3601 * n**2 + 6861 * n + 5517)
    return js_divide(1_000_000, kelvin)


def _xy_to_rgb(x: float, y: float) -> tuple[float, float, float]:
    z = 1.0 - x - y
    lum = 1.0
    big_x = js_divide(lum, y) * x
    big_z = js_divide(lum, y) * z
    red = big_x * 1.656492 - lum * 0.354851 - big_z * 0.255038
    green = -big_x * 0.707196 + lum * 1.655397 + big_z * 0.036152
    blue = big_x * 0.051713 - lum * 0.121364 + big_z * 1.01153
    if red > blue and red > green and red > 1.0:
        green, blue, red = green / red, blue / red, 1.0
    elif green > blue and green > red and green > 1.0:
        red, blue, green = red / green, blue / green, 1.0
    elif blue > red and blue > green and blue > 1.0:
        red, green, blue = red / blue, green / blue, 1.0
    return tuple(0.0 if (c != c or c < 0) else c for c in (red, green, blue))  # type: ignore[return-value]


def _rgb_to_hsv(red: float, green: float, blue: float) -> tuple[float, float, float]:
    high, low = max(red, green, blue), min(red, green, blue)
    d = high - low
    s = 0 if high == 0 else d / high
    if high == low:
        h = 0.0
    elif high == red:
        h = (green - blue + d * (6 if green < blue else 0)) / (6 * d)
    elif high == green:
        h = (blue - red + d * 2) / (6 * d)
    else:
        h = (red - green + d * 4) / (6 * d)
    return math.fmod(h * 360, 360), s * 100, high * 100


def _xy_to_hsv(x: float, y: float) -> tuple[float, float, float]:
    return _rgb_to_hsv(*_xy_to_rgb(x, y))


def _rgb_to_xy(red: float, green: float, blue: float) -> tuple[float, float]:
    big_x = red * 0.664511 + green * 0.154324 + blue * 0.162028
    big_y = red * 0.283881 + green * 0.668433 + blue * 0.047685
    big_z = red * 0.000088 + green * 0.07231 + blue * 0.986039
    total = big_x + big_y + big_z
    return (0 if total == 0 else big_x / total), (0 if total == 0 else big_y / total)


class _Hsv:
    """``ColorHSV`` with value 100 (what ``syncColorState`` builds from hue and saturation)."""

    def __init__(self, hue: float, saturation: float) -> None:
        self.hue = math.fmod(hue, 360) if math.isfinite(hue) else math.nan
        self.saturation = saturation

    def to_rgb(self) -> tuple[float, float, float]:
        h = self.hue / 360
        s = self.saturation / 100
        v = 1.0
        if not math.isfinite(h * 6):
            return math.nan, math.nan, math.nan  # no switch case matches: NaN components
        i = math.floor(h * 6)
        f = h * 6 - i
        p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
        return [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][int(math.fmod(i, 6))]

    def to_xy(self) -> tuple[float, float]:
        return _rgb_to_xy(*self.to_rgb())

    def to_mireds(self) -> float:
        return _xy_to_mireds(*self.to_xy())


def color_temp_value(value: Any, msg: ConvertInput) -> dict[str, Any]:
    """:func:`color_colortemp` of a report of colorTemperature (0x0007) alone: its single form.

    What the full converter computes for that message: ``color_temp``, then ``syncColorState``
    sets ``color_mode`` to ``color_temp`` and converts the mireds to xy (unused, but it throws
    where the converters' kelvin table has no entry, and then nothing is published).
    """
    sync = msg.options.get("color_sync")
    if sync is not None and not sync:
        return {"color_temp": value}
    _xy_from_mireds(value)
    return {"color_temp": value, "color_mode": "color_temp"}


COLOR_COLORTEMP: Final = Converter(
    "color_colortemp", CLUSTER_COLOR, REPORT_TYPES, color_colortemp,
    {0x0007: color_temp_value,
     **{attr_id: alone(attr_id, color_colortemp) for attr_id in (0x0000, 0x0001, 0x0003, 0x0004, 0x0008, 0x4000)}},
)


# --- measurement clusters -----------------------------------------------------------------------


def humidity(msg: ConvertInput) -> dict[str, Any] | None:
    """``fz.humidity``: measuredValue / 100 when within 0..100 (else nothing)."""
    return humidity_value(msg.data.get(ATTR_MEASURED_VALUE), msg)


def humidity_value(measured: Any, msg: ConvertInput) -> dict[str, Any] | None:
    """``fz.humidity`` of one measuredValue (its single form)."""
    if type(measured) is int and -(2**53) < measured < 2**53:  # the usual value: plain division
        value: float = measured / 100
        if 0 <= value <= 100:
            return {"humidity": int(value) if value.is_integer() else value}  # number_value
        return None
    value = js_divide(to_number(measured), 100.0)
    if 0 <= value <= 100:
        return {"humidity": number_value(value)}
    return None


def pressure(msg: ConvertInput) -> dict[str, Any]:
    """``fz.pressure``: measuredValue in hPa, or scaledValue / 10**scale / 100.

    The scale is read from the endpoint's attribute cache. For a report decoded alone (the
    reference harness and its vectors) that cache is empty: ``10 ** undefined`` is NaN, so a
    scaled report gives ``pressure: NaN`` (published null). A live Zigbee2MQTT stores every
    attribute of a report on the endpoint before its converters run, so a report that carries
    ``scale`` (0x0014) beside ``scaledValue`` (0x0010), as the weather sensor's do, is scaled:
    with ``options["live_timers"]`` (the decode node's live mode) that is what happens here.
    """
    data = msg.data
    scaled = data.get(0x0010)
    if scaled is not None:
        if type(scaled) is not int:  # an int is a number already (the usual report)
            scaled = to_number(scaled)  # a BigInt still throws before the NaN
        scale = data.get(0x0014)
        if msg.options.get("live_timers") and isinstance(scale, int | float) and not isinstance(scale, bool):
            return {"pressure": number_value(js_divide(js_divide(scaled, 10.0 ** scale), 100.0))}
        return {"pressure": math.nan}
    value = data.get(ATTR_MEASURED_VALUE)
    return {"pressure": UNDEFINED if value is None else value}


def illuminance_occupancy_guard(msg: ConvertInput) -> dict[str, Any] | None:
    """``fz.occupancy_with_timeout`` as the reference runs it: occupancy 1 reaches the timer store.

    zigbee-herdsman-converters keeps the timer in ``globalStore``, which only accepts real
    ``Endpoint`` objects; the reference harness (and its vectors) has plain ones, so the converter
    throws there and publishes nothing (here: returns None, which a throwing converter amounts
    to). With ``options["live_timers"]`` (set by the decoder's ``live_timers``) it returns
    ``{occupancy: true}`` as a live Zigbee2MQTT does; the timeout itself is in the typed event
    (:class:`~flowengine_nodes.devices.events.MotionEvent`).
    """
    return occupancy_value(msg.data.get(ATTR_MEASURED_VALUE), msg)


def occupancy_value(value: Any, msg: ConvertInput) -> dict[str, Any] | None:
    """:func:`illuminance_occupancy_guard` of one occupancy value (its single form)."""
    if not strict_equals(value, 1) or not msg.options.get("live_timers"):
        return None
    return {"occupancy": True}


OCCUPANCY_WITH_TIMEOUT: Final = Converter(
    "occupancy_with_timeout", CLUSTER_OCCUPANCY, REPORT_TYPES, illuminance_occupancy_guard,
    {ATTR_MEASURED_VALUE: occupancy_value},
)
HUMIDITY: Final = Converter("humidity", CLUSTER_HUMIDITY, REPORT_TYPES, humidity, {ATTR_MEASURED_VALUE: humidity_value})
PRESSURE: Final = Converter("pressure", CLUSTER_PRESSURE, REPORT_TYPES, pressure,
                            {attr_id: alone(attr_id, pressure) for attr_id in (0x0000, 0x0010, 0x0014)})


# --- ssIasZone ----------------------------------------------------------------------------------

IAS_TYPES: Final = frozenset({"commandStatusChangeNotification", "attributeReport", "readResponse"})


def ias_water_leak(msg: ConvertInput) -> dict[str, Any] | None:
    """``iasZoneAlarm({zoneType: "water_leak", zoneAttributes: ["alarm_1", "battery_low"]})``."""
    data = msg.data
    zone_status = data.get("zonestatus") if "zonestatus" in data else data.get(0x0002)
    if zone_status is None:
        return None
    return water_leak_value(zone_status, msg)


def water_leak_value(zone_status: Any, msg: ConvertInput) -> dict[str, Any]:
    """:func:`ias_water_leak` of a zone status that is there (its single form)."""
    bits = zone_status if type(zone_status) is int and -(2**31) <= zone_status < 2**31 else to_int32(zone_status)
    return {"water_leak": (bits & 1) > 0, "battery_low": (bits & 8) > 0}


IAS_WATER_LEAK: Final = Converter("ias_water_leak_alarm", CLUSTER_IAS_ZONE, IAS_TYPES, ias_water_leak,
                                  {0x0000: None, 0x0001: None, 0x0002: water_leak_value})


def ignore(msg: ConvertInput) -> None:
    """``fz.ignore_*``: listens to the cluster so nothing else does, publishes nothing."""
    return None


#: ``Converter.single`` of :func:`ignore`: nothing for any attribute.
IGNORE_EVERY_ATTRIBUTE: Final = EveryAttribute()


def plain_value(value: Any) -> Any:
    """A parsed value copied into a payload as is (``undefined`` stays ``undefined``)."""
    if isinstance(value, (JsObject, StructElement)):
        return value
    return UNDEFINED if value is None else value
