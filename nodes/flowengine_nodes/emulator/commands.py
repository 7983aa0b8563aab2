"""deCONZ serial commands: ids, statuses, the frame layout and the state byte.

Unescaped frame layout (checksum excluded)::

    command id (1) | sequence (1) | status (1) | frame length (2) | [payload length (2)] | body

The payload length is present only for the commands in :data:`WITH_PAYLOAD_LENGTH`, in
both directions. Multi-byte integers are little endian.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum


class Command(IntEnum):
    """Command ids of the deCONZ serial protocol used by zigpy-deconz 1.1.0."""

    APS_DATA_CONFIRM = 0x04
    DEVICE_STATE = 0x07
    CHANGE_NETWORK_STATE = 0x08
    READ_PARAMETER = 0x0A
    WRITE_PARAMETER = 0x0B
    VERSION = 0x0D
    DEVICE_STATE_CHANGED = 0x0E
    APS_DATA_REQUEST = 0x12
    APS_DATA_INDICATION = 0x17
    ZIGBEE_GREEN_POWER = 0x19
    MAC_POLL = 0x1C
    UPDATE_NEIGHBOR = 0x1D


class Status(IntEnum):
    """Status byte of a response."""

    SUCCESS = 0
    FAILURE = 1
    BUSY = 2
    TIMEOUT = 3
    UNSUPPORTED = 4
    ERROR = 5
    NO_NETWORK = 6
    INVALID_VALUE = 7


class NetworkState(IntEnum):
    """Bits 0-1 of the device-state byte."""

    OFFLINE = 0
    JOINING = 1
    CONNECTED = 2
    LEAVING = 3


#: Device-state flag: an APS data confirm is waiting.
CONFIRM_WAITING = 0x04
#: Device-state flag: an APS data indication is waiting.
INDICATION_WAITING = 0x08
#: Device-state flag: free APS request slots. Missing once, every later send blocks.
FREE_SLOTS = 0x20

#: Commands whose frames carry a payload-length field after the frame length.
WITH_PAYLOAD_LENGTH = frozenset(
    {
        Command.APS_DATA_CONFIRM,
        Command.APS_DATA_REQUEST,
        Command.APS_DATA_INDICATION,
        Command.READ_PARAMETER,
        Command.WRITE_PARAMETER,
        Command.MAC_POLL,
        Command.UPDATE_NEIGHBOR,
        Command.ZIGBEE_GREEN_POWER,
    }
)

#: Firmware version answered to VERSION: ConBee II (platform 0x07), 0x26720700.
FIRMWARE_VERSION = 0x26720700
#: Protocol version answered for parameter 0x22.
PROTOCOL_VERSION = 0x010C


class FrameError(ValueError):
    """A host frame that cannot be parsed (too short, lengths that do not add up)."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One parsed frame: command, sequence, status and body (what follows the length fields)."""

    command: int
    sequence: int
    status: int
    body: bytes


def build_frame(command: int, sequence: int, body: bytes, status: int = Status.SUCCESS) -> bytes:
    """Return the unescaped frame (no checksum) for ``command`` with ``body``.

    Both length fields are computed here, so a caller cannot get them wrong by one.
    """
    if command in WITH_PAYLOAD_LENGTH:
        header_size = 7
        payload = struct.pack("<H", len(body)) + body
    else:
        header_size = 5
        payload = body
    length = header_size + len(body)
    return struct.pack("<BBBH", command, sequence & 0xFF, status, length) + payload


def parse_frame(data: bytes) -> Frame:
    """Parse an unescaped frame (checksum already stripped) sent by the host.

    Raises:
        FrameError: the frame is shorter than its header or its lengths do not add up.
    """
    if len(data) < 5:
        raise FrameError(f"frame too short: {data.hex()}")
    command, sequence, status, length = struct.unpack_from("<BBBH", data)
    if length != len(data):
        raise FrameError(f"frame length {length} != {len(data)}: {data.hex()}")
    if command in WITH_PAYLOAD_LENGTH:
        if len(data) < 7:
            raise FrameError(f"frame without payload length: {data.hex()}")
        (payload_length,) = struct.unpack_from("<H", data, 5)
        if payload_length != len(data) - 7:
            raise FrameError(f"payload length {payload_length} != {len(data) - 7}: {data.hex()}")
        body = data[7:]
    else:
        body = data[5:]
    return Frame(command, sequence, status, bytes(body))


def state_byte(network: int, *, confirm: bool, indication: bool) -> int:
    """Return the device-state byte: network state, waiting flags and always the free-slots bit."""
    value = (network & 0x03) | FREE_SLOTS
    if confirm:
        value |= CONFIRM_WAITING
    if indication:
        value |= INDICATION_WAITING
    return value
