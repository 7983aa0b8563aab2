"""The runtime: finite runs end by themselves, failures are routed, sinks drain, order holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import pytest

from flowengine import Message, NodeConfig, Transform
from flowengine.registry import Registry
from flowengine.testing import registry_with_capture, run_flow


def make_capture(path: Path, count: int, *, start: float = 1_700_000_000.0) -> Path:
    with path.open("w") as out:
        for index in range(count):
            record = {"ts": start + index, "ieee": f"00:15:8d:00:00:00:00:{index % 7:02x}", "nwk": "0x1a2b",
                      "model": "lumi.lock.aq1", "manufacturer": "LUMI", "endpoint": 1, "profile": 260,
                      "cluster": 257, "lqi": index % 256, "rssi": -60, "frame": f"18{index % 256:02x}0a10ff2300000011"}
            out.write(json.dumps(record) + "\n")
    return path


def replay_flow(rest: str, capture: str = "capture.jsonl") -> str:
    """A flow whose source ``src`` replays ``capture``; ``rest`` continues the source's node."""
    return ("version: 1\nstate: memory\nnodes:\n  - id: src\n    type: zigbee-replay\n"
            f"    path: {capture}\n" + rest)


class ExplodeConfig(NodeConfig):
    every: int = 10


class Explode(Transform[ExplodeConfig]):
    """Raises on every n-th message (test node)."""

    config_model: ClassVar[type[NodeConfig]] = ExplodeConfig
    seen = 0

    def process(self, msg: Message) -> Message | None:
        self.seen += 1
        if self.seen % self.config.every == 0:
            raise ValueError(f"boom on message {self.seen}")
        return msg


@pytest.fixture
def exploding_registry() -> Registry:
    registry = registry_with_capture()
    registry.register("explode", Explode)
    return registry


def test_finite_replay_writes_exactly_the_expected_file_and_ends(tmp_path: Path) -> None:
    make_capture(tmp_path / "capture.jsonl", 50)
    result = run_flow(tmp_path, replay_flow("""    wires: [out]
  - id: out
    type: file
    path: out/all.jsonl
"""))
    assert result.summary.end_of_input
    lines = (tmp_path / "out" / "all.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in (tmp_path / "capture.jsonl").read_text().splitlines()]
    expected = [{"topic": f"zigbee/{r['ieee']}/1/257", "payload": r,
                 "meta": {"ts": r["ts"], "ieee": r["ieee"], "source": "src"}} for r in records]
    assert [json.loads(line) for line in lines] == expected


def test_a_failing_transform_routes_failures_and_the_rest_flows_on(
        tmp_path: Path, exploding_registry: Registry, caplog: pytest.LogCaptureFixture) -> None:
    make_capture(tmp_path / "capture.jsonl", 100)
    result = run_flow(tmp_path, replay_flow("""    wires: [shaky]
  - id: shaky
    type: explode
    wires: {out: [good], errors: [bad]}
  - id: good
    type: capture
  - id: bad
    type: capture
"""), registry=exploding_registry)
    good, bad = result.captured("good"), result.captured("bad")
    assert len(good) == 90
    assert len(bad) == 10
    assert result.counters("shaky")["errors"] == 10
    assert all(m.meta["error"]["node"] == "shaky" for m in bad)
    assert bad[0].meta["error"]["message"] == "boom on message 10"
    assert {m.payload["ts"] for m in good}.isdisjoint({m.payload["ts"] for m in bad})
    assert any("shaky" in r.getMessage() and "boom" in r.getMessage() for r in caplog.records)


def test_errors_port_may_stay_unwired(tmp_path: Path, exploding_registry: Registry) -> None:
    make_capture(tmp_path / "capture.jsonl", 30)
    result = run_flow(tmp_path, replay_flow("""    wires: [shaky]
  - id: shaky
    type: explode
    every: 3
    wires: [good]
  - id: good
    type: capture
"""), registry=exploding_registry)
    assert len(result.captured("good")) == 20
    assert result.counters("shaky")["errors"] == 10


def test_fan_out_delivers_to_every_target_in_order(tmp_path: Path) -> None:
    make_capture(tmp_path / "capture.jsonl", 20)
    result = run_flow(tmp_path, replay_flow("""    wires: [a, b]
  - id: a
    type: capture
  - id: b
    type: capture
"""))
    a, b = result.captured("a"), result.captured("b")
    assert [m.payload["ts"] for m in a] == [m.payload["ts"] for m in b]
    assert [m.payload["ts"] for m in a] == sorted(m.payload["ts"] for m in a)
    assert len(a) == 20


def test_bad_capture_lines_are_counted_and_skipped(tmp_path: Path) -> None:
    capture = make_capture(tmp_path / "capture.jsonl", 3)
    with capture.open("a") as out:
        out.write("this is not json\n{\"no\": \"frame\"}\n")
    make_capture(tmp_path / "more.jsonl", 2, start=1_800_000_000.0)
    capture.write_text(capture.read_text() + (tmp_path / "more.jsonl").read_text())
    result = run_flow(tmp_path, replay_flow("""    wires: [seen]
  - id: seen
    type: capture
"""))
    assert len(result.captured("seen")) == 5
    assert result.counters("src")["skipped"] == 2


def test_file_sink_capture_replays_unchanged(tmp_path: Path) -> None:
    make_capture(tmp_path / "capture.jsonl", 10)
    run_flow(tmp_path, replay_flow("""    wires: [save]
  - id: save
    type: file
    path: saved.jsonl
"""))
    again = run_flow(tmp_path, """
version: 1
state: memory
nodes:
  - id: src
    type: zigbee-replay
    path: saved.jsonl
    wires: [seen]
  - id: seen
    type: capture
""", name="again.yaml")
    original = [json.loads(line) for line in (tmp_path / "capture.jsonl").read_text().splitlines()]
    assert [m.payload for m in again.captured("seen")] == original


def test_loop_shifts_event_time_by_the_span(tmp_path: Path) -> None:
    make_capture(tmp_path / "capture.jsonl", 3)
    result = run_flow(tmp_path, replay_flow("""    loop: true
    wires: [seen]
  - id: seen
    type: capture
"""), stop_after=0.3)
    seen = [m.meta["ts"] for m in result.captured("seen")]
    assert len(seen) > 6
    assert seen[:6] == [1_700_000_000.0 + offset for offset in (0, 1, 2, 2, 3, 4)]
    assert not result.summary.end_of_input


def test_resume_continues_after_the_last_record(tmp_path: Path) -> None:
    make_capture(tmp_path / "capture.jsonl", 5)
    flow = """
version: 1
state: state.db
nodes:
  - id: src
    type: zigbee-replay
    path: capture.jsonl
    resume: true
    wires: [seen]
  - id: seen
    type: capture
"""
    first = run_flow(tmp_path, flow)
    assert len(first.captured("seen")) == 5
    with (tmp_path / "capture.jsonl").open("a") as out:
        out.write(json.dumps({"ts": 1_800_000_000.0, "ieee": "00:15:8d:00:00:00:00:01", "endpoint": 1,
                              "cluster": 257, "lqi": 1, "frame": "18000a"}) + "\n")
    second = run_flow(tmp_path, flow)
    assert [m.meta["ts"] for m in second.captured("seen")] == [1_800_000_000.0]
