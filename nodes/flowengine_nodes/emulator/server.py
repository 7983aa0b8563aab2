"""The emulated deCONZ coordinator: a TCP server speaking the deCONZ serial protocol (docs/emulator.md).

One host connection at a time (a second one is refused while the first is open). The
stick's parameters live in a :class:`~flowengine_nodes.emulator.stick.StickState` that
outlives connections, like NVRAM. Frames from virtual devices are queued as APS data
indications and announced with an unsolicited DEVICE_STATE_CHANGED (0x0E) frame, which
the host then polls; APS data requests get an immediate answer, a
queued confirm and, when a virtual device or the coordinator's own ZDO server answers,
indications (§6.1, §7).

Concurrency: everything runs on the loop that called :meth:`Emulator.start`; host
frames are handled synchronously as they arrive, so request/response ordering is exactly
the order on the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import NoReturn

from flowengine_nodes.emulator.commands import (
    FIRMWARE_VERSION,
    Command,
    FrameError,
    NetworkState,
    Status,
    build_frame,
    parse_frame,
    state_byte,
)
from flowengine_nodes.emulator.devices import (
    ZDO_NOT_SUPPORTED,
    ZDO_PROFILE,
    ZDO_SUCCESS,
    ApsFrame,
    ApsRequest,
    VirtualDevice,
    interview_step,
)
from flowengine_nodes.emulator.protocol import FrameDecoder, encode
from flowengine_nodes.emulator.stick import (
    JoinedDevice,
    Param,
    ParamError,
    StickState,
    ieee_to_wire,
    wire_to_ieee,
)

logger = logging.getLogger("flowengine.emulator")

# Address modes of the APS data request / confirm / indication.
MODE_GROUP = 0x01
MODE_NWK = 0x02
MODE_IEEE = 0x03
MODE_NWK_AND_IEEE = 0x04

#: How many host requests, parameter writes and network state changes the records keep (the latest):
#: enough for any test, bounded for an emulator that runs for days.
RECORD_LIMIT = 100_000

#: APS confirm status for a destination that does not answer (MAC no ack).
CONFIRM_NO_ACK = 0xE9

# The coordinator's node descriptor: coordinator, 2.4 GHz, mains powered, rx on,
# dresden elektronik's manufacturer code 0x1135.
COORDINATOR_NODE_DESCRIPTOR = bytes.fromhex("00 40 8f 3511 50 a000 4100 a000 00")


@dataclass
class _Confirm:
    request_id: int
    destination: bytes
    src_endpoint: int
    status: int


@dataclass(frozen=True, slots=True)
class HostRequest:
    """One APS data request of the host, as the emulator received it.

    ``device`` names the virtual device it reached (``None``: the coordinator itself, a
    broadcast, a group, or an address nobody answers). :attr:`Emulator.requests` keeps
    every one in arrival order, so a test can say what a host asked and of whom.
    """

    #: ``time.perf_counter()`` when it arrived (the clock of :attr:`ApsFrame.written_at`).
    at: float
    dst_nwk: int | None
    dst_ieee: str | None
    device: str | None
    request: ApsRequest

    @property
    def interview(self) -> str | None:
        """The interview step this request is, if any (:func:`~.devices.interview_step`)."""
        return interview_step(self.request)


@dataclass
class EmulatorStats:
    """Counters for tests, benchmarks and the CLI's summary."""

    connections: int = 0
    refused_connections: int = 0
    host_frames: int = 0
    bad_host_frames: int = 0
    aps_requests: int = 0
    indications_written: int = 0
    dropped_without_host: int = 0
    notifications: int = 0
    requests_by_cluster: dict[int, int] = field(default_factory=dict)


