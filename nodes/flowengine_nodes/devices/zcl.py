"""ZCL frame parsing with the accept/reject behaviour of Zigbee2MQTT's parser (zigbee-herdsman).

Two eras are reproduced:

* ``ERA_1X`` (20): zigbee-herdsman 2.1.9, the parser of Zigbee2MQTT 1.42 (``compat: 1``);
* ``ERA_2X`` (26): zigbee-herdsman 10.9.5, the parser of Zigbee2MQTT 2.x (``compat: 2``).

:func:`parse_frame` turns the bytes of one ZCL frame (header and payload, as carried in the APS
payload) into a :class:`Frame` whose ``data`` is what the converters see as ``msg.data``, or
raises :class:`ZclError` where zigbee-herdsman rejects the frame (Zigbee2MQTT then publishes
nothing). Values follow the JavaScript model of :mod:`flowengine_nodes.devices.jsvalues`.

This module is pure Python (``struct`` and ``int.from_bytes``): importing zigpy costs most of a
second and its ZCL types do not reproduce zigbee-herdsman's quirks, so it is not used here.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from typing import Any, Final, NamedTuple

from flowengine_nodes.devices import clusters, clusters_household
from flowengine_nodes.devices.jsvalues import JsBigInt, JsObject, StructElement, string_to_number, utf16_units

ERA_1X: Final = 20
ERA_2X: Final = 26

#: Longest ZCL frame a Zigbee network can deliver, in bytes. A frame travels in one APS
#: payload; APS fragmentation numbers the blocks with one octet (at most 256 blocks) and no
#: block can exceed aMaxPHYPacketSize, the 127-byte IEEE 802.15.4 PHY frame it travels in:
#: 256 x 127 = 32,512. A longer "frame" did not come from a radio and is rejected unread.
MAX_FRAME_BYTES: Final = 256 * 127
#: Deepest nesting of arrays and structures read (each level is a Python call; no device
#: definition reads more than one level).
MAX_NESTING: Final = 32

ATTR_MI_STRUCT: Final = 0xFF01
TYPE_CHAR_STR: Final = 0x42

#: Frame ``msg.type`` values that reach attribute converters.
ATTRIBUTE_REPORT: Final = "attributeReport"
READ_RESPONSE: Final = "readResponse"

_UNPACK_F32 = struct.Struct("<f").unpack_from
_UNPACK_F64 = struct.Struct("<d").unpack_from

# Fixed-width integer types: type id -> (size in bytes, signed).
_INT_TYPES: dict[int, tuple[int, bool]] = {}
for _base, _signed in ((0x08, False), (0x18, False), (0x20, False), (0x28, True)):
    for _i in range(8):
        _INT_TYPES[_base + _i] = (_i + 1, _signed)
_INT_TYPES[0x10] = (1, False)  # boolean: the byte as a number
_INT_TYPES[0x30] = (1, False)  # enum8
_INT_TYPES[0x31] = (2, False)  # enum16
_INT_TYPES[0xE2] = (4, False)  # UTC time
_INT_TYPES[0xE8] = (2, False)  # cluster id
_INT_TYPES[0xE9] = (2, False)  # attribute id
_INT_TYPES[0xEA] = (4, False)  # BACnet OID

#: Integer types read with one precompiled ``struct`` unpacker (widths 1, 2 and 4: never a BigInt):
#: type id -> (size in bytes, ``unpack_from``). The same values as ``int.from_bytes`` of the
#: slice, without building the slice; other widths take the general path.
_FAST_INTS: dict[int, tuple[int, Any]] = {
    type_id: (width, struct.Struct("<" + {(1, False): "B", (1, True): "b", (2, False): "H", (2, True): "h",
                                          (4, False): "I", (4, True): "i"}[width, signed]).unpack_from)
    for type_id, (width, signed) in _INT_TYPES.items()
    if width in (1, 2, 4)
}

#: :data:`_FAST_INTS` as a list indexed by type id (None: not such a type), for the struct reader's loop.
_FAST_INT_LIST: list[tuple[int, Any] | None] = [_FAST_INTS.get(type_id) for type_id in range(256)]

# Analog ("ANALOG" class) and discrete types of zigbee-herdsman's utils.
_ANALOG_TYPES = frozenset([*range(0x20, 0x27), *range(0x28, 0x2F), 0x38, 0x39, 0x3A, 0xE0, 0xE1, 0xE2])
_DISCRETE_TYPES = frozenset(
    [*range(0x08, 0x10), 0x10, *range(0x18, 0x20), 0x30, 0x31, 0x41, 0x42, 0x43, 0x44, 0x48, 0x4C, 0x50, 0x51,
     0xE8, 0xE9, 0xEA, 0xF0, 0xF1]
)
_ANALOG_2X = frozenset([*range(0x20, 0x27), *range(0x28, 0x2F), 0x38, 0x39, 0x3A, 0xE0, 0xE1, 0xE2])


class ZclError(Exception):
    """zigbee-herdsman's parser rejects the frame; ``str(error)`` says why."""


