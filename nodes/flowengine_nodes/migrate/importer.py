"""``flowengine import zigbee2mqtt``: a Zigbee2MQTT data folder -> a runnable flow, seeded.

:func:`plan` reads the folder (:mod:`.folder`) and decides everything: the flow (in the shape of
flows/household.yaml), its secrets, the devices for zigpy's database, the decoder's cached states,
and the summary of what is carried over and what is not. :func:`write` writes it all into a
temporary folder beside the target and renames it into place at the end, so a failure leaves
nothing half-written; the data folder is only ever read.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import yaml

from flowengine import StateStore
from flowengine_nodes.devices.decode import CACHE_PREFIX
from flowengine_nodes.devices.decoder import normalize_ieee
from flowengine_nodes.devices.definitions import Definition, default_registry
from flowengine_nodes.migrate import zigpydb
from flowengine_nodes.migrate.folder import BACKUP, DATABASE, Config, DataFolder, Herdsman, MigrateError, read_folder

FLOW = "flow.yaml"
SECRETS = "secrets.yaml"
ZIGBEE_DATABASE = "zigbee.db"
STATE_DATABASE = "state.db"
#: zigbee-herdsman's entries of the coordinator and the devices, as read: kept for the way back (what
#: zigpy has no place for: configured reporting, bindings, the configure marker, cached attributes).
HERDSMAN_ENTRIES = "zigbee2mqtt-devices.jsonl"
#: The radio libraries Zigbee2MQTT's adapters need; flowengine ships only zigpy-deconz.
ADAPTERS = {"deconz": None, "zstack": "zigpy-znp", "ezsp": "bellows", "ember": "bellows", "zigate": "zigpy-zigate",
            "zboss": "zigpy-zboss"}
#: Settings that change what Zigbee2MQTT publishes in a way flowengine does not reproduce (refused).
UNSUPPORTED_DEVICE_KEYS = {"debounce", "debounce_ignore", "throttle", "filtered_cache", "filtered_optimistic",
                           "optimistic", "retention"}
#: Device keys that change how a state is published: carried to mqtt-out's Zigbee2MQTT mode (same names).
PUBLISHING_KEYS = {"retain", "qos", "filtered_attributes"}
#: Device keys that change nothing flowengine publishes (named in the summary, not carried over).
IGNORED_DEVICE_KEYS = {"description", "icon", "homeassistant", "disabled", "disable_automatic_update_check"}
#: Top-level settings: carried over, or named in the summary as not carried over.
CARRIED = {"version", "homeassistant", "mqtt", "serial", "advanced", "availability", "devices", "device_options"}
NOT_CARRIED = {"frontend": "the frontend (web UI)", "ota": "OTA settings", "groups": "groups",
               "external_converters": "external converters", "map_options": "network map options",
               "passlist": "the device passlist", "blocklist": "the device blocklist", "health": "health checks",
               "permit_join": "permit_join at start", "onboarding": "onboarding", "ban": "the ban list",
               "whitelist": "the device whitelist"}
#: advanced.* keys: those flowengine reads, and those that change nothing it publishes.
ADVANCED_READ = {"network_key", "pan_id", "ext_pan_id", "channel", "cache_state", "cache_state_persistent",
                 "cache_state_send_on_startup", "last_seen", "output", "elapsed", "legacy_api",
                 "legacy_availability_payload"}
ADVANCED_IGNORED = {"log_level", "log_output", "log_directory", "log_file", "log_rotation", "log_symlink_current",
                    "log_syslog", "log_namespaced_levels", "log_console_json_format", "log_debug_to_mqtt_frontend",
                    "log_debug_namespace_ignore", "log_directories_to_keep", "log_console_json", "enable_external_js",
                    "adapter_concurrent", "adapter_delay",
                    "transmit_power", "timestamp_format", "ikea_ota_use_test_url",
                    "homeassistant_legacy_entity_attributes",
                    "homeassistant_legacy_triggers", "homeassistant_discovery_topic", "homeassistant_status_topic",
                    "report", "soft_reset_timeout", "availability_timeout", "availability_blocklist",
                    "availability_passlist", "network_key_file"}
#: advanced.output and advanced.last_seen: carried to mqtt-out's Zigbee2MQTT mode (same names, same values).
OUTPUTS = ("json", "attribute", "attribute_and_json")
LAST_SEEN_FORMATS = ("disable", "ISO_8601", "ISO_8601_local", "epoch")
HOMEASSISTANT_KEYS = {"enabled", "discovery_topic", "status_topic", "legacy_action_sensor",
                      "experimental_event_entities", "legacy_entity_attributes", "legacy_triggers"}
MQTT_KEYS = {"base_topic", "server", "user", "password", "client_id", "ca", "key", "cert", "keepalive", "version",
             "include_device_information", "force_disable_retain", "reject_unauthorized", "maximum_packet_size", "qos",
             "server_name"}
SERIAL_KEYS = {"port", "adapter", "baudrate", "rtscts", "disable_led"}


class Secret(str):
    """A value written to secrets.yaml and named in the flow by ``!secret <name>``."""

    __slots__ = ()


def _represent_secret(dumper: yaml.SafeDumper, value: Secret) -> yaml.Node:
    return dumper.represent_scalar("!secret", str(value))


class FlowDumper(yaml.SafeDumper):
    """Safe YAML out, with ``!secret`` references; a value written twice (the friendly names) is ``&names``."""

    def generate_anchor(self, node: yaml.Node) -> str:
        """Name the one shared value (the friendly names) for what it is."""
        return "names"


FlowDumper.add_representer(Secret, _represent_secret)


@dataclass
class Plan:
    """Everything the import would write, and what it says."""

    source: Path
    flow: dict[str, Any]
    secrets: dict[str, str]
    devices: list[zigpydb.Device]
    states: dict[str, dict[str, Any]]
    backups: list[dict[str, Any]]
    herdsman: list[dict[str, Any]] = field(default_factory=list)
    carried: list[str] = field(default_factory=list)
    not_carried: list[str] = field(default_factory=list)
    unknown_models: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """The honest summary: what is carried over, what is not."""
        lines = [f"Zigbee2MQTT data folder {self.source}:", "carried over:"]
        lines += [f"  - {item}" for item in self.carried]
        lines.append("not carried over:")
        lines += [f"  - {item}" for item in self.not_carried] or ["  - nothing"]
        if self.unknown_models:
            lines.append("devices of models flowengine does not know (kept in zigpy's database, not decoded):")
            lines += [f"  - {item}" for item in self.unknown_models]
        return "\n".join(lines)


def _colon(values: Any, size: int, config_keys: tuple[str, ...], data: DataFolder) -> str | None:
    """Zigbee2MQTT's byte arrays (ext_pan_id, network_key) as colon hex; GENERATE or unset: None."""
    if values is None or values == "GENERATE":
        return None
    if (not isinstance(values, list) or len(values) != size
            or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in values)):
        raise data.config.error(config_keys, f"{config_keys[-1]} must be a list of {size} bytes")
    return ":".join(f"{v:02x}" for v in values)


