"""Virtual Zigbee devices: what they answer to the host's interview and the frames they send.

A :class:`VirtualDevice` answers ZDO requests (node, active endpoint and simple
descriptors, bind, address requests), ZCL Read/Write Attributes and Configure Reporting,
and runs an OTA client (Image Notify → Query Next Image → Image Block … → Upgrade End), so
zigpy's interview and OTA code run against it unchanged.

:class:`LumiLock` adds the Aqara locks' events as the real frames the locks send and Zigbee2MQTT
decodes (docs/decoder.md): ZNMS11LM (``lumi.lock.aq1``) numeric 0xFF10/0xFF11 values and the
0xFF01 MI_STRUCT; ZNMS12LM (``lumi.lock.acn02``) and ZNMS13LM (``lumi.lock.acn03``) string
values and their 0xFFF6 lock states.

Everything is encoded by hand (``struct``), never with zigpy's types: the emulator is a
fake that speaks the real protocol, so it must not share code with the stack under test.
"""

from __future__ import annotations

import functools
import itertools
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flowengine_nodes.emulator.stick import ieee_to_wire

ZDO_PROFILE = 0x0000
HA_PROFILE = 0x0104
COORDINATOR_NWK = 0x0000
COORDINATOR_ENDPOINT = 1
BROADCAST_RX_ON = 0xFFFD

# ZCL data types used below.
T_UINT8 = 0x20
T_UINT16 = 0x21
T_UINT32 = 0x23
T_INT8 = 0x28
T_OCTET_STRING = 0x41
T_CHAR_STRING = 0x42

# ZCL frame control bits.
FC_CLUSTER_SPECIFIC = 0x01
FC_MANUFACTURER_SPECIFIC = 0x04
FC_SERVER_TO_CLIENT = 0x08
FC_DISABLE_DEFAULT_RESPONSE = 0x10

LUMI_MANUFACTURER_CODE = 0x115F
OTA_CLUSTER = 0x0019
BASIC_CLUSTER = 0x0000
POWER_CONFIGURATION_CLUSTER = 0x0001
IDENTIFY_CLUSTER = 0x0003
DOOR_LOCK_CLUSTER = 0x0101

# ZDO status codes.
ZDO_SUCCESS = 0x00
ZDO_NOT_ACTIVE = 0x83
ZDO_NOT_SUPPORTED = 0x84


@dataclass
class ApsFrame:
    """One APS frame a device (or the coordinator's ZDO server) sends to the host.

    ``written_at`` is set (``time.perf_counter()``) when the indication carrying it is
    written to the host connection; benchmarks measure latency from there.
    """

    src_nwk: int
    src_ieee: str
    src_endpoint: int
    dst_nwk: int
    dst_endpoint: int
    profile: int
    cluster: int
    payload: bytes
    lqi: int = 255
    rssi: int = -40
    written_at: float | None = None


@dataclass(frozen=True, slots=True)
class Report:
    """One frame a scripted event sends: the ZCL bytes, the cluster and (default: the first) endpoint."""

    payload: bytes
    cluster: int
    endpoint: int | None = None


#: Builds the frames of one scripted event from its parameters.
EventBuilder = Callable[[Mapping[str, Any]], list[Report]]


@dataclass(frozen=True, slots=True)
class ApsRequest:
    """What the host asked a device to receive (the interesting part of an APS data request)."""

    dst_endpoint: int
    profile: int
    cluster: int
    src_endpoint: int
    payload: bytes
    broadcast: bool = False


#: ZDO requests of an interview: what a host asks a device it does not know yet.
INTERVIEW_ZDO = {
    0x0002: "Node descriptor request",
    0x0005: "Active endpoints request",
    0x0004: "Simple descriptor request",
}
#: Basic cluster attributes an interview reads to identify a device.
INTERVIEW_BASIC_ATTRIBUTES = {0x0004: "manufacturerName", 0x0005: "modelId"}