class Frame(NamedTuple):
    """One parsed ZCL frame.

    A NamedTuple: one is built for every frame decoded, and it costs a third of a frozen
    dataclass, whose ``__init__`` sets each field through ``object.__setattr__``.

    Attributes:
        frame_type: 0 (foundation, "global") or 1 (cluster-specific).
        manufacturer_code: the header's manufacturer code, or None.
        sequence: the transaction sequence number.
        command_id: the command identifier.
        msg_type: what Zigbee2MQTT calls the message (``attributeReport``, ``readResponse``,
            ``read``, ``write``, ``command<Name>``), or None when it emits no message.
        data: for reports and read responses, attribute id -> value in frame order (a failed
            read record of the 1.x parser maps to None, JavaScript's ``undefined``).
    """

    frame_type: int
    manufacturer_code: int | None
    sequence: int
    command_id: int
    msg_type: str | None
    data: dict[Any, Any]


#: Builds a Frame without the NamedTuple's Python-level ``__new__`` (half the cost, same object).
_new = tuple.__new__
#: "No fast-path value" (None is a value: JavaScript's undefined).
_NO_VALUE: Final = object()


def _short(what: str) -> ZclError:
    return ZclError(f"frame too short for {what}")


class _Reader:
    """A read cursor with zigbee-herdsman's Buffalo semantics.

    Fixed-size reads past the end fail; string and buffer reads are cut at the end of the frame
    but still move the position by their declared length.
    """

    __slots__ = ("budget", "buf", "depth", "era", "pos", "size")

    def __init__(self, buf: bytes, pos: int, era: int) -> None:
        self.buf = buf
        self.pos = pos
        self.size = len(buf)
        self.era = era
        #: Array and structure elements still allowed: one per byte of the frame, shared by
        #: nested ones, so decoding costs time linear in the frame's length whatever its counts
        #: (an array of 65,534 elements of a type that takes no bytes cost over a second).
        self.budget = len(buf)
        self.depth = 0

    def elements(self, count: int) -> None:
        """Take ``count`` array or structure elements from the budget, or reject the frame."""
        if count > self.budget:
            raise ZclError(f"{count:,} array or structure elements in a frame of {self.size:,} bytes "
                           "(at most one element per byte)")
        if self.depth >= MAX_NESTING:
            raise ZclError(f"arrays or structures nested more than {MAX_NESTING} deep")
        self.budget -= count

    def more(self) -> bool:
        return self.pos < self.size

    def u8(self) -> int:
        pos = self.pos
        if pos + 1 > self.size or pos < 0:
            raise _short("uint8")
        self.pos = pos + 1
        return self.buf[pos]

    def u16(self) -> int:
        pos = self.pos
        if pos + 2 > self.size:
            raise _short("uint16")
        self.pos = pos + 2
        return self.buf[pos] | (self.buf[pos + 1] << 8)

    def uint(self, size: int, signed: bool) -> int:
        pos = self.pos
        if pos + size > self.size:
            raise _short(f"{size}-byte integer")
        self.pos = pos + size
        value = int.from_bytes(self.buf[pos : pos + size], "little", signed=signed)
        return JsBigInt(value) if size >= 7 else value

    def raw(self, length: int) -> bytes:
        pos = self.pos
        self.pos = pos + length
        return self.buf[pos : pos + length]

    def value(self, type_id: int) -> Any:
        """Read one value of ZCL type ``type_id`` (zigbee-herdsman's ``BuffaloZcl.read``)."""
        int_type = _INT_TYPES.get(type_id)
        if int_type is not None:
            return self.uint(*int_type)
        if type_id == 0x00 or type_id == 0xFF:
            return None
        if type_id == 0x42:
            length = self.u8()
            return "" if length == 0xFF else self.raw(length).decode("utf-8", "replace")
        if type_id == 0x41:
            length = self.u8()
            return b"" if length == 0xFF else self.raw(length)
        if type_id == 0x44:
            length = self.u16()
            return "" if length == 0xFFFF else self.raw(length).decode("utf-8", "replace")
        if type_id == 0x43:
            length = self.u16()
            return b"" if length == 0xFFFF else self.raw(length)
        if type_id == 0x39:
            if self.pos + 4 > self.size:
                raise _short("single")
            result: float = _UNPACK_F32(self.buf, self.pos)[0]
            self.pos += 4
            return result
        if type_id == 0x3A:
            if self.pos + 8 > self.size:
                raise _short("double")
            result = _UNPACK_F64(self.buf, self.pos)[0]
            self.pos += 8
            return result
        if type_id in (0x48, 0x50, 0x51):
            element_type = self.u8()
            count = self.u16()
            values: list[Any] = []
            if count != 0xFFFF:
                self.elements(count)
                self.depth += 1
                for _ in range(count):
                    values.append(self.value(element_type))
                self.depth -= 1
            return values
        if type_id == 0x4C:
            count = self.u16()
            elements: list[Any] = []
            if count != 0xFFFF:
                self.elements(count)
                self.depth += 1
                for _ in range(count):
                    element_type = self.u8()
                    elements.append(StructElement(element_type, self.value(element_type)))
                self.depth -= 1
            return elements
        if type_id == 0xE0:
            return JsObject(dict(zip(("hours", "minutes", "seconds", "hundredths"), self._fields(), strict=True)))
        if type_id == 0xE1:
            year, month, day, weekday = self._fields()
            if self.era == ERA_2X:
                year += 1900  # NaN stays NaN
            return JsObject({"year": year, "month": month, "dayOfMonth": day, "dayOfWeek": weekday})
        if type_id == 0xF0:
            return "0x" + self.raw(8)[::-1].hex()
        if type_id == 0xF1:
            return self.raw(16)
        raise ZclError(f"data type 0x{type_id:02x} cannot be read")

    def _fields(self) -> tuple[float, float, float, float]:
        """Four one-byte fields; zigbee-herdsman 10.x reads 0xFF as NaN (the non-value)."""
        four = (self.u8(), self.u8(), self.u8(), self.u8())
        if self.era == ERA_2X:
            return tuple(math.nan if field == 0xFF else field for field in four)  # type: ignore[return-value]
        return four

    def mi_struct(self) -> dict[int, Any]:
        """Read a Xiaomi structure (0xFF01 as char string), ending as the era's parser does."""
        result, self.pos = read_mi_struct(self.buf, self.pos, self.era, self)
        return result

    def attribute_value(self, attr_id: int, type_id: int, mi_struct: bool) -> Any:
        if mi_struct and attr_id == ATTR_MI_STRUCT and type_id == TYPE_CHAR_STR:
            return self.mi_struct()
        return self.value(type_id)

    def selector(self) -> None:
        indicator = self.u8()
        if indicator == 0:
            return
        if indicator < 16:
            for _ in range(indicator):
                self.u16()
            return
        raise ZclError("structured selector outside [0-15]")


