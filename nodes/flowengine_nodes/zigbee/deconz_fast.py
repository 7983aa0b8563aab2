"""A faster path for the three deCONZ frames that every device frame costs (used by ``stack``).

Each frame a device sends reaches the host as a DEVICE_STATE_CHANGED notification (0x0E),
then the host's APS_DATA_INDICATION request (0x17) and its answer (DECONZ.md §6).
zigpy-deconz 1.1.0 reads every frame through its generic schema machinery (a zigpy
``Struct`` per frame and per address, then a re-serialisation of every field to check the
lengths): on the lock replay of ``benchmarks/radio_path.py`` that was about a fifth of the
runner's CPU per frame, and building the poll from the schema another tenth.
:class:`FastDeconz` writes the poll's eight bytes directly (under the same command lock,
sequence numbers, pending-response table and timeout as zigpy-deconz's ``_command``) and
reads the two incoming frames directly, with the same checks, into the same values
(zigpy-deconz's own types, addresses with the same ``as_zigpy_type()``), and hands them
on exactly where zigpy-deconz does: the indication answer resolves the poller's pending
request, the notification calls ``_handle_device_state_changed`` on the next loop turn. Anything else — another command,
a status other than success, a frame whose lengths do not add up, a response nobody is
waiting for or one that zigpy-deconz would treat as mismatched — goes to zigpy-deconz's own
``data_received`` untouched.

zigpy-deconz is pinned (``pyproject.toml``), and ``tests/nodes/zigbee/test_deconz_fast.py``
checks that both readings agree on real frames.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import zigpy.types as zigpy_t
import zigpy_deconz.api as deconz_api
import zigpy_deconz.types as deconz_t

_INDICATION = int(deconz_api.CommandId.aps_data_indication)
_STATE_CHANGED = int(deconz_api.CommandId.device_state_changed)
_SUCCESS = deconz_api.Status.SUCCESS
#: Address field sizes after the mode byte (deCONZ address modes: group, NWK, IEEE, NWK + IEEE).
_ADDRESS_SIZES = {0x01: 2, 0x02: 2, 0x03: 8, 0x04: 10}
#: Bound of the address cache (distinct addresses seen: devices, groups, broadcasts).
_CACHE_LIMIT = 4096


class _Address:
    """A parsed deCONZ address: what zigpy-deconz's poller uses of one (``as_zigpy_type``)."""

    __slots__ = ("_address", "_mode")

    def __init__(self, raw: bytes) -> None:
        parsed, rest = deconz_t.DeconzAddress.deserialize(raw)
        assert not rest
        zigpy_address = parsed.as_zigpy_type()
        self._mode = zigpy_address.addr_mode
        self._address = zigpy_address.address

    def as_zigpy_type(self) -> zigpy_t.AddrModeAddress:
        """A new zigpy address, equal to what ``DeconzAddress.as_zigpy_type`` returns."""
        return zigpy_t.AddrModeAddress(addr_mode=self._mode, address=self._address)


_addresses: dict[bytes, _Address] = {}
_states: dict[int, deconz_api.DeviceState] = {}


def _address(raw: bytes) -> _Address:
    found = _addresses.get(raw)
    if found is None:
        if len(_addresses) >= _CACHE_LIMIT:
            _addresses.clear()
        found = _addresses[raw] = _Address(raw)
    return found


def device_state(value: int) -> deconz_api.DeviceState:
    """zigpy-deconz's ``DeviceState`` for a state byte (parsed once per value, then shared)."""
    state = _states.get(value)
    if state is None:
        state, _ = deconz_api.DeviceState.deserialize(bytes((value,)))
        _states[value] = state
    return state


def _read_address(data: bytes, offset: int) -> tuple[_Address, int] | None:
    size = _ADDRESS_SIZES.get(data[offset]) if offset < len(data) else None
    if size is None or offset + 1 + size > len(data):
        return None
    end = offset + 1 + size
    return _address(data[offset:end]), end


