"""filter, switch, change, log, file and discard, each run in a real flow."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from flowengine.testing import run_flow

RECORDS = [
    {"ts": 100.0 + i, "ieee": f"00:15:8d:00:00:00:00:0{i % 3}", "endpoint": 1, "cluster": cluster, "lqi": lqi,
     "frame": frame, "model": "lumi.lock.aq1"}
    for i, (cluster, lqi, frame) in enumerate([
        (257, 200, "1c5f11ee0a10ff2300000011"),
        (257, 20, "1c5f114c0a11ff2300040010"),
        (0, 90, "18010a0500420e6c756d692e6c6f636b2e617131"),
        (1, 120, "184d0a35001801"),
        (257, 60, "bad"),
    ])
]


@pytest.fixture
def capture(tmp_path: Path) -> Path:
    path = tmp_path / "capture.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    return path


def flow(body: str) -> str:
    return ("version: 1\nstate: memory\nnodes:\n  - id: src\n    type: zigbee-replay\n"
            "    path: capture.jsonl\n" + body)


def test_filter_passes_only_matching_messages(tmp_path: Path, capture: Path) -> None:
    result = run_flow(tmp_path, flow("""    wires: [f]
  - id: f
    type: filter
    when: "payload.cluster == 257 and payload.lqi >= 60 and payload.missing == null"
    wires: [seen]
  - id: seen
    type: capture
"""))
    assert [m.payload["lqi"] for m in result.captured("seen")] == [200, 60]


@pytest.mark.parametrize(("rules", "expected"), [
    ("- {eq: 257, port: hit}", [100.0, 101.0, 104.0]),
    ("- {in: [0, 1], port: hit}", [102.0, 103.0]),
    ("- {gt: 0, port: hit}", [100.0, 101.0, 103.0, 104.0]),
    ("- {lt: 1, port: hit}", [102.0]),
])
def test_switch_tests_on_a_property(tmp_path: Path, capture: Path, rules: str, expected: list[float]) -> None:
    result = run_flow(tmp_path, flow(f"""    wires: [s]
  - id: s
    type: switch
    property: payload.cluster
    rules:
      {rules}
    wires: {{hit: [seen]}}
  - id: seen
    type: capture
"""))
    assert [m.meta["ts"] for m in result.captured("seen")] == expected
    assert result.counters("s")["unmatched"] == len(RECORDS) - len(expected)


def test_switch_regex_searches_and_when_rules_see_the_whole_message(tmp_path: Path, capture: Path) -> None:
    result = run_flow(tmp_path, flow("""    wires: [s]
  - id: s
    type: switch
    property: payload.frame
    rules:
      - {regex: "0a11ff", port: failed}
    otherwise: rest
    wires: {failed: [failed], rest: [rest]}
  - id: failed
    type: capture
  - id: rest
    type: capture
"""))
    assert [m.meta["ts"] for m in result.captured("failed")] == [101.0]
    assert len(result.captured("rest")) == 4

    whole = run_flow(tmp_path, flow("""    wires: [s]
  - id: s
    type: switch
    rules:
      - {when: "payload.lqi > 100", port: strong}
    wires: {strong: [seen]}
  - id: seen
    type: capture
"""), name="whole.yaml")
    assert [m.payload["lqi"] for m in whole.captured("seen")] == [200, 120]


def test_switch_first_match_false_sends_to_every_matching_port(tmp_path: Path, capture: Path) -> None:
    result = run_flow(tmp_path, flow("""    wires: [s]
  - id: s
    type: switch
    property: payload.lqi
    first_match: false
    rules:
      - {gt: 50, port: a}
      - {gt: 100, port: b}
    wires: {a: [a], b: [b]}
  - id: a
    type: capture
  - id: b
    type: capture
"""))
    assert [m.payload["lqi"] for m in result.captured("a")] == [200, 90, 120, 60]
    assert [m.payload["lqi"] for m in result.captured("b")] == [200, 120]


def test_change_sets_deletes_and_moves_without_touching_the_input(tmp_path: Path, capture: Path) -> None:
    result = run_flow(tmp_path, flow("""    wires: [c, original]
  - id: c
    type: change
    set:
      topic: "alerts/{{ meta.ieee }}"
      payload.quality: "{{ payload.lqi }}"
      meta.note: "cluster {{ payload.cluster }}"
    delete: [payload.nwk, payload.frame]
    move: {payload.lqi: payload.link}
    wires: [seen]
  - id: original
    type: capture
  - id: seen
    type: capture
"""))
    first = result.captured("seen")[0]
    assert first.topic == "alerts/00:15:8d:00:00:00:00:00"
    assert first.payload == {"ts": 100.0, "ieee": "00:15:8d:00:00:00:00:00", "endpoint": 1, "cluster": 257,
                             "link": 200, "quality": 200, "model": "lumi.lock.aq1"}
    assert first.meta["note"] == "cluster 257"
    assert result.captured("original")[0].payload == RECORDS[0]


def test_file_writes_one_json_line_per_message(tmp_path: Path, capture: Path) -> None:
    run_flow(tmp_path, flow("    wires: [save]\n  - id: save\n    type: file\n    path: deep/dir/out.jsonl\n"))
    lines = [json.loads(line) for line in (tmp_path / "deep" / "dir" / "out.jsonl").read_text().splitlines()]
    assert [line["payload"] for line in lines] == RECORDS
    assert all(set(line) == {"topic", "payload", "meta"} for line in lines)


def test_log_writes_one_line_per_message(tmp_path: Path, capture: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="flowengine.log.show"):
        run_flow(tmp_path, flow("    wires: [show]\n  - id: show\n    type: log\n    format: json\n"))
    lines = [r.getMessage() for r in caplog.records if r.name == "flowengine.log.show"]
    assert [json.loads(line)["payload"] for line in lines] == RECORDS


def test_discard_counts(tmp_path: Path, capture: Path) -> None:
    result = run_flow(tmp_path, flow("    wires: [drop]\n  - id: drop\n    type: discard\n"))
    assert result.counters("drop")["discarded"] == len(RECORDS)