def read_mi_struct(buf: bytes, pos: int, era: int, reader: _Reader | None = None) -> tuple[dict[int, Any], int]:
    """Read a Xiaomi structure (0xFF01 as char string) at ``pos``; return it and the position after it.

    The structure ends as the era's parser ends it (zigbee-herdsman 10.x stops one byte short
    of the end). Values of other than 1-, 2- or 4-byte integer types are read by ``reader``
    (the frame's, so its element budget is shared; one is made when none is given). Raises
    :class:`ZclError` where the parser does.
    """
    size = len(buf)
    if pos + 1 > size or pos < 0:
        raise _short("uint8")
    length = buf[pos]
    pos += 1
    result: dict[int, Any] = {}
    if length == 0xFF:
        return result, pos
    era_2x = era == ERA_2X
    fast_ints = _FAST_INT_LIST
    for _ in range(length):
        if pos + 2 > size:
            raise _short("uint8")  # the key or the type is missing
        key = buf[pos]
        fast = fast_ints[buf[pos + 1]]
        pos += 2
        if fast is not None:  # a precompiled unpacker: the usual entry
            width, unpack = fast
            if pos + width > size:
                raise _short(f"{width}-byte integer")
            result[key] = unpack(buf, pos)[0]
            pos += width
        else:
            if reader is None:
                reader = _Reader(buf, pos, era)
            reader.pos = pos
            result[key] = reader.value(buf[pos - 1])
            pos = reader.pos
        if era_2x:
            remaining = size - pos
            if remaining <= 1:
                if remaining == 1:
                    pos += 1
                break
        elif pos == size:
            break
    return result, pos


_Named = dict[int, clusters_household.Attribute]


