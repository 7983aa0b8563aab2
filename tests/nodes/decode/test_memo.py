"""The memoised decoding path gives exactly what the plain pipeline gives, report after report.

:meth:`Decoder.decode` memoises the pure part of decoding per (frame, cluster, model) and keeps
precomputed key layouts for the state cache; :meth:`Decoder.decode_frame` runs the plain
pipeline. Two decoders fed the same reports, one through each, must publish the same payloads
(same keys in the same order, same value types), events, errors and cached states.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import flowengine_nodes.devices.decoder as decoder_module
from flowengine import Message, NodeContext
from flowengine.clock import EventClock
from flowengine.state import StateStore
from flowengine_nodes.devices.decode import Decode, DecodeConfig
from flowengine_nodes.devices.decoder import Decoder, DecodeResult
from tests.nodes.decode.conftest import VECTORS

#: Spellings of three devices (two spellings of the first share its cache).
ADDRESSES = ["00:15:8d:08:29:4b:42:2c", "0x00158D08294B422C", "00:15:8d:00:01:02:03:04", "00-15-8d-00-00-00-00-01"]

#: ZNMS12LM genBasic reports whose values are not published as they are cached.
S2_ARRAY = "18010a01ff420100482002000506"  # detection_period: an array (a container)
S2_BIGINT = "18010a01ff420100270807060504030201"  # detection_period: a BigInt, published as a string
S2_BUFFER = "18010a01ff42010041020a0b"  # detection_period: a Buffer, published as {type, data}
S2_NAN = "18010a01ff4201003900c0ff7f"  # detection_period: NaN, published as null
S2_LOCKED = "183e0af6ff420737087401112226"  # state LOCK, reverse UNLOCK
S2_HEARTBEAT = "1c5f114c0a01ff42070121830b032815"  # voltage, battery, temperature
#: A ZNMS11LM opening (finger_open_admin_id0).
FINGER_OPEN: dict[str, Any] = {
    "ieee": ADDRESSES[0], "model": "lumi.lock.aq1", "cluster": 257, "frame": "1c5f11ee0a10ff2300000011",
}
ODD_S2 = [S2_ARRAY, S2_BIGINT, S2_BUFFER, S2_NAN, S2_LOCKED, S2_HEARTBEAT]

MODES: list[dict[str, Any]] = [
    {"compat": 1, "legacy": True},
    {"compat": 1, "legacy": False},
    {"compat": 2},
]


def exact(value: Any) -> Any:
    """A form of ``value`` that differs whenever key order, value types or NaN-ness differ."""
    if isinstance(value, dict):
        return ("dict", [(key, exact(item)) for key, item in value.items()])
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [exact(item) for item in value])
    return (type(value).__name__, repr(value))


def reports() -> list[dict[str, Any]]:
    """Every vector and generated input, then the ZNMS12LM oddities, twice (memo hits)."""
    records = [
        json.loads(line)["input"]
        for path in sorted(VECTORS.glob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    odd = [
        {"model": "lumi.lock.acn02", "cluster": 257 if frame == S2_LOCKED else 0, "frame": frame}
        for frame in [*ODD_S2, S2_HEARTBEAT, S2_ARRAY, S2_LOCKED, S2_BIGINT, S2_HEARTBEAT, S2_HEARTBEAT]
    ]
    sequence = []
    for number, record in enumerate(records + odd + records + odd):
        sequence.append({**record, "ieee": ADDRESSES[number % len(ADDRESSES)], "lqi": number % 256})
    return sequence


def plain(decoder: Decoder, record: dict[str, Any]) -> DecodeResult | None:
    """Decode ``record`` on the plain path (None for a frame that is not hex)."""
    try:
        frame = bytes.fromhex(record["frame"].replace(" ", ""))
    except ValueError:
        return None
    return decoder.decode_frame(
        frame, cluster=record["cluster"], lqi=record["lqi"], model=record.get("model"), ieee=record["ieee"]
    )


@pytest.mark.parametrize("cache_state", [True, False])
@pytest.mark.parametrize("mode", MODES)
def test_memoised_path_equals_plain_path(mode: dict[str, Any], cache_state: bool) -> None:
    memoised, reference = Decoder(cache_state=cache_state, **mode), Decoder(cache_state=cache_state, **mode)
    compared = 0
    for number, record in enumerate(reports(), start=1):
        expected = plain(reference, record)
        if expected is None:
            assert memoised.decode(record).error == "invalid record: frame is not hex"
            continue
        got = memoised.decode(record)
        assert exact(got._asdict()) == exact(expected._asdict()), f"report {number}: {record}"
        for address in ADDRESSES:
            assert exact(memoised.state_of(address)) == exact(reference.state_of(address)), f"report {number}"
        compared += 1
        if number == 2000:
            memoised.reset()
            reference.reset()
    assert compared > 9000


def test_a_forced_model_and_unknown_models_memoise_alike() -> None:
    forced, reference = Decoder(model="ZNMS12LM"), Decoder(model="ZNMS12LM")
    for number, record in enumerate(reports()[:3000]):
        record = {**record, "model": ("lumi.lock.aq1", "other", None)[number % 3]}
        expected = plain(reference, record)
        if expected is not None:
            assert exact(forced.decode(record)._asdict()) == exact(expected._asdict())


#: Frame texts in an order where cutting the sequence number at the wrong place, or cutting
#: digits that are not hex, would make a later text hit an earlier one's entry.
TRICKY_TEXTS = [
    " 1c5f11ee0a10ff2300000011",  # leading whitespace: the sequence number is not at [6:8] ...
    " 100f11ee0a10ff2300000011",  # ... or this would take the opening above (it publishes nothing)
    "1c5f11ee0a10ff2300000011",
    "1c5f11010a10ff2300000011",  # another sequence number: the same opening
    "1C5F11EF0A10FF2310000022",  # upper case
    "1c5f11zz0a10ff2300000011",  # not hex where the sequence number goes: an error, not a hit
    "18010a10ff2300000011",
    "18zz0a10ff2300000011",
    "18 zz0a10ff2300000011",
    "1c5f11\t0a10ff2300000011",  # a tab: fromhex skips it, so the bytes shift
    "1c5f11ee 0a10ff2300000011",
    "1c5f11ab 0a10ff2300000011",
    "1c5f11ee",  # too short for a manufacturer-specific header, whatever the sequence number
    "1c5f11aa",
    "1c5f",
    "1",
    "",
]


@pytest.mark.parametrize("cache_state", [True, False])
def test_sequence_number_is_cut_from_the_key_only_where_safe(cache_state: bool) -> None:
    memoised, reference = Decoder(cache_state=cache_state), Decoder(cache_state=cache_state)
    for text in TRICKY_TEXTS * 2:
        record = {**FINGER_OPEN, "lqi": 3, "frame": text}
        expected = plain(reference, record)
        got = memoised.decode(record)
        if expected is None:
            assert got.error == "invalid record: frame is not hex", text
        else:
            assert exact(got._asdict()) == exact(expected._asdict()), text


def test_a_new_sequence_number_is_not_decoded_again() -> None:
    decoder = Decoder()
    first = decoder.decode({**FINGER_OPEN, "lqi": 1})
    decoder._convert = None  # type: ignore[assignment,method-assign]  # a second decode would fail
    for sequence in ("00", "7f", "FF"):
        again = decoder.decode({**FINGER_OPEN, "lqi": 1, "frame": f"1c5f11{sequence}0a10ff2300000011"})
        assert again.payload == first.payload


def test_memo_is_bounded_and_still_right(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decoder_module, "MEMO_LIMIT", 3)
    small, reference = Decoder(), Decoder()
    for record in reports()[:1500]:
        expected = plain(reference, record)
        if expected is not None:
            assert exact(small.decode(record)._asdict()) == exact(expected._asdict())
        assert len(small._memo) <= 3
        assert len(small._by_content) <= 3


def test_payloads_of_a_memoised_frame_are_independent() -> None:
    decoder = Decoder(cache_state=False)
    record = {**FINGER_OPEN, "lqi": 1}
    first = decoder.decode(record).payload
    assert first is not None
    first["action"] = "changed downstream"
    second = decoder.decode({**record, "lqi": 2}).payload
    assert second == plain(Decoder(cache_state=False), {**record, "lqi": 2}).payload  # type: ignore[union-attr]
    assert second is not None
    assert second["action"] == "finger_open_admin_id0"
    assert second["linkquality"] == 2


@pytest.mark.parametrize("cache_state", [True, False])
def test_containers_are_never_shared_between_payloads(cache_state: bool) -> None:
    decoder = Decoder(cache_state=cache_state)
    record = {"ieee": ADDRESSES[0], "model": "lumi.lock.acn02", "cluster": 0, "lqi": 1}
    for frame in (S2_ARRAY, S2_BUFFER):
        first, second = (decoder.decode({**record, "frame": frame}).payload for _ in range(2))
        assert first is not None
        assert second is not None
        assert first["detection_period"] == second["detection_period"]
        assert first["detection_period"] is not second["detection_period"]


def test_options_are_read_only() -> None:
    decoder = Decoder(compat=2, cache_state=False)
    assert (decoder.compat, decoder.legacy, decoder.cache_state, decoder.base_topic) == (2, True, False, "zigbee2mqtt")
    with pytest.raises(AttributeError):
        decoder.compat = 1  # type: ignore[misc]


def make_node(tmp_path: Path, **config: Any) -> Decode:
    context = NodeContext(
        node_id="decode", flow_name="memo", flow_dir=tmp_path, clock=EventClock(), state=StateStore(None).node("decode")
    )
    return Decode(DecodeConfig(**config), context)


def test_node_event_payloads_are_fresh_dicts(tmp_path: Path) -> None:
    node = make_node(tmp_path)
    events: list[Message] = []
    node.bind_output("events", events.append)
    record = {**FINGER_OPEN, "lqi": 1}
    for ts in (1.0, 2.0):
        out = node.process(Message("zigbee/x", record, {"ts": ts}))
        assert out is not None
        assert out.meta["ts"] == ts
    assert [m.payload for m in events] == [{
        "event": "finger_open", "method": "finger", "role": "admin", "user": 0, "repeat": None, "state": None,
        "reverse": None,
    }] * 2
    assert events[0].payload is not events[1].payload
    assert events[0].meta == {"ts": 1.0, "model": "ZNMS11LM", "friendly_name": "0x00158d08294b422c"}


def test_node_with_events_unwired_still_publishes_out(tmp_path: Path) -> None:
    node = make_node(tmp_path, cache_state=False)
    record = {**FINGER_OPEN, "lqi": 9}
    out = node.process(Message("zigbee/x", record, {}))
    assert out is not None
    assert out.topic == "zigbee2mqtt/0x00158d08294b422c"
    assert out.payload["linkquality"] == 9
