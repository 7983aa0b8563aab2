"""delay, debounce, dedupe, rate-limit and trigger (CONTRACT §4), driven directly on an event clock."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from flowengine import Message, NodeContext, StateStore, Transform, WallClock
from tests.nodes.stream.harness import REGISTRY, Harness


def node(tmp_path: Path, type_name: str, *, state: Path | None = None, **config: Any) -> Harness:
    return Harness(type_name, config, directory=tmp_path, state=state)


def timed(tmp_path: Path, type_name: str, period: str | float) -> Harness:
    """A delay or debounce node: ``for`` is a Python keyword, so it cannot be passed to :func:`node` by name."""
    return Harness(type_name, {"for": period}, directory=tmp_path)


# delay ------------------------------------------------------------------------------------------


def test_delay_releases_each_message_for_later_in_order(tmp_path: Path) -> None:
    h = timed(tmp_path, "delay", "30s")
    h.send(0, 1)
    h.send(10, 2)
    h.send(10, 3)
    assert h.out == []
    h.advance(30)
    assert [m.payload for m in h.out] == [1]
    h.send(45, 4)
    assert [m.payload for m in h.out] == [1, 2, 3]
    h.end()
    assert [(m.payload, m.meta["ts"]) for m in h.out] == [(1, 30), (2, 40), (3, 40), (4, 75)]
    assert h.node.pending() == 0


def test_delay_zero_passes_at_once(tmp_path: Path) -> None:
    h = timed(tmp_path, "delay", 0)
    h.send(5, "x")
    assert [(m.payload, m.meta["ts"]) for m in h.out] == [("x", 5)]


# debounce ---------------------------------------------------------------------------------------


def test_debounce_passes_the_newest_after_quiet_per_key(tmp_path: Path) -> None:
    h = timed(tmp_path, "debounce", "2s")
    h.send(0.0, "a1", key="a")
    h.send(1.0, "a2", key="a")
    h.send(1.5, "b1", key="b")
    h.send(2.5, "a3", key="a")
    h.advance(3.4)
    assert [m.payload for m in h.out] == []
    h.advance(3.5)
    assert [(m.payload, m.meta["ts"]) for m in h.out] == [("b1", 3.5)]
    h.advance(4.5)
    assert [(m.payload, m.meta["ts"]) for m in h.out] == [("b1", 3.5), ("a3", 4.5)]
    assert h.node.counters["superseded"] == 2
    assert h.node.pending() == 0


def test_debounce_flushes_pending_at_the_end(tmp_path: Path) -> None:
    h = timed(tmp_path, "debounce", 10)
    h.send(0, "x")
    h.send(1, "y")
    h.end()
    assert [(m.payload, m.meta["ts"]) for m in h.out] == [("y", 11)]


# dedupe -----------------------------------------------------------------------------------------


def test_dedupe_reports_by_exception_per_key(tmp_path: Path) -> None:
    h = node(tmp_path, "dedupe", property="payload.state")
    for ts, key, state in [(0, "a", "LOCK"), (1, "a", "LOCK"), (2, "b", "LOCK"), (3, "a", "UNLOCK"),
                           (4, "a", "UNLOCK"), (5, "a", "LOCK")]:
        h.send(ts, {"state": state, "lqi": ts}, key=key)
    assert [(m.meta["ieee"], m.payload["state"]) for m in h.out] == [
        ("a", "LOCK"), ("b", "LOCK"), ("a", "UNLOCK"), ("a", "LOCK")]
    assert h.node.counters["duplicates"] == 2


def test_dedupe_treats_a_missing_property_as_null(tmp_path: Path) -> None:
    h = node(tmp_path, "dedupe", property="payload.state")
    h.send(0, {})
    h.send(1, {"other": 1})
    h.send(2, {"state": None})
    h.send(3, {"state": 1})
    h.send(4, {"state": 1.0})
    assert [m.meta["ts"] for m in h.out] == [0, 3]


def test_dedupe_remembers_across_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "flow.db"
    first = node(tmp_path, "dedupe", state=state)
    first.send(0, {"state": "LOCK"})
    second = node(tmp_path, "dedupe", state=state)
    second.send(1, {"state": "LOCK"})
    second.send(2, {"state": "UNLOCK"})
    assert [m.meta["ts"] for m in second.out] == [2]


# rate-limit -------------------------------------------------------------------------------------


def test_rate_limit_drops_over_the_rate_per_key(tmp_path: Path) -> None:
    h = node(tmp_path, "rate-limit", rate=2, per="10s", key="meta.ieee")
    for ts, key in [(0, "a"), (1, "a"), (2, "a"), (3, "b"), (9.9, "a"), (10, "a"), (11, "a"), (12, "a")]:
        h.send(ts, ts, key=key)
    assert [m.payload for m in h.out] == [0, 1, 3, 10, 11]
    assert h.node.counters["dropped"] == 3


def test_rate_limit_without_key_limits_everything_together(tmp_path: Path) -> None:
    h = node(tmp_path, "rate-limit", rate=1, per=5)
    for ts, key in [(0, "a"), (1, "b"), (5, "c")]:
        h.send(ts, key, key=key)
    assert [m.payload for m in h.out] == ["a", "c"]


def test_rate_limit_delay_releases_in_order_when_the_window_has_room(tmp_path: Path) -> None:
    h = node(tmp_path, "rate-limit", rate=2, per=10, overflow="delay")
    for ts in (0, 1, 2, 3, 4):
        h.send(ts, ts)
    assert [m.payload for m in h.out] == [0, 1]
    h.advance(10)
    assert [(m.payload, m.meta["ts"]) for m in h.out] == [(0, 0), (1, 1), (2, 10)]
    h.send(10.5, 5)  # waits behind 3 and 4
    h.end()
    assert [(m.payload, m.meta["ts"]) for m in h.out] == [(0, 0), (1, 1), (2, 10), (3, 11), (4, 20), (5, 21)]
    assert h.node.counters["delayed"] == 4


def test_rate_limit_max_queue(tmp_path: Path) -> None:
    h = node(tmp_path, "rate-limit", rate=1, per=10, overflow="delay", max_queue=1)
    for ts in (0, 1, 2):
        h.send(ts, ts)
    h.end()
    assert [m.payload for m in h.out] == [0, 1]
    assert h.node.counters["dropped"] == 1


def test_rate_limit_forgets_idle_keys(tmp_path: Path) -> None:
    h = node(tmp_path, "rate-limit", rate=1, per=1, key="meta.ieee")
    for index in range(10_000):
        h.send(index * 0.0001, index, key=f"k{index}")
    assert h.node.keys() == 10_000
    h.send(5.0, "late", key="x")
    assert h.node.keys() == 1


def test_rate_limit_config() -> None:
    model = REGISTRY.load("rate-limit").config_model
    with pytest.raises(ValidationError):
        model.model_validate({"rate": 0, "per": 1})
    with pytest.raises(ValidationError):
        model.model_validate({"rate": 1, "per": 1, "overflow": "queue"})


# trigger ----------------------------------------------------------------------------------------


def test_trigger_emits_once_per_silence_per_key(tmp_path: Path) -> None:
    h = node(tmp_path, "trigger", within="1h", emit={
        "topic": "alerts/{{ key }}/silent", "payload": {"last": "{{ meta.ts }}", "seen": "{{ count }}",
                                                        "since": "{{ first.meta.ts }}"}})
    h.send(0, "x", key="a")
    h.send(1000, "x", key="a")
    h.send(2000, "x", key="b")
    h.advance(4600)  # a's deadline 4600 passed
    assert [(m.topic, m.payload, m.meta["ts"]) for m in h.out] == [
        ("alerts/a/silent", {"last": 1000, "seen": 2, "since": 0}, 4600)]
    h.send(5000, "x", key="a")  # re-armed
    h.end()
    assert [(m.topic, m.meta["ts"]) for m in h.out] == [
        ("alerts/a/silent", 4600), ("alerts/b/silent", 5600), ("alerts/a/silent", 8600)]
    assert h.out[-1].payload == {"last": 5000, "seen": 1, "since": 5000}


def test_trigger_without_emit_repeats_the_last_message(tmp_path: Path) -> None:
    h = node(tmp_path, "trigger", within=10)
    h.send(0, {"n": 1}, topic="t1")
    h.send(5, {"n": 2}, topic="t2")
    h.end()
    assert [(m.topic, m.payload, m.meta["ts"], m.meta["rule"]) for m in h.out] == [("t2", {"n": 2}, 15, "node")]


def test_trigger_timer_survives_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "flow.db"
    first = node(tmp_path, "trigger", state=state, within=60)
    first.send(0, "x")
    second = node(tmp_path, "trigger", state=state, within=60)
    second.advance(1000)
    assert second.times() == [60]


def test_dedupe_stores_bytes_as_text(tmp_path: Path) -> None:
    state = tmp_path / "flow.db"
    first = node(tmp_path, "dedupe", state=state)
    first.send(0, b"\x01")
    first.send(1, b"\x01")
    assert [m.payload for m in first.out] == [b"\x01"]
    assert dict(first.store.node("node").items()) == {'v:"00:15:8d:00:00:00:00:01"': "01"}


def test_timer_heap_stays_bounded_when_one_key_is_re_armed_forever(tmp_path: Path) -> None:
    h = node(tmp_path, "trigger", within=3600)
    for index in range(50_000):
        h.send(float(index), "x")
    assert h.node.pending_timers() == 1
    assert len(h.node.schedule._heap) <= 2 * 1 + 1024 + 1


# Live: wall clock ---------------------------------------------------------------------------------


async def _live(tmp_path: Path, type_name: str, config: dict[str, Any], feed: list[tuple[float, Any]],
                want: int) -> list[Any]:
    """Run a node on the wall clock; return what it emitted once ``want`` messages are out."""
    node_class = REGISTRY.load(type_name)
    context = NodeContext(node_id="n", flow_name="t", flow_dir=tmp_path, clock=WallClock(),
                          state=StateStore(None).node("n"))
    live = node_class(node_class.config_model.model_validate(config), context)
    out: list[Message] = []
    done = asyncio.Event()

    def collect(msg: Message) -> None:
        out.append(msg)
        if len(out) >= want:
            done.set()

    live.bind_output("out", collect)
    await live.start()
    for ts, payload in feed:
        assert isinstance(live, Transform)
        result = live.process(Message("t", payload, {"ts": ts, "ieee": "a"}))
        if result is not None:
            collect(result)
    await asyncio.wait_for(done.wait(), 10)
    return out


@pytest.mark.parametrize("type_name", ["delay", "debounce"])
def test_live_timers_release_while_nothing_arrives(tmp_path: Path, type_name: str) -> None:
    now = time.time()
    out = asyncio.run(_live(tmp_path, type_name, {"for": 0.05}, [(now, 1), (now + 0.01, 2)],
                            2 if type_name == "delay" else 1))
    if type_name == "delay":
        assert [m.payload for m in out] == [1, 2]
        assert [m.meta["ts"] for m in out] == pytest.approx([now + 0.05, now + 0.06])
    else:
        assert [m.payload for m in out] == [2]
        assert [m.meta["ts"] for m in out] == pytest.approx([now + 0.06])


def test_flush_on_a_wall_clock_fires_pending_timers_at_their_deadlines(tmp_path: Path) -> None:
    async def scenario() -> list[Message]:
        node_class = REGISTRY.load("trigger")
        context = NodeContext(node_id="n", flow_name="t", flow_dir=tmp_path, clock=WallClock(),
                              state=StateStore(None).node("n"))
        watchdog = node_class(node_class.config_model.model_validate({"within": "1h"}), context)
        out: list[Message] = []
        watchdog.bind_output("out", out.append)
        await watchdog.start()
        assert isinstance(watchdog, Transform)
        watchdog.process(Message("t", 1, {"ts": 1000.0, "ieee": "a"}))
        watchdog.flush()
        return out

    out = asyncio.run(scenario())
    assert [m.meta["ts"] for m in out] == [4600.0]
