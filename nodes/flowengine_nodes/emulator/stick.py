"""The emulated stick's non-volatile state: network parameters, endpoint slots, joined devices.

Like a real ConBee's NVRAM, this state outlives host connections, and with a ``path`` it
outlives the emulator too: it is kept in a small JSON file that is rewritten (atomically)
whenever something in it changes. A restart of host and emulator on the same file and the
same zigpy database therefore takes zigpy's formed-network path: no formation, no
interview.

Parameter values are encoded here exactly as on the wire. Addresses are
kept in wire order (least significant byte first) in memory and written to JSON in the
usual display order (``00:15:8d:00:01:02:03:04``).
"""

from __future__ import annotations

import json
import os
import secrets
import struct
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

from flowengine_nodes.emulator.commands import PROTOCOL_VERSION


class Param(IntEnum):
    """Network parameter ids."""

    MAC_ADDRESS = 0x01
    NWK_PANID = 0x05
    NWK_ADDRESS = 0x07
    NWK_EXTENDED_PANID = 0x08
    APS_DESIGNED_COORDINATOR = 0x09
    CHANNEL_MASK = 0x0A
    APS_EXTENDED_PANID = 0x0B
    TRUST_CENTER_ADDRESS = 0x0E
    SECURITY_MODE = 0x10
    CONFIGURE_ENDPOINT = 0x13
    USE_PREDEFINED_NWK_PANID = 0x15
    NETWORK_KEY = 0x18
    LINK_KEY = 0x19
    CURRENT_CHANNEL = 0x1C
    PERMIT_JOIN = 0x21
    PROTOCOL_VERSION = 0x22
    NWK_UPDATE_ID = 0x24
    WATCHDOG_TTL = 0x26
    NWK_FRAME_COUNTER = 0x27
    APP_ZDP_RESPONSE_HANDLING = 0x28


#: Number of endpoint slots; fewer than three silently loses one of zigpy's endpoints (§11.4).
ENDPOINT_SLOTS = 3
DEFAULT_LINK_KEY = b"ZigBeeAlliance09"
UNFORMED_EXTENDED_PANID = b"\xff" * 8

# What a factory-new ConBee II holds in its three endpoint slots (endpoint, profile, device).
_DEFAULT_SLOTS = (
    bytes.fromhex("01 0401 0500 01 00 00"),
    bytes.fromhex("f2 e0a1 6400 01 01 2100 01 2100"),
    bytes.fromhex("02 5ec0 0004 01 00 00"),
)


class ParamError(ValueError):
    """A read or write the stick refuses: answered with status UNSUPPORTED."""


def ieee_to_wire(text: str) -> bytes:
    """Convert ``00:15:8d:…`` (display order) to 8 wire bytes (least significant first)."""
    raw = bytes.fromhex(text.replace(":", "").replace("-", ""))
    if len(raw) != 8:
        raise ValueError(f"not an 8-byte address: {text!r}")
    return raw[::-1]


def wire_to_ieee(raw: bytes) -> str:
    """Convert 8 wire bytes to ``00:15:8d:…`` display form."""
    return ":".join(f"{byte:02x}" for byte in raw[::-1])


def key_to_text(raw: bytes) -> str:
    """Render a 16-byte key as colon hex in wire order (as zigpy prints keys)."""
    return ":".join(f"{byte:02x}" for byte in raw)


def text_to_key(text: str) -> bytes:
    """Parse a colon-hex key (wire order)."""
    raw = bytes.fromhex(text.replace(":", "").replace("-", ""))
    if len(raw) != 16:
        raise ValueError(f"not a 16-byte key: {text!r}")
    return raw


@dataclass
class JoinedDevice:
    """A device the stick knows as joined (its neighbour/child table entry)."""

    ieee: str
    nwk: int
    capability: int = 0x80