def _network(data: DataFolder) -> tuple[dict[str, Any], str | None]:
    """The expected network (flow's ``network``) and the key (a secret), from the backup or the config."""
    config = data.config
    backup = data.backup
    if backup is not None:
        try:
            key = str(backup["network_key"]["key"]).lower()
            network = {"form": False, "channel": int(backup["channel"]), "pan_id": int(str(backup["pan_id"]), 16),
                       "extended_pan_id": ":".join(str(backup["extended_pan_id"]).lower()[i:i + 2]
                                                   for i in range(0, 16, 2))}
        except (KeyError, TypeError, ValueError) as exc:
            raise MigrateError(data.path / BACKUP, f"not an Open ZigBee Coordinator Backup (missing or bad {exc})"
                               ) from None
        return network, ":".join(key[i:i + 2] for i in range(0, 32, 2))
    network = {"form": False}
    channel = config.get("advanced", "channel")
    if isinstance(channel, int):
        network["channel"] = channel
    pan_id = config.get("advanced", "pan_id")
    if isinstance(pan_id, int) and not isinstance(pan_id, bool):
        network["pan_id"] = pan_id
    extended = _colon(config.get("advanced", "ext_pan_id"), 8, ("advanced", "ext_pan_id"), data)
    if extended is not None:
        network["extended_pan_id"] = extended
    return network, _colon(config.get("advanced", "network_key"), 16, ("advanced", "network_key"), data)


