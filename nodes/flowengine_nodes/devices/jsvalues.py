"""JavaScript value semantics that Zigbee2MQTT's converters rely on, reproduced in Python.

The reference converters are JavaScript: they call ``value.toString(16)``, ``parseInt(x, 16)``,
``Buffer.from(value, "ascii")`` and test truthiness. Their quirks (no leading zeros, ``NaN``
inside strings, the UTF-16 low-byte round trip) are part of what is published, so the decoder
models the values a ZCL parser hands to the converters with these Python types:

* ``None``: JavaScript ``undefined`` (type "no data", failed read records);
* ``int`` / ``float``: a JavaScript number (``float('nan')`` for ``NaN``);
* :class:`JsBigInt`: a BigInt (7- and 8-byte integers);
* ``str``: a JavaScript string (char strings, IEEE addresses);
* ``bytes``: a Node ``Buffer`` (octet strings, security keys);
* ``dict[int, value]``: the object a Xiaomi MI_STRUCT becomes;
* ``list``: an array (ZCL array/set/bag of values, or of :class:`StructElement` for a ZCL structure);
* :class:`JsObject`: any other plain object (time of day, date).

Functions here raise :class:`JsTypeError` where JavaScript would throw; a converter that
throws contributes nothing, exactly as in Zigbee2MQTT.
"""

from __future__ import annotations

import math
import re
from array import array
from decimal import Decimal
from typing import Any, Final


class JsTypeError(Exception):
    """JavaScript would throw here (for example ``Buffer.toString(16)``)."""


class JsBigInt(int):
    """A JavaScript BigInt: prints like a number, but is not ``typeof 'number'``."""

    __slots__ = ()


class StructElement:
    """One element ``{elmType, elmVal}`` of a ZCL structure (type 0x4C)."""

    __slots__ = ("type", "value")

    def __init__(self, type_id: int, value: Any) -> None:
        self.type = type_id
        self.value = value

    def __repr__(self) -> str:
        return f"StructElement({self.type:#04x}, {self.value!r})"


class JsObject:
    """An opaque plain object (time of day, date): truthy, prints ``[object Object]``."""

    __slots__ = ("fields",)

    def __init__(self, fields: dict[str, Any]) -> None:
        self.fields = fields

    def __repr__(self) -> str:
        return f"JsObject({self.fields!r})"


class _Undefined:
    """The value ``undefined`` in a converter's result: the key exists but is never published."""

    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __bool__(self) -> bool:
        return False


#: A result member whose value is ``undefined``: it makes a payload non-empty, is dropped when
#: serialised, and removes the key from the state cache.
UNDEFINED: Final = _Undefined()

