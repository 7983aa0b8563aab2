"""``flowengine export zigbee2mqtt``: a flow's household -> a Zigbee2MQTT 2.x data folder.

Reads the flow (its ``zigbee``, ``decode`` and ``mqtt-out`` nodes), zigpy's database (devices and
the most recent network backup, through zigpy) and the decoder's kept states, and writes
configuration.yaml (secrets in secret.yaml, mode 0600), database.db in zigbee-herdsman's format
with every device interviewed, state.json and coordinator_backup.json. Written into a temporary
folder renamed into place at the end; nothing of the flow's files is changed.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml

from flowengine import ConfigError, StateStore, load_installed_flow
from flowengine_nodes.devices.decode import CACHE_PREFIX
from flowengine_nodes.devices.decoder import normalize_ieee
from flowengine_nodes.migrate import zigpydb
from flowengine_nodes.migrate.folder import BACKUP, CONFIGURATION, DATABASE, SECRETS, STATE, MigrateError
from flowengine_nodes.migrate.importer import HERDSMAN_ENTRIES, dump_yaml

#: The Zigbee2MQTT settings version a 2.x data folder carries.
SETTINGS_VERSION = 4
#: The keys of a zigbee-herdsman entry that zigpy knows (the others come back from the kept entries).
ZIGPY_KEYS = {"type", "ieeeAddr", "nwkAddr", "manufId", "manufName", "powerSource", "modelId", "epList", "endpoints",
              "interviewCompleted", "interviewState"}
#: The keys of an endpoint's record zigpy has no place for.
KEPT_ENDPOINT_KEYS = ("clusters", "binds", "configuredReportings", "meta")
#: zigbee-herdsman's power source texts.
MAINS = "Mains (single phase)"
BATTERY = "Battery"


@dataclass
class Export:
    """What the export writes."""

    configuration: dict[str, Any]
    secrets: dict[str, Any]
    database: list[dict[str, Any]]
    state: dict[str, dict[str, Any]]
    backup: dict[str, Any] | None
    devices: int


def _one(graph: Any, node_type: str, flow: Path) -> Any:
    found = [spec for spec in graph.nodes.values() if spec.type == node_type]
    if not found:
        raise MigrateError(flow, f"has no '{node_type}' node: nothing to export")
    return found[0]


def _herdsman_entry(index: int, device: zigpydb.Device) -> dict[str, Any]:
    endpoints = {
        str(ep.id): {"profId": ep.profile, "epId": ep.id, "devId": ep.device_type, "inClusterList": ep.in_clusters,
                     "outClusterList": ep.out_clusters, "clusters": {}, "binds": [], "configuredReportings": [],
                     "meta": {}}
        for ep in device.endpoints
    }
    entry: dict[str, Any] = {
        "id": index,
        "type": "Router" if device.logical_type == zigpydb.ROUTER else "EndDevice",
        "ieeeAddr": "0x" + normalize_ieee(device.ieee),
        "nwkAddr": device.nwk,
        "manufId": device.manufacturer_code,
        "manufName": device.manufacturer,
        "powerSource": MAINS if device.mains_powered else BATTERY,
        "modelId": device.model,
        "epList": [ep.id for ep in device.endpoints],
        "endpoints": endpoints,
        "interviewCompleted": True,
        "interviewState": "SUCCESSFUL",
        "meta": {},
    }
    if device.last_seen is not None:
        entry["lastSeen"] = int(device.last_seen * 1000)
    return {key: value for key, value in entry.items() if value is not None}


def _merge_kept(kept_path: Path, devices: list[zigpydb.Device]) -> list[dict[str, Any]]:
    """zigbee-herdsman's entries: zigpy's devices over the entries the import kept (when it did).

    What zigpy knows (addresses, type, model, manufacturer, power source, endpoints and clusters) is
    zigpy's; the rest of a kept entry (configured reporting, bindings, Zigbee2MQTT's configure marker,
    cached attributes, versions) is carried back, and so is the coordinator's entry. A device zigpy
    knows that the import did not (paired under flowengine) gets a new entry.
    """
    kept: dict[str, dict[str, Any]] = {}
    if kept_path.exists():
        for number, line in enumerate(kept_path.read_text(encoding="utf-8").splitlines(), start=1):
            try:
                entry = json.loads(line)
            except ValueError:
                raise MigrateError(kept_path, "not a JSON object", number) from None
            if isinstance(entry, dict) and isinstance(entry.get("ieeeAddr"), str):
                kept[entry["ieeeAddr"].lower()] = entry
    entries = [entry for entry in kept.values() if entry.get("type") == "Coordinator"]
    used = {entry.get("id") for entry in kept.values()}
    next_id = max((i for i in used if isinstance(i, int)), default=1) + 1
    for device in devices:
        ours = _herdsman_entry(0, device)
        original = kept.get(ours["ieeeAddr"])
        if original is None:
            ours["id"], next_id = next_id, next_id + 1
            entries.append(ours)
            continue
        merged = {**original, **{key: value for key, value in ours.items() if key in ZIGPY_KEYS}}
        endpoints = {}
        for ep_id, endpoint in ours["endpoints"].items():
            before = original.get("endpoints", {}).get(ep_id, {})
            endpoints[ep_id] = {**endpoint, **{key: before[key] for key in KEPT_ENDPOINT_KEYS if key in before}}
            for key in ("inClusterList", "outClusterList"):  # zigbee-herdsman's order, when the same clusters
                if sorted(before.get(key) or []) == endpoint[key]:
                    endpoints[ep_id][key] = before[key]
        merged["endpoints"] = endpoints
        entries.append(merged)
    return entries


def _bytes(colon: str) -> list[int]:
    return [int(part, 16) for part in colon.split(":")]


def plan(flow: Path) -> Export:
    """Read the flow, zigpy's database and the kept states; decide what the export writes."""
    try:
        graph = load_installed_flow(flow)
    except ConfigError as exc:
        raise MigrateError(flow, f"is not a valid flow: {str(exc).splitlines()[0]}") from None
    radio = _one(graph, "zigbee", flow).config
    decode = _one(graph, "decode", flow).config
    publish: Any = next((spec.config for spec in graph.nodes.values()
                         if spec.type == "mqtt-out" and getattr(spec.config, "zigbee2mqtt", None) is not None), None)
    if publish is None:
        raise MigrateError(flow, "has no mqtt-out in Zigbee2MQTT mode (zigbee2mqtt: …): no broker to export")
    database = Path(radio.database) if radio.database else Path(".flowengine") / f"{graph.name}-radio.zigbee.db"
    database = database if database.is_absolute() else graph.flow_dir / database
    if not database.exists():
        raise MigrateError(database, "does not exist: run the flow once so that zigpy knows the network")
    loaded = zigpydb.run(zigpydb.load(database))
    network = radio.network
    secrets: dict[str, Any] = {}
    advanced: dict[str, Any] = {"log_level": "info", "cache_state": decode.cache_state,
                                "cache_state_send_on_startup": decode.send_cached_state_on_start,
                                "last_seen": publish.zigbee2mqtt.last_seen, "output": publish.zigbee2mqtt.output}
    if decode.elapsed:
        advanced["elapsed"] = True
    if loaded.backup is not None:
        backup = loaded.backup
        key = str(backup["network_key"]["key"]).lower()
        advanced.update(channel=int(backup["channel"]), pan_id=int(str(backup["pan_id"]), 16),
                        ext_pan_id=list(bytes.fromhex(str(backup["extended_pan_id"]))))
        secrets["network_key"] = list(bytes.fromhex(key))
    elif None not in (network.channel, network.pan_id, network.extended_pan_id, network.network_key):
        advanced.update(channel=network.channel, pan_id=network.pan_id, ext_pan_id=_bytes(network.extended_pan_id))
        secrets["network_key"] = _bytes(network.network_key.get_secret_value())
    else:
        raise MigrateError(database, "holds no network backup and the flow does not give the whole network "
                           "(channel, pan_id, extended_pan_id, network_key): run the flow once on the stick")
    advanced["network_key"] = "!secret network_key"
    url = urlsplit(publish.broker)
    default_port = 8883 if url.scheme == "mqtts" else 1883
    mqtt: dict[str, Any] = {"base_topic": publish.zigbee2mqtt.base_topic,
                            "server": f"{url.scheme}://{url.hostname}:{url.port or default_port}"}
    if url.username:
        secrets["mqtt_user"] = unquote(url.username)
        mqtt["user"] = "!secret mqtt_user"
    if url.password is not None:
        secrets["mqtt_password"] = unquote(url.password)
        mqtt["password"] = "!secret mqtt_password"
    port = radio.device
    if port.startswith("socket://"):
        port = "tcp://" + port.removeprefix("socket://")
    serial: dict[str, Any] = {"port": port, "adapter": "deconz"}
    if radio.baudrate is not None:
        serial["baudrate"] = radio.baudrate
    homeassistant = publish.zigbee2mqtt.homeassistant
    availability = publish.zigbee2mqtt.availability
    names = {normalize_ieee(k): v for k, v in {**decode.friendly_names, **radio.friendly_names}.items()}
    own_options = {normalize_ieee(k): dict(v) for k, v in decode.device_options.items()}
    for ieee, publishing in publish.zigbee2mqtt.devices.items():  # retain, qos, filtered_attributes
        own = own_options.setdefault(normalize_ieee(ieee), {})
        own.update(publishing.model_dump(exclude_defaults=True))
    devices: dict[str, Any] = {}
    for device in loaded.devices:
        address = normalize_ieee(device.ieee)
        settings: dict[str, Any] = {"friendly_name": names.get(address, "0x" + address)}
        settings.update(own_options.get(address, {}))
        devices["0x" + address] = settings
    configuration: dict[str, Any] = {
        "version": SETTINGS_VERSION,
        "mqtt": mqtt,
        "serial": serial,
        "advanced": advanced,
        "homeassistant": {"enabled": bool(homeassistant)} | (
            homeassistant.model_dump() if not isinstance(homeassistant, bool) else {}),
        "availability": {"enabled": bool(availability)} | (
            {"passive": {"timeout": int(availability.timeout // 60)}} if not isinstance(availability, bool) else {}),
        "frontend": {"enabled": False},
        "devices": devices,
    }
    shared = {**decode.options, **publish.zigbee2mqtt.device_options.model_dump(exclude_defaults=True)}
    if shared:
        configuration["device_options"] = shared
    entries = _merge_kept(graph.flow_dir / HERDSMAN_ENTRIES, loaded.devices)
    state: dict[str, dict[str, Any]] = {}
    if graph.state_path is not None and graph.state_path.exists():
        store = StateStore(graph.state_path)
        try:
            node = store.node(_one(graph, "decode", flow).id)
            for name, value in node.items(CACHE_PREFIX):
                if isinstance(value, dict):
                    state["0x" + name.removeprefix(CACHE_PREFIX)] = value
        finally:
            store.close()
    return Export(configuration, secrets, entries, state, loaded.backup, len(loaded.devices))


def write(export: Export, target: Path, *, force: bool) -> None:
    """Write the data folder into ``target`` atomically (a temporary folder renamed at the end).

    Raises:
        MigrateError: ``target`` exists and is not empty (without ``force``).
    """
    target = target.absolute()
    if target.exists() and any(target.iterdir()) and not force:
        raise MigrateError(target, "exists and is not empty; --force replaces it")
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        (temporary / CONFIGURATION).write_text(dump_yaml(export.configuration), encoding="utf-8")
        descriptor = os.open(temporary / SECRETS, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(yaml.safe_dump(export.secrets, sort_keys=True, default_flow_style=None))
        (temporary / DATABASE).write_text(
            "".join(json.dumps(entry, separators=(",", ":")) + "\n" for entry in export.database), encoding="utf-8")
        (temporary / STATE).write_text(json.dumps(export.state, indent=2), encoding="utf-8")
        if export.backup is not None:
            (temporary / BACKUP).write_text(json.dumps(export.backup, indent=2), encoding="utf-8")
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
            temporary.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            temporary.rename(target)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
