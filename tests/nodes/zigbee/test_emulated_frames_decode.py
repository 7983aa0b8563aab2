"""Every scripted lock event of the emulator decodes (with the project's ``decode`` node) to itself.

The emulator builds frames from LOCK.md by hand and the decoder parses them from
LOCK_REFERENCE.md independently, so agreement on every event of every model checks both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from flowengine import Message
from flowengine.testing import capture_context
from flowengine_nodes.devices.decode import Decode, DecodeConfig
from flowengine_nodes.emulator.devices import LOCK_STATE_CODES, LumiLock

CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("finger_open", {"role": "admin", "user": 3}, {"method": "finger", "role": "admin", "user": 3}),
    ("password_open", {"role": "user", "user": 99}, {"method": "password", "role": "user", "user": 99}),
    ("door_closed", {"role": "admin", "user": 5}, {}),
    ("finger_not_match", {"repeat": 2}, {"method": "finger", "repeat": 2}),
    ("password_not_match", {"repeat": 4}, {"method": "password", "repeat": 4}),
    ("ring_bell", {}, {}),
    ("finger_add", {"user": 5}, {"method": "finger", "user": 5}),
    ("finger_delete", {"user": 6}, {"method": "finger", "user": 6}),
    ("password_add", {"user": 7}, {"method": "password", "user": 7}),
    ("password_delete", {"user": 8}, {"method": "password", "user": 8}),
]


def _decode(tmp_path: Path, lock: LumiLock, event: str, params: dict[str, Any]) -> list[Message]:
    decoder = Decode(DecodeConfig(cache_state=False), capture_context(tmp_path, "decode"))
    events: list[Message] = []
    decoder.bind_output("events", events.append)
    frame = lock.event_frame(event, params)
    record = {"ts": 1.0, "ieee": lock.ieee, "nwk": f"0x{lock.nwk:04x}", "model": lock.model, "manufacturer": "LUMI",
              "endpoint": frame.src_endpoint, "profile": frame.profile, "cluster": frame.cluster,
              "lqi": frame.lqi, "rssi": frame.rssi, "frame": frame.payload.hex()}
    decoder.process(Message(f"zigbee/{lock.ieee}/1/{frame.cluster}", record, {"ts": 1.0, "ieee": lock.ieee}))
    return events


@pytest.mark.parametrize("model", ["lumi.lock.aq1", "lumi.lock.acn02", "lumi.lock.acn03"])
@pytest.mark.parametrize(("event", "params", "expected"), CASES)
def test_lock_event_decodes_to_itself(tmp_path: Path, model: str, event: str, params: dict[str, Any],
                                      expected: dict[str, Any]) -> None:
    lock = LumiLock("door", ieee="00:15:8d:00:01:02:03:04", nwk=0x1A2B, model=model)
    (decoded,) = _decode(tmp_path, lock, event, params)
    assert decoded.payload["event"] == event
    for key, value in expected.items():
        assert decoded.payload[key] == value


@pytest.mark.parametrize("state", sorted(LOCK_STATE_CODES))
def test_lock_states_decode_to_themselves(tmp_path: Path, state: str) -> None:
    lock = LumiLock("door", ieee="00:15:8d:00:01:02:03:04", nwk=0x1A2B, model="lumi.lock.acn02")
    (decoded,) = _decode(tmp_path, lock, "lock_state", {"state": state})
    assert decoded.payload["event"] == state
    assert decoded.payload["state"] in ("LOCK", "UNLOCK")