_HEX_DIGITS = "0123456789abcdef"
_JS_WHITESPACE = frozenset(
    "\t\n\v\f\r \xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_HEX_VALUES = {c: int(c, 16) for c in "0123456789abcdefABCDEF"}
# parseInt of the one- and two-digit strings the converters slice out, precomputed.
_SHORT_HEX = {a + b: int(a + b, 16) for a in _HEX_VALUES for b in ("", *_HEX_VALUES)}


def truthy(value: Any) -> bool:
    """Return JavaScript's truthiness of a parsed value (objects and Buffers are always truthy)."""
    if value is None:
        return False
    if isinstance(value, (int, float, str)):
        return bool(value) and value == value  # NaN is falsy
    return True


def number_to_string(value: float) -> str:
    """Return ``Number.prototype.toString()`` (radix 10) of a JavaScript number."""
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    _, digit_tuple, exponent_raw = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    point = int(exponent_raw) + len(digits)  # ECMA-262's "n": where the decimal point goes
    k = len(digits)
    if k <= point <= 21:
        return sign + digits + "0" * (point - k)
    if 0 < point <= 21:
        return sign + digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return sign + "0." + "0" * (-point) + digits
    exponent = point - 1
    exp_str = f"e+{exponent}" if exponent >= 0 else f"e-{-exponent}"
    if k == 1:
        return sign + digits + exp_str
    return sign + digits[0] + "." + digits[1:] + exp_str


def _double_to_radix16(value: float) -> str:
    """Port of V8's ``DoubleToRadixCString`` for radix 16 (non-integer, finite values)."""
    negative = value < 0
    if negative:
        value = -value
    integer = math.floor(value)
    fraction = value - integer
    delta = 0.5 * (math.nextafter(value, math.inf) - value)
    delta = max(math.nextafter(0.0, 1.0), delta)
    fraction_digits: list[int] = []
    carry = False
    if fraction >= delta:
        while True:
            fraction *= 16
            delta *= 16
            digit = int(fraction)
            fraction_digits.append(digit)
            fraction -= digit
            if (fraction > 0.5 or (fraction == 0.5 and (digit & 1))) and fraction + delta > 1:
                # Round up, propagating the carry through the digits already written.
                while True:
                    if not fraction_digits:
                        carry = True
                        break
                    last = fraction_digits.pop()
                    if last + 1 < 16:
                        fraction_digits.append(last + 1)
                        break
                break
            if fraction < delta:
                break
    int_value = int(integer) + (1 if carry else 0)
    text = format(int_value, "x")
    if fraction_digits:
        text += "." + "".join(_HEX_DIGITS[d] for d in fraction_digits)
    return ("-" if negative else "") + text


def _element_to_string(value: Any) -> str:
    """Return ``String(element)`` as ``Array.prototype.join`` writes it."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, JsBigInt):
        return str(int(value))
    if isinstance(value, (int, float)):
        return number_to_string(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list):
        return ",".join(_element_to_string(item) for item in value)
    return "[object Object]"


def js_string(value: Any) -> str:
    """Return ``String(value)`` (what an object literal's property lookup uses as the key)."""
    return "undefined" if value is None else _element_to_string(value)


def to_string16(value: Any) -> str:
    """Return ``value.toString(16)`` as JavaScript computes it.

    Raises:
        JsTypeError: for ``undefined`` and Buffers (``Buffer.toString(16)`` rejects the encoding).
    """
    if isinstance(value, str):
        return value
    if isinstance(value, int):  # includes JsBigInt
        return format(value, "x")
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        if value.is_integer():
            return format(int(value), "x")
        return _double_to_radix16(value)
    if isinstance(value, bytes) and not value:
        return ""  # Node returns early for an empty Buffer, before looking at the encoding
    if value is None or isinstance(value, bytes):
        raise JsTypeError("toString(16) throws on this value")
    if isinstance(value, list):
        return ",".join(_element_to_string(item) for item in value)
    return "[object Object]"


def parse_int16(text: str) -> int | float:
    """Return ``parseInt(text, 16)``: an ``int``, or ``float('nan')`` when no hex digit leads."""
    short = _SHORT_HEX.get(text)
    if short is not None:
        return short
    i = 0
    n = len(text)
    while i < n and text[i] in _JS_WHITESPACE:
        i += 1
    sign = 1
    if i < n and text[i] in "+-":
        if text[i] == "-":
            sign = -1
        i += 1
    if i + 1 < n and text[i] == "0" and text[i + 1] in "xX":
        i += 2
    start = i
    result = 0
    while i < n:
        digit = _HEX_VALUES.get(text[i])
        if digit is None:
            break
        result = result * 16 + digit
        i += 1
    if i == start:
        return math.nan
    return sign * result


def is_nan(value: Any) -> bool:
    """Return True for a JavaScript ``NaN``."""
    return isinstance(value, float) and value != value


def utf16_units(text: str) -> str:
    """Return ``text`` with astral characters split into surrogates, as JavaScript indexes strings."""
    if text.isascii() or max(map(ord, text)) <= 0xFFFF:
        return text
    units = array("H")
    units.frombytes(text.encode("utf-16-le"))
    return "".join(map(chr, units))


def _to_uint8(value: Any) -> int:
    """Return ``ToUint8(ToNumber(value))`` for the element kinds a parsed array can hold."""
    if isinstance(value, JsBigInt):
        raise JsTypeError("cannot convert a BigInt to a number")
    if isinstance(value, int):
        return value & 0xFF
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return 0
        return int(value) & 0xFF
    if value is None or isinstance(value, (StructElement, JsObject, dict)):
        return 0  # NaN
    if isinstance(value, str):
        return _to_uint8(string_to_number(value))
    raise JsTypeError("element conversion not modelled")


_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)")
_RADIX = re.compile(r"0(?:[xX][0-9a-fA-F]+|[oO][0-7]+|[bB][01]+)")


def string_to_number(text: str) -> float:
    """Return JavaScript's ``Number(text)`` (StringToNumber) for a string."""
    stripped = text
    while stripped and stripped[0] in _JS_WHITESPACE:
        stripped = stripped[1:]
    while stripped and stripped[-1] in _JS_WHITESPACE:
        stripped = stripped[:-1]
    if not stripped:
        return 0
    if _DECIMAL.fullmatch(stripped):
        return float(stripped)
    if _RADIX.fullmatch(stripped):
        return int(stripped, 0)
    if stripped in ("Infinity", "+Infinity"):
        return math.inf
    if stripped == "-Infinity":
        return -math.inf
    return math.nan


def buffer_from_ascii(value: Any) -> bytes:
    """Return ``Buffer.from(value, "ascii")`` for a converter's input value.

    A string keeps the low byte of every UTF-16 code unit; a Buffer is copied; an array keeps
    ``ToUint8`` of each element.

    Raises:
        JsTypeError: for numbers, BigInts and plain objects, where Node throws.
    """
    if isinstance(value, str):
        if value.isascii():
            return value.encode("ascii")
        return value.encode("utf-16-le")[0::2]
    if isinstance(value, bytes):
        return value
    if isinstance(value, list):
        return bytes(_to_uint8(item) for item in value)
    raise JsTypeError("Buffer.from() rejects this value")


def js_property(value: Any, index: int) -> Any:
    """Return ``value[index]`` (``value["1"]``) for a parsed value; ``None`` is ``undefined``."""
    if isinstance(value, dict):
        return value.get(index)
    if isinstance(value, bytes):
        return value[index] if index < len(value) else None
    if isinstance(value, str):
        units = utf16_units(value)
        return units[index] if index < len(units) else None
    if isinstance(value, list):
        return value[index] if index < len(value) else None
    return None