def interview_step(request: ApsRequest) -> str | None:
    """Name the interview step ``request`` is (``None`` when it is none), for "nothing was re-interviewed" checks.

    A host that already knows a device never sends it a ZDO Node, Active-endpoints or Simple
    descriptor request, nor reads its Basic ``manufacturerName`` or ``modelId``.
    """
    if request.profile == ZDO_PROFILE and request.dst_endpoint == 0:
        return INTERVIEW_ZDO.get(request.cluster)
    if request.cluster != BASIC_CLUSTER:
        return None
    header = ZclHeader.parse(request.payload)
    if header is None or header.cluster_specific or header.command != 0x00:
        return None
    body = request.payload[header.size :]
    read = {struct.unpack_from("<H", body, offset)[0] for offset in range(0, len(body) - 1, 2)}
    names = [name for attribute, name in INTERVIEW_BASIC_ATTRIBUTES.items() if attribute in read]
    return f"Basic read of {' and '.join(names)}" if names else None


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A simple descriptor: endpoint id, profile, device type and cluster lists."""

    endpoint: int
    profile: int = HA_PROFILE
    device_type: int = 0x0000
    version: int = 1
    in_clusters: tuple[int, ...] = ()
    out_clusters: tuple[int, ...] = ()

    def descriptor(self) -> bytes:
        """Return the simple descriptor bytes."""
        return (
            struct.pack("<BHHBB", self.endpoint, self.profile, self.device_type, self.version, len(self.in_clusters))
            + b"".join(struct.pack("<H", cluster) for cluster in self.in_clusters)
            + bytes((len(self.out_clusters),))
            + b"".join(struct.pack("<H", cluster) for cluster in self.out_clusters)
        )


@dataclass(frozen=True, slots=True)
class ZclHeader:
    """A parsed ZCL header."""

    frame_control: int
    manufacturer_code: int | None
    tsn: int
    command: int
    size: int

    @property
    def cluster_specific(self) -> bool:
        """True for cluster-specific commands (frame type 1)."""
        return self.frame_control & 0x03 == FC_CLUSTER_SPECIFIC

    @property
    def server_to_client(self) -> bool:
        """True when the direction bit says server → client."""
        return bool(self.frame_control & FC_SERVER_TO_CLIENT)

    @classmethod
    def parse(cls, data: bytes) -> ZclHeader | None:
        """Parse the header at the start of ``data``; ``None`` when it is too short."""
        if len(data) < 3:
            return None
        frame_control = data[0]
        if frame_control & FC_MANUFACTURER_SPECIFIC:
            if len(data) < 5:
                return None
            (code,) = struct.unpack_from("<H", data, 1)
            return cls(frame_control, code, data[3], data[4], 5)
        return cls(frame_control, None, data[1], data[2], 3)


def zcl_header(
    *,
    tsn: int,
    command: int,
    cluster_specific: bool = False,
    server_to_client: bool = True,
    manufacturer_code: int | None = None,
    disable_default_response: bool = True,
) -> bytes:
    """Build a ZCL header."""
    frame_control = FC_CLUSTER_SPECIFIC if cluster_specific else 0
    if server_to_client:
        frame_control |= FC_SERVER_TO_CLIENT
    if disable_default_response:
        frame_control |= FC_DISABLE_DEFAULT_RESPONSE
    if manufacturer_code is not None:
        frame_control |= FC_MANUFACTURER_SPECIFIC
        return struct.pack("<BHBB", frame_control, manufacturer_code, tsn & 0xFF, command)
    return struct.pack("<BBB", frame_control, tsn & 0xFF, command)


def char_string(text: str | bytes) -> bytes:
    """Encode a ZCL character string value (length byte + bytes)."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return bytes((len(raw),)) + raw


@dataclass(frozen=True, slots=True)
class OtaFirmware:
    """What the device's OTA client reports as installed."""

    manufacturer_code: int
    image_type: int
    file_version: int
    hardware_version: int | None = None


@dataclass
class OtaProgress:
    """The device's view of an OTA transfer (for tests and the emulator log)."""

    queries: int = 0
    last_query_status: int | None = None
    offered_version: int | None = None
    image_size: int = 0
    received: bytearray = field(default_factory=bytearray)
    finished_version: int | None = None


