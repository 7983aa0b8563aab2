"""The household's seven models against Zigbee2MQTT 2.x (public and oracle vectors), events, options, lint."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from flowengine.testing import load_text
from flowengine_nodes.devices.decoder import Decoder
from flowengine_nodes.devices.definitions import default_registry
from flowengine_nodes.devices.events import (
    EVENT_VALUES,
    ButtonEvent,
    ContactEvent,
    LeakEvent,
    LockEvent,
    MotionEvent,
    SwitchEvent,
)
from flowengine_nodes.devices.lint import DecoderProfile, check_comparison
from tests.nodes.decode.conftest import load_cases

HOUSEHOLD: dict[str, tuple[str, str]] = {
    "MCCGQ11LM": ("lumi.sensor_magnet.aq2", "LUMI"),
    "RTCGQ11LM": ("lumi.sensor_motion.aq2", "LUMI"),
    "WSDCGQ11LM": ("lumi.weather", "LUMI"),
    "WXKG11LM": ("lumi.sensor_switch.aq2", "LUMI"),
    "SJCGQ11LM": ("lumi.sensor_wleak.aq1", "LUMI"),
    "ZNCZ02LM": ("lumi.plug", "LUMI"),
    "LED1545G12": ("TRADFRI bulb E27 WS opal 980lm", "IKEA of Sweden"),
}


def report(frame: str, model: str, cluster: int, lqi: int = 100) -> dict[str, Any]:
    """A raw report record of one household device."""
    zigbee_model, manufacturer = HOUSEHOLD[model]
    return {"ts": 1.0, "ieee": "00:15:8d:00:07:00:01:01", "nwk": "0x2000", "model": zigbee_model,
            "manufacturer": manufacturer, "endpoint": 1, "profile": 260, "cluster": cluster, "lqi": lqi,
            "rssi": -50, "frame": frame}


def _mismatches(decoder: Decoder, cases: list[dict[str, Any]], *, plain: bool = False) -> list[str]:
    found = []
    for number, case in enumerate(cases, start=1):
        record = case["input"]
        if plain:
            result = decoder.decode_frame(bytes.fromhex(record["frame"]), cluster=record["cluster"],
                                          lqi=record["lqi"], model=record["model"], ieee=record["ieee"])
        else:
            result = decoder.decode(record)
        got = None if result.error else result.payload
        if got != case["expected"]:
            found.append(f"line {number}: {record['model']} {record['cluster']} {record['frame']} "
                         f"got {got} expected {case['expected']}")
    return found


def test_public_household_vectors() -> None:
    cases = load_cases("household_public")
    assert len(cases) == 84
    assert not _mismatches(Decoder(compat=2, cache_state=False), cases)
    assert not _mismatches(Decoder(compat=2, cache_state=False), cases, plain=True)


def test_generated_household_vectors() -> None:
    cases = load_cases("household_generated")
    assert len(cases) >= 10_000
    per_model: dict[str, int] = {}
    for case in cases:
        per_model[case["input"]["model"]] = per_model.get(case["input"]["model"], 0) + 1
    assert len(per_model) == 7
    assert min(per_model.values()) > 1000
    mismatches = _mismatches(Decoder(compat=2, cache_state=False), cases)
    assert not mismatches, "\n".join(mismatches[:20])


def test_generated_vectors_on_the_plain_path() -> None:
    cases = load_cases("household_generated")
    mismatches = _mismatches(Decoder(compat=2, cache_state=False), cases, plain=True)
    assert not mismatches, "\n".join(mismatches[:20])


@pytest.mark.parametrize(
    ("model", "cluster", "frame", "event"),
    [
        ("MCCGQ11LM", 6, "18060a00001000", ContactEvent("contact_closed")),
        ("MCCGQ11LM", 6, "18020a00001001", ContactEvent("contact_opened")),
        ("RTCGQ11LM", 1030, "18100a00001801", MotionEvent("motion_detected", 90, None)),
        ("RTCGQ11LM", 1024, "180d0a000021bd02", MotionEvent("motion_detected", 90, 701)),
        ("WXKG11LM", 6, "182d0a00802004", ButtonEvent("button_pressed", "quadruple")),
        ("WXKG11LM", 18, "18010a5500210000", ButtonEvent("button_pressed", "hold")),
        ("SJCGQ11LM", 1280, "18330a0200190100", LeakEvent("leak_detected", False)),
        ("SJCGQ11LM", 1280, "19d800010000000500", LeakEvent("leak_detected", False)),
        ("SJCGQ11LM", 1280, "183a0a0200190800", LeakEvent("leak_cleared", True)),
        ("ZNCZ02LM", 6, "18490a00001001", SwitchEvent("switched_on", "plug")),
        ("ZNCZ02LM", 12, "184a0a5500399a19a243", SwitchEvent("power_changed", "plug", 324.2)),
        ("LED1545G12", 6, "18400a00001000", SwitchEvent("switched_off", "light")),
        ("LED1545G12", 8, "183f0a000020df", None),
        ("WSDCGQ11LM", 1029, "18190a0000215524", None),
    ],
)
def test_typed_events(model: str, cluster: int, frame: str, event: Any) -> None:
    result = Decoder(compat=2, cache_state=False).decode(report(frame, model, cluster))
    if isinstance(event, SwitchEvent) and event.power is not None:
        assert isinstance(result.event, SwitchEvent)
        assert result.event.event == "power_changed"
        assert result.event.power == pytest.approx(event.power, abs=0.01)
    else:
        assert result.event == event
    if event is not None:
        assert event.to_payload()["event"] in EVENT_VALUES
        assert event.to_payload()["family"] == event.family


def test_event_hierarchy_keeps_the_lock_payload() -> None:
    event = LockEvent("finger_open", "finger", "admin", 1)
    assert event.to_payload() == {"event": "finger_open", "method": "finger", "role": "admin", "user": 1,
                                  "repeat": None, "state": None, "reverse": None}
    assert ContactEvent("contact_opened").to_payload() == {"event": "contact_opened", "family": "contact"}
    assert MotionEvent("motion_detected", 30, 12).to_payload() == {
        "event": "motion_detected", "family": "motion", "timeout": 30, "illuminance": 12}


def test_motion_reports_publish_nothing_but_say_the_timeout() -> None:
    """The reference publishes nothing for RTCGQ11LM's occupancy reports; the event carries the timeout."""
    frame = "18100a00001801"
    result = Decoder(compat=2, cache_state=False, options={"occupancy_timeout": 30}).decode(
        report(frame, "RTCGQ11LM", 1030))
    assert result.payload is None
    assert result.event == MotionEvent("motion_detected", 30, None)
    live = Decoder(compat=2, cache_state=False, live_timers=True)
    assert live.decode(report(frame, "RTCGQ11LM", 1030)).payload == {"linkquality": 100, "occupancy": True}
    assert live.decode(report("180d0a000021bd02", "RTCGQ11LM", 1024)).payload == {
        "illuminance": 701, "linkquality": 100, "occupancy": True}
    assert live.decode(report("18100a00001800", "RTCGQ11LM", 1030)).payload is None