def parse_indication(data: bytes) -> dict[str, Any] | None:
    """The parameters of an APS_DATA_INDICATION answer, as zigpy-deconz's schema gives them.

    ``data`` is the whole frame (command id, sequence, status, frame length, payload
    length, payload). None when it is not a well-formed, successful answer.
    """
    if len(data) < 8 or data[0] != _INDICATION or data[2] != _SUCCESS:
        return None
    frame_length, payload_length = struct.unpack_from("<HH", data, 3)
    if frame_length != len(data) or payload_length != len(data) - 7:
        return None
    destination = _read_address(data, 8)
    if destination is None:
        return None
    dst_addr, offset = destination
    if offset >= len(data):
        return None
    dst_ep = data[offset]
    source = _read_address(data, offset + 1)
    if source is None:
        return None
    src_addr, offset = source
    if offset + 7 > len(data):
        return None
    src_ep = data[offset]
    profile_id, cluster_id, asdu_length = struct.unpack_from("<HHH", data, offset + 1)
    offset += 7
    if offset + asdu_length + 8 != len(data):
        return None  # the rest is fixed: 2 reserved, lqi, 4 reserved, rssi
    asdu = data[offset : offset + asdu_length]
    offset += asdu_length
    return {
        "status": _SUCCESS,
        "frame_length": deconz_t.uint16_t(frame_length),
        "payload_length": deconz_t.uint16_t(payload_length),
        "device_state": device_state(data[7]),
        "dst_addr": dst_addr,
        "dst_ep": deconz_t.uint8_t(dst_ep),
        "src_addr": src_addr,
        "src_ep": deconz_t.uint8_t(src_ep),
        "profile_id": deconz_t.uint16_t(profile_id),
        "cluster_id": deconz_t.uint16_t(cluster_id),
        "asdu": deconz_t.LongOctetString(asdu),
        "reserved1": deconz_t.uint8_t(data[offset]),
        "reserved2": deconz_t.uint8_t(data[offset + 1]),
        "lqi": deconz_t.uint8_t(data[offset + 2]),
        "reserved3": deconz_t.uint8_t(data[offset + 3]),
        "reserved4": deconz_t.uint8_t(data[offset + 4]),
        "reserved5": deconz_t.uint8_t(data[offset + 5]),
        "reserved6": deconz_t.uint8_t(data[offset + 6]),
        "rssi": deconz_t.int8s(struct.unpack_from("<b", data, offset + 7)[0]),
    }


def poll_request(sequence: int, flags: int) -> bytes:
    """The APS_DATA_INDICATION request zigpy-deconz writes to poll one indication (before framing)."""
    return bytes((_INDICATION, sequence, _SUCCESS, 8, 0, 1, 0, flags))


class FastDeconz(deconz_api.Deconz):  # type: ignore[misc]
    """zigpy-deconz's protocol API reading the indication path directly (module docstring)."""

    async def send_command(self, cmd: Any, **kwargs: Any) -> Any:
        """Send a command as zigpy-deconz does; the indication poll with its bytes written directly."""
        if cmd is not deconz_api.CommandId.aps_data_indication or kwargs.keys() != {"flags"}:
            return await super().send_command(cmd, **kwargs)
        flags = int(kwargs["flags"])
        while True:
            try:
                return await self._poll(flags)
            except deconz_api.MismatchedResponseError as exc:
                deconz_api.LOGGER.debug("Firmware responded incorrectly (%s), retrying", exc)

    async def _poll(self, flags: int) -> Any:
        """zigpy-deconz's ``_command`` for the indication poll, without building the frame from its schema."""
        command = deconz_api.CommandId.aps_data_indication
        if self._uart is None:
            raise deconz_api.CommandError(
                "API is not running",
                status=deconz_api.Status.ERROR,
                command=deconz_api.Command(command_id=command, seq=None, payload=b""),
            )
        async with self._command_lock(priority=0):
            sequence = int(self._seq)  # type: ignore[has-type]
            self._seq = (sequence % 255) + 1
            future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            self._awaiting[sequence][command].append(future)
            try:
                self._uart.send(poll_request(sequence, flags))
                async with asyncio.timeout(deconz_api.COMMAND_TIMEOUT):
                    return await future
            except TimeoutError:
                deconz_api.LOGGER.debug("No response to '%s' command with seq %d", command, sequence)
                raise
            finally:
                self._awaiting[sequence][command].remove(future)

    def data_received(self, data: bytes) -> None:
        """Read an indication answer or a state change directly; anything else as zigpy-deconz does."""
        if len(data) >= 7 and data[2] == _SUCCESS:
            if data[0] == _INDICATION and self._deliver_indication(data):
                return
            if data[0] == _STATE_CHANGED and self._deliver_state_change(data):
                return
        super().data_received(data)

    def _deliver_indication(self, data: bytes) -> bool:
        sequence = data[1]
        awaiting = self._awaiting.get(sequence)
        futures = None if awaiting is None else awaiting.get(deconz_api.CommandId.aps_data_indication)
        if not futures or sequence in self._mismatched_response_timers:
            return False
        params = parse_indication(data)
        if params is None:
            return False
        future = futures[0]
        if not future.done():
            future.set_result(params)
        return True

    def _deliver_state_change(self, data: bytes) -> bool:
        if len(data) != 7 or struct.unpack_from("<H", data, 3)[0] != 7:
            return False
        sequence = data[1]
        awaiting = self._awaiting.get(sequence)
        if (awaiting and any(awaiting.values())) or sequence in self._mismatched_response_timers:
            return False  # zigpy-deconz decides what a response someone waits for means
        state, reserved = device_state(data[5]), deconz_t.uint8_t(data[6])
        asyncio.get_running_loop().call_soon(
            lambda: self._handle_device_state_changed(status=_SUCCESS, device_state=state, reserved=reserved)
        )
        return True
