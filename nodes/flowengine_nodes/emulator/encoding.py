"""ZCL values and report frames, encoded by hand for the emulator's virtual devices.

The emulator never shares code with the stack it tests (zigpy), so the few ZCL data types
the household devices send are packed here with :mod:`struct`: booleans, unsigned and
signed integers of 8-64 bits, enumerations, bitmaps and single-precision floats, an
attribute report of several records, and Xiaomi's ``0xFF01`` struct (a character string
whose bytes are ``tag, type, value`` entries).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from flowengine_nodes.emulator.devices import zcl_header

# ZCL data type ids (ZCL spec, table 2-10).
T_BOOL = 0x10
T_BITMAP8 = 0x18
T_BITMAP16 = 0x19
T_UINT8 = 0x20
T_UINT16 = 0x21
T_UINT32 = 0x23
T_UINT40 = 0x24
T_UINT64 = 0x27
T_INT8 = 0x28
T_INT16 = 0x29
T_INT32 = 0x2B
T_ENUM8 = 0x30
T_ENUM16 = 0x31
T_SINGLE = 0x39
T_CHAR_STRING = 0x42

#: Little-endian layout of each fixed-size type (uint40 is handled apart).
_FORMATS = {
    T_BOOL: "<B",
    T_BITMAP8: "<B",
    T_BITMAP16: "<H",
    T_UINT8: "<B",
    T_UINT16: "<H",
    T_UINT32: "<I",
    T_UINT64: "<Q",
    T_INT8: "<b",
    T_INT16: "<h",
    T_INT32: "<i",
    T_ENUM8: "<B",
    T_ENUM16: "<H",
    T_SINGLE: "<f",
}

#: One attribute record: (attribute id, data type, value).
Record = tuple[int, int, "int | float | bool"]


def encode_value(data_type: int, value: int | float | bool) -> bytes:
    """Return the bytes of ``value`` as ZCL type ``data_type``.

    Raises:
        ValueError: the type is not one the emulator sends, or the value does not fit it.
    """
    if data_type == T_UINT40:
        number = int(value)
        if not 0 <= number < 1 << 40:
            raise ValueError(f"{value!r} does not fit uint40")
        return number.to_bytes(5, "little")
    layout = _FORMATS.get(data_type)
    if layout is None:
        raise ValueError(f"the emulator does not encode ZCL type 0x{data_type:02x}")
    try:
        return struct.pack(layout, float(value) if data_type == T_SINGLE else int(value))
    except struct.error as exc:
        raise ValueError(f"{value!r} does not fit ZCL type 0x{data_type:02x}") from exc


def attribute_records(records: Iterable[Record]) -> bytes:
    """Return Report Attributes records: ``id (uint16), type, value`` for each."""
    return b"".join(
        struct.pack("<HB", attribute, data_type) + encode_value(data_type, value)
        for attribute, data_type, value in records
    )


def attribute_report(tsn: int, records: Iterable[Record], *, manufacturer_code: int | None = None) -> bytes:
    """Return a whole ZCL Report Attributes frame (server to client, no default response)."""
    return zcl_header(tsn=tsn, command=0x0A, manufacturer_code=manufacturer_code) + attribute_records(records)


def lumi_struct(entries: Iterable[Record]) -> bytes:
    """Return the value of Xiaomi's ``0xFF01`` attribute: a char string of ``tag, type, value`` entries."""
    body = b"".join(bytes((tag, data_type)) + encode_value(data_type, value) for tag, data_type, value in entries)
    if len(body) > 254:
        raise ValueError("a Xiaomi struct holds at most 254 bytes")
    return bytes((len(body),)) + body


def lumi_struct_report(tsn: int, manufacturer_code: int, entries: Iterable[Record]) -> bytes:
    """Return the Basic-cluster report a Xiaomi device sends as its heartbeat: ``0xFF01``, type 0x42."""
    header = zcl_header(tsn=tsn, command=0x0A, manufacturer_code=manufacturer_code)
    return header + struct.pack("<HB", 0xFF01, T_CHAR_STRING) + lumi_struct(entries)