def test_scaled_pressure_needs_the_endpoint_cache_of_a_live_bridge() -> None:
    """A report with scale (int8 -1) and scaledValue (10086): null when decoded alone, 1008.6 live."""
    frame = "18010a" "000029f003" "1400" "28ff" "1000" "296627"
    alone = Decoder(compat=2, cache_state=False).decode(report(frame, "WSDCGQ11LM", 1027))
    assert alone.payload == {"linkquality": 100, "pressure": None}
    live = Decoder(compat=2, cache_state=False, live_timers=True).decode(report(frame, "WSDCGQ11LM", 1027))
    assert live.payload == {"linkquality": 100, "pressure": 1008.6}
    without_scale = "18010a" "1000" "296627"
    assert Decoder(compat=2, cache_state=False, live_timers=True).decode(
        report(without_scale, "WSDCGQ11LM", 1027)).payload == {"linkquality": 100, "pressure": None}


def test_precision_and_calibration_options() -> None:
    temperature = report("18240a0000292e03", "WSDCGQ11LM", 1026)  # 8.14 °C
    assert Decoder(compat=2, cache_state=False).decode(temperature).payload == {"linkquality": 100,
                                                                                "temperature": 8.14}
    options = {"temperature_precision": 1, "temperature_calibration": -1}
    assert Decoder(compat=2, cache_state=False, options=options).decode(temperature).payload == {
        "linkquality": 100, "temperature": 7.1}
    power = report("184a0a5500399a19a243", "ZNCZ02LM", 12)  # 324.2 W
    assert Decoder(compat=2, cache_state=False, options={"power_calibration": 10, "power_precision": 0}).decode(
        power).payload == {"linkquality": 100, "power": 357}
    plug_on = report("18490a00001001", "ZNCZ02LM", 6)
    assert Decoder(compat=2, cache_state=False, options={"state_action": True}).decode(plug_on).payload == {
        "action": "on", "linkquality": 100, "state": "ON"}


