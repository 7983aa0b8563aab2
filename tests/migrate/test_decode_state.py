"""What the import relies on in ``decode``: per-device options, cached states kept across runs
(``keep_state``, as Zigbee2MQTT keeps state.json) and published at start (``send_cached_state_on_start``).

The reports are the emulator's weather sensor frames, replayed by ``zigbee-replay``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flowengine import StateStore
from flowengine.testing import run_flow
from flowengine_nodes.emulator.catalog import make_device

CALIBRATED = "00:15:8d:00:07:00:01:03"
PLAIN = "00:15:8d:00:07:00:09:09"


def weather_capture(path: Path, readings: list[tuple[str, float]]) -> Path:
    lines = []
    for number, (ieee, temperature) in enumerate(readings):
        device = make_device("weather", {"model": "WSDCGQ11LM", "ieee": ieee, "nwk": 0x3103})
        for frame in device.event_frames("weather", {"temperature": temperature, "humidity": 48.2,
                                                     "pressure": 1008.6}):
            lines.append(json.dumps({"ts": 1000.0 + number, "ieee": ieee, "nwk": "0x3103", "model": "lumi.weather",
                                     "manufacturer": "LUMI", "endpoint": frame.src_endpoint, "profile": frame.profile,
                                     "cluster": frame.cluster, "lqi": 120, "rssi": -60, "frame": frame.payload.hex()}))
    path.write_text("".join(line + "\n" for line in lines))
    return path


def flow(capture: Path, *, keep_state: bool = True, send: bool = True) -> str:
    return f"""
version: 1
name: kept
state: state.db
nodes:
  - id: replay
    type: zigbee-replay
    path: {capture.name}
    wires: [decode]
  - id: decode
    type: decode
    compat: 2
    keep_state: {str(keep_state).lower()}
    send_cached_state_on_start: {str(send).lower()}
    friendly_names: {{"{CALIBRATED}": living room/weather, "{PLAIN}": attic}}
    device_options: {{"{CALIBRATED}": {{temperature_calibration: -0.5, temperature_precision: 1}}}}
    wires: [out]
  - id: out
    type: capture
"""


def payloads(messages: list[Any]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for message in messages:
        found.setdefault(message.topic, []).append(message.payload)
    return found


def test_device_options_apply_to_their_device_only(tmp_path: Path) -> None:
    capture = weather_capture(tmp_path / "reports.jsonl", [(CALIBRATED, 21.37), (PLAIN, 21.37)])
    result = run_flow(tmp_path, flow(capture, keep_state=False, send=False))
    published = payloads(result.captured("out"))
    assert published["zigbee2mqtt/living room/weather"][-1]["temperature"] == 20.9
    assert published["zigbee2mqtt/attic"][-1]["temperature"] == 21.37


def test_kept_states_are_published_at_the_next_start_and_merged_into(tmp_path: Path) -> None:
    capture = weather_capture(tmp_path / "reports.jsonl", [(CALIBRATED, 21.37), (PLAIN, 19.0)])
    first = payloads(run_flow(tmp_path, flow(capture)).captured("out"))
    last = {topic: values[-1] for topic, values in first.items()}
    store = StateStore(tmp_path / "state.db")
    try:
        kept = dict(store.node("decode").items("cache:"))
    finally:
        store.close()
    assert kept == {"cache:" + CALIBRATED.replace(":", ""): last["zigbee2mqtt/living room/weather"],
                    "cache:" + PLAIN.replace(":", ""): last["zigbee2mqtt/attic"]}
    capture.write_text("")
    second = run_flow(tmp_path, flow(capture)).captured("out")
    assert {m.topic: m.payload for m in second} == last
    assert all(m.meta["cached"] is True and m.meta["source"] == "decode" for m in second)
    # Without send_cached_state_on_start nothing is published at start; the next report merges into the state.
    weather_capture(capture, [(PLAIN, 18.5)])
    third = payloads(run_flow(tmp_path, flow(capture, send=False)).captured("out"))
    assert list(third) == ["zigbee2mqtt/attic"]
    assert third["zigbee2mqtt/attic"][-1] == {**last["zigbee2mqtt/attic"], "temperature": 18.5}


def test_without_keep_state_nothing_is_kept(tmp_path: Path) -> None:
    capture = weather_capture(tmp_path / "reports.jsonl", [(PLAIN, 19.0)])
    run_flow(tmp_path, flow(capture, keep_state=False))
    capture.write_text("")
    assert run_flow(tmp_path, flow(capture, keep_state=False)).captured("out") == []
