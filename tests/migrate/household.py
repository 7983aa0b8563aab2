"""A Zigbee2MQTT 2.x data folder for the household, built from the public formats.

configuration.yaml as Zigbee2MQTT's settings schema has it (with ``!secret`` from secret.yaml),
database.db as zigbee-herdsman's ``Device.toDatabaseEntry`` writes it (one JSON object per line),
state.json as Zigbee2MQTT's state cache, coordinator_backup.json in the Open ZigBee Coordinator
Backup format. Each device's endpoints are those the project's emulator presents for its model,
so a flow run on the emulator meets the devices the folder describes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

from flowengine_nodes.emulator.catalog import make_device
from flowengine_nodes.emulator.devices import VirtualDevice
from flowengine_nodes.emulator.stick import JoinedDevice, StickState

BASE_TOPIC = "home/zigbee"
CHANNEL = 20
PAN_ID = 0x1A62
EXT_PAN_ID = [0xDD, 0xDD, 0xDD, 0xDD, 0x01, 0x02, 0x03, 0x04]
NETWORK_KEY = [1, 3, 5, 7, 9, 11, 13, 15, 0, 2, 4, 6, 8, 10, 12, 13]
COORDINATOR = "00:21:2e:ff:ff:0a:0b:0c"

#: name, model, ieee, nwk: the eight devices of flows/household.yaml, named as a person would.
DEVICES: list[tuple[str, str, str, int]] = [
    ("Front door", "ZNMS11LM", "00:15:8d:00:01:02:03:04", 0x1A2B),
    ("Door contact", "MCCGQ11LM", "00:15:8d:00:07:00:01:01", 0x3101),
    ("hall/motion", "RTCGQ11LM", "00:15:8d:00:07:00:01:02", 0x3102),
    ("living room/weather", "WSDCGQ11LM", "00:15:8d:00:07:00:01:03", 0x3103),
    ("Desk button", "WXKG11LM", "00:15:8d:00:07:00:01:04", 0x3104),
    ("Sink leak", "SJCGQ11LM", "00:15:8d:00:07:00:01:05", 0x3105),
    ("kitchen/plug", "ZNCZ02LM", "00:15:8d:00:07:00:01:06", 0x3106),
    ("Hall light", "LED1545G12", "00:0b:57:ff:fe:00:00:07", 0x3107),
]
#: A device of a model flowengine does not know (a SONOFF temperature sensor).
UNKNOWN = ("Bedroom sensor", "TH01", "00:12:4b:00:25:00:00:01", 0x4001)
OPTIONS: dict[str, dict[str, Any]] = {
    "living room/weather": {"temperature_calibration": -0.5, "temperature_precision": 1, "humidity_precision": 0},
    "hall/motion": {"occupancy_timeout": 90},
}
#: Zigbee2MQTT's cached states (state.json), as it wrote them when it stopped.
STATES: dict[str, dict[str, Any]] = {
    "00:15:8d:00:07:00:01:03": {"temperature": 20.9, "humidity": 48, "pressure": 1008.6, "battery": 100,
                                "voltage": 2995, "linkquality": 120},
    "00:15:8d:00:07:00:01:06": {"state": "ON", "power": 12.5, "energy": 0.75, "linkquality": 120},
    "00:15:8d:00:07:00:01:01": {"contact": True, "battery": 100, "voltage": 3005, "linkquality": 120},
}


def ieee_0x(ieee: str) -> str:
    return "0x" + ieee.replace(":", "")


def virtual_devices() -> list[VirtualDevice]:
    """The emulator's devices of the household (the same addresses)."""
    return [make_device(name.replace("/", "_").replace(" ", "_"), {"model": model, "ieee": ieee, "nwk": nwk})
            for name, model, ieee, nwk in DEVICES]


def _herdsman(index: int, device: VirtualDevice, *, model_id: str | None = None) -> dict[str, Any]:
    endpoints = {
        str(ep.endpoint): {"profId": ep.profile, "epId": ep.endpoint, "devId": ep.device_type,
                           "inClusterList": list(ep.in_clusters), "outClusterList": list(ep.out_clusters),
                           "clusters": {}, "binds": [], "configuredReportings": [], "meta": {}}
        for ep in device.endpoints
    }
    return {
        "id": index, "type": "Router" if device.logical_type == 0x01 else "EndDevice",
        "ieeeAddr": ieee_0x(device.ieee), "nwkAddr": device.nwk, "manufId": device.manufacturer_code,
        "manufName": device.manufacturer,
        "powerSource": "Mains (single phase)" if device.power_source == 0x01 else "Battery",
        "modelId": model_id or device.model, "epList": [ep.endpoint for ep in device.endpoints],
        "endpoints": endpoints, "appVersion": 10, "stackVersion": 2, "hwVersion": 1, "dateCode": "20191205",
        "swBuildId": "3000-0001", "zclVersion": 1, "interviewCompleted": True, "interviewState": "SUCCESSFUL",
        "meta": {}, "lastSeen": 1733480000000,
    }


