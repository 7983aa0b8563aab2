"""Decoder behaviour beyond the stateless vectors: cache, topics, events, model selection."""

from __future__ import annotations

from typing import Any

import pytest

from flowengine_nodes.devices.decoder import Decoder, normalize_ieee
from flowengine_nodes.devices.events import LockEvent

IEEE = "00:15:8d:08:29:4b:42:2c"


def report(frame: str, *, model: str = "lumi.lock.aq1", cluster: int = 257, lqi: int = 100) -> dict[str, Any]:
    return {"ts": 1.0, "ieee": IEEE, "model": model, "cluster": cluster, "lqi": lqi, "frame": frame}


OPEN_ADMIN_1 = "1c5f11250a10ff2310000011"  # 0x11000010: finger_open_admin_id1
FINGER_FAIL = "182d0a11ff2300d42221"  # action_action finger_not_match, repeat 2
S2_LOCKED = "183e0af6ff420737087401112226"  # ZNMS12LM locked: state LOCK, reverse UNLOCK
S2_HEARTBEAT = "1c5f114c0a01ff42070121830b032815"  # genBasic: voltage, battery, temperature


def test_topic_uses_the_address_without_separators_by_default() -> None:
    result = Decoder().decode(report(OPEN_ADMIN_1))
    assert result.topic == "zigbee2mqtt/0x00158d08294b422c"
    assert result.friendly_name == "0x00158d08294b422c"
    assert result.model == "ZNMS11LM"


def test_friendly_names_accept_any_address_form_and_base_topic() -> None:
    decoder = Decoder(base_topic="home", friendly_names={"0x00158D08294B422C": "front_door"})
    result = decoder.decode(report(OPEN_ADMIN_1))
    assert result.topic == "home/front_door"
    assert normalize_ieee("00-15-8d-08-29-4b-42-2c") == "00158d08294b422c"


def test_cache_merges_previous_state_but_never_actions() -> None:
    decoder = Decoder(compat=2)
    first = decoder.decode(report(OPEN_ADMIN_1, lqi=10))
    assert first.payload == {"action": "finger_open_admin_id1", "action_user": 1, "data": "11000010", "linkquality": 10}
    # A user-added report (0xFF01 struct) has no data in 2.x: the cached data is repeated,
    # action and action_user are the new ones, and nothing else of the first report is kept.
    second = decoder.decode(report("10320a01ff4209012320020011032814", lqi=20))
    assert second.payload == {"action": "finger_add", "action_user": 34, "data": "11000010", "linkquality": 20}
    assert decoder.state_of(IEEE) == {"data": "11000010", "linkquality": 20}


def test_cache_drops_keys_the_reference_sets_to_undefined() -> None:
    decoder = Decoder(compat=1, legacy=True)
    decoder.decode(report(OPEN_ADMIN_1))
    assert decoder.state_of(IEEE)["user"] == 1
    # A door bell sets repeat and user to undefined: user disappears from the state.
    bell = decoder.decode(report("182f0a11ff230070d0e7"))
    assert bell.payload is not None
    assert "user" not in bell.payload
    assert "user" not in decoder.state_of(IEEE)
    assert bell.payload["action"] == "ring_bell"


def test_cache_is_per_device_and_off_when_disabled() -> None:
    decoder = Decoder(model="ZNMS12LM")
    decoder.decode(report(S2_LOCKED, model="lumi.lock.acn02"))
    heartbeat = decoder.decode(report(S2_HEARTBEAT, model="lumi.lock.acn02", cluster=0))
    assert heartbeat.payload is not None
    assert heartbeat.payload["state"] == "LOCK"
    other = decoder.decode({**report(S2_HEARTBEAT, cluster=0), "ieee": "00:15:8d:00:00:00:00:01"})
    assert other.payload is not None
    assert "state" not in other.payload
    stateless = Decoder(model="ZNMS12LM", cache_state=False)
    stateless.decode(report(S2_LOCKED))
    heartbeat = stateless.decode(report(S2_HEARTBEAT, cluster=0))
    assert heartbeat.payload is not None
    assert "state" not in heartbeat.payload