def _section(config: Config, name: str, known: Collection[str]) -> dict[str, Any]:
    """The top-level mapping ``name`` of configuration.yaml ({} when absent), every key in ``known``."""
    section = config.get(name, default={})
    if not isinstance(section, dict):
        raise config.error((name,), f"{name} must be a mapping")
    for key in section:
        if key not in known:
            raise config.error((name, key), f"unknown setting {name}.{key}")
    return section


def _device_path(data: DataFolder) -> tuple[str, int | None]:
    config = data.config
    serial = _section(config, "serial", SERIAL_KEYS)
    adapter = serial.get("adapter")
    port = serial.get("port")
    if adapter is None:
        raise config.error(("serial",), "serial.adapter is not set (Zigbee2MQTT guesses it; flowengine needs "
                           "'adapter: deconz', the only adapter it drives)")
    if adapter not in ADAPTERS:
        raise config.error(("serial", "adapter"), f"unknown adapter {adapter!r} (Zigbee2MQTT's are "
                           + ", ".join(sorted(ADAPTERS)) + ")")
    library = ADAPTERS[adapter]
    if library is not None:
        raise config.error(("serial", "adapter"), f"adapter {adapter!r}: zigpy drives it with {library}, which "
                           "flowengine does not ship; flowengine drives deCONZ sticks (ConBee, RaspBee) only, "
                           "with zigpy-deconz")
    if not isinstance(port, str) or not port:
        raise config.error(("serial", "port"), "serial.port is not set (flowengine needs the stick's path)")
    if port.startswith("tcp://"):
        port = "socket://" + port.removeprefix("tcp://")
    baudrate = serial.get("baudrate")
    return port, baudrate if isinstance(baudrate, int) else None


def _connection(data: DataFolder) -> tuple[dict[str, Any], list[str]]:
    """mqtt-in/out connection settings beside the URL (TLS files, keepalive, protocol), and what is left out."""
    mqtt = data.config.get("mqtt", default={})
    settings: dict[str, Any] = {}
    left: list[str] = []
    for key in ("ca", "cert", "key"):
        if isinstance(mqtt.get(key), str):
            path = Path(mqtt[key])
            settings[key] = str(path if path.is_absolute() else (data.path / path).absolute())
    if isinstance(mqtt.get("keepalive"), int):
        settings["keepalive"] = mqtt["keepalive"]
    if mqtt.get("version") == 5:
        settings["protocol"] = "5"
    for key, why in (("client_id", "each MQTT node has its own client id"),
                     ("reject_unauthorized", "flowengine always verifies the broker's certificate"),
                     ("server_name", "the certificate is checked against the host of mqtt.server"),
                     ("include_device_information", "payloads carry no device information"),
                     ("force_disable_retain", "bridge topics stay retained")):
        if key in mqtt:
            left.append(f"mqtt.{key} ({why}; configuration.yaml line {data.config.line('mqtt', key)})")
    return settings, left


