"""Rules keep windows and timers in the flow's state: a restart continues, fires overdue timers once."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from flowengine import Message, NodeContext, StateStore, WallClock
from flowengine_nodes.rules.node import Rule, RuleConfig
from tests.nodes.stream.harness import Harness

BAD = {"event": "finger_not_match"}
OK = {"event": "finger_open"}
CLOSED = {"event": "door_closed"}
COUNT = {"when": "payload.event == 'finger_not_match'", "count": 3, "within": "60s"}
ABSENCE = {"when": "payload.event == 'finger_open'", "unless": "payload.event == 'door_closed'",
           "within": "5m", "emit": {"topic": "alerts/open", "payload": {"since": "{{ meta.ts }}"}}}


def run(tmp_path: Path, config: dict[str, Any]) -> Harness:
    """A rule on the state file in tmp_path; a second call is the same rule after a restart."""
    return Harness("rule", config, directory=tmp_path, state=tmp_path / "flow.db", node_id="r1")


def test_a_count_window_in_progress_continues_after_a_restart(tmp_path: Path) -> None:
    first = run(tmp_path, COUNT)
    first.send(0, BAD)
    first.send(10, BAD)
    assert first.out == []
    # SIGKILL: no close, no flush. The next run opens the same state file.
    second = run(tmp_path, COUNT)
    assert second.node.live_keys() == 1
    second.send(20, BAD)
    assert second.times() == [20]
    third = run(tmp_path, COUNT)
    assert third.node.live_keys() == 0  # the firing cleared the window in the same transaction
    third.send(30, BAD)
    third.end()
    assert third.out == []


def test_an_overdue_absence_timer_fires_once_with_its_original_deadline(tmp_path: Path) -> None:
    first = run(tmp_path, ABSENCE)
    first.send(1000, OK)
    assert first.node.pending_timers() == 1
    second = run(tmp_path, ABSENCE)
    assert second.node.pending_timers() == 1
    second.advance(5000)  # the replay resumes far later
    assert [(m.topic, m.payload, m.meta["ts"]) for m in second.out] == [("alerts/open", {"since": 1000}, 1300)]
    second.end()
    assert len(second.out) == 1
    third = run(tmp_path, ABSENCE)
    third.end()
    assert third.out == []


def test_a_cancelled_timer_stays_cancelled_after_a_restart(tmp_path: Path) -> None:
    first = run(tmp_path, ABSENCE)
    first.send(0, OK)
    first.send(10, CLOSED)
    second = run(tmp_path, ABSENCE)
    second.end()
    assert second.out == []


def test_a_message_seen_again_after_a_restart_is_not_counted_twice(tmp_path: Path) -> None:
    """A replay that dies between the rule's commit and its own position sends the record again."""
    first = run(tmp_path, COUNT)
    for ts in (0, 1, 2):
        first.send(ts, BAD)
    assert first.times() == [2]
    second = run(tmp_path, COUNT)
    second.send(2, BAD)  # the same record, delivered again
    assert second.node.counters["redelivered"] == 1
    second.send(3, BAD)
    second.send(4, BAD)
    assert second.out == []  # without the guard 2, 3, 4 would have fired again
    second.send(5, BAD)
    assert second.times() == [5]


def test_only_the_first_message_after_a_restart_is_checked(tmp_path: Path) -> None:
    first = run(tmp_path, {"when": "true", "count": 2, "within": 60})
    first.send(0, BAD)
    second = run(tmp_path, {"when": "true", "count": 2, "within": 60})
    second.send(1, OK)
    second.send(0, BAD)  # same as the guarded message, but not the first one: a real message
    assert second.node.counters["redelivered"] == 0
    assert second.times() == [1]