def _records(reader: _Reader, era: int, with_status: bool, named: _Named | None) -> dict[int, Any]:
    """Parse Report Attributes / Read Attributes Response records into ``msg.data``.

    ``named`` (era 26 only): the cluster's named attributes for the frame's manufacturer code
    (:func:`_named_attributes`), whose values go through
    ``processAttributePostRead`` record by record, as ``attributeKeyValue`` does: a record it rejects
    leaves the attribute's earlier value in place.
    """
    data: dict[int, Any] = {}
    buf = reader.buf
    size = reader.size
    if reader.pos >= size:
        if era == ERA_2X:
            raise _short("a record")
        return data
    while True:
        # Inlined reads (this loop runs for every attribute of every report): the same
        # checks and messages as _Reader.u16/u8/uint, then the general reader for other types.
        pos = reader.pos
        if pos + 2 > size:
            raise _short("uint16")
        attr_id = buf[pos] | (buf[pos + 1] << 8)
        pos += 2
        if with_status:
            if pos + 1 > size:
                raise _short("uint8")
            status = buf[pos]
            pos += 1
            if status != 0:
                reader.pos = pos
                if era == ERA_1X:
                    data[attr_id] = None
                if pos >= size:
                    break
                continue
        if pos + 1 > size:
            raise _short("uint8")
        type_id = buf[pos]
        pos += 1
        fast = _FAST_INTS.get(type_id)
        int_type = None if fast is not None else _INT_TYPES.get(type_id)
        if fast is not None:
            width, unpack = fast
            if pos + width > size:
                raise _short(f"{width}-byte integer")
            value: Any = unpack(buf, pos)[0]
            reader.pos = pos + width
        elif int_type is not None:
            width, signed = int_type
            if pos + width > size:
                raise _short(f"{width}-byte integer")
            value = int.from_bytes(buf[pos : pos + width], "little", signed=signed)
            if width >= 7:
                value = JsBigInt(value)
            reader.pos = pos + width
        else:
            reader.pos = pos
            # The Xiaomi heartbeat (0xFF01 as a char string) straight to its reader.
            value = reader.mi_struct() if type_id == TYPE_CHAR_STR and attr_id == ATTR_MI_STRUCT else \
                reader.value(type_id)
        if named is not None and value is not None:
            attribute = named.get(attr_id)
            if attribute is not None:
                value = _post_read(attribute, value)
        if value is not _DROPPED:
            data[attr_id] = value
        if reader.pos >= size:
            break
    return data


def _skip_records(reader: _Reader, era: int, command_id: int) -> None:
    """Parse (and drop) a foundation command that no converter reads; raise where the era does."""
    r = reader
    era_1x = era == ERA_1X
    if command_id in (0x00, 0x02, 0x03, 0x05, 0x06, 0x08, 0x09, 0x0E, 0x0F):
        if not era_1x and not r.more():
            raise _short("a record")
        while r.more():
            if command_id == 0x00:
                r.u16()
            elif command_id in (0x02, 0x03, 0x05):
                attr_id = r.u16()
                type_id = r.u8()
                r.attribute_value(attr_id, type_id, era_1x)
            elif command_id == 0x06:
                direction = r.u8()
                r.u16()
                _skip_reporting_config(r, direction, era)
            elif command_id == 0x08:
                r.u8()
                r.u16()
            elif command_id == 0x09:
                status = r.u8()
                direction = r.u8()
                r.u16()
                if era_1x or status == 0:
                    _skip_reporting_config(r, direction, era)
            elif command_id == 0x0E:
                r.u16()
                r.selector()
            else:  # 0x0F write structured
                attr_id = r.u16()
                r.selector()
                type_id = r.u8()
                r.attribute_value(attr_id, type_id, era_1x)
        return
    if command_id in (0x04, 0x07, 0x10):
        if era_1x:
            while r.more():
                status = r.u8()
                if command_id == 0x07:
                    if r.size - r.pos >= 3:
                        r.u8()
                    if r.size - r.pos >= 2:
                        r.u16()
                elif status != 0:
                    r.u16()
                    if command_id == 0x10:
                        r.selector()
            return
        status = r.u8()
        if status == 0:
            return
        while True:
            if command_id == 0x07:
                r.u8()
            r.u16()
            if command_id == 0x10:
                r.selector()
            if not r.more():
                return
            r.u8()
    if command_id in (0x0B, 0x11, 0x13):
        r.u8()
        r.u8()
        return
    if command_id in (0x0C, 0x15):
        r.u16()
        r.u8()
        return
    if command_id in (0x0D, 0x12, 0x14, 0x16):
        r.u8()
        if not era_1x and not r.more():
            raise _short("a record")
        while r.more():
            if command_id in (0x0D, 0x16):
                r.u16()
                r.u8()
                if command_id == 0x16:
                    r.u8()
            else:
                r.u8()
        return
    raise ZclError(f"foundation command 0x{command_id:02x} does not exist")