class VirtualDevice:
    """A Zigbee end device that joins, answers zigpy's interview and sends frames.

    Attributes readable by the host are kept in :attr:`attributes`, keyed by
    ``(endpoint, cluster, attribute id)`` with ``(type byte, encoded value)`` values.
    """

    #: Node descriptor: end device, 2.4 GHz, sleepy (rx off when idle), battery powered.
    logical_type = 0x02
    mac_capability = 0x80
    #: Basic cluster ``powerSource`` (0x0007): 0x01 mains, 0x03 battery.
    power_source = 0x03

    def __init__(
        self,
        name: str,
        *,
        ieee: str,
        nwk: int,
        model: str,
        manufacturer: str,
        manufacturer_code: int,
        endpoints: tuple[Endpoint, ...],
        lqi: int = 120,
        rssi: int = -60,
        ota: OtaFirmware | None = None,
    ) -> None:
        ieee_to_wire(ieee)  # validates
        self.name = name
        self.ieee = ieee.lower()
        self.nwk = nwk
        self.model = model
        self.manufacturer = manufacturer
        self.manufacturer_code = manufacturer_code
        self.endpoints = endpoints
        self.lqi = lqi
        self.rssi = rssi
        self.ota = ota
        self.ota_progress = OtaProgress()
        self.joined = False
        self.attributes: dict[tuple[int, int, int], tuple[int, bytes]] = {}
        self._tsn = itertools.count(1)
        self._zdo_tsn = itertools.count(1)
        #: Unicast requests the host sent this device (broadcasts are only counted).
        self.requests: list[ApsRequest] = []
        #: False: the device ignores every ZCL frame (failure tests: no answer, no default response).
        self.answering = True
        #: Not 0: every cluster command is refused with this ZCL status (failure tests), nothing changes.
        self.command_status = 0x00
        self.broadcasts_received = 0
        first = endpoints[0].endpoint
        self.attributes[(first, BASIC_CLUSTER, 0x0004)] = (T_CHAR_STRING, char_string(manufacturer))
        self.attributes[(first, BASIC_CLUSTER, 0x0005)] = (T_CHAR_STRING, char_string(model))
        self.attributes[(first, BASIC_CLUSTER, 0x0000)] = (T_UINT8, bytes((3,)))
        self.attributes[(first, BASIC_CLUSTER, 0x0007)] = (0x30, bytes((self.power_source,)))
        if ota is not None:
            self.attributes[(first, OTA_CLUSTER, 0x0002)] = (T_UINT32, struct.pack("<I", ota.file_version))

    # ---- frames the device sends by itself -------------------------------------------

    def next_tsn(self) -> int:
        """Return the next ZCL transaction sequence number (1..255, wrapping).

        Every emulated report takes a new one: zigpy drops a frame identical to one from the
        same device in the last 10 s.
        """
        return (next(self._tsn) - 1) % 255 + 1

    def frame(
        self,
        payload: bytes,
        *,
        cluster: int,
        endpoint: int | None = None,
        profile: int = HA_PROFILE,
        lqi: int | None = None,
        rssi: int | None = None,
    ) -> ApsFrame:
        """Wrap a ZCL (or any) payload in an APS frame from this device to the coordinator."""
        return ApsFrame(
            src_nwk=self.nwk,
            src_ieee=self.ieee,
            src_endpoint=self.endpoints[0].endpoint if endpoint is None else endpoint,
            dst_nwk=COORDINATOR_NWK,
            dst_endpoint=COORDINATOR_ENDPOINT,
            profile=profile,
            cluster=cluster,
            payload=payload,
            lqi=self.lqi if lqi is None else lqi,
            rssi=self.rssi if rssi is None else rssi,
        )

    def announce(self) -> ApsFrame:
        """Return the ZDO Device_annce this device broadcasts when it joins."""
        payload = (
            bytes((next(self._zdo_tsn) & 0xFF,))
            + struct.pack("<H", self.nwk)
            + ieee_to_wire(self.ieee)
            + bytes((self.mac_capability,))
        )
        return ApsFrame(
            src_nwk=self.nwk,
            src_ieee=self.ieee,
            src_endpoint=0,
            dst_nwk=BROADCAST_RX_ON,
            dst_endpoint=0,
            profile=ZDO_PROFILE,
            cluster=0x0013,
            payload=payload,
            lqi=self.lqi,
            rssi=self.rssi,
        )

    def query_next_image(self) -> ApsFrame | None:
        """Return an OTA Query Next Image Request, or ``None`` without OTA support."""
        if self.ota is None:
            return None
        self.ota_progress.queries += 1
        field_control = 0x01 if self.ota.hardware_version is not None else 0x00
        body = struct.pack(
            "<BHHI", field_control, self.ota.manufacturer_code, self.ota.image_type, self.ota.file_version
        )
        if self.ota.hardware_version is not None:
            body += struct.pack("<H", self.ota.hardware_version)
        header = zcl_header(tsn=self.next_tsn(), command=0x01, cluster_specific=True, server_to_client=False)
        return self.frame(header + body, cluster=OTA_CLUSTER, endpoint=self._ota_endpoint())

    def _ota_endpoint(self) -> int:
        for endpoint in self.endpoints:
            if OTA_CLUSTER in endpoint.out_clusters:
                return endpoint.endpoint
        return self.endpoints[0].endpoint

    # ---- what the device answers -------------------------------------------------------

    def node_descriptor(self) -> bytes:
        """Return the 13-byte node descriptor."""
        return struct.pack(
            "<BBBHBHHHB",
            self.logical_type,
            0x40,  # 2.4 GHz band
            self.mac_capability,
            self.manufacturer_code,
            0x52,
            0x0052,
            0x0000,
            0x0052,
            0x00,
        )

    def handle(self, request: ApsRequest) -> list[ApsFrame]:
        """Return the frames this device sends in answer to ``request`` (possibly none)."""
        if request.broadcast:
            self.broadcasts_received += 1
        else:
            self.requests.append(request)
        if request.profile == ZDO_PROFILE and request.dst_endpoint == 0:
            return self._handle_zdo(request)
        if request.dst_endpoint not in {ep.endpoint for ep in self.endpoints} and request.dst_endpoint != 0xFF:
            return []
        return self._handle_zcl(request)

    def _zdo_answer(self, request: ApsRequest, body: bytes) -> ApsFrame:
        tsn = request.payload[:1] or b"\x00"
        return ApsFrame(
            src_nwk=self.nwk,
            src_ieee=self.ieee,
            src_endpoint=0,
            dst_nwk=COORDINATOR_NWK,
            dst_endpoint=0,
            profile=ZDO_PROFILE,
            cluster=request.cluster | 0x8000,
            payload=tsn + body,
            lqi=self.lqi,
            rssi=self.rssi,
        )

    def _handle_zdo(self, request: ApsRequest) -> list[ApsFrame]:
        cluster = request.cluster
        args = request.payload[1:]
        nwk = struct.pack("<H", self.nwk)
        if cluster == 0x0000:  # NWK_addr_req (usually broadcast): IEEE, request type, start index
            if args[:8] != ieee_to_wire(self.ieee):
                return []
            return [self._zdo_answer(request, bytes((ZDO_SUCCESS,)) + ieee_to_wire(self.ieee) + nwk)]
        if cluster == 0x0001:  # IEEE_addr_req: NWK of interest, request type, start index
            if args[:2] != nwk:
                return []
            return [self._zdo_answer(request, bytes((ZDO_SUCCESS,)) + ieee_to_wire(self.ieee) + nwk)]
        if request.broadcast:
            return []
        if cluster == 0x0002:  # Node_Desc_req
            return [self._zdo_answer(request, bytes((ZDO_SUCCESS,)) + nwk + self.node_descriptor())]
        if cluster == 0x0005:  # Active_EP_req
            ids = bytes(ep.endpoint for ep in self.endpoints)
            return [self._zdo_answer(request, bytes((ZDO_SUCCESS,)) + nwk + bytes((len(ids),)) + ids)]
        if cluster == 0x0004:  # Simple_Desc_req: NWK, endpoint
            wanted = args[2] if len(args) > 2 else 0
            for endpoint in self.endpoints:
                if endpoint.endpoint == wanted:
                    descriptor = endpoint.descriptor()
                    body = bytes((ZDO_SUCCESS,)) + nwk + bytes((len(descriptor),)) + descriptor
                    return [self._zdo_answer(request, body)]
            return [self._zdo_answer(request, bytes((ZDO_NOT_ACTIVE,)) + nwk + b"\x00")]
        if cluster in (0x0021, 0x0022):  # Bind_req, Unbind_req
            return [self._zdo_answer(request, bytes((ZDO_SUCCESS,)))]
        if cluster == 0x0034:  # Mgmt_Leave_req
            self.joined = False
            return [self._zdo_answer(request, bytes((ZDO_SUCCESS,)))]
        return [self._zdo_answer(request, bytes((ZDO_NOT_SUPPORTED,)))]

    def _answer_header(self, header: ZclHeader, command: int) -> bytes:
        return zcl_header(
            tsn=header.tsn,
            command=command,
            cluster_specific=False,
            server_to_client=not header.server_to_client,
            manufacturer_code=header.manufacturer_code,
        )

    def _handle_zcl(self, request: ApsRequest) -> list[ApsFrame]:
        header = ZclHeader.parse(request.payload)
        if header is None:
            return []
        body = request.payload[header.size :]
        endpoint = request.dst_endpoint if request.dst_endpoint != 0xFF else self._ota_endpoint()
        answer: bytes | None = None
        if not self.answering:
            return []  # told to stop answering (failure tests): the command is lost on the air
        if header.cluster_specific:
            if request.cluster == OTA_CLUSTER:
                return self._handle_ota(header, body, endpoint, request)
            if self.command_status and not request.broadcast:
                answer = self._answer_header(header, 0x0B) + bytes((header.command, self.command_status))
                return [self.frame(answer, cluster=request.cluster, endpoint=endpoint)]
            reports = self.apply_command(request.cluster, header.command, body)
            if reports is not None:
                return self._accepted(header, request, endpoint, reports)
            if not header.frame_control & FC_DISABLE_DEFAULT_RESPONSE and not request.broadcast:
                answer = self._answer_header(header, 0x0B) + bytes((header.command, 0x81))
        elif header.command == 0x00:  # Read Attributes
            records = b""
            for offset in range(0, len(body) - 1, 2):
                (attribute,) = struct.unpack_from("<H", body, offset)
                value = self.attributes.get((endpoint, request.cluster, attribute))
                if value is None:
                    records += struct.pack("<HB", attribute, 0x86)
                else:
                    records += struct.pack("<HBB", attribute, 0x00, value[0]) + value[1]
            answer = self._answer_header(header, 0x01) + records
        elif header.command == 0x02:  # Write Attributes
            answer = self._answer_header(header, 0x04) + b"\x00"
        elif header.command == 0x06:  # Configure Reporting
            answer = self._answer_header(header, 0x07) + b"\x00"
        elif not header.frame_control & FC_DISABLE_DEFAULT_RESPONSE and not request.broadcast:
            answer = self._answer_header(header, 0x0B) + bytes((header.command, 0x82))
        if answer is None:
            return []
        return [self.frame(answer, cluster=request.cluster, endpoint=endpoint)]

    def apply_command(self, cluster: int, command: int, body: bytes) -> list[Report] | None:
        """Carry out a cluster-specific command; return the attribute reports that follow it.

        None (the default): the device does not implement the command and answers
        UNSUP_CLUSTER_COMMAND. Devices that act (the bulb, the plug) override it.
        """
        return None

    def _accepted(self, header: ZclHeader, request: ApsRequest, endpoint: int, reports: list[Report]
                  ) -> list[ApsFrame]:
        """A default response (SUCCESS) when asked for, then the reports of what changed."""
        frames: list[ApsFrame] = []
        if not header.frame_control & FC_DISABLE_DEFAULT_RESPONSE and not request.broadcast:
            answer = self._answer_header(header, 0x0B) + bytes((header.command, 0x00))
            frames.append(self.frame(answer, cluster=request.cluster, endpoint=endpoint))
        frames += [self.frame(report.payload, cluster=report.cluster, endpoint=report.endpoint or endpoint)
                   for report in reports]
        return frames

    def _handle_ota(self, header: ZclHeader, body: bytes, endpoint: int, request: ApsRequest) -> list[ApsFrame]:
        """OTA client side: Image Notify, Query Next Image Response, Image Block Response, Upgrade End."""
        ota = self.ota
        progress = self.ota_progress
        if ota is None or not header.server_to_client:
            return []
        if header.command == 0x00:  # Image Notify → ask for the next image
            query = self.query_next_image()
            return [] if query is None else [query]
        if header.command == 0x02 and body:  # Query Next Image Response
            progress.last_query_status = body[0]
            if body[0] != 0x00 or len(body) < 13:
                return []
            _, _, version, size = struct.unpack_from("<HHII", body, 1)
            progress.offered_version = version
            progress.image_size = size
            progress.received.clear()
            return [self._image_block_request(version, 0)]
        if header.command == 0x05 and body:  # Image Block Response
            if body[0] != 0x00 or len(body) < 14 or progress.offered_version is None:
                return []
            _, _, version, offset, length = struct.unpack_from("<HHIIB", body, 1)
            data = body[14 : 14 + length]
            if offset == len(progress.received):
                progress.received += data
            if len(progress.received) < progress.image_size:
                return [self._image_block_request(version, len(progress.received))]
            end = struct.pack("<BHHI", 0x00, ota.manufacturer_code, ota.image_type, version)
            header_bytes = zcl_header(tsn=self.next_tsn(), command=0x06, cluster_specific=True, server_to_client=False)
            return [self.frame(header_bytes + end, cluster=OTA_CLUSTER, endpoint=endpoint)]
        if header.command == 0x07:  # Upgrade End Response: the new image is "installed"
            if progress.offered_version is not None:
                progress.finished_version = progress.offered_version
                self.ota = OtaFirmware(
                    ota.manufacturer_code, ota.image_type, progress.offered_version, ota.hardware_version
                )
                self.attributes[(endpoint, OTA_CLUSTER, 0x0002)] = (
                    T_UINT32,
                    struct.pack("<I", progress.offered_version),
                )
            return []
        return []

    def _image_block_request(self, version: int, offset: int) -> ApsFrame:
        assert self.ota is not None
        body = struct.pack("<BHHIIB", 0x00, self.ota.manufacturer_code, self.ota.image_type, version, offset, 48)
        header = zcl_header(tsn=self.next_tsn(), command=0x03, cluster_specific=True, server_to_client=False)
        return self.frame(header + body, cluster=OTA_CLUSTER, endpoint=self._ota_endpoint())

    # ---- scripted events ---------------------------------------------------------------

    def event_frame(self, event: str, params: Mapping[str, Any]) -> ApsFrame:
        """Return the frame for a scripted event that sends one frame (see :meth:`event_frames`).

        Raises:
            ValueError: the event is unknown for this device, its parameters are wrong, or it
                sends more than one frame.
        """
        frames = self.event_frames(event, params)
        if len(frames) != 1:
            raise ValueError(f"event {event!r} of {self.name!r} sends {len(frames)} frames; use event_frames")
        return frames[0]

    def event_frames(self, event: str, params: Mapping[str, Any]) -> list[ApsFrame]:
        """Return the frames a scripted event sends, in order (see :meth:`events`).

        Raises:
            ValueError: the event is unknown for this device or its parameters are wrong.
        """
        if event == "raw":
            return [self.raw_frame(params)]
        builder = self.events().get(event)
        if builder is None:
            known = ", ".join(sorted(["raw", *self.events()]))
            raise ValueError(f"device {self.name!r} ({self.model}) has no event {event!r}; known: {known}")
        return [
            self.frame(report.payload, cluster=report.cluster, endpoint=report.endpoint,
                       lqi=params.get("lqi"), rssi=params.get("rssi"))
            for report in builder(params)
        ]

    def event_parameters(self) -> Mapping[str, frozenset[str]]:
        """Return the parameters each scripted event takes (``lqi`` and ``rssi`` aside)."""
        return EVENT_PARAMETERS

    def unknown_parameters(self, event: str, params: Mapping[str, Any]) -> list[str]:
        """Return the parameters of ``params`` that ``event`` of this device does not take."""
        allowed = self.event_parameters().get(event, frozenset()) | LINK_PARAMETERS
        return sorted(name for name in params if name not in allowed)

    def raw_frame(self, params: Mapping[str, Any]) -> ApsFrame:
        """Return a frame with arbitrary bytes: ``frame`` (hex, spaces allowed), ``cluster``, …."""
        text = str(params.get("frame", ""))
        try:
            payload = bytes.fromhex(text.replace(" ", ""))
        except ValueError as exc:
            raise ValueError(f"raw frame is not hex: {text!r}") from exc
        return self.frame(
            payload,
            cluster=int(params.get("cluster", DOOR_LOCK_CLUSTER)),
            endpoint=int(params.get("endpoint", self.endpoints[0].endpoint)),
            profile=int(params.get("profile", HA_PROFILE)),
            lqi=params.get("lqi"),
            rssi=params.get("rssi"),
        )

    def events(self) -> dict[str, EventBuilder]:
        """Return the scripted events this device knows, by name (``raw`` is always known)."""
        return {}


