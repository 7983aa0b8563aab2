"""The capability lint: the finger_not_match trap after a ZNMS11LM decoder, and silence on correct flows."""

from __future__ import annotations

from pathlib import Path

from flowengine.testing import load_text
from flowengine_nodes.devices.lint import DecoderProfile, capabilities, check_comparison

TRAP = """
version: 1
nodes:
  - id: radio
    type: zigbee-replay
    path: reports.jsonl
    wires: [decode]
  - id: decode
    type: decode
    model: {model}
    wires: {{out: [alerts], events: [typed]}}
  - id: alerts
    type: switch
    property: {property}
    rules:
      - {{in: [{values}], port: bad}}
    wires: {{bad: [log]}}
  - id: typed
    type: filter
    when: "payload.event == 'finger_not_match'"
    wires: [log]
  - id: log
    type: log
"""


def test_trap_is_reported_with_where_the_value_is() -> None:
    profile = DecoderProfile.create("decode", model="ZNMS11LM")
    warnings = check_comparison(profile, "payload.action", "==", "finger_not_match")
    assert warnings == [
        "payload.action never equals 'finger_not_match' after ZNMS11LM decoder 'decode' in this mode "
        "(compat 1, legacy true): the reference publishes it in payload.action_action "
        "(or use the decoder's events output: payload.event)"
    ]


def test_correct_comparisons_are_silent() -> None:
    znms11 = DecoderProfile.create("decode", model="lumi.lock.aq1")
    assert check_comparison(znms11, "payload.action_action", "==", "finger_not_match") == []
    assert check_comparison(znms11, "payload.action", "in", ["password_not_match", "ring_bell"]) == []
    assert check_comparison(znms11, "payload.action", "==", "finger_open_admin_id3") == []
    assert check_comparison(znms11, "payload.action_user", "==", 3) == []
    assert check_comparison(znms11, "payload.whatever", "==", 3) == []
    assert check_comparison(znms11, "payload.action", ">", "x") == []
    znms12 = DecoderProfile.create("decode", model="ZNMS12LM")
    assert check_comparison(znms12, "payload.action", "==", "finger_not_match") == []
    anything = DecoderProfile.create("decode")
    assert check_comparison(anything, "payload.action", "==", "finger_not_match") == []


def test_mode_dependent_keys() -> None:
    legacy_off = DecoderProfile.create("d", model="ZNMS11LM", legacy=False)
    assert "data" not in capabilities(legacy_off)
    assert check_comparison(legacy_off, "payload.data", "==", "11000010")[0].startswith(
        "payload.data is never set by ZNMS11LM decoder 'd' in this mode (compat 1, legacy false)"
    )
    assert "user" in capabilities(DecoderProfile.create("d", model="ZNMS11LM"))
    assert "user" not in capabilities(DecoderProfile.create("d", model="ZNMS11LM", compat=2))
    assert check_comparison(DecoderProfile.create("d", model="ZNMS11LM"), "payload.state", "==", "LOCK")


def test_validate_warns_on_the_trap_flow(tmp_path: Path) -> None:
    (tmp_path / "reports.jsonl").write_text("")
    flow = TRAP.format(model="ZNMS11LM", property="payload.action", values="finger_not_match, password_not_match")
    loaded = load_text(tmp_path, flow)
    assert loaded.ok
    messages = [str(w) for w in loaded.warnings]
    assert len(messages) == 1, messages
    assert "payload.action is never 'finger_not_match' after ZNMS11LM decoder 'decode'" in messages[0]
    assert "payload.action_action" in messages[0]
    assert "payload.event" in messages[0]


def test_validate_is_silent_on_a_correct_flow(tmp_path: Path) -> None:
    (tmp_path / "reports.jsonl").write_text("")
    for model, prop, values in (
        ("ZNMS11LM", "payload.action_action", "finger_not_match"),
        ("ZNMS11LM", "payload.action", "password_not_match, ring_bell"),
        ("ZNMS12LM", "payload.action", "finger_not_match, password_not_match"),
    ):
        loaded = load_text(tmp_path, TRAP.format(model=model, property=prop, values=values))
        assert loaded.ok
        assert loaded.warnings == [], [str(w) for w in loaded.warnings]


MIXED = """
version: 1
nodes:
  - id: radio
    type: zigbee-replay
    path: reports.jsonl
    wires: [decode]
  - id: decode
    type: decode
    compat: 2
    wires: {events: [opened, left_open, bad]}
  - id: opened
    type: rule
    key: "'door'"
    sequence: ["payload.event == 'finger_open'", "payload.event == 'contact_opened'"]
    within: 60s
    emit: {payload: {event: door_opened_after_unlock}}
    wires: [left_open]
  - id: left_open
    type: rule
    when: "payload.event == 'door_opened_after_unlock'"
    unless: "payload.event == 'contact_closed'"
    within: 5m
    wires: [log]
  - id: bad
    type: filter
    when: "payload.event == 'door_opened_after_unlock'"
    wires: [log]
  - id: log
    type: log
"""


def test_a_consumer_also_fed_by_another_node_is_not_judged_on_the_decoders_values(tmp_path: Path) -> None:
    (tmp_path / "reports.jsonl").write_text("")
    loaded = load_text(tmp_path, MIXED)
    assert loaded.ok
    assert [str(w) for w in loaded.warnings] == [
        f"{tmp_path / 'flow.yaml'}:27:11: warning: node 'bad': payload.event is never 'door_opened_after_unlock' "
        "after the events output of decoder 'decode'"]