def test_state_cache_merges_household_reports() -> None:
    decoder = Decoder(compat=2, cache_state=True)
    decoder.decode(report("18240a0000292e03", "WSDCGQ11LM", 1026))
    merged = decoder.decode(report("18190a0000215524", "WSDCGQ11LM", 1029)).payload
    assert merged == {"humidity": 93.01, "linkquality": 100, "temperature": 8.14}


def test_bulb_color_state_sync() -> None:
    decoder = Decoder(compat=2, cache_state=False)
    # colorMode xy with currentX/currentY and colorTemperature: color_temp is recomputed from x/y.
    frame = "18010a" + "0800" + "3001" + "0300" + "21" + "1e72" + "0400" + "21" + "9e6a" + "0700" + "21" + "5d01"
    payload = decoder.decode(report(frame, "LED1545G12", 768)).payload
    assert payload is not None
    assert payload["color_mode"] == "xy"
    assert set(payload["color"]) == {"x", "y"}
    assert isinstance(payload["color_temp"], int)
    # A colour temperature outside the converters' kelvin table makes color_colortemp throw: nothing.
    assert decoder.decode(report("18010a0700210000", "LED1545G12", 768)).payload is None


def _garbled_frames(seed: int, count: int) -> list[tuple[str, int, str]]:
    rng = random.Random(seed)
    clusters = [0, 1, 6, 8, 12, 18, 768, 1024, 1026, 1027, 1029, 1030, 1280, 0xFCC0]
    heads = ["18", "1c5f11", "08", "19", "09", "1d5f11", "01", "11", "10"]
    out = []
    for _ in range(count):
        model = rng.choice(list(HOUSEHOLD))
        body = bytes(rng.randrange(256) for _ in range(rng.randint(0, 24)))
        head = bytes.fromhex(rng.choice(heads)) + bytes([rng.randrange(256), rng.choice([0x0A, 0x01, 0x00, 0x0B])])
        if rng.random() < 0.5:  # a well-formed record start with a random type and value
            body = bytes([rng.randrange(256), rng.choice([0x00, 0xFF, 0x01, 0x04, 0x40])]) + bytes(
                [rng.choice([0x10, 0x20, 0x21, 0x23, 0x27, 0x29, 0x39, 0x41, 0x42, 0x48, 0x4C])]) + body
        out.append((model, rng.choice(clusters), (head + body).hex()))
    return out


@pytest.mark.parametrize("compat", [1, 2])
@pytest.mark.parametrize("cache_state", [False, True])
def test_garbled_frames_never_crash(compat: int, cache_state: bool) -> None:
    decoder = Decoder(compat=compat, cache_state=cache_state)
    for model, cluster, frame in _garbled_frames(compat * 10 + cache_state, 3000):
        result = decoder.decode(report(frame, model, cluster))
        assert result.error is None or result.payload is None
        assert result.payload is None or "linkquality" in result.payload