def _skip_reporting_config(r: _Reader, direction: int, era: int) -> None:
    """Read past one reporting-configuration record body (Configure Reporting and its read response).

    Direction 0 carries a data type, two intervals and, for analog types, a reportable change;
    direction 1 a timeout.
    """
    if direction == 0:
        type_id = r.u8()
        r.u16()
        r.u16()
        if _is_analog(type_id, era):
            r.value(type_id)
    elif direction == 1:
        r.u16()


def _is_analog(type_id: int, era: int) -> bool:
    if era == ERA_2X:
        return type_id in _ANALOG_2X
    if type_id in _DISCRETE_TYPES:
        return False
    if type_id in _ANALOG_TYPES:
        return True
    raise ZclError(f"no value class for data type 0x{type_id:02x}")


_GLOBAL_TYPES = {0x00: "read", 0x01: READ_RESPONSE, 0x02: "write", 0x0A: ATTRIBUTE_REPORT}


def _cluster_specific(
    reader: _Reader, era: int, cluster: int, direction: int, command_id: int
) -> tuple[str, dict[str, Any]]:
    """Parse a cluster-specific command with the era's command tables; return its message type and payload."""
    tables = clusters.COMMANDS[era].get(cluster) or clusters_household.COMMANDS_26.get(cluster)
    if tables is None:
        raise ZclError(f"cluster {cluster} has no command 0x{command_id:02x}")
    command = tables[direction].get(command_id)
    if command is None:
        raise ZclError(f"cluster {cluster} has no command 0x{command_id:02x} in this direction")
    name, parameters = command
    # The message type's name, built once per command (the tables are constants).
    message_type = _MESSAGE_TYPES.get(name) or _MESSAGE_TYPES.setdefault(name, "command" + name[0].upper() + name[1:])
    payload: dict[str, Any] = {}
    for param_name, type_id, conditions, minimum, maximum, special in parameters:
        if conditions and not _conditions_hold(conditions, payload, reader.size - reader.pos):
            continue
        int_type = _INT_TYPES.get(type_id)
        if int_type is not None:
            value: Any = reader.uint(*int_type)
        elif type_id == -1:
            value = reader.raw(reader.size)
        elif type_id == 0xF0:
            value = "0x" + reader.raw(8)[::-1].hex()
        else:
            value = reader.value(type_id)
        if minimum is None and maximum is None:
            payload[param_name] = value
            continue
        if era == ERA_2X and isinstance(value, int) and value not in special:
            invalid = clusters.INVALID_BY_TYPE.get(type_id)
            if value != invalid and (
                (minimum is not None and value < minimum) or (maximum is not None and value > maximum)
            ):
                raise ZclError(f"parameter {param_name} out of range")
        payload[param_name] = value
    return message_type, payload


_MESSAGE_TYPES: dict[str, str] = {}


def _conditions_hold(conditions: tuple[Any, ...], payload: dict[str, Any], remaining: int) -> bool:
    for kind, field, value, reversed_ in conditions:
        if kind == "field_eq":
            if (payload.get(field) == value) == reversed_:
                return False
        elif kind == "field_gt":
            current = payload.get(field)
            if current is None or current <= value:
                return False
        elif kind == "mask":
            current = payload.get(field)
            is_set = current is not None and (current & value) == value
            if is_set == reversed_:
                return False
        elif kind == "remaining" and remaining < value:
            return False
    return True