def test_compat_2_ignores_legacy() -> None:
    payloads = [Decoder(compat=2, legacy=flag).decode(report(OPEN_ADMIN_1)).payload for flag in (True, False)]
    assert payloads[0] == payloads[1] == {
        "action": "finger_open_admin_id1", "action_user": 1, "data": "11000010", "linkquality": 100,
    }


@pytest.mark.parametrize(
    ("frame", "model", "event"),
    [
        (OPEN_ADMIN_1, "lumi.lock.aq1", LockEvent("finger_open", "finger", "admin", 1)),
        (FINGER_FAIL, "lumi.lock.aq1", LockEvent("finger_not_match", "finger", repeat=2)),
        ("1c5f112c0a10ff23f0050032", "lumi.lock.aq1", LockEvent("door_closed", None, "user", 95)),
        ("1c5f112a0a10ff212312", "lumi.lock.aq1", LockEvent("finger_open", "finger", "user", None)),
        ("10320a01ff4209012320020041032814", "lumi.lock.aq1", LockEvent("password_delete", "password", user=34)),
        ("182f0a11ff230070d0e7", "lumi.lock.aq1", LockEvent("ring_bell")),
        (S2_LOCKED, "lumi.lock.acn02", LockEvent("locked", state="LOCK", reverse="UNLOCK")),
        ("045f114b0af2ff4206640b3802012c", "lumi.lock.acn03", LockEvent("change_language_to")),
        ("1c5f11430a11ff42081a2f76042a4f0017", "lumi.lock.acn02", LockEvent("ring_bell")),
    ],
)
def test_typed_events(frame: str, model: str, event: LockEvent) -> None:
    for decoder in (Decoder(compat=1), Decoder(compat=1, legacy=False), Decoder(compat=2)):
        assert decoder.decode(report(frame, model=model)).event == event


def test_no_event_for_garbled_or_missing_actions() -> None:
    decoder = Decoder()
    assert decoder.decode(report("18300a11ff23a0070070")).event is None  # unknown kind: only data
    garbled = decoder.decode(report("1c5f11250a10ff2350000041"))  # 0x41000050: undefined_admin_id5
    assert garbled.payload is not None
    assert garbled.payload["action"] == "undefined_admin_id5"
    assert garbled.event is None
    assert decoder.decode(report(S2_HEARTBEAT, model="lumi.lock.acn02", cluster=0)).event is None


def test_event_payload_has_every_key() -> None:
    event = Decoder().decode(report(OPEN_ADMIN_1)).event
    assert event is not None
    assert event.to_payload() == {
        "event": "finger_open", "method": "finger", "role": "admin", "user": 1, "repeat": None,
        "state": None, "reverse": None,
    }


def test_model_option_overrides_the_report_and_unknown_models_decode_nothing() -> None:
    forced = Decoder(model="lumi.lock.aq1").decode(report(OPEN_ADMIN_1, model="lumi.lock.acn02"))
    assert forced.model == "ZNMS11LM"
    unknown = Decoder().decode(report(OPEN_ADMIN_1, model="lumi.sensor_magnet"))
    assert (unknown.payload, unknown.error, unknown.model) == (None, None, None)
    with pytest.raises(ValueError, match="unknown device model"):
        Decoder(model="nope")


def test_rejected_frames_and_bad_records_are_errors() -> None:
    decoder = Decoder()
    rejected = decoder.decode(report("1c5f11390a10ff23aabb"))
    assert rejected.error == "ZCL frame rejected: frame too short for 4-byte integer"
    assert decoder.decode(report("zz")).error == "invalid record: frame is not hex"
    assert decoder.decode({"frame": "18", "lqi": 1}).error == "invalid record: cluster is not an integer"
    assert decoder.decode(report("1c 5f 11 25 0a 10 ff 23 10 00 00 11")).payload is not None