def test_cooldown_and_sequence_survive_a_restart(tmp_path: Path) -> None:
    config = {"sequence": ["payload.event == 'finger_not_match'", "payload.event == 'finger_open'"],
              "within": "2m", "cooldown": "10m"}
    first = run(tmp_path, config)
    first.send(0, BAD)
    first.send(5, OK)
    first.send(10, BAD)
    assert first.times() == [5]
    second = run(tmp_path, config)
    second.send(20, OK)  # completes the sequence started before the restart, inside the cooldown
    assert second.out == []
    assert second.node.counters["suppressed"] == 1
    second.send(700, BAD)
    second.send(710, OK)
    assert second.times() == [710]


def test_memory_state_starts_from_nothing(tmp_path: Path) -> None:
    first = Harness("rule", COUNT, directory=tmp_path, node_id="r1")
    first.send(0, BAD)
    first.send(1, BAD)
    second = Harness("rule", COUNT, directory=tmp_path, node_id="r1")
    second.send(2, BAD)
    assert second.out == []
    assert second.node.live_keys() == 1


def test_expired_windows_are_deleted_from_the_state_file(tmp_path: Path) -> None:
    first = run(tmp_path, COUNT)
    for index in range(100):
        first.send(index, BAD, key=f"k{index}")
    first.send(500, BAD, key="other")
    assert [name for name, _ in first.store.node("r1").items("c:")] == ['c:"other"']


# Live (wall clock) ---------------------------------------------------------------------------


async def _live(tmp_path: Path, store: StateStore, want: int, feed: list[Message]) -> list[Message]:
    config = RuleConfig.model_validate(ABSENCE | {"within": 0.05})
    context = NodeContext(node_id="r1", flow_name="t", flow_dir=tmp_path, clock=WallClock(),
                          state=store.node("r1"))
    rule = Rule(config, context)
    out: list[Message] = []
    done = asyncio.Event()

    def collect(msg: Message) -> None:
        out.append(msg)
        if len(out) >= want:
            done.set()

    rule.bind_output("out", collect)
    await rule.start()
    for msg in feed:
        rule.process(msg)
    await asyncio.wait_for(done.wait(), 10)
    return out


def test_live_absence_timer_fires_while_no_message_arrives(tmp_path: Path) -> None:
    now = time.time()
    out = asyncio.run(_live(tmp_path, StateStore(None), 1, [Message("lock", OK, {"ts": now, "ieee": "a"})]))
    assert [(m.topic, m.meta["ts"]) for m in out] == [("alerts/open", now + 0.05)]


def test_live_restart_fires_an_overdue_timer_at_once_with_its_deadline(tmp_path: Path) -> None:
    path = tmp_path / "flow.db"
    long_ago = time.time() - 3600
    earlier = run(tmp_path, ABSENCE)
    earlier.send(long_ago, OK, key="a")  # deadline long_ago + 300, an hour before now
    earlier.close()
    out = asyncio.run(_live(tmp_path, StateStore(path), 1, []))
    assert [(m.payload, m.meta["ts"]) for m in out] == [({"since": long_ago}, long_ago + 300)]
    assert list(StateStore(path).node("r1").items("a:")) == []


def test_state_of_another_kind_of_rule_is_dropped_on_start(tmp_path: Path) -> None:
    """The flow file changed the rule from absence to count: the old timer must not fire."""
    first = run(tmp_path, ABSENCE | {"cooldown": "1h"})
    first.send(0, OK)
    first.advance(301)
    first.send(400, OK)
    assert first.times() == [300]
    second = run(tmp_path, {"when": "true", "count": 2, "within": 60})
    assert second.node.live_keys() == 0
    second.end()
    assert second.out == []
    assert list(second.store.node("r1").items("a:")) == []
    assert list(second.store.node("r1").items("d:")) == []


def test_payloads_json_cannot_hold_are_stored_as_text(tmp_path: Path) -> None:
    config = {"when": "true", "count": 2, "within": 60, "emit": {"payload": "{{ first.payload }}"}}
    first = run(tmp_path, config)
    first.send(0, b"\x01\x02")
    assert first.node.counters["errors"] == 0
    second = run(tmp_path, config)
    second.send(1, b"\x03")
    assert [m.payload for m in second.out] == ["0102"]