def test_definitions_are_data_with_both_directions() -> None:
    registry = default_registry()
    for model, (zigbee_model, _) in HOUSEHOLD.items():
        definition = registry.find(zigbee_model)
        assert definition is not None
        assert definition.model == model
        assert definition.converters
        assert definition.exposes
        assert registry.find(model) is definition
    plug = registry.find("ZNCZ02LM")
    assert plug is not None
    assert any("state" in t.keys for t in plug.to_zigbee)
    motion = registry.find("RTCGQ11LM")
    assert motion is not None
    assert motion.option_defaults()["occupancy_timeout"] == 90


LINT_FLOW = """\
version: 1
nodes:
  - id: radio
    type: zigbee-replay
    path: reports.jsonl
    wires: [lock, motion]
  - id: lock
    type: decode
    model: ZNMS11LM
    compat: 2
    wires: {out: [door_open]}
  - id: door_open
    type: filter
    when: "payload.contact == false"
    wires: [log]
  - id: motion
    type: decode
    model: RTCGQ11LM
    compat: 2
    wires: {out: [pressed]}
  - id: pressed
    type: filter
    when: "payload.action == 'single'"
    wires: [log]
  - id: log
    type: log
"""


def test_lint_knows_the_household(tmp_path: Path) -> None:
    lock = DecoderProfile.create("lock", model="ZNMS11LM", compat=2)
    assert "comes from MCCGQ11LM" in check_comparison(lock, "payload.contact", "==", False)[0]
    motion = DecoderProfile.create("motion", model="RTCGQ11LM", compat=2)
    assert "comes from WXKG11LM" in check_comparison(motion, "payload.action", "==", "single")[0]
    button = DecoderProfile.create("button", model="WXKG11LM", compat=2)
    assert check_comparison(button, "payload.action", "in", ["single", "double", "hold"]) == []
    (tmp_path / "reports.jsonl").write_text("")
    loaded = load_text(tmp_path, LINT_FLOW)
    assert loaded.ok
    messages = [str(w) for w in loaded.warnings]
    assert len(messages) == 2, messages
    assert any(":14:11:" in m and "payload.contact is never False" in m for m in messages), messages
    assert any(":23:11:" in m and "payload.action is never 'single'" in m for m in messages), messages


@pytest.mark.parametrize(
    ("options", "live_timers"),
    [
        ({}, True),
        ({"state_action": True, "power_calibration": 10, "power_precision": 1, "device_temperature_calibration": -2,
          "temperature_precision": 0, "humidity_calibration": 1.5, "occupancy_timeout": 0}, False),
        ({"temperature_calibration": "x", "illuminance_calibration": 5, "color_sync": False}, True),
    ],
)
def test_one_record_way_equals_the_full_parser(options: dict[str, Any], live_timers: bool) -> None:
    """``decode_frame`` reads one-record reports at their fixed place; the full path must agree, events included."""
    from tests.nodes.decode.test_memo import exact  # the same exact comparison as the memo's

    decoder = Decoder(compat=2, cache_state=False, options=options, live_timers=live_timers)
    compared = 0
    for case in load_cases("household_public") + load_cases("household_generated"):
        record = case["input"]
        frame = bytes.fromhex(record["frame"])
        fast = decoder.decode_frame(frame, cluster=record["cluster"], lqi=record["lqi"], model=record["model"],
                                    ieee=record["ieee"])
        full = decoder._finish(decoder._convert(frame, record["cluster"], record["model"]), record["lqi"],
                               decoder._device(record["ieee"]))
        assert exact(fast._asdict()) == exact(full._asdict()), record
        compared += 1
    assert compared > 10_000


def _records_frame(sequence: int, records: list[tuple[int, int, bytes]]) -> bytes:
    """A Report Attributes frame (no manufacturer code) of (attribute id, data type, value bytes) records."""
    body = b"".join(attr_id.to_bytes(2, "little") + bytes([type_id]) + value for attr_id, type_id, value in records)
    return bytes([0x18, sequence, 0x0A]) + body