def parse_frame(frame: bytes, cluster: int, era: int) -> Frame:
    """Parse one ZCL frame as zigbee-herdsman of ``era`` does.

    Args:
        frame: the whole ZCL frame, header included.
        cluster: the APS cluster id.
        era: :data:`ERA_1X` or :data:`ERA_2X`.

    Returns:
        The parsed frame. ``msg_type`` None means the parser accepts the frame but Zigbee2MQTT
        emits no message for it (write responses, default responses, discovery, …).

    Raises:
        ZclError: the reference parser rejects the frame (short header, unknown frame type or
            command, missing bytes, unreadable data type, stray trailing bytes), or the frame is
            longer than :data:`MAX_FRAME_BYTES` or holds more array elements than bytes.
    """
    size = len(frame)
    if size < 3:
        raise ZclError("header too short")
    if size > MAX_FRAME_BYTES:
        raise ZclError(f"frame of {size:,} bytes is longer than any Zigbee frame can be ({MAX_FRAME_BYTES:,} bytes: "
                       "256 APS fragments of at most 127 bytes)")
    control = frame[0]
    frame_type = control & 0x03
    if control & 0x04:
        if size < 5:
            raise ZclError("header too short for a manufacturer code")
        manufacturer_code: int | None = frame[1] | (frame[2] << 8)
        sequence = frame[3]
        command_id = frame[4]
        pos = 5
    else:
        manufacturer_code = None
        sequence = frame[1]
        command_id = frame[2]
        pos = 3
    if frame_type == 0:
        if command_id == 0x0A and size > pos + 3:
            # Fast path: one fixed-size record (an integer or a single-precision float) filling the
            # rest of the frame (the usual report). Both eras parse it the same way; anything else
            # takes the full path.
            type_id = frame[pos + 2]
            fast = _FAST_INTS.get(type_id)
            number: Any = _NO_VALUE
            if fast is not None:
                if pos + 3 + fast[0] == size:
                    number = fast[1](frame, pos + 3)[0]
            elif type_id == 0x39:
                if pos + 7 == size:
                    number = _UNPACK_F32(frame, pos + 3)[0]
            else:
                int_type = _INT_TYPES.get(type_id)
                if int_type is not None and pos + 3 + int_type[0] == size:
                    width, signed = int_type
                    number = int.from_bytes(frame[pos + 3 :], "little", signed=signed)
                    if width >= 7:
                        number = JsBigInt(number)
            if number is not _NO_VALUE:
                attr_id = frame[pos] | (frame[pos + 1] << 8)
                named = _named_attributes(cluster, manufacturer_code) if era == ERA_2X else None
                attribute = None if named is None else named.get(attr_id)
                if attribute is not None:
                    number = _post_read(attribute, number)
                    if number is _DROPPED:
                        return _new(Frame, (frame_type, manufacturer_code, sequence, command_id, ATTRIBUTE_REPORT, {}))
                return _new(Frame, (frame_type, manufacturer_code, sequence, command_id, ATTRIBUTE_REPORT,
                                    {attr_id: number}))
        reader = _Reader(frame, pos, era)
        named = _named_attributes(cluster, manufacturer_code) if era == ERA_2X else None
        if command_id == 0x0A:
            data = _records(reader, era, False, named)
            return _new(Frame, (frame_type, manufacturer_code, sequence, command_id, ATTRIBUTE_REPORT, data))
        if command_id == 0x01:
            data = _records(reader, era, True, named)
            return _new(Frame, (frame_type, manufacturer_code, sequence, command_id, READ_RESPONSE, data))
        _skip_records(reader, era, command_id)
        return _new(Frame, (frame_type, manufacturer_code, sequence, command_id, _GLOBAL_TYPES.get(command_id), {}))
    if frame_type == 1:
        direction = (control >> 3) & 1
        msg_type, payload = _cluster_specific(_Reader(frame, pos, era), era, cluster, direction, command_id)
        return _new(Frame, (frame_type, manufacturer_code, sequence, command_id, msg_type, payload))
    raise ZclError(f"frame type {frame_type} is not supported")


_INVALID: Final = clusters.INVALID_BY_TYPE


class SingleRecord(NamedTuple):
    """How to read a Report Attributes frame holding one record of one shape (see :func:`single_record`).

    The cold path's fast way in: a report of one attribute of a fixed-size type (or the Xiaomi
    0xFF01 structure) is most of what devices send, and its value sits at a fixed place.

    Attributes:
        attr_id: the attribute id.
        width: the value's size in bytes; 0 for the Xiaomi structure (:func:`read_mi_struct`).
        unpack: reads the value at an offset (``struct.Struct.unpack_from``), None for the structure.
        attribute: era 26's named attribute (``processAttributePostRead``), or None when the
            post-read keeps every value (no attribute, or one without bounds or sentinel).
        invalid: the named attribute's "invalid" sentinel, or None. The post-read keeps any
            other value of an attribute without bounds (a float equal to it is a sentinel too).
        bounded: the named attribute has bounds: a number is checked against ``low..high``
            where it is read (outside, or NaN, it goes through :func:`post_read`; inside, the
            post-read keeps it), the structure always goes through :func:`post_read`.
        low: the lowest number the post-read keeps as it is (``-inf`` without a lower bound).
        high: the highest (``inf`` without an upper bound).
    """

    attr_id: int
    width: int
    unpack: Any
    attribute: clusters_household.Attribute | None
    invalid: int | None
    bounded: bool
    low: float = -math.inf
    high: float = math.inf


