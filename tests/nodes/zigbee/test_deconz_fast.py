"""The direct reading of deCONZ indication frames agrees with zigpy-deconz's own (deconz_fast.py)."""

from __future__ import annotations

import asyncio
import struct

import pytest
import zigpy_deconz.api as deconz_api
import zigpy_deconz.types as deconz_t

from flowengine.testing import run_sync
from flowengine_nodes.zigbee.deconz_fast import FastDeconz, device_state, parse_indication, poll_request

NWK_1A2B = bytes((0x02,)) + struct.pack("<H", 0x1A2B)
NWK_AND_IEEE = bytes((0x04,)) + struct.pack("<H", 0x1A2B) + bytes.fromhex("04030201008d1500")
IEEE = bytes((0x03,)) + bytes.fromhex("04030201008d1500")
GROUP = bytes((0x01,)) + struct.pack("<H", 0x0019)
BROADCAST = bytes((0x02,)) + struct.pack("<H", 0xFFFD)


def indication(
    asdu: bytes,
    *,
    source: bytes = NWK_1A2B,
    destination: bytes = bytes((0x02, 0x00, 0x00)),
    state: int = 0xAA,
    lqi: int = 120,
    rssi: int = -60,
    sequence: int = 7,
) -> bytes:
    """An APS_DATA_INDICATION answer as a ConBee sends it (DECONZ.md §6)."""
    payload = (
        bytes((state,))
        + destination
        + bytes((1,))
        + source
        + bytes((1,))
        + struct.pack("<HHH", 0x0104, 0x0101, len(asdu))
        + asdu
        + bytes((0, 0, lqi, 0, 0, 0, 0))
        + struct.pack("<b", rssi)
    )
    return bytes((0x17, sequence, 0x00)) + struct.pack("<HH", 7 + len(payload), len(payload)) + payload


def zigpy_deconz_reading(data: bytes) -> dict[str, object]:
    command, _ = deconz_api.Command.deserialize(data)
    _, schema = deconz_api.COMMAND_SCHEMAS[command.command_id]
    params, rest = deconz_t.deserialize_dict(command.payload, schema)
    assert not rest
    return dict(params)


@pytest.mark.parametrize(
    "data",
    [
        indication(bytes.fromhex("1c5f11010a10ff2310000011")),
        indication(b""),
        indication(bytes.fromhex("18"), source=NWK_AND_IEEE, lqi=0, rssi=-128),
        indication(bytes.fromhex("1801"), source=IEEE, destination=GROUP, lqi=255, rssi=127),
        indication(bytes(200), destination=BROADCAST, state=0x22),
    ],
)
def test_the_fast_reading_equals_zigpy_deconzs(data: bytes) -> None:
    fast = parse_indication(data)
    assert fast is not None
    slow = zigpy_deconz_reading(data)
    assert fast.keys() == slow.keys()
    for key, value in slow.items():
        if key.endswith("_addr"):
            assert fast[key].as_zigpy_type() == value.as_zigpy_type(), key  # type: ignore[attr-defined]
        else:
            assert fast[key] == value, key
            assert type(fast[key]) is type(value), key


@pytest.mark.parametrize(
    "data",
    [
        indication(b"\x18")[:-1],  # truncated
        indication(b"\x18") + b"\x00",  # one byte too many
        indication(b"\x18", source=bytes((0x07, 0x00, 0x00))),  # unknown address mode
        bytes((0x17, 7, 0x01)) + indication(b"\x18")[3:],  # status: failure
        bytes((0x0E, 7, 0x00, 7, 0, 0xAA, 0)),  # another command
        b"",
    ],
)
def test_anything_unusual_is_left_to_zigpy_deconz(data: bytes) -> None:
    assert parse_indication(data) is None


def test_device_states_are_zigpy_deconzs() -> None:
    for value in (0x00, 0x22, 0xAA, 0xFF):
        parsed, _ = deconz_api.DeviceState.deserialize(bytes((value,)))
        assert device_state(value) == parsed
        assert device_state(value) is device_state(value)


class _Uart:
    """Stands in for zigpy-deconz's serial gateway: records what the API writes."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.written = asyncio.Event()

    def send(self, data: bytes) -> None:
        self.sent.append(data)
        self.written.set()


def _api(cls: type[deconz_api.Deconz]) -> tuple[deconz_api.Deconz, _Uart]:
    api = cls(None, {})
    uart = _Uart()
    api._uart = uart  # the gateway zigpy-deconz would have connected
    return api, uart


def test_the_poll_is_the_frame_zigpy_deconz_writes_and_gets_its_answer() -> None:
    flags = deconz_t.DataIndicationFlags.Include_Both_NWK_And_IEEE

    async def scenario() -> None:
        for cls in (deconz_api.Deconz, FastDeconz):
            api, uart = _api(cls)
            for _ in range(3):  # sequence numbers advance as zigpy-deconz's do
                uart.written.clear()
                poll = asyncio.create_task(api.send_command(deconz_api.CommandId.aps_data_indication, flags=flags))
                await uart.written.wait()
                sent = uart.sent[-1]
                assert sent == poll_request(sent[1], int(flags))
                api.data_received(indication(b"\x18\x01\x0a", sequence=sent[1]))
                answer = await poll
                assert answer["asdu"] == b"\x18\x01\x0a"
                assert answer["src_addr"].as_zigpy_type() == zigpy_deconz_reading(indication(b""))[
                    "src_addr"].as_zigpy_type()
            assert [data[1] for data in uart.sent] == [1, 2, 3]

    run_sync(scenario())


def test_a_state_change_reaches_zigpy_deconzs_handler() -> None:
    async def scenario() -> None:
        api, _ = _api(FastDeconz)
        called = asyncio.Event()
        seen: list[object] = []

        def handler(**params: object) -> None:
            seen.append(params["device_state"])
            called.set()

        api._handle_device_state_changed = handler  # observe the hand-off
        api.data_received(bytes((0x0E, 9, 0x00, 7, 0, 0xAA, 0)))
        await called.wait()
        assert seen == [deconz_api.DeviceState.deserialize(bytes((0xAA,)))[0]]

    run_sync(scenario())