def _i16(value: int) -> bytes:
    return value.to_bytes(2, "little", signed=True)


def _u16(value: int) -> bytes:
    return value.to_bytes(2, "little")


@pytest.mark.parametrize(
    ("model", "cluster", "frames"),
    [
        # The weather sensor's pressure report (measuredValue, scaledValue, scale), then frames of the
        # same length and first record that differ after it: another attribute id, another type of the
        # same width, a sentinel among the values, an out-of-type-bounds scale, and the first again.
        ("lumi.weather", 0x0403, [
            [(0x0000, 0x29, _i16(1010)), (0x0010, 0x29, _i16(10100)), (0x0014, 0x28, b"\xff")],
            [(0x0000, 0x29, _i16(1011)), (0x0010, 0x29, _i16(10110)), (0x0014, 0x28, b"\xff")],
            [(0x0000, 0x29, _i16(1011)), (0x0011, 0x29, _i16(10110)), (0x0014, 0x28, b"\xff")],
            [(0x0000, 0x29, _i16(1011)), (0x0010, 0x21, _u16(10110)), (0x0014, 0x28, b"\xff")],
            [(0x0000, 0x29, _i16(1012)), (0x0010, 0x29, _i16(-32768)), (0x0014, 0x28, b"\xff")],
            [(0x0000, 0x29, _i16(-32768)), (0x0010, 0x29, _i16(10120)), (0x0014, 0x28, b"\x80")],
            [(0x0000, 0x29, _i16(1013)), (0x0010, 0x29, _i16(10130)), (0x0014, 0x28, b"\x80")],
            [(0x0000, 0x29, _i16(1013)), (0x0000, 0x29, _i16(-32768)), (0x0014, 0x28, b"\x01")],
            [(0x0000, 0x29, _i16(1014)), (0x0010, 0x29, _i16(10140)), (0x0014, 0x28, b"\xff")],
        ]),
        # The bulb's colour temperature has bounds narrower than its type (at most 65279): each value
        # is checked one by one; over the bound or the sentinel, the post-read drops it.
        ("TRADFRI bulb E27 WS opal 980lm", 0x0300, [
            [(0x0007, 0x21, _u16(370)), (0x0008, 0x30, b"\x02")],
            [(0x0007, 0x21, _u16(65279)), (0x0008, 0x30, b"\x02")],
            [(0x0007, 0x21, _u16(65280)), (0x0008, 0x30, b"\x02")],
            [(0x0007, 0x21, _u16(0xFFFF)), (0x0008, 0x30, b"\x02")],
            [(0x0007, 0x21, _u16(250)), (0x0008, 0x30, b"\x01")],
            [(0x0007, 0x21, _u16(250)), (0x0003, 0x21, _u16(30000)), (0x0004, 0x21, _u16(30000))],
            [(0x0007, 0x21, _u16(454)), (0x0008, 0x30, b"\x02")],
        ]),
    ],
)
def test_reports_of_several_records_read_by_a_layout_equal_the_full_parser(
    model: str, cluster: int, frames: list[list[tuple[int, int, bytes]]]
) -> None:
    """A layout made from one frame reads the next ones in one go only where it fits, as the parser does."""
    from tests.nodes.decode.test_memo import exact

    decoder = Decoder(compat=2, cache_state=False)
    ieee = "00:15:8d:00:07:00:01:03"
    for sequence, records in enumerate(frames):
        frame = _records_frame(sequence, records)
        fast = decoder.decode_frame(frame, cluster=cluster, lqi=80, model=model, ieee=ieee)
        full = decoder._finish(decoder._convert(frame, cluster, model), 80, decoder._device(ieee))
        assert exact(fast._asdict()) == exact(full._asdict()), records
    # The layouts were made and used (their frames' first record is a one-record shape of its own).
    assert any(single is not None and single.layouts for single in decoder._singles.values())
