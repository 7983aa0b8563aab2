"""The rule node's semantics (CONTRACT §5), driven directly on an event clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from flowengine_nodes.rules.node import Rule, RuleConfig
from tests.nodes.stream.harness import Harness

BAD = {"event": "finger_not_match"}
OK = {"event": "finger_open"}
CLOSED = {"event": "door_closed"}
WHEN_BAD = "payload.event == 'finger_not_match'"


def rule(tmp_path: Path, **config: Any) -> Harness:
    return Harness("rule", config, directory=tmp_path, node_id="r1")


# Config -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("config", "message"), [
    ({"when": "true", "count": 3}, "`count` needs `within`"),
    ({"when": "true", "unless": "false"}, "`unless` needs `within`"),
    ({"sequence": ["true", "false"]}, "`sequence` needs `within`"),
    ({"when": "true", "count": 2, "unless": "false", "within": 5}, "at most one of"),
    ({"when": "true", "within": "5m"}, "`within` only makes sense"),
    ({"count": 2, "within": 5}, "needs `when`"),
    ({"when": "true", "count": 0, "within": 5}, "greater than or equal to 1"),
    ({"when": "true", "count": 2, "within": 0}, "longer than 0s"),
    ({"sequence": ["true"], "within": 5}, "at least 2"),
    ({"when": "payload.x ==", "count": 2, "within": 5}, "unexpected end"),
    ({"when": "true", "emit": {"payload": "{{ nope }}"}}, "nope"),
])
def test_invalid_configs_are_refused(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RuleConfig.model_validate(config)


def test_kinds_and_defaults() -> None:
    assert RuleConfig.model_validate({"when": "true"}).kind == "when"
    assert RuleConfig.model_validate({"when": "true", "count": 2, "within": "1m"}).within == 60.0
    assert RuleConfig.model_validate({"when": "true", "unless": "false", "within": 5}).kind == "absence"
    assert RuleConfig.model_validate({"sequence": ["true", "true"], "within": 5}).kind == "sequence"
    assert RuleConfig.model_validate({"when": "true"}).key.source == "meta.ieee"


def test_comparisons_cover_when_unless_and_sequence() -> None:
    config = RuleConfig.model_validate({
        "sequence": ["payload.event == 'a'", "payload.event in ['b', 'c']"], "within": 5,
        "when": "payload.kind != 'x'"})
    found = {(c.path, c.op, str(c.value), c.config_path) for c in Rule.comparisons(config)}
    assert found == {
        (("payload", "kind"), "!=", "x", ("when",)),
        (("payload", "event"), "==", "a", ("sequence", 0)),
        (("payload", "event"), "in", "['b', 'c']", ("sequence", 1)),
    }
    absence = RuleConfig.model_validate({"when": "payload.event == 'a'", "unless": "payload.event == 'b'",
                                         "within": 5})
    assert {c.config_path for c in Rule.comparisons(absence)} == {("when",), ("unless",)}


# when alone -----------------------------------------------------------------------------------


def test_when_alone_passes_each_match_with_rule_meta(tmp_path: Path) -> None:
    h = rule(tmp_path, when=WHEN_BAD)
    h.send(10.0, BAD, lqi=5)
    h.send(11.0, OK)
    h.send(12.5, BAD)
    assert [m.payload for m in h.out] == [BAD, BAD]
    assert h.out[0].meta == {"ts": 10.0, "ieee": "00:15:8d:00:00:00:00:01", "lqi": 5, "rule": "r1"}
    assert h.times() == [10.0, 12.5]
    assert h.out[0].topic == "lock"


def test_when_alone_with_cooldown_per_key(tmp_path: Path) -> None:
    h = rule(tmp_path, when="true", cooldown="10s")
    for ts, key in [(0, "a"), (5, "a"), (6, "b"), (9.9, "a"), (10, "a"), (15, "b"), (16, "b")]:
        h.send(ts, OK, key=key)
    assert [(m.meta["ts"], m.meta["ieee"]) for m in h.out] == [(0, "a"), (6, "b"), (10, "a"), (16, "b")]
    assert h.node.counters["suppressed"] == 3


# count ----------------------------------------------------------------------------------------


def test_count_fires_on_the_nth_match_within_the_window_then_starts_again(tmp_path: Path) -> None:
    h = rule(tmp_path, when=WHEN_BAD, count=3, within="60s")
    for ts in (0, 10, 20, 25, 30, 40, 45):
        h.send(ts, BAD)
    # 0, 10, 20 -> fire at 20; 25, 30, 40 -> fire at 40; 45 starts a new count.
    assert h.times() == [20, 40]


def test_count_window_is_half_open(tmp_path: Path) -> None:
    h = rule(tmp_path, when=WHEN_BAD, count=3, within=60)
    h.send(0, BAD)
    h.send(30, BAD)
    h.send(60, BAD)  # 0 is not inside (60 - 60, 60]
    assert h.out == []
    h.send(89.9, BAD)  # 30, 60, 89.9 are inside (29.9, 89.9]
    assert h.times() == [89.9]


def test_count_ignores_other_messages_and_other_keys(tmp_path: Path) -> None:
    h = rule(tmp_path, when=WHEN_BAD, count=2, within=60)
    h.send(0, BAD, key="a")
    h.send(1, OK, key="a")
    h.send(2, BAD, key="b")
    assert h.out == []
    h.send(3, BAD, key="a")
    assert [(m.meta["ieee"], m.meta["ts"]) for m in h.out] == [("a", 3)]


def test_count_emit_sees_count_key_first_and_last(tmp_path: Path) -> None:
    h = rule(tmp_path, when=WHEN_BAD, count=3, within=60, emit={
        "topic": "alerts/{{ key }}/intrusion",
        "payload": {"attempts": "{{ count }}", "since": "{{ first.meta.ts }}", "until": "{{ last.meta.ts }}",
                    "lqi": "{{ meta.lqi }}", "text": "{{ count }} attempts since {{ first.meta.ts }}"}})
    h.send(100, BAD, key="front", lqi=1)
    h.send(110, BAD, key="front", lqi=2)
    h.send(120, BAD, key="front", lqi=3)
    assert len(h.out) == 1
    (alert,) = h.out
    assert alert.topic == "alerts/front/intrusion"
    assert alert.payload == {"attempts": 3, "since": 100, "until": 120, "lqi": 3, "text": "3 attempts since 100"}
    assert alert.meta == {"ts": 120, "ieee": "front", "lqi": 3, "rule": "r1"}


def test_first_is_the_oldest_message_still_in_the_window(tmp_path: Path) -> None:
    h = rule(tmp_path, when=WHEN_BAD, count=2, within=10, emit={"payload": "{{ first.meta.ts }}"})
    h.send(0, BAD)
    h.send(15, BAD)  # 0 has left the window
    h.send(20, BAD)
    assert [m.payload for m in h.out] == [15]


def test_count_resets_even_when_cooldown_suppresses(tmp_path: Path) -> None:
    h = rule(tmp_path, when=WHEN_BAD, count=2, within=60, cooldown="5m")
    for ts in (0, 1, 2, 3, 4):
        h.send(ts, BAD)
    # fire at 1 (emitted), 3 (suppressed, count restarts), 4 alone is one match.
    assert h.times() == [1]
    assert h.node.counters["suppressed"] == 1
    h.send(301, BAD)  # 4 and 301 are not within 60s of each other
    h.send(302, BAD)
    assert h.times() == [1, 302]


def test_key_expression(tmp_path: Path) -> None:
    h = rule(tmp_path, when="true", count=2, within=60, key="payload.user")
    h.send(0, {"user": 1}, key="x")
    h.send(1, {"user": 2}, key="x")
    h.send(2, {"user": 1}, key="y")
    assert [m.payload for m in h.out] == [{"user": 1}]


# absence ---------------------------------------------------------------------------------------

ABSENCE = {"when": "payload.event == 'finger_open'", "unless": "payload.event == 'door_closed'",
           "within": "5m"}


def test_absence_fires_at_the_deadline_with_the_when_message(tmp_path: Path) -> None:
    h = rule(tmp_path, **ABSENCE, emit={"topic": "alerts/open", "payload": {"since": "{{ meta.ts }}",
                                                                             "opened": "{{ count }}"}})
    h.send(1000, OK, lqi=7)
    h.send(1100, {"event": "ring_bell"})
    assert h.out == []
    h.advance(1299.9)
    assert h.out == []
    h.advance(1300)
    assert len(h.out) == 1
    assert h.out[0].topic == "alerts/open"
    assert h.out[0].payload == {"since": 1000, "opened": 1}
    assert h.out[0].meta == {"ts": 1300, "ieee": "00:15:8d:00:00:00:00:01", "lqi": 7, "rule": "r1"}


def test_absence_unless_cancels_and_when_restarts(tmp_path: Path) -> None:
    h = rule(tmp_path, **ABSENCE, emit={"payload": {"first": "{{ first.meta.ts }}", "n": "{{ count }}"}})
    h.send(0, OK)
    h.send(100, CLOSED)  # cancelled
    h.send(200, OK)
    h.send(400, OK)  # restarts: deadline 700
    h.advance(650)
    assert h.out == []
    h.advance(700)
    assert [m.payload for m in h.out] == [{"first": 200, "n": 2}]
    assert h.times() == [700]
    assert h.node.counters["cancelled"] == 1


def test_absence_pending_timers_fire_when_the_input_ends(tmp_path: Path) -> None:
    h = rule(tmp_path, **ABSENCE)
    h.send(0, OK, key="a")
    h.send(10, OK, key="b")
    h.send(20, CLOSED, key="b")
    h.end()
    assert [(m.meta["ieee"], m.meta["ts"]) for m in h.out] == [("a", 300)]
    assert h.node.pending_timers() == 0


def test_absence_unless_at_the_deadline_is_too_late(tmp_path: Path) -> None:
    h = rule(tmp_path, **ABSENCE)
    h.send(0, OK)
    h.send(300, CLOSED)
    assert h.times() == [300]


def test_absence_fires_before_a_later_message_even_without_the_clock(tmp_path: Path) -> None:
    """Event time comes from meta.ts: a message past the deadline first lets the timer fire."""
    h = rule(tmp_path, **ABSENCE)
    h.node.process(h_message(0, OK))
    h.node.process(h_message(400, CLOSED))  # the clock never moved; the data did
    assert h.times() == [300]


def h_message(ts: float, payload: Any, key: str = "k") -> Any:
    from flowengine import Message

    return Message("lock", payload, {"ts": ts, "ieee": key})


def test_absence_with_cooldown(tmp_path: Path) -> None:
    h = rule(tmp_path, **ABSENCE, cooldown="1h")
    h.send(0, OK)
    h.advance(301)
    h.send(400, OK)
    h.advance(701)
    h.send(4000, OK)
    h.end()
    assert h.times() == [300, 4300]
    assert h.node.counters["suppressed"] == 1


def test_unless_older_than_the_timer_does_not_cancel_it(tmp_path: Path) -> None:
    h = rule(tmp_path, **ABSENCE)
    h.send(100, OK)
    h.node.process(h_message(50, CLOSED, key="00:15:8d:00:00:00:00:01"))
    h.end()
    assert h.times() == [400]


# sequence ---------------------------------------------------------------------------------------

SEQUENCE = {"sequence": ["payload.event == 'finger_not_match'", "payload.event == 'finger_open'"],
            "within": "2m"}


def test_sequence_in_order_with_other_messages_between(tmp_path: Path) -> None:
    h = rule(tmp_path, **SEQUENCE, emit={"payload": {"from": "{{ first.meta.ts }}", "steps": "{{ count }}"}})
    h.send(0, BAD)
    h.send(10, {"event": "ring_bell"})
    h.send(20, OK)
    h.send(30, OK)  # the sequence started again: nothing
    assert [m.payload for m in h.out] == [{"from": 0, "steps": 2}]
    assert h.times() == [20]


def test_sequence_out_of_time_is_dropped(tmp_path: Path) -> None:
    h = rule(tmp_path, **SEQUENCE)
    h.send(0, BAD)
    h.send(121, OK)
    assert h.out == []
    h.send(200, BAD)
    h.send(320, OK)  # exactly within
    assert h.times() == [320]


def test_sequence_restarts_on_its_first_condition(tmp_path: Path) -> None:
    h = rule(tmp_path, **SEQUENCE, emit={"payload": "{{ first.meta.ts }}"})
    h.send(0, BAD)
    h.send(100, BAD)  # restarts from here
    h.send(200, OK)  # 200 - 100 <= 120
    assert [m.payload for m in h.out] == [100]


def test_sequence_whose_later_step_repeats_the_first_condition(tmp_path: Path) -> None:
    h = rule(tmp_path, sequence=["payload.event == 'finger_open'", "payload.event == 'door_closed'",
                                 "payload.event == 'finger_open'"], within=60)
    h.send(0, OK)
    h.send(10, CLOSED)
    h.send(20, OK)
    assert h.times() == [20]


def test_sequence_with_when_prefilter_and_keys(tmp_path: Path) -> None:
    h = rule(tmp_path, **SEQUENCE, when="meta.lqi > 10")
    h.send(0, BAD, key="a", lqi=50)
    h.send(1, OK, key="b", lqi=50)
    h.send(2, OK, key="a", lqi=5)  # filtered out by when
    h.send(3, OK, key="a", lqi=50)
    assert [(m.meta["ieee"], m.meta["ts"]) for m in h.out] == [("a", 3)]


# memory ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["memory", "file"])
def test_ten_thousand_keys_are_forgotten_once_their_windows_expire(tmp_path: Path, state: str) -> None:
    h = Harness("rule", {"when": WHEN_BAD, "count": 3, "within": "60s"}, directory=tmp_path,
                state=tmp_path / "state.db" if state == "file" else None, node_id="r1")
    for index in range(10_000):
        h.send(index * 0.001, BAD, key=f"k{index}")
    assert h.node.live_keys() == 10_000
    h.send(10.0 + 60.0, BAD, key="late")
    assert h.node.live_keys() == 1
    stored = list(h.store.node("r1").items("c:"))
    assert len(stored) == (1 if state == "file" else 0)
    assert h.node.counters["expired"] == 10_000


def test_memory_follows_the_keys_active_within_one_window(tmp_path: Path) -> None:
    """A stream of ever new keys, one per second, with a 60 s window: at most ~61 keys are held."""
    h = rule(tmp_path, when="true", count=5, within=60, cooldown=30)
    most = 0
    for index in range(20_000):
        h.send(float(index), OK, key=f"k{index}")
        most = max(most, h.node.live_keys())
    assert most <= 62
    sequences = rule(tmp_path, **SEQUENCE)
    for index in range(20_000):
        sequences.send(float(index), BAD, key=f"k{index}")
    assert sequences.node.live_keys() <= 122


# Repeat (reminders) ----------------------------------------------------------------------------


def test_repeat_needs_an_absence_rule() -> None:
    with pytest.raises(ValidationError, match="`repeat` needs `unless`"):
        RuleConfig.model_validate({"when": "true", "count": 2, "within": 5, "repeat": "10m"})


def test_repeat_fires_every_period_as_data_passes_until_cancelled(tmp_path: Path) -> None:
    h = rule(tmp_path, **ABSENCE, repeat="10m", emit={"payload": {"since": "{{ first.meta.ts }}"}})
    h.send(0, OK)
    h.send(1000, {"event": "ring_bell"})  # event time 1000: the deadline (300) and the repeat at 900
    assert h.times() == [300, 900]
    h.send(2200, {"event": "ring_bell"})  # repeats at 1500 and 2100
    h.send(2250, CLOSED)  # cancelled: no more
    h.send(9000, {"event": "ring_bell"})
    assert h.times() == [300, 900, 1500, 2100]
    assert [m.payload for m in h.out] == [{"since": 0}] * 4


def test_repeat_does_not_invent_reminders_after_the_input_ends(tmp_path: Path) -> None:
    h = rule(tmp_path, **ABSENCE, repeat="10m")
    h.send(0, OK)
    h.end()  # the pending deadline fires at 300; nothing after the data
    assert h.times() == [300]


def test_a_restarting_when_message_moves_a_repeating_timer(tmp_path: Path) -> None:
    h = rule(tmp_path, **ABSENCE, repeat="10m")
    h.send(0, OK)
    h.send(400, OK)  # after the first firing at 300: the reminder due at 900 is replaced by 700
    h.send(1400, {"event": "ring_bell"})
    assert h.times() == [300, 700, 1300]