def _broker(data: DataFolder) -> tuple[str, str]:
    """The broker URL with credentials (a secret) and the base topic."""
    config = data.config
    mqtt = _section(config, "mqtt", MQTT_KEYS)
    server = mqtt.get("server")
    if not isinstance(server, str) or not server:
        raise config.error(("mqtt", "server"), "mqtt.server is not set")
    parts = urlsplit(server)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise config.error(("mqtt", "server"), "mqtt.server must be mqtt://host[:port] or mqtts://host[:port]")
    user, password = mqtt.get("user"), mqtt.get("password")
    credentials = ""
    if user is not None:
        credentials = quote(str(user), safe="") + (f":{quote(str(password), safe='')}" if password is not None else "")
        credentials += "@"
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    url = f"{parts.scheme}://{credentials}{host}" + (f":{parts.port}" if parts.port else "")
    base = mqtt.get("base_topic", "zigbee2mqtt")
    if not isinstance(base, str) or not base:
        raise config.error(("mqtt", "base_topic"), "mqtt.base_topic must be a topic")
    return url, base


def _advanced(data: DataFolder) -> dict[str, Any]:
    config = data.config
    advanced = _section(config, "advanced", ADVANCED_READ | ADVANCED_IGNORED)
    for key, values in (("output", OUTPUTS), ("last_seen", LAST_SEEN_FORMATS)):
        if key in advanced and advanced[key] not in values:
            raise config.error(("advanced", key), f"advanced.{key} {advanced[key]!r}: Zigbee2MQTT's values are "
                               + ", ".join(values))
    if not isinstance(advanced.get("elapsed", False), bool):
        raise config.error(("advanced", "elapsed"), "advanced.elapsed must be true or false")
    return advanced


def _publishing(data: DataFolder, where: tuple[str, ...], value: Any) -> Any:
    """A device's ``retain``, ``qos`` or ``filtered_attributes``, checked as Zigbee2MQTT's schema has it."""
    key = where[-1]
    fine = (isinstance(value, bool) if key == "retain"
            else value in (0, 1, 2) and not isinstance(value, bool) if key == "qos"
            else isinstance(value, list) and all(isinstance(item, str) for item in value))
    if not fine:
        expected = {"retain": "true or false", "qos": "0, 1 or 2"}.get(key, "a list of regular expressions")
        raise data.config.error(where, f"{'.'.join(where)} must be {expected}")
    return value


def _version(data: DataFolder) -> int:
    version = data.config.get("version")
    if version is None:
        return 1
    if not isinstance(version, int) or isinstance(version, bool):
        raise data.config.error(("version",), "version must be a number")
    return version


def _options_of(definition: Definition | None) -> set[str]:
    if definition is None:
        return set()
    names = {option.name for option in definition.options}
    for key in definition.precision:
        names.update((f"{key}_calibration", f"{key}_precision"))
    return names


def _all_options() -> set[str]:
    names: set[str] = set()
    for definition in default_registry():
        names |= _options_of(definition)
    return names


def _zigpy_device(record: Herdsman) -> zigpydb.Device:
    entry = record.entry
    endpoints = []
    raw_endpoints = entry.get("endpoints") or {}
    for ep_id, endpoint in sorted(raw_endpoints.items(), key=lambda item: int(item[0])):
        if not isinstance(endpoint, dict):
            raise MigrateError(None, f"device {entry['ieeeAddr']}: endpoint {ep_id} is not an object", record.line)
        endpoints.append(zigpydb.Endpoint(
            int(endpoint.get("epId", ep_id)), int(endpoint.get("profId") or 0), int(endpoint.get("devId") or 0),
            [int(c) for c in endpoint.get("inClusterList") or []],
            [int(c) for c in endpoint.get("outClusterList") or []]))
    power = str(entry.get("powerSource") or "")
    last_seen = entry.get("lastSeen")
    return zigpydb.Device(
        ieee=record.ieee, nwk=int(entry["nwkAddr"]),
        logical_type=zigpydb.ROUTER if entry.get("type") == "Router" else zigpydb.END_DEVICE,
        mains_powered=power.startswith(("Mains", "DC")),
        manufacturer_code=entry.get("manufId") if isinstance(entry.get("manufId"), int) else None,
        model=entry.get("modelId"), manufacturer=entry.get("manufName"), endpoints=endpoints,
        last_seen=last_seen / 1000 if isinstance(last_seen, int | float) else None)


