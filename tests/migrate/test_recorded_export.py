"""Acceptance: the way back, with the real Zigbee2MQTT 2.14.1 (recorded fixtures).

tests/migrate/exported_zigbee2mqtt is what ``flowengine export zigbee2mqtt`` wrote for the flow
imported from the data folder Zigbee2MQTT left (tests/data/zigbee2mqtt_move/zigbee2mqtt).
tests/data/zigbee2mqtt_move/record.py started the real Zigbee2MQTT 2.14.1 on it, on the same
stick with the devices already members, sent the same frames as after its own restart and kept
what it published and asked the stick (``export_published.jsonl``, ``export_requests.jsonl``):

    ZIGBEE2MQTT_DIR=… .venv/bin/python tests/data/zigbee2mqtt_move/record.py --only export \\
        --exported tests/migrate/exported_zigbee2mqtt

The first test shows the export still writes that folder; the second that Zigbee2MQTT, started on
it, knew every device without an interview and published for the same frames what it published
when restarted on its own data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from flowengine_nodes.migrate.cli import export_main, import_main

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "data" / "zigbee2mqtt_move"
EXPORTED = Path(__file__).with_name("exported_zigbee2mqtt")
#: The stick's parameters that hold the network.
NETWORK_PARAMETERS = {"0x01", "0x05", "0x07", "0x08", "0x0a", "0x0b", "0x0e", "0x10", "0x18", "0x19", "0x24"}


def jsonl(path: Path) -> list[Any]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_export_of_the_imported_folder_is_the_one_zigbee2mqtt_was_started_on(tmp_path: Path) -> None:
    assert import_main(["zigbee2mqtt", str(FIXTURES / "zigbee2mqtt"), "--to", str(tmp_path / "flow")]) == 0
    assert export_main(["zigbee2mqtt", str(tmp_path / "flow" / "flow.yaml"), "--to", str(tmp_path / "back")]) == 0
    back = tmp_path / "back"
    for name in ("configuration.yaml", "secret.yaml"):
        assert yaml.safe_load((back / name).read_text()) == yaml.safe_load((EXPORTED / name).read_text()), name
    assert jsonl(back / "database.db") == jsonl(EXPORTED / "database.db")
    # Every device entry is zigbee-herdsman's own, as Zigbee2MQTT wrote it before the move.
    assert sorted(jsonl(back / "database.db"), key=lambda e: e["id"]) == sorted(
        jsonl(FIXTURES / "zigbee2mqtt" / "database.db"), key=lambda e: e["id"])
    assert json.loads((back / "state.json").read_text()) == json.loads((EXPORTED / "state.json").read_text())
    assert json.loads((back / "state.json").read_text()) == json.loads(
        (FIXTURES / "zigbee2mqtt" / "state.json").read_text())

    def network(path: Path) -> dict[str, Any]:
        backup = json.loads(path.read_text())
        return {key: backup[key] for key in ("coordinator_ieee", "pan_id", "extended_pan_id", "channel",
                                             "network_key", "nwk_update_id")}

    assert network(back / "coordinator_backup.json") == network(EXPORTED / "coordinator_backup.json")
    assert network(back / "coordinator_backup.json") == network(FIXTURES / "zigbee2mqtt" / "coordinator_backup.json")


def device_topics(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for row in rows:
        if "/bridge/" not in row["topic"] and row["phase"] != "stop":
            found.setdefault(row["topic"], []).append(json.loads(row["payload"]))
    return found


def test_zigbee2mqtt_on_the_exported_folder_knows_every_device_and_publishes_the_same() -> None:
    restart = jsonl(FIXTURES / "restart_published.jsonl")
    exported = jsonl(FIXTURES / "export_published.jsonl")
    assert device_topics(exported) == device_topics(restart)
    assert len(device_topics(exported)) == 8
    requests = jsonl(FIXTURES / "export_requests.jsonl")
    assert [r for r in requests if r.get("interview")] == []
    assert [r for r in requests if r["kind"] == "write_parameter" and r["parameter"] in NETWORK_PARAMETERS] == []
    assert [r for r in requests if r["kind"] == "aps_data_request" and r["device"] is not None] == []

    def listed(rows: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
        devices = json.loads(next(r["payload"] for r in rows if r["topic"].endswith("/bridge/devices")))
        return {(d["ieee_address"], d["friendly_name"], d.get("model_id"), d["interview_state"], d["supported"])
                for d in devices}

    assert listed(exported) == listed(restart)
