"""``flowengine import zigbee2mqtt``: what it writes from a Zigbee2MQTT data folder, and every bad input.

The data folder is built from the public formats (tests/migrate/household.py). Each bad input
gives one clear line naming the file (and line), writes nothing, and leaves the data folder as
it was (every file hashed before and after).
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from flowengine import StateStore, load_installed_flow
from flowengine.cli import main as flowengine_main
from flowengine_nodes.migrate import zigpydb
from flowengine_nodes.migrate.cli import import_main
from tests.migrate.household import DEVICES, OPTIONS, STATES, UNKNOWN, hashes, write_data_folder

WRITTEN = ["flow.yaml", "secrets.yaml", "state.db", "zigbee.db", "zigbee2mqtt-devices.jsonl"]


def run_import(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = import_main(["zigbee2mqtt", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_import_writes_a_runnable_flow_with_every_device_seeded(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    data = write_data_folder(tmp_path / "z2m", mqtt_url="mqtt://broker.lan:1884", serial_port="tcp://10.0.0.9:6638")
    (data / "external_extensions").mkdir()
    (data / "external_extensions" / "notify.mjs").write_text("export default class Notify {}\n")
    before = hashes(data)
    status, out, err = run_import(capsys, str(data), "--to", str(tmp_path / "flow"))
    assert status == 0, err
    assert hashes(data) == before
    target = tmp_path / "flow"
    assert sorted(p.name for p in target.iterdir()) == WRITTEN
    # Secrets: only in secrets.yaml (0600), never in the flow or the output.
    assert stat.S_IMODE((target / "secrets.yaml").stat().st_mode) == 0o600
    secrets = yaml.safe_load((target / "secrets.yaml").read_text())
    assert secrets["mqtt_url"] == "mqtt://house:p%40ss%3Aw%2Frd@broker.lan:1884"
    assert secrets["zigbee_network_key"] == "01:03:05:07:09:0b:0d:0f:00:02:04:06:08:0a:0c:0d"
    flow_text = (target / "flow.yaml").read_text()
    for secret in ("p@ss", "house", "01:03:05:07"):
        assert secret not in flow_text
        assert secret not in out
    graph = load_installed_flow(target / "flow.yaml")
    radio: Any = graph.nodes["radio"].config
    assert radio.device == "socket://10.0.0.9:6638"
    assert radio.network.form is False
    assert (radio.network.channel, radio.network.pan_id, radio.network.extended_pan_id) == (
        20, 0x1A62, "dd:dd:dd:dd:01:02:03:04")
    names = {ieee: name for name, _, ieee, _ in [*DEVICES, UNKNOWN]}
    assert radio.friendly_names == names
    decode: Any = graph.nodes["decode"].config
    assert decode.friendly_names == names
    assert decode.compat == 2
    assert decode.base_topic == "home/zigbee"
    assert decode.keep_state
    assert decode.send_cached_state_on_start
    by_name = {name: ieee for name, _, ieee, _ in DEVICES}
    assert decode.device_options == {by_name[name]: options for name, options in OPTIONS.items()}
    publish: Any = graph.nodes["publish"].config
    assert publish.zigbee2mqtt.base_topic == "home/zigbee"
    assert publish.zigbee2mqtt.homeassistant is True
    requests: Any = graph.nodes["requests"].config
    api: Any = graph.nodes["api"].config
    assert "home/zigbee/living room/weather/set" in requests.topics
    assert api.friendly_names == names
    # zigpy's database: every device with its addresses, endpoints, clusters, model and manufacturer.
    loaded = zigpydb.run(zigpydb.load(target / "zigbee.db"))
    entries = [json.loads(line) for line in (data / "database.db").read_text().splitlines()]
    herdsman = {entry["ieeeAddr"]: entry for entry in entries if entry["type"] in ("Router", "EndDevice")}
    assert len(loaded.devices) == 9
    for device in loaded.devices:
        entry = herdsman["0x" + device.ieee.replace(":", "")]
        assert device.nwk == entry["nwkAddr"]
        assert (device.model, device.manufacturer) == (entry["modelId"], entry["manufName"])
        assert device.mains_powered == entry["powerSource"].startswith("Mains")
        assert device.logical_type == entry["type"]
        assert {ep.id: (ep.profile, ep.device_type, ep.in_clusters, ep.out_clusters) for ep in device.endpoints} == {
            int(k): (v["profId"], v["devId"], sorted(v["inClusterList"]), sorted(v["outClusterList"]))
            for k, v in entry["endpoints"].items()}
    assert loaded.backup is not None
    assert loaded.backup["pan_id"] == "1a62"
    # The decoder's kept states: Zigbee2MQTT's state.json.
    store = StateStore(target / "state.db")
    try:
        kept = dict(store.node("decode").items("cache:"))
    finally:
        store.close()
    assert kept == {"cache:" + ieee.replace(":", ""): state for ieee, state in STATES.items()}
    # The honest summary (the extension written into the data folder before the import: see below).
    assert "Bedroom sensor (00:12:4b:00:25:00:00:01, model 'TH01', eWeLink)" in out
    for what in ("1 groups", "1 bindings", "frontend", "OTA settings", "extensions (external_extensions/: notify.mjs)"):
        assert what in out.split("not carried over:")[1]


def test_check_prints_the_summary_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_data_folder(tmp_path / "z2m")
    before = hashes(tmp_path)
    status, out, _ = run_import(capsys, str(data), "--to", str(tmp_path / "flow"), "--check")
    assert status == 0
    assert "carried over:" in out
    assert "nothing written" in out
    assert hashes(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["z2m"]


def test_an_existing_target_is_refused_unless_forced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_data_folder(tmp_path / "z2m")
    target = tmp_path / "flow"
    target.mkdir()
    (target / "mine.txt").write_text("keep")
    status, _, err = run_import(capsys, str(data), "--to", str(target))
    assert status == 1
    assert f"{target}: exists; --force replaces it" in err
    assert (target / "mine.txt").read_text() == "keep"
    status, _, err = run_import(capsys, str(data), "--to", str(target), "--force")
    assert status == 0, err
    assert sorted(p.name for p in target.iterdir()) == WRITTEN
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def _replace_line(path: Path, old: str, new: str) -> int:
    lines = path.read_text().splitlines()
    number = next(i for i, line in enumerate(lines, start=1) if old in line)
    lines[number - 1] = lines[number - 1].replace(old, new)
    path.write_text("\n".join(lines) + "\n")
    return number


def _truncate_database(data: Path) -> str:
    lines = (data / "database.db").read_text().splitlines()
    (data / "database.db").write_text("\n".join(lines[:4]) + "\n" + lines[4][: len(lines[4]) // 2])
    return f"{data / 'database.db'}:5: not a JSON object"


def _corrupt_database(data: Path) -> str:
    lines = (data / "database.db").read_text().splitlines()
    lines[2] = lines[2].replace('"nwkAddr"', '"nwkAddr" "')
    (data / "database.db").write_text("\n".join(lines) + "\n")
    return f"{data / 'database.db'}:3: not a JSON object"


def _unknown_adapter(data: Path) -> str:
    number = _replace_line(data / "configuration.yaml", "adapter: deconz", "adapter: zstack")
    return f"{data / 'configuration.yaml'}:{number}: adapter 'zstack': zigpy drives it with zigpy-znp"


def _misspelt_adapter(data: Path) -> str:
    number = _replace_line(data / "configuration.yaml", "adapter: deconz", "adapter: conbee")
    return f"{data / 'configuration.yaml'}:{number}: unknown adapter 'conbee'"


def _missing_secret_file(data: Path) -> str:
    (data / "secret.yaml").unlink()
    number = _replace_line(data / "configuration.yaml", "!secret mqtt_user", "!secret mqtt_user")
    return f"{data / 'configuration.yaml'}:{number}: !secret mqtt_user: {data / 'secret.yaml'} does not exist"


def _missing_secret_key(data: Path) -> str:
    (data / "secret.yaml").write_text("mqtt_user: house\nmqtt_password: x\n")
    number = _replace_line(data / "configuration.yaml", "!secret network_key", "!secret network_key")
    return f"{data / 'configuration.yaml'}:{number}: !secret network_key: not defined in {data / 'secret.yaml'}"


def _unknown_top_setting(data: Path) -> str:
    with (data / "configuration.yaml").open("a") as handle:
        handle.write("experimental_turbo: true\n")
    number = len((data / "configuration.yaml").read_text().splitlines())
    return f"{data / 'configuration.yaml'}:{number}: unknown setting 'experimental_turbo'"


def _unknown_device_option(data: Path) -> str:
    number = _replace_line(data / "configuration.yaml", "temperature_precision: 1", "temperature_precisoin: 1")
    return f"{data / 'configuration.yaml'}:{number}: unknown setting devices.0x00158d0007000103.temperature_precisoin"


def _unknown_output(data: Path) -> str:
    number = _replace_line(data / "configuration.yaml", "log_level: info", "output: xml")
    return (f"{data / 'configuration.yaml'}:{number}: advanced.output 'xml': Zigbee2MQTT's values are json, "
            "attribute, attribute_and_json")


def _bad_elapsed(data: Path) -> str:
    number = _replace_line(data / "configuration.yaml", "log_level: info", "elapsed: sometimes")
    return f"{data / 'configuration.yaml'}:{number}: advanced.elapsed must be true or false"


def _bad_qos(data: Path) -> str:
    number = _replace_line(data / "configuration.yaml", "temperature_precision: 1", "qos: 3")
    return f"{data / 'configuration.yaml'}:{number}: devices.0x00158d0007000103.qos must be 0, 1 or 2"


def _bad_endpoint(data: Path) -> str:
    lines = (data / "database.db").read_text().splitlines()
    entry = json.loads(lines[3])
    entry["endpoints"]["1"]["profId"] = "two hundred"
    lines[3] = json.dumps(entry)
    (data / "database.db").write_text("\n".join(lines) + "\n")
    return f"{data / 'database.db'}:4: device {entry['ieeeAddr']}: an endpoint that is not zigbee-herdsman's"


def _bad_backup(data: Path) -> str:
    backup = json.loads((data / "coordinator_backup.json").read_text())
    del backup["security_level"]
    (data / "coordinator_backup.json").write_text(json.dumps(backup))
    return f"{data / 'coordinator_backup.json'}: not an Open ZigBee Coordinator Backup zigpy can read"


def _bad_state(data: Path) -> str:
    (data / "state.json").write_text('{\n  "0x00158d0007000103": {"temperature": 20.9,\n')
    return f"{data / 'state.json'}:3: not valid JSON"


@pytest.mark.parametrize("spoil", [_truncate_database, _corrupt_database, _unknown_adapter, _misspelt_adapter,
                                   _missing_secret_file, _missing_secret_key, _unknown_top_setting,
                                   _unknown_device_option, _unknown_output, _bad_elapsed, _bad_state,
                                   _bad_endpoint, _bad_qos,
                                   _bad_backup])
def test_bad_input_is_one_clear_line_and_nothing_is_written(
        spoil: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_data_folder(tmp_path / "z2m")
    expected = spoil(data)  # type: ignore[operator]
    before = hashes(data)
    status, _out, err = run_import(capsys, str(data), "--to", str(tmp_path / "flow"))
    assert status == 1
    assert err.startswith(f"flowengine import: {expected}"), err
    assert len(err.splitlines()) == 1
    assert "Traceback" not in err
    assert hashes(data) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["z2m"]


def test_a_missing_state_json_is_said_and_the_devices_start_empty(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    data = write_data_folder(tmp_path / "z2m")
    (data / "state.json").unlink()
    before = hashes(data)
    status, out, err = run_import(capsys, str(data), "--to", str(tmp_path / "flow"))
    assert status == 0, err
    assert f"{data / 'state.json'}: does not exist: no cached state is carried over" in out
    assert hashes(data) == before
    store = StateStore(tmp_path / "flow" / "state.db")
    try:
        assert dict(store.node("decode").items("cache:")) == {}
    finally:
        store.close()


def test_tls_and_connection_settings_are_carried_and_the_rest_named(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    data = write_data_folder(tmp_path / "z2m", mqtt_url="mqtts://broker.lan:8883")
    (data / "ca.pem").write_text("not read by the import")
    text = (data / "configuration.yaml").read_text()
    text = text.replace("  base_topic: home/zigbee\n",
                        "  base_topic: home/zigbee\n  ca: ca.pem\n  keepalive: 30\n  version: 5\n  client_id: z2m\n")
    (data / "configuration.yaml").write_text(text)
    client_line = next(i for i, line in enumerate(text.splitlines(), start=1) if "client_id" in line)
    status, out, err = run_import(capsys, str(data), "--to", str(tmp_path / "flow"))
    assert status == 0, err
    graph = load_installed_flow(tmp_path / "flow" / "flow.yaml")
    for node in ("publish", "requests"):
        config: Any = graph.nodes[node].config
        assert (config.ca, config.keepalive, config.protocol) == (str(data / "ca.pem"), 30, "5")
        assert config.client_id is None
    assert f"mqtt.client_id (each MQTT node has its own client id; configuration.yaml line {client_line})" in out


def test_a_target_inside_the_data_folder_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_data_folder(tmp_path / "z2m")
    before = hashes(data)
    status, _, err = run_import(capsys, str(data), "--to", str(data / "flow"))
    assert status == 1
    assert "is inside the data folder" in err
    assert hashes(data) == before
    assert not (data / "flow").exists()


@pytest.mark.parametrize(("output", "last_seen"), [("attribute", "ISO_8601"), ("attribute_and_json", "epoch"),
                                                   ("json", "ISO_8601_local")])
def test_output_and_last_seen_are_carried_to_mqtt_out(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      output: str, last_seen: str) -> None:
    """advanced.output and advanced.last_seen: the flow's mqtt-out publishes as Zigbee2MQTT did."""
    data = write_data_folder(tmp_path / "z2m")
    _replace_line(data / "configuration.yaml", "log_level: info",
                  f"output: {output}\n  last_seen: {last_seen}\n  elapsed: true")
    status, out, err = run_import(capsys, str(data), "--to", str(tmp_path / "flow"))
    assert status == 0, err
    assert f"output {output}, last_seen {last_seen}, elapsed on" in out
    publish: Any = load_installed_flow(tmp_path / "flow" / "flow.yaml").nodes["publish"].config
    assert (publish.zigbee2mqtt.output, publish.zigbee2mqtt.last_seen) == (output, last_seen)
    decode: Any = load_installed_flow(tmp_path / "flow" / "flow.yaml").nodes["decode"].config
    assert decode.elapsed is True
    assert flowengine_main(["validate", "--strict", str(tmp_path / "flow" / "flow.yaml")]) == 0