def plan(folder: Path) -> Plan:
    """Read ``folder`` and decide what the import writes (nothing is written)."""
    data = read_folder(folder)
    config = data.config
    for key in config.values:
        if key not in CARRIED and key not in NOT_CARRIED:
            raise config.error((key,), f"unknown setting {key!r}")
    version = _version(data)
    device_path, baudrate = _device_path(data)
    broker, base = _broker(data)
    connection, connection_left = _connection(data)
    advanced = _advanced(data)
    network, network_key = _network(data)
    if data.backup is not None:
        try:
            zigpydb.check_backup(data.backup)
        except ValueError as exc:
            raise MigrateError(data.path / BACKUP, str(exc)) from None
    output = str(advanced.get("output", "json"))
    last_seen = str(advanced.get("last_seen", "disable"))
    # Only what differs from Zigbee2MQTT's defaults is written (the flow stays as short as before).
    published: dict[str, Any] = {key: value for key, value, default in (("last_seen", last_seen, "disable"),
                                                        ("output", output, "json")) if value != default}
    cache_state = bool(advanced.get("cache_state", True))
    send_on_start = bool(advanced.get("cache_state_send_on_startup", True)) and cache_state
    homeassistant = config.get("homeassistant", default=False)
    ha_enabled = bool(homeassistant.get("enabled", True)) if isinstance(homeassistant, dict) else bool(homeassistant)
    ha_settings: bool | dict[str, Any] = ha_enabled
    if isinstance(homeassistant, dict):
        for key in homeassistant:
            if key not in HOMEASSISTANT_KEYS:
                raise config.error(("homeassistant", key), f"unknown setting homeassistant.{key}")
        extra = {key: homeassistant[key] for key in ("discovery_topic", "status_topic") if key in homeassistant}
        if ha_enabled and extra:
            ha_settings = extra
    availability = config.get("availability", default=False)
    availability_setting: bool | dict[str, Any] = False
    if isinstance(availability, dict):
        if availability.get("enabled", True):
            passive = availability.get("passive", {})
            minutes = passive.get("timeout") if isinstance(passive, dict) else None
            availability_setting = {"timeout": f"{int(minutes)}m"} if isinstance(minutes, int | float) else True
    elif availability:
        availability_setting = True
    global_options = config.get("device_options", default={}) or {}
    if not isinstance(global_options, dict):
        raise config.error(("device_options",), "device_options must be a mapping")
    known_options = _all_options()
    global_publishing = {key: _publishing(data, ("device_options", key), global_options[key])
                         for key in sorted(PUBLISHING_KEYS) if key in global_options}
    global_options = {key: value for key, value in global_options.items() if key not in PUBLISHING_KEYS}
    for key in global_options:
        if key in UNSUPPORTED_DEVICE_KEYS:
            raise config.error(("device_options", key), f"device_options.{key}: flowengine cannot honour it "
                               "(it changes what is published)")
        if key not in known_options and key not in IGNORED_DEVICE_KEYS:
            raise config.error(("device_options", key), f"unknown setting device_options.{key}")

    registry = default_registry()
    settings = config.get("devices", default={}) or {}
    if not isinstance(settings, dict):
        raise config.error(("devices",), "devices must be a mapping of IEEE addresses to settings")
    by_address = {normalize_ieee(key): key for key in settings}
    names: dict[str, str] = {}
    device_options: dict[str, dict[str, Any]] = {}
    publishing: dict[str, dict[str, Any]] = {}
    ignored: list[str] = []
    unknown_models: list[str] = []
    zigpy_devices: list[zigpydb.Device] = []
    not_interviewed: list[str] = []
    herdsman_ieees = set()
    for record in data.devices:
        address = normalize_ieee(record.ieee)
        herdsman_ieees.add(address)
        entry_key = by_address.get(address)
        own = settings.get(entry_key, {}) if entry_key is not None else {}
        if not isinstance(own, dict):
            raise config.error(("devices", str(entry_key)), "a device's settings must be a mapping")
        name = str(own.get("friendly_name", "0x" + address))
        model_id = record.entry.get("modelId")
        definition = registry.find(str(model_id)) if model_id else None
        if definition is None:
            unknown_models.append(f"{name} ({record.ieee}, model {model_id!r}, {record.entry.get('manufName')})")
        options: dict[str, Any] = {}
        for option, value in own.items():
            where = ("devices", str(entry_key), option)
            if option == "friendly_name":
                continue
            if option in UNSUPPORTED_DEVICE_KEYS:
                raise config.error(where, f"devices.{entry_key}.{option}: flowengine cannot honour it (it changes what "
                                   "is published)")
            if option in PUBLISHING_KEYS:
                publishing.setdefault(record.ieee, {})[option] = _publishing(data, where, value)
                continue
            if option in IGNORED_DEVICE_KEYS:
                ignored.append(f"{name}: {option} (configuration.yaml line {config.line(*where)})")
                continue
            if option == "legacy" and version >= 4:
                continue
            allowed = _options_of(definition) if definition is not None else known_options
            if option not in allowed:
                raise config.error(where, f"unknown setting devices.{entry_key}.{option} (the options of "
                                   f"{definition.model if definition else 'the models flowengine knows'}: "
                                   + (", ".join(sorted(allowed)) or "none") + ")")
            options[option] = value
        names[record.ieee] = str(name)
        if options:
            device_options[record.ieee] = options
        if not record.interviewed:
            not_interviewed.append(f"{name} ({record.ieee})")
            continue
        try:
            zigpy_devices.append(_zigpy_device(record))
        except (TypeError, ValueError, AttributeError) as exc:
            raise MigrateError(data.path / DATABASE, f"device {record.entry['ieeeAddr']}: an endpoint that is not "
                               f"zigbee-herdsman's ({exc})", record.line) from None
    for address, entry_key in by_address.items():
        if address not in herdsman_ieees:
            raise config.error(("devices", entry_key), f"device {entry_key} is configured but not in database.db")

    states: dict[str, dict[str, Any]] = {}
    if data.state is not None and cache_state:
        for key, state in data.state.items():
            address = normalize_ieee(key)
            if address in herdsman_ieees:
                states[address] = {k: v for k, v in state.items() if k != "action" and not k.startswith("action_")}

    if global_publishing:
        published["device_options"] = global_publishing
    if publishing:
        published["devices"] = publishing
    secrets = {"mqtt_url": broker}
    if network_key is not None:
        secrets["zigbee_network_key"] = network_key
        network["network_key"] = Secret("zigbee_network_key")
    flow = _flow(device_path=device_path, baudrate=baudrate, base=base, network=network, names=names,
                 homeassistant=ha_settings, availability=availability_setting, cache_state=cache_state,
                 send_on_start=send_on_start, compat=2 if version >= 4 else 1, options=dict(global_options),
                 device_options=device_options, connection=connection, published=published,
                 elapsed=advanced.get("elapsed", False) is True)
    result = Plan(folder, flow, secrets, zigpy_devices, states, [data.backup] if data.backup is not None else [])
    result.unknown_models = unknown_models
    result.herdsman = [record.entry for record in ([data.coordinator] if data.coordinator else []) + data.devices]
    result.carried = [
        f"{len(zigpy_devices)} devices into zigpy's database (addresses, endpoints, clusters, model, manufacturer, "
        "power source): none is interviewed again",
        f"friendly names and options of {len(names)} devices"
        + (f" ({sum(1 for n in names.values() if '/' in n or ' ' in n)} with spaces or '/')" if names else ""),
        f"the stick on {device_path} (adapter deconz), base topic {base!r}, MQTT server and credentials "
        "(secrets.yaml)",
        "the network (channel, PAN id, extended PAN id, key) as the one the stick must hold"
        + (" (from coordinator_backup.json)" if data.backup is not None else " (from configuration.yaml)"),
        f"cached state of {len(states)} devices (cache_state {'on' if cache_state else 'off'}, sent on start "
        f"{'yes' if send_on_start else 'no'})",
        f"Home Assistant discovery {'on' if ha_enabled else 'off'}, availability "
        f"{'on' if availability_setting else 'off'}, output {output}, last_seen {last_seen}, elapsed "
        f"{'on' if advanced.get('elapsed') is True else 'off'}"
        + (f", retain/qos/filtered_attributes of {len(publishing)} devices" if publishing else "")
        + (" and of every device (device_options)" if global_publishing else ""),
    ]
    result.not_carried = [*data.warnings, *connection_left]
    if data.groups:
        result.not_carried.append(f"{len(data.groups)} groups in database.db (flowengine serves no groups)")
    bindings = sum(len(ep.get("binds") or []) for r in data.devices
                   for ep in (r.entry.get("endpoints") or {}).values() if isinstance(ep, dict))
    reports = sum(len(ep.get("configuredReportings") or []) for r in data.devices
                  for ep in (r.entry.get("endpoints") or {}).values() if isinstance(ep, dict))
    if bindings or reports:
        result.not_carried.append(f"{bindings} bindings and {reports} configured reportings: they stay on the "
                                  "devices, flowengine does not manage them")
    for key, what in NOT_CARRIED.items():
        if key in config.values:
            result.not_carried.append(f"{what} ({key}, configuration.yaml line {config.line(key)})")
    for sub, what in (("external_converters", "external converters"), ("external_extensions", "extensions")):
        found = sorted(p.name for p in (folder / sub).glob("*")) if (folder / sub).is_dir() else []
        if found:
            result.not_carried.append(f"{what} ({sub}/: {', '.join(found)}): flowengine runs no JavaScript")
    result.not_carried += [f"device setting {item}" for item in ignored]
    if not_interviewed:
        result.not_carried.append("devices whose interview never finished (zigpy interviews them when they next "
                                  "announce): " + ", ".join(not_interviewed))
    if data.backup is None:
        result.not_carried.append("coordinator_backup.json: absent (--restore-network cannot be used)")
    return result


