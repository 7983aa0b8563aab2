"""``split``: one message per part, in order, with ``meta.parts``; what has no parts goes to ``errors``."""

from __future__ import annotations

from pathlib import Path

from flowengine.testing import run_flow

FLOW = """
version: 1
state: memory
nodes:
  - id: capture
    type: zigbee-replay
    path: capture.jsonl
    wires: [shape]
  - id: shape
    type: change
    set:
      payload: "{{ payload.frame }}"
      meta.list: ["{{ payload.cluster }}", "{{ payload.endpoint }}"]
    wires: [each, lines, items]
  - id: each
    type: split
    property: meta.list
    wires: {out: [listed], errors: [failed]}
  - id: lines
    type: split
    separator: "ff"
    wires: [pieces]
  - id: items
    type: split
    wires: {out: [entries], errors: [failed]}
  - id: listed
    type: capture
  - id: pieces
    type: capture
  - id: failed
    type: capture
  - id: entries
    type: capture
"""


def write_capture(path: Path) -> None:
    path.write_text('{"ts": 10.0, "ieee": "00:15:8d:00:01:02:03:04", "endpoint": 1, "profile": 260, '
                    '"cluster": 257, "lqi": 90, "rssi": null, "frame": "aaffbbff"}\n')


def test_split_sends_each_part_in_order_with_its_place(tmp_path: Path) -> None:
    write_capture(tmp_path / "capture.jsonl")
    result = run_flow(tmp_path, FLOW)
    listed = result.captured("listed")
    assert [m.meta["list"] for m in listed] == [257, 1]
    assert [m.meta["parts"] for m in listed] == [{"index": 0, "count": 2}, {"index": 1, "count": 2}]
    assert all(m.payload == "aaffbbff" and m.meta["ts"] == 10.0 for m in listed)
    assert [m.payload for m in result.captured("entries")] == ["aaffbbff"]  # no newline: one piece
    pieces = result.captured("pieces")
    assert [m.payload for m in pieces] == ["aa", "bb", ""]
    assert [m.meta["parts"]["index"] for m in pieces] == [0, 1, 2]


def test_a_mapping_splits_by_entry_and_a_number_fails(tmp_path: Path) -> None:
    write_capture(tmp_path / "capture.jsonl")
    flow = FLOW.replace('payload: "{{ payload.frame }}"', "payload: {a: 1, b: \"{{ payload.lqi }}\"}") \
        .replace('meta.list: ["{{ payload.cluster }}", "{{ payload.endpoint }}"]', "meta.list: 3")
    result = run_flow(tmp_path, flow)
    failed = result.captured("failed")
    assert [m.meta["error"] for m in failed] == [
        {"node": "each", "type": "TypeError", "message": "meta.list is int, not a list, a mapping or a text"}]
    assert result.counters("each") == {"errors": 1}
    assert result.captured("listed") == []
    entries = result.captured("entries")
    assert [(m.payload, m.meta["parts"]) for m in entries] == [
        (1, {"index": 0, "count": 2, "key": "a"}), (90, {"index": 1, "count": 2, "key": "b"})]
