"""Raw frames and records: bounded decoding, bounded tables, one JSON reading, and a small fuzz."""

from __future__ import annotations

import io

import pytest

from flowengine_nodes.basic.zigbee_replay import record_of
from flowengine_nodes.devices import decoder as decoder_module
from flowengine_nodes.devices.cli import _record_of as cli_record_of
from flowengine_nodes.devices.cli import decode_stream
from flowengine_nodes.devices.decoder import Decoder
from flowengine_nodes.devices.zcl import ERA_1X, ERA_2X, MAX_FRAME_BYTES, MAX_NESTING, ZclError, parse_frame
from tests.fuzz.mutator import Mutator

HEADER = bytes([0x18, 0x01, 0x0A])


def record(frame: bytes | str, **extra: object) -> dict[str, object]:
    text = frame.hex() if isinstance(frame, bytes) else frame
    return {"ts": 1.0, "ieee": "00:15:8d:00:01:02:03:04", "endpoint": 1, "profile": 260, "cluster": 257,
            "lqi": 100, "model": "lumi.lock.aq1", "frame": text, **extra}


@pytest.mark.parametrize("era", [ERA_1X, ERA_2X])
def test_a_frame_longer_than_any_zigbee_frame_is_rejected_with_its_size(era: int) -> None:
    frame = HEADER + b"\x00" * MAX_FRAME_BYTES
    with pytest.raises(ZclError, match=f"frame of {len(frame):,} bytes is longer than any Zigbee frame can be"):
        parse_frame(frame, 0, era)
    assert MAX_FRAME_BYTES == 256 * 127


def test_a_frame_text_too_long_to_be_a_frame_is_not_even_read() -> None:
    result = Decoder().decode(record("00" * (2 * MAX_FRAME_BYTES)))
    assert result.error is not None
    assert "characters is longer than any Zigbee frame" in result.error


@pytest.mark.parametrize("element_type", [0x00, 0xFF, 0xF0, 0xF1, 0x42])
def test_an_array_may_not_hold_more_elements_than_the_frame_has_bytes(element_type: int) -> None:
    frame = HEADER + b"\x00\x00" + bytes([0x48, element_type]) + (0xFFFE).to_bytes(2, "little")
    with pytest.raises(ZclError, match="65,534 array or structure elements in a frame of 9 bytes"):
        parse_frame(frame, 0, ERA_1X)


def test_nested_arrays_share_one_element_budget() -> None:
    inner = bytes([0x00]) + (100).to_bytes(2, "little")
    frame = HEADER + b"\x00\x00" + bytes([0x48, 0x48]) + (60).to_bytes(2, "little") + inner * 60
    with pytest.raises(ZclError, match="array or structure elements"):
        parse_frame(frame, 0, ERA_1X)


def test_nesting_is_capped() -> None:
    frame = HEADER + b"\x00\x00" + bytes([0x48]) + (bytes([0x48]) + (1).to_bytes(2, "little")) * 40
    with pytest.raises(ZclError, match=f"nested more than {MAX_NESTING} deep"):
        parse_frame(frame, 0, ERA_2X)


def test_small_arrays_still_decode() -> None:
    frame = HEADER + b"\x00\x00" + bytes([0x48, 0x20]) + (3).to_bytes(2, "little") + b"\x01\x02\x03"
    assert parse_frame(frame, 0, ERA_1X).data == {0: [1, 2, 3]}


def test_per_device_tables_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decoder_module, "SPELLING_LIMIT", 8)
    monkeypatch.setattr(decoder_module, "DEVICE_LIMIT", 4)
    decoder = Decoder()
    frame = HEADER + b"\x00\x00\x20\x01"
    for index in range(50):
        decoder.decode(record(frame, ieee=f"00:15:8d:00:01:02:03:{index:02x}"))
        decoder.decode(record(frame, ieee=f"0x00158D00010203{index:02X}"))  # another spelling
    assert len(decoder._devices) <= 8
    assert len(decoder._by_address) <= 4
    assert len(decoder._states) <= 4
    result = decoder.decode(record(frame, ieee="00:15:8d:00:01:02:03:31"))  # the newest device is known
    assert result.topic == "zigbee2mqtt/0x00158d0001020331"


def test_an_address_that_is_no_address_is_not_remembered() -> None:
    decoder = Decoder()
    decoder.decode(record(HEADER + b"\x00\x00\x20\x01", ieee="x" * 10_000))
    assert all(len(key) <= 64 for key in decoder._by_address)


@pytest.mark.parametrize("line", [
    '{"ts": 1.0, "ieee": "a", "cluster": 18446744073709551616, "lqi": 1, "frame": "18010a00002001"}',
    '{"ts": 18446744073709551617, "ieee": "a", "cluster": 257, "lqi": 1, "frame": "18010a00002001"}',
    '{"ts": 1.0, "ieee": "a", "cluster": 257, "lqi": 1e400, "frame": "18010a00002001"}',
    '{"ts": NaN, "ieee": "a", "cluster": 257, "lqi": 1, "frame": "18010a00002001"}',
    '{"topic": "t", "payload": {"ts": 1, "cluster": 257, "lqi": 1, "frame": "18010a00002001"}, "meta": {}}',
])
def test_the_replay_and_flowengine_decode_read_a_line_alike(line: str) -> None:
    try:
        replayed: dict[str, object] | None = record_of(line.encode())
    except ValueError:
        replayed = None
    decoded, problem = cli_record_of(line)
    assert repr(decoded) == repr(replayed)  # same values, same types (2**64 is a float in both, as in JS)
    if decoded is None:
        assert problem is not None
        assert problem.startswith("not JSON")
    out, err = io.StringIO(), io.StringIO()
    bad = decode_stream(Decoder(), io.StringIO(line + "\n"), out, err, events=False)
    expected = Decoder().decode(replayed) if replayed is not None else None
    assert bad == (0 if expected is not None and expected.error is None else 1)


def test_fuzzed_frames_never_raise_out_of_the_decoder() -> None:
    mutator = Mutator(19)
    for compat in (1, 2):
        decoder = Decoder(compat=compat)
        for _ in range(1_500):
            frame = mutator.frame()
            for cluster in (0x0101, 0x0000, 0xFCC0):
                result = decoder.decode(record(frame, cluster=cluster))
                assert result.error is None or isinstance(result.error, str)