def backup() -> dict[str, Any]:
    """coordinator_backup.json (Open ZigBee Coordinator Backup, as zigbee-herdsman writes it)."""
    return {
        "metadata": {"format": "zigpy/open-coordinator-backup", "version": 1, "source": "zigbee-herdsman@4.0.0",
                     "internal": {"date": "2026-12-06T07:00:00.000Z", "znpVersion": None}},
        "stack_specific": {},
        "coordinator_ieee": COORDINATOR.replace(":", ""),
        "pan_id": f"{PAN_ID:04x}",
        "extended_pan_id": bytes(EXT_PAN_ID).hex(),
        "nwk_update_id": 0,
        "security_level": 5,
        "channel": CHANNEL,
        "channel_mask": [CHANNEL],
        "network_key": {"key": bytes(NETWORK_KEY).hex(), "sequence_number": 0, "frame_counter": 12345},
        "devices": [{"nwk_address": f"{nwk:04x}", "ieee_address": ieee.replace(":", ""), "is_child": True}
                    for _, _, ieee, nwk in DEVICES],
    }


def configuration(mqtt_url: str, serial_port: str) -> dict[str, Any]:
    devices: dict[str, Any] = {}
    for name, _, ieee, _ in [*DEVICES, UNKNOWN]:
        devices[ieee_0x(ieee)] = {"friendly_name": name, **OPTIONS.get(name, {})}
    return {
        "version": 4,
        "homeassistant": {"enabled": True},
        "frontend": {"enabled": True, "port": 8080},
        "mqtt": {"base_topic": BASE_TOPIC, "server": mqtt_url, "user": "SECRET_USER", "password": "SECRET_PASSWORD"},
        "serial": {"port": serial_port, "adapter": "deconz"},
        "advanced": {"log_level": "info", "channel": CHANNEL, "pan_id": PAN_ID, "ext_pan_id": EXT_PAN_ID,
                     "network_key": "SECRET_KEY", "cache_state": True, "cache_state_send_on_startup": True},
        "availability": {"enabled": False},
        "ota": {"disable_automatic_update_check": True},
        "devices": devices,
    }


def write_data_folder(folder: Path, *, mqtt_url: str = "mqtt://127.0.0.1:1883",
                      serial_port: str = "tcp://127.0.0.1:6638", user: str = "house", password: str = "p@ss:w/rd"
                      ) -> Path:
    """Write the household's Zigbee2MQTT data folder into ``folder``; return it."""
    folder.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(configuration(mqtt_url, serial_port), sort_keys=False, allow_unicode=True)
    # Zigbee2MQTT's references: the text '!secret name' is the key name of secret.yaml.
    text = (text.replace("SECRET_USER", "'!secret mqtt_user'").replace("SECRET_PASSWORD", "'!secret mqtt_password'")
            .replace("SECRET_KEY", "'!secret network_key'"))
    (folder / "configuration.yaml").write_text(text, encoding="utf-8")
    (folder / "secret.yaml").write_text(yaml.safe_dump(
        {"mqtt_user": user, "mqtt_password": password, "network_key": NETWORK_KEY}), encoding="utf-8")
    coordinator = {"id": 1, "type": "Coordinator", "ieeeAddr": ieee_0x(COORDINATOR), "nwkAddr": 0,
                   "manufId": 4405, "epList": [1, 242], "endpoints": {}, "interviewCompleted": True,
                   "interviewState": "SUCCESSFUL", "meta": {}}
    entries: list[dict[str, Any]] = [coordinator]
    for index, device in enumerate(virtual_devices(), start=2):
        entries.append(_herdsman(index, device))
    unknown = make_device("bedroom", {"model": "MCCGQ11LM", "ieee": UNKNOWN[2], "nwk": UNKNOWN[3]})
    unknown_entry = _herdsman(len(entries) + 1, unknown, model_id=UNKNOWN[1])
    unknown_entry["manufName"] = "eWeLink"
    entries.append(unknown_entry)
    entries[2]["endpoints"]["1"]["binds"] = [{"cluster": 6, "type": "endpoint", "deviceIeeeAddress": "0x1",
                                              "endpointID": 1}]
    entries.append({"id": len(entries) + 1, "type": "Group", "groupID": 1, "members": [], "meta": {}})
    (folder / "database.db").write_text("".join(json.dumps(e) + "\n" for e in entries), encoding="utf-8")
    (folder / "state.json").write_text(json.dumps({ieee_0x(k): v for k, v in STATES.items()}, indent=4),
                                       encoding="utf-8")
    (folder / "coordinator_backup.json").write_text(json.dumps(backup(), indent=4), encoding="utf-8")
    return folder


def formed_stick(path: Path | None = None) -> StickState:
    """The stick Zigbee2MQTT used: the folder's network formed, every device a member already."""
    stick = StickState.load(path)
    stick.form(channel=CHANNEL, pan_id=PAN_ID, extended_pan_id=":".join(f"{b:02x}" for b in EXT_PAN_ID),
               network_key=":".join(f"{b:02x}" for b in NETWORK_KEY))
    for _, _, ieee, nwk in DEVICES:
        stick.devices[ieee] = JoinedDevice(ieee, nwk)
    stick.save()
    return stick


def hashes(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` (by relative path), and the folder's listing."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}
