"""The ``decode`` node in a running flow: zigbee-replay -> decode -> capture sinks."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from flowengine.testing import load_text, run_flow
from tests.nodes.decode.conftest import VECTORS

REPO = Path(__file__).resolve().parents[3]
CAPTURE = REPO / "flows" / "captures" / "front_door.jsonl"

FLOW = """
version: 1
state: memory
nodes:
  - id: radio
    type: zigbee-replay
    path: reports.jsonl
    wires: [decode]
  - id: decode
    type: decode
    {options}
    wires: {{out: [state], events: [events], errors: [failed]}}
  - id: state
    type: capture
  - id: events
    type: capture
  - id: failed
    type: capture
"""


def write_reports(directory: Path, stem: str) -> list[dict[str, object]]:
    cases = [json.loads(line) for line in (VECTORS / f"{stem}.jsonl").read_text().splitlines()]
    (directory / "reports.jsonl").write_text("".join(json.dumps(c["input"]) + "\n" for c in cases))
    return cases


@pytest.mark.parametrize(
    ("stem", "options"),
    [
        ("znms_legacy_true", "cache_state: false"),
        ("znms_legacy_false", "{legacy: false, cache_state: false}"),
        ("znms_z2m2", "{compat: 2, cache_state: false}"),
    ],
)
def test_flow_publishes_what_the_reference_publishes(tmp_path: Path, stem: str, options: str) -> None:
    cases = write_reports(tmp_path, stem)
    text = FLOW.format(options=options.replace("{", "").replace("}", "").replace(", ", "\n    "))
    result = run_flow(tmp_path, text)
    published = [c["expected"] for c in cases if c["expected"] not in (None, {"error": True})]
    out = result.captured("state")
    assert [m.payload for m in out] == published
    assert out[0].topic == "zigbee2mqtt/0x00158d08294b422c"
    assert all(m.topic.startswith("zigbee2mqtt/0x") for m in out)
    first = out[0]
    assert first.meta["model"] == "ZNMS11LM"
    assert first.meta["friendly_name"] == "0x00158d08294b422c"
    assert first.meta["ieee"] == "00:15:8d:08:29:4b:42:2c"
    assert first.meta["source"] == "radio"
    rejected = sum(1 for c in cases if c["expected"] == {"error": True})
    failed = result.captured("failed")
    assert len(failed) == rejected == result.counters("decode")["unparsed"]
    assert all(m.meta["error"]["type"] == "DecodeError" for m in failed)
    assert "frame" in failed[0].meta["error"]["message"]
    events = result.captured("events")
    assert events
    assert all(m.topic.endswith("/event") and set(m.payload) >= {"event", "user", "repeat"} for m in events)


def test_events_port_carries_typed_events(tmp_path: Path) -> None:
    write_reports(tmp_path, "znms_legacy_true")
    result = run_flow(tmp_path, FLOW.format(options="friendly_names: {'00158d08294b422c': front_door}"))
    events = result.captured("events")
    assert events[0].topic == "zigbee2mqtt/front_door/event"
    assert events[0].payload == {
        "event": "password_open", "method": "password", "role": "user", "user": 217, "repeat": None,
        "state": None, "reverse": None,
    }
    fails = [m.payload for m in events if m.payload["event"] == "finger_not_match"]
    assert fails == [{"event": "finger_not_match", "method": "finger", "role": None, "user": None, "repeat": 2,
                      "state": None, "reverse": None}]


def test_unknown_model_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "reports.jsonl").write_text("")
    loaded = load_text(tmp_path, FLOW.format(options="model: ZNMS99LM"))
    assert not loaded.ok
    assert any("unknown device model 'ZNMS99LM'" in str(issue) for issue in loaded.errors)


def test_compat_2_with_legacy_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_reports(tmp_path, "znms_z2m2")
    with caplog.at_level(logging.WARNING):
        result = run_flow(tmp_path, FLOW.format(options="{compat: 2, legacy: false, cache_state: false}".replace(
            "{", "").replace("}", "").replace(", ", "\n    ")))
    assert any("legacy is ignored with compat: 2" in r.getMessage() for r in caplog.records)
    assert result.captured("state")[0].payload["data"] == "22babd9b"  # 2.x keeps data


def test_shipped_capture_replays(tmp_path: Path) -> None:
    shutil.copy(CAPTURE, tmp_path / "reports.jsonl")
    result = run_flow(tmp_path, FLOW.format(options="cache_state: true"))
    assert result.captured("state")
    assert result.counters("decode")["unparsed"] == len(result.captured("failed"))