# ---- the Aqara locks -------------------------------------------------------------------

LOCK_MODELS = {
    "lumi.lock.aq1": "ZNMS11LM",
    "lumi.lock.acn02": "ZNMS12LM",
    "lumi.lock.acn03": "ZNMS13LM",
}

#: 0xFFF6 lock-status codes (bytes 3-4) for ZNMS12LM/13LM, by the action they mean.
LOCK_STATE_CODES = {
    "locked": "0111",
    "reverse_lock": "0215",
    "reverse_lock_cancel": "0301",
    "lock_opened_outside": "0b00",
    "lock_opened_inside": "0c00",
    "door_closed": "2400",
}

_OPEN_COMMANDS = {"finger_open": 1, "password_open": 2, "door_closed": 3}
_FAILED_KINDS = {"finger_not_match": 0x40, "password_not_match": 0x02, "ring_bell": 0x00}
_USER_COMMANDS = {"finger_add": 1, "finger_delete": 2, "password_add": 3, "password_delete": 4}


#: Parameters of the events every device has (every event also takes ``lqi`` and ``rssi``).
BASE_EVENT_PARAMETERS: dict[str, frozenset[str]] = {
    "raw": frozenset({"frame", "cluster", "endpoint", "profile"}),
    "join": frozenset(),
}