def single_record(cluster: int, manufacturer_code: int | None, attr_id: int, type_id: int,
                  era: int) -> SingleRecord | None:
    """The reader of a one-record report of this attribute and data type, or None (the full parser decides).

    Only shapes :func:`parse_frame` reads the same whatever the value: integers of 1, 2 or 4
    bytes, single-precision floats and the Xiaomi 0xFF01 structure (a char string).
    """
    fast = _FAST_INTS.get(type_id)
    if fast is not None:
        width, unpack = fast
    elif type_id == 0x39:
        width, unpack = 4, _UNPACK_F32
    elif type_id == TYPE_CHAR_STR and attr_id == ATTR_MI_STRUCT:
        width, unpack = 0, None
    else:
        return None
    named = _named_attributes(cluster, manufacturer_code) if era == ERA_2X else None
    attribute = None if named is None else named.get(attr_id)
    if attribute is None:
        return SingleRecord(attr_id, width, unpack, None, None, False)
    bounded = attribute.min is not None or attribute.max is not None or attribute.max_length is not None
    invalid = _INVALID.get(attribute.type)
    if not bounded and invalid is None:
        return SingleRecord(attr_id, width, unpack, None, None, False)  # the post-read keeps every value
    if not width:
        return SingleRecord(attr_id, width, unpack, attribute, invalid, bounded)
    # A number's bounds are checked where it is read (``max_length`` concerns texts only: a
    # number has no length), so a value within them skips the post-read call.
    low = -math.inf if attribute.min is None else attribute.min
    high = math.inf if attribute.max is None else attribute.max
    return SingleRecord(attr_id, width, unpack, attribute, invalid, True, low, high)


class ReportLayout(NamedTuple):
    """A Report Attributes frame of several fixed-size records, read in one unpacking.

    Made from a frame whose records were read one by one (:func:`report_layout`). Another frame
    of the same length has the same layout when its record headers (attribute ids and data
    types) sit at the same places with the same bytes: read as one big-endian integer,
    ``frame & mask == headers``. (The caller keeps layouts by frame length.)
    Its values are then read at once; whether the post-read could change any of them is
    decided without a loop in the usual case (see ``sentinels`` and ``checked``).

    Attributes:
        mask: keeps the bytes of the headers after the first record's (the caller matched that one).
        headers: those bytes' values.
        unpack: reads every record's value, from the first value's offset.
        ids: each record's attribute id, in frame order.
        records: each record's reader, in frame order.
        sentinels: the "invalid" values of the integer records whose bounds every other value
            of their type meets: none of them among the values means the post-read keeps all of
            those records' values.
        checked: whether a record needs its value checked one by one (a float, or bounds
            narrower than its type).
    """

    mask: int
    headers: int
    unpack: Callable[[bytes, int], tuple[Any, ...]]
    ids: tuple[int, ...]
    records: tuple[SingleRecord, ...]
    sentinels: frozenset[int]
    checked: bool


#: ``struct`` integer formats -> the range of values they read.
_FORMAT_RANGES: Final = {"b": (-(2**7), 2**7 - 1), "B": (0, 2**8 - 1), "h": (-(2**15), 2**15 - 1),
                         "H": (0, 2**16 - 1), "i": (-(2**31), 2**31 - 1), "I": (0, 2**32 - 1)}


def report_layout(frame: bytes, records: Sequence[tuple[int, SingleRecord]]) -> ReportLayout:
    """The layout of ``frame``, whose records (header position, reader) were read one by one.

    The first record's position is -1: its header is the caller's to match (it chose the first
    reader by it); the other headers are part of the layout.
    """
    mask = bytearray(len(frame))
    formats = []
    sentinels = set()
    checked = False
    for position, record in records:
        if position >= 0:
            mask[position : position + 3] = b"\xff\xff\xff"
            formats.append("3x")
        code = record.unpack.__self__.format.lstrip("<")
        formats.append(code)
        if record.attribute is None:
            continue  # the post-read keeps every value
        low, high = _FORMAT_RANGES.get(code, (0, -1))
        if record.invalid == low:
            low += 1
        elif record.invalid == high:
            high -= 1
        if low > high or not record.low <= low <= high <= record.high:
            checked = True  # a float, or bounds some value of the type is outside
        elif record.invalid is not None:
            sentinels.add(record.invalid)
    whole = int.from_bytes(mask, "big")
    return ReportLayout(whole, int.from_bytes(frame, "big") & whole,
                        struct.Struct("<" + "".join(formats)).unpack_from,
                        tuple(record.attr_id for _, record in records), tuple(record for _, record in records),
                        frozenset(sentinels), checked)