@dataclass
class StickState:
    """Everything the stick keeps across power cycles.

    A new instance is a factory-new stick (not formed). :meth:`form` writes a formed
    network directly, which is how the emulator starts "already formed" to spare zigpy's
    2-4 s formation.
    """

    mac_address: bytes = field(default_factory=lambda: ieee_to_wire("00:21:2e:ff:ff:00:00:01"))
    nwk_address: int = 0xFFFF
    pan_id: int = 0xFFFF
    aps_extended_panid: bytes = b"\x00" * 8
    nwk_extended_panid: bytes = UNFORMED_EXTENDED_PANID
    designed_coordinator: int = 1
    channel_mask: int = 0
    current_channel: int = 0
    trust_center_address: bytes = b"\x00" * 8
    security_mode: int = 3
    use_predefined_panid: int = 0
    network_key: bytes = b"\x00" * 16
    link_keys: dict[bytes, bytes] = field(default_factory=dict)
    nwk_update_id: int = 0
    frame_counter: int = 0
    endpoint_slots: list[bytes] = field(default_factory=lambda: list(_DEFAULT_SLOTS))
    #: Network state the stick returns to after a power cycle (a formed stick rejoins its network).
    network_up: bool = False
    devices: dict[str, JoinedDevice] = field(default_factory=dict)
    path: Path | None = None

    # ---- persistence -------------------------------------------------------------------

    @classmethod
    def load(cls, path: Path | None) -> StickState:
        """Read the state kept in ``path``; a missing file (or ``None``) gives a factory-new stick."""
        if path is None or not path.exists():
            state = cls(path=path)
            if path is not None:
                # A stick has its own IEEE; make it unique per state file.
                state.mac_address = (bytes.fromhex("00212e") + secrets.token_bytes(5))[::-1]
            return state
        data = json.loads(path.read_text(encoding="utf-8"))
        state = cls(path=path)
        state.mac_address = ieee_to_wire(data["mac_address"])
        state.nwk_address = int(data["nwk_address"])
        state.pan_id = int(data["pan_id"])
        state.aps_extended_panid = ieee_to_wire(data["aps_extended_panid"])
        state.nwk_extended_panid = ieee_to_wire(data["nwk_extended_panid"])
        state.designed_coordinator = int(data["designed_coordinator"])
        state.channel_mask = int(data["channel_mask"])
        state.current_channel = int(data["current_channel"])
        state.trust_center_address = ieee_to_wire(data["trust_center_address"])
        state.security_mode = int(data["security_mode"])
        state.use_predefined_panid = int(data["use_predefined_panid"])
        state.network_key = text_to_key(data["network_key"])
        state.link_keys = {ieee_to_wire(k): text_to_key(v) for k, v in data["link_keys"].items()}
        state.nwk_update_id = int(data["nwk_update_id"])
        state.frame_counter = int(data["frame_counter"])
        state.endpoint_slots = [bytes.fromhex(slot) for slot in data["endpoint_slots"]]
        state.network_up = bool(data["network_up"])
        state.devices = {
            entry["ieee"]: JoinedDevice(entry["ieee"], int(entry["nwk"]), int(entry.get("capability", 0x80)))
            for entry in data.get("devices", [])
        }
        return state

    def to_json_obj(self) -> dict[str, Any]:
        """Return the JSON form written to :attr:`path`."""
        return {
            "mac_address": wire_to_ieee(self.mac_address),
            "nwk_address": self.nwk_address,
            "pan_id": self.pan_id,
            "aps_extended_panid": wire_to_ieee(self.aps_extended_panid),
            "nwk_extended_panid": wire_to_ieee(self.nwk_extended_panid),
            "designed_coordinator": self.designed_coordinator,
            "channel_mask": self.channel_mask,
            "current_channel": self.current_channel,
            "trust_center_address": wire_to_ieee(self.trust_center_address),
            "security_mode": self.security_mode,
            "use_predefined_panid": self.use_predefined_panid,
            "network_key": key_to_text(self.network_key),
            "link_keys": {wire_to_ieee(k): key_to_text(v) for k, v in self.link_keys.items()},
            "nwk_update_id": self.nwk_update_id,
            "frame_counter": self.frame_counter,
            "endpoint_slots": [slot.hex() for slot in self.endpoint_slots],
            "network_up": self.network_up,
            "devices": [
                {"ieee": dev.ieee, "nwk": dev.nwk, "capability": dev.capability} for dev in self.devices.values()
            ],
        }

    def save(self) -> None:
        """Write the state to :attr:`path` atomically (no-op without a path)."""
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(json.dumps(self.to_json_obj(), indent=1), encoding="utf-8")
        os.replace(temporary, self.path)

    # ---- network -----------------------------------------------------------------------

    @property
    def formed(self) -> bool:
        """True when zigpy would consider the network formed."""
        extended = self.aps_extended_panid if any(self.aps_extended_panid) else self.nwk_extended_panid
        return not (
            self.nwk_address == 0xFFFF
            or self.pan_id == 0xFFFF
            or extended == UNFORMED_EXTENDED_PANID
            or self.current_channel == 0
        )

    @property
    def ieee(self) -> str:
        """The stick's own IEEE address in display form."""
        return wire_to_ieee(self.mac_address)

    def form(
        self,
        *,
        channel: int = 15,
        pan_id: int | None = None,
        extended_pan_id: str | None = None,
        network_key: str | None = None,
        frame_counter: int = 0,
        nwk_update_id: int = 0,
        coordinator_ieee: str | None = None,
    ) -> None:
        """Form a network directly (what zigpy's formation would write), leaving it up.

        Every parameter left out is chosen at random (channel: 15). With all of them given,
        the stick carries exactly the network another program left on it: its channel, PAN
        ids, network key, outgoing frame counter, update id and the coordinator's IEEE.
        """
        if coordinator_ieee is not None:
            self.mac_address = ieee_to_wire(coordinator_ieee)
        self.nwk_address = 0x0000
        self.designed_coordinator = 1
        self.pan_id = pan_id if pan_id is not None else secrets.randbelow(0xFFF0) + 1
        self.aps_extended_panid = ieee_to_wire(extended_pan_id) if extended_pan_id else secrets.token_bytes(8)
        self.network_key = text_to_key(network_key) if network_key else secrets.token_bytes(16)
        self.channel_mask = 1 << channel
        self.use_predefined_panid = 1
        self.trust_center_address = self.mac_address
        self.link_keys = {self.mac_address: DEFAULT_LINK_KEY}
        self.security_mode = 3
        self.frame_counter = frame_counter
        self.nwk_update_id = nwk_update_id
        self.apply_network()
        self.network_up = True

    def apply_network(self) -> None:
        """Apply the written settings, as the firmware does when the network goes CONNECTED."""
        channels = [channel for channel in range(11, 27) if self.channel_mask & (1 << channel)]
        self.current_channel = channels[0] if channels else 0
        if self.designed_coordinator == 1 and self.current_channel and self.pan_id != 0xFFFF:
            # A coordinator that forms its network takes the short address 0x0000 (the firmware
            # does; zigbee-herdsman never writes it, zigpy-deconz does).
            self.nwk_address = 0x0000
        if any(self.aps_extended_panid):
            self.nwk_extended_panid = self.aps_extended_panid
        elif self.pan_id != 0xFFFF:
            self.nwk_extended_panid = self.mac_address

    # ---- parameter access --------------------------------------------------------------

    def read(self, param: int, argument: bytes) -> bytes:
        """Return the wire value of ``param`` (for indexed parameters, of ``argument``).

        Raises:
            ParamError: unknown parameter, empty endpoint slot or unknown key.
        """
        match param:
            case Param.MAC_ADDRESS:
                return self.mac_address
            case Param.NWK_PANID:
                return struct.pack("<H", self.pan_id)
            case Param.NWK_ADDRESS:
                return struct.pack("<H", self.nwk_address)
            case Param.NWK_EXTENDED_PANID:
                return self.nwk_extended_panid
            case Param.APS_DESIGNED_COORDINATOR:
                return bytes((self.designed_coordinator,))
            case Param.CHANNEL_MASK:
                return struct.pack("<I", self.channel_mask)
            case Param.APS_EXTENDED_PANID:
                return self.aps_extended_panid
            case Param.TRUST_CENTER_ADDRESS:
                return self.trust_center_address
            case Param.SECURITY_MODE:
                return bytes((self.security_mode,))
            case Param.CONFIGURE_ENDPOINT:
                index = argument[0] if argument else 0
                if index >= len(self.endpoint_slots):
                    raise ParamError(f"no endpoint slot {index}")
                return bytes((index,)) + self.endpoint_slots[index]
            case Param.USE_PREDEFINED_NWK_PANID:
                return bytes((self.use_predefined_panid,))
            case Param.NETWORK_KEY:
                index = argument[0] if argument else 0
                if index != 0:
                    raise ParamError(f"no network key {index}")
                return bytes((0,)) + self.network_key
            case Param.LINK_KEY:
                partner = argument[:8]
                key = self.link_keys.get(partner, DEFAULT_LINK_KEY)
                return partner + key
            case Param.CURRENT_CHANNEL:
                return bytes((self.current_channel,))
            case Param.PERMIT_JOIN:
                return bytes((0,))
            case Param.PROTOCOL_VERSION:
                return struct.pack("<H", PROTOCOL_VERSION)
            case Param.NWK_UPDATE_ID:
                return bytes((self.nwk_update_id,))
            case Param.WATCHDOG_TTL:
                return struct.pack("<I", 60)
            case Param.NWK_FRAME_COUNTER:
                return struct.pack("<I", self.frame_counter)
            case Param.APP_ZDP_RESPONSE_HANDLING:
                return struct.pack("<H", 0)
        raise ParamError(f"unknown parameter 0x{param:02x}")

    def write(self, param: int, value: bytes) -> bool:
        """Store a written parameter; return True when persistent state changed.

        Raises:
            ParamError: unknown or read-only parameter, or a value of the wrong size.
        """
        try:
            return self._write(param, value)
        except (struct.error, IndexError) as exc:
            raise ParamError(f"bad value for parameter 0x{param:02x}: {value.hex()}") from exc

    def _write(self, param: int, value: bytes) -> bool:
        before = self.to_json_obj()
        match param:
            case Param.MAC_ADDRESS:
                self.mac_address = _exact(value, 8)
            case Param.NWK_PANID:
                (self.pan_id,) = struct.unpack("<H", value[:2])
            case Param.NWK_ADDRESS:
                (self.nwk_address,) = struct.unpack("<H", value[:2])
            case Param.NWK_EXTENDED_PANID:
                self.nwk_extended_panid = _exact(value, 8)
            case Param.APS_DESIGNED_COORDINATOR:
                self.designed_coordinator = value[0]
            case Param.CHANNEL_MASK:
                (self.channel_mask,) = struct.unpack("<I", value[:4])
            case Param.APS_EXTENDED_PANID:
                self.aps_extended_panid = _exact(value, 8)
            case Param.TRUST_CENTER_ADDRESS:
                self.trust_center_address = _exact(value, 8)
            case Param.SECURITY_MODE:
                self.security_mode = value[0]
            case Param.CONFIGURE_ENDPOINT:
                index = value[0]
                if index >= len(self.endpoint_slots):
                    raise ParamError(f"no endpoint slot {index}")
                self.endpoint_slots[index] = bytes(value[1:])
            case Param.USE_PREDEFINED_NWK_PANID:
                self.use_predefined_panid = value[0]
            case Param.NETWORK_KEY:
                if value[0] != 0:
                    raise ParamError(f"no network key {value[0]}")
                self.network_key = _exact(value[1:], 16)
            case Param.LINK_KEY:
                self.link_keys[_exact(value[:8], 8)] = _exact(value[8:], 16)
            case Param.NWK_UPDATE_ID:
                self.nwk_update_id = value[0]
            case Param.NWK_FRAME_COUNTER:
                (self.frame_counter,) = struct.unpack("<I", value[:4])
            case Param.PERMIT_JOIN | Param.WATCHDOG_TTL | Param.APP_ZDP_RESPONSE_HANDLING:
                return False
            case _:
                raise ParamError(f"parameter 0x{param:02x} cannot be written")
        return self.to_json_obj() != before


def _exact(value: bytes, size: int) -> bytes:
    if len(value) != size:
        raise ParamError(f"expected {size} bytes, got {len(value)}")
    return bytes(value)