#: Parameters each scripted event of a lock takes (every event also takes ``lqi`` and ``rssi``).
EVENT_PARAMETERS: dict[str, frozenset[str]] = {
    **{name: frozenset({"role", "user"}) for name in _OPEN_COMMANDS},
    "finger_not_match": frozenset({"repeat"}),
    "password_not_match": frozenset({"repeat"}),
    "ring_bell": frozenset(),
    **{name: frozenset({"user"}) for name in _USER_COMMANDS},
    "lock_state": frozenset({"state", "code"}),
    "battery": frozenset({"voltage"}),
    **BASE_EVENT_PARAMETERS,
}
LINK_PARAMETERS = frozenset({"lqi", "rssi"})


def _role_digit(params: Mapping[str, Any]) -> int:
    role = params.get("role", "user")
    if role not in ("admin", "user"):
        raise ValueError(f"role must be admin or user, not {role!r}")
    return 1 if role == "admin" else 2


def int_param(params: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    """Return the integer parameter ``name`` (``default`` when absent), checked against ``low..high``.

    Raises:
        ValueError: not an integer, or out of range.
    """
    value = params.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in {low}..{high}, not {value!r}")
    return value


class LumiLock(VirtualDevice):
    """An Aqara door lock: ZNMS11LM, ZNMS12LM or ZNMS13LM, chosen by ``model``.

    Endpoint 1 (HA door lock) with Basic, Power Configuration, Identify and Door Lock
    server clusters and an OTA client, Lumi's manufacturer code 0x115F. The signature is
    plausible rather than captured from a unit; the event frames are those docs/decoder.md describes.
    """

    def __init__(
        self,
        name: str,
        *,
        ieee: str,
        nwk: int,
        model: str = "lumi.lock.aq1",
        manufacturer: str = "LUMI",
        lqi: int = 120,
        rssi: int = -60,
        firmware_version: int = 0x00000010,
    ) -> None:
        if model not in LOCK_MODELS:
            raise ValueError(f"unknown lock model {model!r}; known: {', '.join(LOCK_MODELS)}")
        endpoint = Endpoint(
            endpoint=1,
            profile=HA_PROFILE,
            device_type=0x000A,
            in_clusters=(BASIC_CLUSTER, POWER_CONFIGURATION_CLUSTER, IDENTIFY_CLUSTER, DOOR_LOCK_CLUSTER),
            out_clusters=(OTA_CLUSTER,),
        )
        super().__init__(
            name,
            ieee=ieee,
            nwk=nwk,
            model=model,
            manufacturer=manufacturer,
            manufacturer_code=LUMI_MANUFACTURER_CODE,
            endpoints=(endpoint,),
            lqi=lqi,
            rssi=rssi,
            ota=OtaFirmware(LUMI_MANUFACTURER_CODE, 0x1000, firmware_version),
        )
        self.numeric = model == "lumi.lock.aq1"

    def events(self) -> dict[str, EventBuilder]:
        """Lock events: opens, failed attempts, the bell, users added/deleted, lock states."""
        table: dict[str, EventBuilder] = {}
        for names, build in (
            (_OPEN_COMMANDS, self._open),
            (_FAILED_KINDS, self._failed),
            (_USER_COMMANDS, self._user),
        ):
            for name in names:
                table[name] = functools.partial(self._on_lock_cluster, build, name)
        if not self.numeric:
            table["lock_state"] = lambda params: [Report(self._lock_state(params), DOOR_LOCK_CLUSTER)]
        if self.model == "lumi.lock.acn02":
            table["battery"] = lambda params: [Report(self._battery(params), BASIC_CLUSTER)]
        return table

    @staticmethod
    def _on_lock_cluster(
        build: Callable[[str, Mapping[str, Any]], bytes], name: str, params: Mapping[str, Any]
    ) -> list[Report]:
        return [Report(build(name, params), DOOR_LOCK_CLUSTER)]

    def _report(self, records: bytes) -> bytes:
        header = zcl_header(tsn=self.next_tsn(), command=0x0A, manufacturer_code=LUMI_MANUFACTURER_CODE)
        return header + records

    def _filler(self, size: int) -> bytearray:
        """ASCII filler bytes for string values (they survive the reference's UTF-8 round trip)."""
        seed = self.next_tsn()
        return bytearray(0x30 + (seed + index * 7) % 0x40 for index in range(size))

    def _open(self, name: str, params: Mapping[str, Any]) -> bytes:
        command = _OPEN_COMMANDS[name]
        role = _role_digit(params)
        if self.numeric:
            # 0xCT___UU_: command digit, user-type digit, user id in digits 5-6.
            user = int_param(params, "user", 1, 0, 255)
            value = (command << 28) | (role << 24) | (user << 4)
            return self._report(struct.pack("<HBI", 0xFF10, T_UINT32, value))
        # Char string: byte 3 command, high nibble of byte 4 user type, byte 6 user id (§5.3).
        user = int_param(params, "user", 1, 0, 127)
        raw = self._filler(10)
        raw[3] = command
        raw[4] = (role << 4) | 0x04
        raw[6] = user
        return self._report(struct.pack("<HB", 0xFF10, T_CHAR_STRING) + char_string(bytes(raw)))

    def _failed(self, name: str, params: Mapping[str, Any]) -> bytes:
        kind = _FAILED_KINDS[name]
        if self.numeric:
            # 0xR____KK_ (§5.2 B): repeat count in digit 0, kind in digits 5-6; the bell has no count.
            repeat = 1 if name == "ring_bell" else int_param(params, "repeat", 1, 1, 15)
            value = (repeat << 28) | (kind << 4)
            return self._report(struct.pack("<HBI", 0xFF11, T_UINT32, value))
        repeat = int_param(params, "repeat", 1, 0, 127)
        raw = self._filler(12)
        raw[3] = repeat
        raw[6] = kind
        return self._report(struct.pack("<HB", 0xFF11, T_CHAR_STRING) + char_string(bytes(raw)))

    def _user(self, name: str, params: Mapping[str, Any]) -> bytes:
        command = _USER_COMMANDS[name]
        if self.numeric:
            # 0xFF01 MI_STRUCT (§3.4, §5.2 C): key 1 uint32 with the command in digit 0 and the
            # user in digits 5-6, then key 3 (int8, a temperature) as a real lock sends it.
            user = int_param(params, "user", 1, 0, 255)
            value = (command << 28) | (1 << 24) | (user << 4)
            entries = struct.pack("<BBI", 0x01, T_UINT32, value) + struct.pack("<BBb", 0x03, T_INT8, 18)
            return self._report(struct.pack("<HB", 0xFF01, T_CHAR_STRING) + char_string(entries))
        # Octet string (§5.3): byte 9 command, byte 6 user.
        user = int_param(params, "user", 1, 0, 255)
        raw = self._filler(11)
        raw[6] = user
        raw[9] = command
        return self._report(struct.pack("<HBB", 0xFF01, T_OCTET_STRING, len(raw)) + bytes(raw))

    def _lock_state(self, params: Mapping[str, Any]) -> bytes:
        code = params.get("code")
        if code is None:
            state = params.get("state", "locked")
            if state not in LOCK_STATE_CODES:
                raise ValueError(f"state must be one of {', '.join(LOCK_STATE_CODES)}, not {state!r}")
            code = LOCK_STATE_CODES[state]
        try:
            code_bytes = bytes.fromhex(str(code))
        except ValueError as exc:
            raise ValueError(f"code must be 4 hex digits, not {code!r}") from exc
        if len(code_bytes) != 2:
            raise ValueError(f"code must be 4 hex digits, not {code!r}")
        raw = self._filler(7)
        raw[3:5] = code_bytes
        return self._report(struct.pack("<HB", 0xFFF6, T_CHAR_STRING) + char_string(bytes(raw)))

    def _battery(self, params: Mapping[str, Any]) -> bytes:
        voltage = int_param(params, "voltage", 3050, 0, 65535)
        entries = (
            struct.pack("<BBH", 0x01, T_UINT16, voltage)
            + struct.pack("<BBb", 0x03, T_INT8, 23)
            + struct.pack("<BBH", 0x05, T_UINT16, 14)
        )
        return self._report(struct.pack("<HB", 0xFF01, T_CHAR_STRING) + char_string(entries))