#: Sentinel kinds: the "invalid" values of these types are BigInts in zigbee-herdsman (never ``===`` a number).
_BIGINT_SENTINELS: Final = frozenset({0x26, 0x27, 0x2E, 0x2F})


#: (cluster, manufacturer code) -> attribute id -> the attribute ``getClusterAttribute`` picks.
_NAMED: dict[tuple[int, int | None], _Named | None] = {}


def _named_attributes(cluster: int, manufacturer_code: int | None) -> _Named | None:
    """The cluster's named attributes as matched for a frame's manufacturer code (None: no table)."""
    key = (cluster, manufacturer_code)
    try:
        return _NAMED[key]
    except KeyError:
        pass
    table = clusters_household.ATTRIBUTES.get(cluster)
    named: _Named | None = None
    if table is not None:
        named = {}
        for attr_id, candidates in table.items():
            attribute = _match(candidates, manufacturer_code)
            if attribute is not None:
                named[attr_id] = attribute
    if len(_NAMED) < 4096:  # frames choose the manufacturer code: bound what junk can add
        _NAMED[key] = named
    return named


def _match(candidates: tuple[clusters_household.Attribute, ...], manufacturer_code: int | None) -> Any:
    partial = None
    for attribute in candidates:
        if manufacturer_code is not None and attribute.manufacturer_code == manufacturer_code:
            return attribute
        if attribute.manufacturer_code is None:
            partial = attribute
    return partial


_DROPPED: Final = object()
#: What :func:`post_read` returns for a value ``processAttributePostRead`` rejects.
DROPPED: Final = _DROPPED


def _is_number(value: Any) -> bool:
    return type(value) is int or type(value) is float


def _post_read(attribute: clusters_household.Attribute, value: Any) -> Any:
    """``processAttributePostRead``: the value, NaN, or ``_DROPPED`` (the attribute is ignored).

    The common case first: a value that is neither the type's "invalid" sentinel nor outside the
    attribute's bounds passes unchanged whatever its default and specials say.
    """
    low, high, max_length = attribute.min, attribute.max, attribute.max_length
    invalid = _INVALID.get(attribute.type)
    if type(value) is int and value != invalid and low is None and high is None and max_length is None:
        return value  # the usual case, decided at once
    number = type(value) is int or type(value) is float
    sentinel = (
        invalid is not None
        and (number or isinstance(value, JsBigInt))
        and value == invalid
        and isinstance(value, JsBigInt) == (attribute.type in _BIGINT_SENTINELS)
    )
    if not sentinel:
        if low is None and high is None and max_length is None:
            return value
        as_number = _comparable(value)
        out_of_range = (low is not None and as_number < low) or (high is not None and as_number > high)
        if not out_of_range and max_length is not None:
            length = _js_length(value)
            out_of_range = length is not None and length > max_length
        if not out_of_range:
            return value
    # The value would change: the attribute's default and its special values are kept as they are.
    default = attribute.default
    if (number or isinstance(value, str)) and (
        (type(value) is type(default) or (number and (type(default) is int or type(default) is float)))
        and value == default
    ):
        return value
    if attribute.special and (number or isinstance(value, str)):
        key = value if isinstance(value, str) else _number_key(value)
        if key in attribute.special:
            return value
    if sentinel:
        return value if value == attribute.max or value == attribute.min else math.nan
    return _DROPPED


#: ``processAttributePostRead`` of one value (for :class:`SingleRecord` readers): the value, NaN,
#: or :data:`DROPPED`.
post_read: Final = _post_read


def _number_key(value: float) -> str:
    """``String(value)`` for a number used as an object key."""
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value.is_integer():
            return str(int(value))
        return repr(value)
    return str(value)


def _comparable(value: Any) -> float:
    """The number a JavaScript relational comparison with a number sees (NaN: every test is false)."""
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        return string_to_number(value)
    if isinstance(value, bytes):
        return string_to_number(value.decode("utf-8", "replace"))
    if isinstance(value, list):
        if not value:
            return 0
        if len(value) == 1 and isinstance(value[0], (int, float, str)):
            return _comparable(value[0])
    return math.nan


def _js_length(value: Any) -> int | None:
    """``value.length`` (None: ``undefined``)."""
    if isinstance(value, str):
        return len(utf16_units(value))
    if isinstance(value, (bytes, list)):
        return len(value)
    return None