def test_device_retain_qos_and_filtered_attributes_are_carried(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    data = write_data_folder(tmp_path / "z2m")
    _replace_line(data / "configuration.yaml", "temperature_precision: 1",
                  "temperature_precision: 1\n    retain: true\n    qos: 0\n"
                  "    filtered_attributes: [linkquality, 'bat.*']")
    with (data / "configuration.yaml").open("a") as handle:
        handle.write("device_options:\n  filtered_attributes: [tamper]\n")
    status, out, err = run_import(capsys, str(data), "--to", str(tmp_path / "flow"))
    assert status == 0, err
    assert "retain/qos/filtered_attributes of 1 devices and of every device (device_options)" in out
    graph = load_installed_flow(tmp_path / "flow" / "flow.yaml")
    mode: Any = graph.nodes["publish"].config.zigbee2mqtt  # type: ignore[attr-defined]
    assert mode.device_options.filtered_attributes == ["tamper"]
    [(ieee, own)] = mode.devices.items()
    assert ieee.replace(":", "") == "00158d0007000103"
    assert (own.retain, own.qos, own.filtered_attributes) == (True, 0, ["linkquality", "bat.*"])
    decode: Any = graph.nodes["decode"].config
    assert "retain" not in decode.options
    assert all("qos" not in options for options in decode.device_options.values())
    assert flowengine_main(["validate", "--strict", str(tmp_path / "flow" / "flow.yaml")]) == 0