class Emulator:
    """A deCONZ coordinator (ConBee II, protocol 0x010C) with virtual devices, over TCP.

    Use ``await start()`` and then point zigpy at :attr:`device_path`. Devices send with
    :meth:`send` (any frame) or :meth:`send_event` (a scripted event), join with
    :meth:`join`. ``air_latency`` (seconds) delays device answers, as radio traffic would.
    """

    def __init__(
        self,
        *,
        stick: StickState | None = None,
        devices: Iterable[VirtualDevice] = (),
        air_latency: float = 0.0,
    ) -> None:
        self.stick = stick if stick is not None else StickState()
        self.devices: dict[str, VirtualDevice] = {}
        for device in devices:
            self.add_device(device)
        self.air_latency = air_latency
        self.stats = EmulatorStats()
        self.permit_join_seconds: int | None = None
        #: Every APS data request of the host, in order (:class:`HostRequest`; the latest RECORD_LIMIT).
        self.requests: deque[HostRequest] = deque(maxlen=RECORD_LIMIT)
        #: Every WRITE_PARAMETER of the host, in order: (parameter id, value as on the wire), refused ones too.
        self.parameter_writes: deque[tuple[int, bytes]] = deque(maxlen=RECORD_LIMIT)
        #: Every CHANGE_NETWORK_STATE of the host, in order: the state it asked for (0 offline, 2 connected).
        self.network_state_changes: deque[int] = deque(maxlen=RECORD_LIMIT)
        #: Called with every frame written as an indication (after ``written_at`` is set).
        self.on_indication: list[Callable[[ApsFrame], None]] = []
        self._server: asyncio.Server | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._decoder = FrameDecoder()
        self._network = NetworkState.CONNECTED if self.stick.network_up and self.stick.formed else NetworkState.OFFLINE
        self._indications: deque[ApsFrame] = deque()
        self._confirms: deque[_Confirm] = deque()
        self._notify_scheduled = False
        self._host_ready = asyncio.Event()
        self._host_connected = asyncio.Event()
        self._host_gone = asyncio.Event()
        self._host_gone.set()
        self._timers: set[asyncio.TimerHandle] = set()

    # ---- lifecycle ---------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on ``host:port`` (port 0: a free one, see :attr:`port`)."""
        self._server = await asyncio.start_server(self._accept, host, port)

    @property
    def port(self) -> int:
        """The TCP port the emulator listens on."""
        if self._server is None:
            raise RuntimeError("emulator not started")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def device_path(self) -> str:
        """What to give zigpy as the device path: ``socket://127.0.0.1:PORT``."""
        return f"socket://127.0.0.1:{self.port}"

    async def aclose(self) -> None:
        """Close the host connection and stop listening; persist the stick state."""
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        if self._server is not None:
            self._server.close()
        self.drop_connection()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.0):
                await self._host_gone.wait()
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):
                    await self._server.wait_closed()
            self._server = None
        self.stick.save()

    def drop_connection(self) -> None:
        """Close the current host connection (as if the cable were pulled); no-op without one."""
        if self._writer is not None:
            self._writer.close()

    async def wait_host_ready(self) -> None:
        """Wait until a connected host has finished its startup (it wrote ``permit_join``).

        zigpy's startup ends with ``permit(0)``, whose last step writes parameter 0x21, so
        from then on frames sent by devices reach an application that is fully up.
        """
        await self._host_ready.wait()

    async def wait_host_connected(self) -> None:
        """Wait until a host is connected."""
        await self._host_connected.wait()

    async def wait_host_gone(self) -> None:
        """Wait until no host is connected."""
        await self._host_gone.wait()

    @property
    def queued(self) -> int:
        """Indications waiting for the host to ask for them (handed over once it does)."""
        return len(self._indications)

    @property
    def host_connected(self) -> bool:
        """True while a host connection is open."""
        return self._writer is not None

    # ---- devices -----------------------------------------------------------------------

    def add_device(self, device: VirtualDevice, *, member: bool = False) -> None:
        """Add a virtual device; it counts as joined when the stick remembers it.

        ``member=True`` makes it a member of the stick's network already (another program
        paired it): the stick remembers it, and it never announces itself unless told to.
        """
        if device.name in self.devices:
            raise ValueError(f"duplicate device name {device.name!r}")
        if member and device.ieee not in self.stick.devices:
            self.stick.devices[device.ieee] = JoinedDevice(device.ieee, device.nwk, device.mac_capability)
            self.stick.save()
        device.joined = device.ieee in self.stick.devices
        self.devices[device.name] = device

    def interview_requests(self) -> list[HostRequest]:
        """The host's interview steps (:attr:`HostRequest.interview`) that reached a virtual device, in order.

        The coordinator's own descriptors are left out: a host reads them on every new database.
        """
        return [request for request in self.requests if request.device is not None and request.interview is not None]

    def device(self, name: str) -> VirtualDevice:
        """Return the virtual device called ``name``."""
        return self.devices[name]

    def join(self, device: VirtualDevice | str) -> ApsFrame:
        """Let ``device`` join: remember it and broadcast its Device_annce."""
        dev = self.devices[device] if isinstance(device, str) else device
        dev.joined = True
        self.stick.devices[dev.ieee] = JoinedDevice(dev.ieee, dev.nwk, dev.mac_capability)
        self.stick.save()
        frame = dev.announce()
        self.queue(frame)
        return frame

    def send(self, frame: ApsFrame) -> ApsFrame:
        """Send ``frame`` to the host as an APS data indication (dropped without a host)."""
        self.queue(frame)
        return frame

    def send_event(self, device: VirtualDevice | str, event: str, **params: object) -> ApsFrame:
        """Let ``device`` perform a scripted event; return its last frame (see :meth:`send_event_frames`)."""
        return self.send_event_frames(device, event, **params)[-1]

    def send_event_frames(self, device: VirtualDevice | str, event: str, **params: object) -> list[ApsFrame]:
        """Let ``device`` perform a scripted event and send its frames in order (:meth:`VirtualDevice.event_frames`)."""
        dev = self.devices[device] if isinstance(device, str) else device
        return [self.send(frame) for frame in dev.event_frames(event, params)]

    # ---- queues ------------------------------------------------------------------------

    def queue(self, frame: ApsFrame) -> None:
        """Queue an indication for the host and tell it (DEVICE_STATE_CHANGED)."""
        if self._writer is None or self._network != NetworkState.CONNECTED:
            self.stats.dropped_without_host += 1
            return
        self._indications.append(frame)
        self._schedule_notify()

    def _queue_later(self, frames: list[ApsFrame]) -> None:
        if not frames:
            return
        if self.air_latency <= 0:
            for frame in frames:
                self.queue(frame)
            return
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle

        def deliver() -> None:
            self._timers.discard(handle)
            for frame in frames:
                self.queue(frame)

        handle = loop.call_later(self.air_latency, deliver)
        self._timers.add(handle)

    def _schedule_notify(self) -> None:
        if self._notify_scheduled:
            return
        self._notify_scheduled = True
        asyncio.get_running_loop().call_soon(self._notify)

    def _notify(self) -> None:
        self._notify_scheduled = False
        if self._writer is None:
            return
        self.stats.notifications += 1
        self._write(build_frame(Command.DEVICE_STATE_CHANGED, 0, bytes((self._state(), 0))))

    def _state(self) -> int:
        return state_byte(self._network, confirm=bool(self._confirms), indication=bool(self._indications))

    # ---- connection --------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._writer is not None:
            self.stats.refused_connections += 1
            writer.close()
            return
        self._writer = writer
        self.stats.connections += 1
        self._decoder = FrameDecoder()
        # Pending traffic of an earlier session means nothing to a new host.
        self._indications.clear()
        self._confirms.clear()
        self._host_ready.clear()
        self._host_gone.clear()
        self._host_connected.set()
        logger.info("emulator: host connected")
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                for body in self._decoder.feed(data):
                    self._handle_host_frame(body)
        except ConnectionError:
            pass
        finally:
            self._writer = None
            self._indications.clear()
            self._confirms.clear()
            self._host_connected.clear()
            self._host_ready.clear()
            self._host_gone.set()
            writer.close()
            logger.info("emulator: host disconnected")

    def _write(self, frame: bytes) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(encode(frame))

    def _answer(self, command: int, sequence: int, body: bytes, status: int = Status.SUCCESS) -> None:
        self._write(build_frame(command, sequence, body, status))

    # ---- host frames -------------------------------------------------------------------

    def _handle_host_frame(self, data: bytes) -> None:
        self.stats.host_frames += 1
        try:
            frame = parse_frame(data)
        except FrameError as exc:
            self.stats.bad_host_frames += 1
            logger.warning("emulator: bad host frame: %s", exc)
            return
        command, sequence, body = frame.command, frame.sequence, frame.body
        match command:
            case Command.READ_PARAMETER:
                self._read_parameter(sequence, body)
            case Command.WRITE_PARAMETER:
                self._write_parameter(sequence, body)
            case Command.VERSION:
                self._answer(command, sequence, struct.pack("<I", FIRMWARE_VERSION))
            case Command.DEVICE_STATE:
                self._answer(command, sequence, bytes((self._state(), 0, 0)))
            case Command.CHANGE_NETWORK_STATE:
                self._change_network_state(sequence, body)
            case Command.APS_DATA_REQUEST:
                self._aps_data_request(sequence, body)
            case Command.APS_DATA_CONFIRM:
                self._aps_data_confirm(sequence)
            case Command.APS_DATA_INDICATION:
                self._aps_data_indication(sequence, body)
            case Command.UPDATE_NEIGHBOR:
                self._answer(command, sequence, body)
            case _:
                logger.debug("emulator: ignoring command 0x%02x", command)

    def _read_parameter(self, sequence: int, body: bytes) -> None:
        if not body:
            self._answer(Command.READ_PARAMETER, sequence, b"\x00", Status.UNSUPPORTED)
            return
        param = body[0]
        try:
            value = self.stick.read(param, body[1:])
        except ParamError:
            self._answer(Command.READ_PARAMETER, sequence, bytes((param,)), Status.UNSUPPORTED)
            return
        self._answer(Command.READ_PARAMETER, sequence, bytes((param,)) + value)

    def _write_parameter(self, sequence: int, body: bytes) -> None:
        if not body:
            self._answer(Command.WRITE_PARAMETER, sequence, b"\x00", Status.UNSUPPORTED)
            return
        param = body[0]
        self.parameter_writes.append((param, bytes(body[1:])))
        try:
            changed = self.stick.write(param, body[1:])
        except ParamError as exc:
            logger.debug("emulator: refused write: %s", exc)
            self._answer(Command.WRITE_PARAMETER, sequence, bytes((param,)), Status.UNSUPPORTED)
            return
        if changed:
            self.stick.save()
        self._answer(Command.WRITE_PARAMETER, sequence, bytes((param,)))
        if param == Param.PERMIT_JOIN and len(body) > 1:
            self.permit_join_seconds = body[1]
            self._host_ready.set()

    def _change_network_state(self, sequence: int, body: bytes) -> None:
        target = body[0] if body else NetworkState.OFFLINE
        self.network_state_changes.append(target)
        self._answer(Command.CHANGE_NETWORK_STATE, sequence, bytes((target,)))
        if target == NetworkState.CONNECTED:
            self.stick.apply_network()
            self._network = NetworkState.CONNECTED if self.stick.formed else NetworkState.OFFLINE
        else:
            self._network = NetworkState.OFFLINE
            self._indications.clear()
        self.stick.network_up = self._network == NetworkState.CONNECTED
        self.stick.save()
        # The host only learns the new state from an unsolicited frame.
        self._schedule_notify()

    def _aps_data_confirm(self, sequence: int) -> None:
        if not self._confirms:
            self._answer(Command.APS_DATA_CONFIRM, sequence, bytes((self._state(),)), Status.FAILURE)
            return
        confirm = self._confirms.popleft()
        body = (
            bytes((self._state(), confirm.request_id))
            + confirm.destination
            + bytes((confirm.src_endpoint, confirm.status))
            + b"\x00\x00\x00\x00"
        )
        self._answer(Command.APS_DATA_CONFIRM, sequence, body)

    def _aps_data_indication(self, sequence: int, body: bytes) -> None:
        flags = body[0] if body else 0x01
        if not self._indications:
            self._answer(Command.APS_DATA_INDICATION, sequence, bytes((self._state(),)), Status.FAILURE)
            return
        frame = self._indications.popleft()
        destination = bytes((MODE_NWK,)) + struct.pack("<H", frame.dst_nwk)
        if flags & 0x04:
            source = bytes((MODE_NWK_AND_IEEE,)) + struct.pack("<H", frame.src_nwk) + ieee_to_wire(frame.src_ieee)
        else:
            source = bytes((MODE_NWK,)) + struct.pack("<H", frame.src_nwk)
        answer = (
            bytes((self._state(),))
            + destination
            + bytes((frame.dst_endpoint,))
            + source
            + bytes((frame.src_endpoint,))
            + struct.pack("<HHH", frame.profile, frame.cluster, len(frame.payload))
            + frame.payload
            + b"\x00\x00"
            + bytes((frame.lqi & 0xFF,))
            + b"\x00\x00\x00\x00"
            + struct.pack("<b", max(-128, min(127, frame.rssi)))
        )
        frame.written_at = time.perf_counter()
        self._answer(Command.APS_DATA_INDICATION, sequence, answer)
        self.stats.indications_written += 1
        for callback in self.on_indication:
            callback(frame)

    # ---- APS data requests -------------------------------------------------------------

    def _aps_data_request(self, sequence: int, body: bytes) -> None:
        self.stats.aps_requests += 1
        try:
            request_id, flags, mode = body[0], body[1], body[2]
            offset = 3
            dst_nwk: int | None = None
            dst_ieee: str | None = None
            dst_endpoint = 0
            if mode == MODE_GROUP:
                (dst_nwk,) = struct.unpack_from("<H", body, offset)
                offset += 2
            elif mode == MODE_NWK:
                dst_nwk, dst_endpoint = struct.unpack_from("<HB", body, offset)
                offset += 3
            elif mode == MODE_IEEE:
                dst_ieee = wire_to_ieee(body[offset : offset + 8])
                dst_endpoint = body[offset + 8]
                offset += 9
            else:
                _refuse(f"address mode {mode}")
            destination = body[2:offset]
            profile, cluster, src_endpoint, length = struct.unpack_from("<HHBH", body, offset)
            offset += 7
            payload = body[offset : offset + length]
            if len(payload) != length:
                _refuse("short ASDU")
        except (IndexError, struct.error, ValueError) as exc:
            self.stats.bad_host_frames += 1
            logger.warning("emulator: bad APS data request %s: %s", body.hex(), exc)
            self._answer(Command.APS_DATA_REQUEST, sequence, bytes((self._state(), 0)), Status.INVALID_VALUE)
            return
        del flags  # relays are accepted and ignored: every virtual device is one hop away
        # Every frame the coordinator sends is secured with the next NWK frame counter.
        self.stick.frame_counter = (self.stick.frame_counter + 1) & 0xFFFFFFFF
        self.stats.requests_by_cluster[cluster] = self.stats.requests_by_cluster.get(cluster, 0) + 1

        request = ApsRequest(
            dst_endpoint, profile, cluster, src_endpoint, payload, dst_nwk is not None and dst_nwk >= 0xFFF8
        )
        target = None if mode == MODE_GROUP else self._target(dst_nwk, dst_ieee)
        self.requests.append(HostRequest(time.perf_counter(), dst_nwk, dst_ieee, target, request))
        status, answers = self._route(mode, dst_nwk, dst_ieee, request)
        self._confirms.append(_Confirm(request_id, destination, src_endpoint, status))
        self._answer(Command.APS_DATA_REQUEST, sequence, bytes((self._state(), request_id)))
        self._queue_later(answers)

    def _target(self, dst_nwk: int | None, dst_ieee: str | None) -> str | None:
        """The joined virtual device a unicast to ``dst_nwk``/``dst_ieee`` reaches, if any."""
        for device in self.devices.values():
            if device.joined and (device.nwk == dst_nwk or device.ieee == dst_ieee):
                return device.name
        return None

    def _route(
        self, mode: int, dst_nwk: int | None, dst_ieee: str | None, request: ApsRequest
    ) -> tuple[int, list[ApsFrame]]:
        """Deliver a host request; return the confirm status and the answers to send back."""
        if mode == MODE_GROUP:
            return 0x00, []
        profile, dst_endpoint = request.profile, request.dst_endpoint
        if request.broadcast:
            answers: list[ApsFrame] = []
            if profile == ZDO_PROFILE and dst_endpoint == 0:
                answers += self._coordinator_zdo(request)
            for device in self.devices.values():
                if device.joined:
                    answers += device.handle(request)
            return 0x00, answers
        to_coordinator = (dst_nwk is not None and dst_nwk == self.stick.nwk_address) or (
            dst_ieee is not None and dst_ieee == self.stick.ieee
        )
        if to_coordinator:
            if profile == ZDO_PROFILE and dst_endpoint == 0:
                return 0x00, self._coordinator_zdo(request)
            return 0x00, []
        for device in self.devices.values():
            if device.joined and (device.nwk == dst_nwk or device.ieee == dst_ieee):
                return 0x00, device.handle(request)
        return CONFIRM_NO_ACK, []

    # ---- the coordinator's own ZDO server ---------------------------------

    def _coordinator_answer(self, request: ApsRequest, body: bytes) -> ApsFrame:
        tsn = request.payload[:1] or b"\x00"
        return ApsFrame(
            src_nwk=self.stick.nwk_address,
            src_ieee=self.stick.ieee,
            src_endpoint=0,
            dst_nwk=self.stick.nwk_address,
            dst_endpoint=0,
            profile=ZDO_PROFILE,
            cluster=request.cluster | 0x8000,
            payload=tsn + body,
            lqi=255,
            rssi=0,
        )

    def _coordinator_zdo(self, request: ApsRequest) -> list[ApsFrame]:
        cluster = request.cluster
        args = request.payload[1:]
        nwk = struct.pack("<H", self.stick.nwk_address)
        slots = [slot for slot in self.stick.endpoint_slots if slot]
        if cluster == 0x0000:  # NWK_addr_req
            if args[:8] != self.stick.mac_address:
                return []
            return [self._coordinator_answer(request, bytes((ZDO_SUCCESS,)) + self.stick.mac_address + nwk)]
        if cluster == 0x0001:  # IEEE_addr_req
            if args[:2] != nwk:
                return []
            return [self._coordinator_answer(request, bytes((ZDO_SUCCESS,)) + self.stick.mac_address + nwk)]
        if request.broadcast:
            return []  # Mgmt_Permit_Joining_req and friends: nothing to answer
        if cluster == 0x0002:  # Node_Desc_req
            return [self._coordinator_answer(request, bytes((ZDO_SUCCESS,)) + nwk + COORDINATOR_NODE_DESCRIPTOR)]
        if cluster == 0x0005:  # Active_EP_req
            ids = bytes(slot[0] for slot in slots)
            return [self._coordinator_answer(request, bytes((ZDO_SUCCESS,)) + nwk + bytes((len(ids),)) + ids)]
        if cluster == 0x0004:  # Simple_Desc_req
            wanted = args[2] if len(args) > 2 else 0
            for slot in slots:
                if slot[0] == wanted:
                    body = bytes((ZDO_SUCCESS,)) + nwk + bytes((len(slot),)) + slot
                    return [self._coordinator_answer(request, body)]
            return [self._coordinator_answer(request, bytes((0x83,)) + nwk + b"\x00")]
        if cluster == 0x0038:  # Mgmt_NWK_Update_req
            return self._nwk_update(request, args)
        if cluster == 0x0031:  # Mgmt_Lqi_req: our children
            return [self._coordinator_answer(request, self._neighbor_table(args[0] if args else 0))]
        if cluster == 0x0032:  # Mgmt_Rtg_req: no routes (everyone is a direct child)
            return [self._coordinator_answer(request, bytes((ZDO_SUCCESS, 0, args[0] if args else 0, 0)))]
        if cluster in (0x0021, 0x0022):  # Bind_req / Unbind_req
            return [self._coordinator_answer(request, bytes((ZDO_SUCCESS,)))]
        return [self._coordinator_answer(request, bytes((ZDO_NOT_SUPPORTED,)))]

    def _nwk_update(self, request: ApsRequest, args: bytes) -> list[ApsFrame]:
        if len(args) < 5:
            return [self._coordinator_answer(request, bytes((ZDO_NOT_SUPPORTED,)))]
        (channels,) = struct.unpack_from("<I", args)
        duration = args[4]
        if duration <= 5:
            scanned = [channel for channel in range(11, 27) if channels & (1 << channel)]
            # Energy per channel: quiet, with channel 15 the quietest (ConBee values, x3 on the host).
            energies = bytes(5 if channel == 15 else 20 + (channel * 7) % 30 for channel in scanned)
            body = (
                bytes((ZDO_SUCCESS,))
                + struct.pack("<IHH", channels, len(scanned), 0)
                + bytes((len(energies),))
                + energies
            )
            return [self._coordinator_answer(request, body)]
        if duration == 0xFE:  # channel change
            self.stick.channel_mask = channels
            if len(args) > 5:
                self.stick.nwk_update_id = args[5]
            self.stick.apply_network()
            self.stick.save()
        return []

    def _neighbor_table(self, start: int) -> bytes:
        children = [self.devices_by_ieee(ieee) for ieee in self.stick.devices]
        entries = b""
        listed = [child for child in children if child is not None][start : start + 3]
        for child in listed:
            entries += (
                self.stick.nwk_extended_panid
                + ieee_to_wire(child.ieee)
                + struct.pack("<H", child.nwk)
                + bytes((0x12, 0x02, 1, child.lqi & 0xFF))
            )
        total = len([child for child in children if child is not None])
        return bytes((ZDO_SUCCESS, total, start, len(listed))) + entries

    def devices_by_ieee(self, ieee: str) -> VirtualDevice | None:
        """Return the virtual device with IEEE ``ieee`` (display form), if any."""
        for device in self.devices.values():
            if device.ieee == ieee:
                return device
        return None


def _refuse(reason: str) -> NoReturn:
    """Reject a malformed APS data request (caught and answered INVALID_VALUE)."""
    raise ValueError(reason)