def _flow(*, device_path: str, baudrate: int | None, base: str, network: dict[str, Any], names: dict[str, str],
          homeassistant: bool | dict[str, Any], availability: bool | dict[str, Any], cache_state: bool,
          send_on_start: bool, compat: int, options: dict[str, Any], device_options: dict[str, dict[str, Any]],
          connection: dict[str, Any], published: dict[str, Any], elapsed: bool) -> dict[str, Any]:
    """The flow, in the shape of flows/household.yaml."""
    radio: dict[str, Any] = {"id": "radio", "type": "zigbee", "radio": "deconz", "device": device_path,
                             "database": ZIGBEE_DATABASE}
    if baudrate is not None:
        radio["baudrate"] = baudrate
    radio.update({"network": network, "homeassistant": bool(homeassistant), "base_topic": base,
                  "friendly_names": names,
                  "wires": {"out": ["decode"], "events": ["radio_events", "api"], "state": ["publish"],
                            "errors": ["command_errors"]}})
    decode: dict[str, Any] = {"id": "decode", "type": "decode", "compat": compat, "base_topic": base,
                              "cache_state": cache_state, "keep_state": cache_state,
                              "send_cached_state_on_start": send_on_start, "friendly_names": names}
    if options:
        decode["options"] = options
    if device_options:
        decode["device_options"] = device_options
    if elapsed:
        decode["elapsed"] = True
    decode["wires"] = {"out": ["publish"], "events": ["device_events"]}
    broker = Secret("mqtt_url")
    topics = [f"{base}/+/set", f"{base}/+/set/+", f"{base}/+/get", f"{base}/bridge/request/#"]
    for name in sorted(names.values()):
        if "/" in name:  # a name with '/' spans several topic levels
            topics += [f"{base}/{name}/set", f"{base}/{name}/set/+", f"{base}/{name}/get"]
    return {
        "version": 1,
        "name": "zigbee2mqtt",
        "state": STATE_DATABASE,
        "nodes": [
            radio,
            {"id": "radio_events", "type": "log"},
            decode,
            {"id": "device_events", "type": "log"},
            {"id": "publish", "type": "mqtt-out", "broker": broker, **connection, "qos": 1,
             "zigbee2mqtt": {"base_topic": base, "homeassistant": homeassistant, "availability": availability,
                             **published}},
            {"id": "requests", "type": "mqtt-in", "broker": broker, **connection, "topics": topics, "qos": 1,
             "format": "text", "wires": ["api"]},
            {"id": "api", "type": "zigbee2mqtt-api", "base_topic": base, "friendly_names": names,
             "wires": {"out": ["publish"], "commands": ["radio"]}},
            {"id": "command_errors", "type": "log", "level": "warning"},
        ],
    }


