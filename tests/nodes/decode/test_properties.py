"""Property tests: no byte string and no junk record makes the decoder raise."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from flowengine_nodes.devices.decoder import Decoder, DecodeResult

DECODERS = [
    Decoder(compat=1, legacy=True),
    Decoder(compat=1, legacy=False),
    Decoder(compat=2),
    Decoder(compat=1, cache_state=False, model="ZNMS12LM"),
]
MODELS = st.sampled_from(["lumi.lock.aq1", "lumi.lock.acn02", "lumi.lock.acn03", "other"])
CLUSTERS = st.sampled_from([0, 1, 25, 257, 64704, 64512, 6])
HEADERS = st.sampled_from([b"", b"\x1c\x5f\x11", b"\x18", b"\x10", b"\x19", b"\x0c\x5f\x11"])


def _check(result: DecodeResult) -> None:
    assert isinstance(result, DecodeResult)
    if result.error is not None:
        assert result.payload is None
        assert result.event is None
    if result.payload is not None:
        assert isinstance(result.payload.get("linkquality"), int)
        assert list(result.payload) == sorted(result.payload)


@settings(max_examples=600, deadline=None)
@given(frame=st.binary(max_size=64), cluster=CLUSTERS, model=MODELS, lqi=st.integers(0, 255))
def test_any_frame_bytes_never_raise(frame: bytes, cluster: int, model: str, lqi: int) -> None:
    record = {"ieee": "00:15:8d:00:01:02:03:04", "model": model, "cluster": cluster, "lqi": lqi, "frame": frame.hex()}
    for decoder in DECODERS:
        _check(decoder.decode(record))


@settings(max_examples=600, deadline=None)
@given(
    header=HEADERS,
    command=st.sampled_from([0x0A, 0x01, 0x00, 0x02, 0x04, 0x07, 0x0B, 0x0D]),
    body=st.binary(max_size=48),
    attr=st.sampled_from([0xFF10, 0xFF11, 0xFF01, 0xFFF6, 0xFFF2, 0xFF02, 0x0035, 0x0102]),
    type_id=st.integers(0, 255),
    cluster=CLUSTERS,
    model=MODELS,
)
def test_shaped_frames_never_raise(
    header: bytes, command: int, body: bytes, attr: int, type_id: int, cluster: int, model: str
) -> None:
    """Frames that get past the header and into the record and value parsers."""
    frame = header + bytes([0x42, command]) + attr.to_bytes(2, "little") + bytes([type_id]) + body
    record = {"model": model, "cluster": cluster, "lqi": 7, "frame": frame.hex()}
    for decoder in DECODERS:
        _check(decoder.decode(record))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)


@settings(max_examples=400, deadline=None)
@given(
    record=st.one_of(
        JSON_VALUES,
        st.fixed_dictionaries(
            {"frame": JSON_VALUES | st.text(max_size=20), "cluster": JSON_VALUES, "lqi": JSON_VALUES},
            optional={"model": JSON_VALUES, "ieee": JSON_VALUES},
        ),
    )
)
def test_junk_records_never_raise(record: Any) -> None:
    for decoder in DECODERS:
        _check(decoder.decode(record))
