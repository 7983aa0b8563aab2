"""The recordings of the real Zigbee2MQTT 2.14.1 in tests/data/zigbee2mqtt_move (README.md there).

Two restarts of Zigbee2MQTT on the stick it paired the household on, with the same frames
replayed: on the data folder it left itself, and on the folder ``flowengine export zigbee2mqtt``
wrote from the imported flow. The first pins down what a restart with the devices already members
looks like (the reference the import is held to); the second is the way back: Zigbee2MQTT must
know every device without asking it anything and publish, for the same frames, what it published
on its own data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

MOVE = Path(__file__).resolve().parents[2] / "data" / "zigbee2mqtt_move"
#: Stick parameters that make up the network (deCONZ ids): a host that writes one changes the network.
NETWORK_PARAMETERS = {"0x01", "0x05", "0x07", "0x08", "0x0a", "0x0b", "0x0e", "0x18", "0x1c", "0x24"}

Message = tuple[str, int | None, Any]


def lines(name: str) -> list[dict[str, Any]]:
    """The JSON lines of a fixture."""
    return [json.loads(line) for line in (MOVE / name).read_text(encoding="utf-8").splitlines()]


def base_topic(folder: str) -> str:
    """``mqtt.base_topic`` of a data folder's configuration.yaml."""
    text = (MOVE / folder / "configuration.yaml").read_text(encoding="utf-8")
    return str(yaml.safe_load(text)["mqtt"]["base_topic"])


def device_messages(published: list[dict[str, Any]], base: str) -> dict[str, list[Message]]:
    """Per device topic: (phase, last frame sent before it, parsed payload), in order."""
    found: dict[str, list[Message]] = {}
    for row in published:
        topic = row["topic"]
        if topic.startswith(f"{base}/") and not topic.startswith(f"{base}/bridge/"):
            found.setdefault(topic, []).append((row["phase"], row["after_frame"], json.loads(row["payload"])))
    return found


def bridge_devices(published: list[dict[str, Any]], base: str) -> list[tuple[str, str, str, bool]]:
    """The last retained ``bridge/devices``: (IEEE, friendly name, model, interviewed) of every device."""
    retained = [row for row in published if row["topic"] == f"{base}/bridge/devices" and row["retain"]]
    assert retained, "no retained bridge/devices"
    return sorted(
        (entry["ieee_address"], entry["friendly_name"], entry["definition"]["model"], entry["interview_completed"])
        for entry in json.loads(retained[-1]["payload"])
        if entry["type"] != "Coordinator"
    )


def asked_nothing(requests: list[dict[str, Any]]) -> None:
    """No interview step reached a device, no network parameter was written, the network never went down."""
    interviews = [row for row in requests if row.get("interview") and row.get("device")]
    assert interviews == []
    written = {row["parameter"] for row in requests if row["kind"] == "write_parameter"}
    assert written & NETWORK_PARAMETERS == set()
    assert [row for row in requests if row["kind"] == "change_network_state"] == []


def test_a_restart_with_the_devices_already_members_sends_the_cache_then_one_message_per_report() -> None:
    base = base_topic("zigbee2mqtt")
    published = lines("restart_published.jsonl")
    frames = lines("restart_frames.jsonl")
    asked_nothing(lines("restart_requests.jsonl"))
    config = yaml.safe_load((MOVE / "zigbee2mqtt" / "configuration.yaml").read_text())
    names = {ieee: device["friendly_name"] for ieee, device in config["devices"].items()}
    cached = json.loads((MOVE / "zigbee2mqtt" / "state.json").read_text())
    messages = device_messages(published, base)
    # The cached state of state.json, on every device's topic, before any frame.
    for ieee, name in names.items():
        at_start = [payload for phase, _, payload in messages[f"{base}/{name}"] if phase == "start"]
        assert at_start == [cached[ieee]]
    # Then every frame its device's publication, in the order sent.
    for index, frame in enumerate(frames):
        after = [payload for _, sent, payload in messages[f"{base}/{frame['friendly_name']}"] if sent == index]
        assert after, f"nothing published for frame {index} ({frame['device']} {frame['event']})"
    assert sorted((f"0x{ieee[2:]}", name) for ieee, name in names.items()) == sorted(
        (ieee, name) for ieee, name, _, interviewed in bridge_devices(published, base) if interviewed
    )


def test_zigbee2mqtt_on_the_exported_folder_publishes_what_it_published_on_its_own() -> None:
    if not (MOVE / "export_published.jsonl").exists():
        pytest.skip("export_published.jsonl is not recorded (record.py --only export; README.md)")
    base = base_topic("zigbee2mqtt")
    own, exported = lines("restart_published.jsonl"), lines("export_published.jsonl")
    asked_nothing(lines("export_requests.jsonl"))
    assert bridge_devices(exported, base) == bridge_devices(own, base)
    assert device_messages(exported, base) == device_messages(own, base)