HEADER = """\
# Imported from a Zigbee2MQTT data folder by `flowengine import zigbee2mqtt` (docs/migrate.md).
# The network stays the one on the stick (network.form: false): a stick without it stops the flow.
# Secrets (the broker URL with its credentials, the network key) are in secrets.yaml beside this file.
"""


def dump_yaml(value: Any) -> str:
    """Safe YAML text of ``value``, with ``!secret name`` references written plainly."""
    text = yaml.dump(value, Dumper=FlowDumper, sort_keys=False, allow_unicode=True, width=110)
    return re.sub(r"!secret '([A-Za-z0-9_]+)'", r"!secret \1", text)


def flow_text(flow: dict[str, Any]) -> str:
    """The flow file's text (safe YAML; the friendly names written once and referenced)."""
    return HEADER + dump_yaml(flow)


def refuse_inside(target: Path, data_dir: Path) -> None:
    """Raise :class:`MigrateError` when ``target`` is the data folder or inside it (never written to)."""
    resolved, source = target.resolve(), data_dir.resolve()
    if resolved == source or source in resolved.parents:
        raise MigrateError(target, f"is inside the data folder {data_dir}, which the import never writes to")


def refuse_existing(target: Path, *, force: bool) -> None:
    """Raise :class:`MigrateError` when ``target`` exists and ``force`` is not given."""
    if target.absolute().exists() and not force:
        raise MigrateError(target, "exists; --force replaces it")


def write(result: Plan, target: Path, *, force: bool) -> None:
    """Write the planned flow into ``target``: a temporary folder beside it, renamed into place at the end.

    Raises:
        MigrateError: ``target`` exists (without ``force``), or writing failed (nothing is left behind).
    """
    target = target.absolute()
    refuse_existing(target, force=force)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        (temporary / FLOW).write_text(flow_text(result.flow), encoding="utf-8")
        secrets_path = temporary / SECRETS
        descriptor = os.open(secrets_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(yaml.safe_dump(result.secrets, sort_keys=True))
        zigpydb.run(zigpydb.seed(temporary / ZIGBEE_DATABASE, result.devices, result.backups))
        (temporary / HERDSMAN_ENTRIES).write_text(
            "".join(json.dumps(entry, separators=(",", ":")) + "\n" for entry in result.herdsman), encoding="utf-8")
        store = StateStore(temporary / STATE_DATABASE)
        try:
            state = store.node("decode")
            state.update({CACHE_PREFIX + address: value for address, value in result.states.items()})
        finally:
            store.close()
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            if old.exists():
                shutil.rmtree(old)
            target.rename(old)
        temporary.rename(target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
