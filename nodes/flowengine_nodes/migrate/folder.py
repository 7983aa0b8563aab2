"""Reading a Zigbee2MQTT data folder, each problem a :class:`MigrateError` naming the file and line.

configuration.yaml (with secret.yaml), database.db, state.json and coordinator_backup.json.
Nothing here writes: the folder is only read.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CONFIGURATION = "configuration.yaml"
SECRETS = "secret.yaml"
DATABASE = "database.db"
STATE = "state.json"
BACKUP = "coordinator_backup.json"
#: Settings whose text may be a reference to another file's key, as Zigbee2MQTT reads them:
#: ``'!secret network_key'`` is the key ``network_key`` of secret.yaml (``'!other key'``: other.yaml).
REFERENCE_SETTINGS = (("mqtt", "user"), ("mqtt", "password"), ("mqtt", "server"), ("advanced", "network_key"),
                      ("frontend", "auth_token"))
_REFERENCE = re.compile(r"^!(\S+) (\S+)$")
#: The most a data folder's file may hold (a household's database.db is a few hundred kB).
MAX_FILE_BYTES = 64 * 1024 * 1024


class MigrateError(Exception):
    """Bad input or a refused move: one line, naming the file (and line) where there is one."""

    def __init__(self, where: Path | str | None, message: str, line: int | None = None) -> None:
        self.where = where
        self.line = line
        self.message = message
        place = "" if where is None else f"{where}:{line}: " if line is not None else f"{where}: "
        super().__init__(place + message)


@dataclass
class Config:
    """configuration.yaml as values, with the line of every value by its key path."""

    path: Path
    values: dict[str, Any]
    lines: dict[tuple[str, ...], int]

    def get(self, *keys: str, default: Any = None) -> Any:
        """The value at ``keys`` (``default`` when a level is missing or not a mapping)."""
        value: Any = self.values
        for key in keys:
            if not isinstance(value, dict) or key not in value:
                return default
            value = value[key]
        return value

    def line(self, *keys: str) -> int | None:
        """The line of the value at ``keys``, or of its nearest enclosing key."""
        path = tuple(keys)
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path)

    def error(self, keys: tuple[str, ...], message: str) -> MigrateError:
        """A :class:`MigrateError` at the line of ``keys``."""
        return MigrateError(self.path, message, self.line(*keys))


@dataclass
class Herdsman:
    """One device entry of database.db (zigbee-herdsman's format), with its line."""

    line: int
    entry: dict[str, Any]

    @property
    def ieee(self) -> str:
        """The IEEE address as colon hex (``00:15:8d:…``)."""
        text = str(self.entry.get("ieeeAddr", "")).lower().removeprefix("0x")
        return ":".join(text[i:i + 2] for i in range(0, len(text), 2))

    @property
    def interviewed(self) -> bool:
        """Whether zigbee-herdsman finished this device's interview."""
        state = self.entry.get("interviewState")
        return state == "SUCCESSFUL" if state is not None else bool(self.entry.get("interviewCompleted"))


@dataclass
class DataFolder:
    """What a Zigbee2MQTT data folder holds, read and checked."""

    path: Path
    config: Config
    devices: list[Herdsman] = field(default_factory=list)
    coordinator: Herdsman | None = None
    groups: list[Herdsman] = field(default_factory=list)
    state: dict[str, dict[str, Any]] | None = None
    backup: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)


def _read_text(path: Path) -> str:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise MigrateError(path, f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB: not a Zigbee2MQTT file")
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MigrateError(path, "does not exist") from None
    except UnicodeDecodeError as exc:
        raise MigrateError(path, f"is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise MigrateError(path, f"cannot be read: {exc.strerror or type(exc).__name__}") from None


class _Yaml:
    """Safe YAML with the line of every value and ``!secret`` resolved from secret.yaml."""

    def __init__(self, path: Path, secrets_path: Path | None) -> None:
        self.path = path
        self.secrets_path = secrets_path
        self.lines: dict[tuple[str, ...], int] = {}
        self._files: dict[Path, dict[str, Any]] = {}

    def load(self) -> Any:
        text = _read_text(self.path)
        try:
            loader = yaml.SafeLoader(text)
            try:
                root = loader.get_single_node()
                return None if root is None else self._value(loader, root, ())
            finally:
                loader.dispose()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            raise MigrateError(self.path, f"not valid YAML: {exc.problem or exc.context}",
                               None if mark is None else mark.line + 1) from None
        except yaml.YAMLError as exc:
            raise MigrateError(self.path, f"not valid YAML: {exc}") from None

    def _value(self, loader: yaml.SafeLoader, node: yaml.Node, path: tuple[str, ...]) -> Any:
        line = node.start_mark.line + 1
        self.lines.setdefault(path, line)
        if node.tag == "!secret":
            return self._secret(str(node.value), line)
        if isinstance(node, yaml.MappingNode):
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = loader.construct_object(key_node, deep=True)
                if not isinstance(key, str | int):
                    raise MigrateError(self.path, "a key that is not text", key_node.start_mark.line + 1)
                name = str(key)
                self.lines[(*path, name)] = key_node.start_mark.line + 1
                result[name] = self._value(loader, value_node, (*path, name))
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self._value(loader, item, (*path, str(index))) for index, item in enumerate(node.value)]
        if node.tag.startswith("!"):
            raise MigrateError(self.path, f"unknown tag {node.tag} (Zigbee2MQTT knows only !secret)", line)
        return loader.construct_object(node, deep=True)

    def _secret(self, name: str, line: int) -> Any:
        if self.secrets_path is None:
            raise MigrateError(self.path, "!secret inside a secrets file", line)
        return self.reference(self.secrets_path, f"!secret {name}", name, line)

    def reference(self, path: Path, text: str, key: str, line: int | None) -> Any:
        """The value of ``key`` in the YAML file ``path``, which ``text`` (at ``line``) refers to."""
        if path not in self._files:
            if not path.exists():
                raise MigrateError(self.path, f"{text}: {path} does not exist", line)
            loaded = _Yaml(path, None).load()
            if not isinstance(loaded, dict):
                raise MigrateError(path, "is not a mapping of names to values")
            self._files[path] = loaded
        if key not in self._files[path]:
            raise MigrateError(self.path, f"{text}: not defined in {path}", line)
        return self._files[path][key]


def read_config(folder: Path) -> Config:
    """Read configuration.yaml (safe YAML; ``!secret`` from secret.yaml)."""
    path = folder / CONFIGURATION
    reader = _Yaml(path, folder / SECRETS)
    values = reader.load()
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise MigrateError(path, "is not a mapping of settings", 1)
    config = Config(path, values, reader.lines)
    for section, key in REFERENCE_SETTINGS:
        text = config.get(section, key)
        match = _REFERENCE.match(text) if isinstance(text, str) else None
        if match is not None:
            name = match.group(1) if match.group(1).endswith((".yaml", ".yml")) else match.group(1) + ".yaml"
            values[section][key] = reader.reference(folder / name, text, match.group(2), config.line(section, key))
    return config


def read_database(path: Path) -> tuple[Herdsman | None, list[Herdsman], list[Herdsman]]:
    """Read database.db: (coordinator, devices, groups). A line that is not a JSON object is an error."""
    coordinator: Herdsman | None = None
    devices: list[Herdsman] = []
    groups: list[Herdsman] = []
    text = _read_text(path)
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError as exc:
            raise MigrateError(path, f"not a JSON object ({exc}): a corrupt or truncated line", number) from None
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), int):
            raise MigrateError(path, "not a zigbee-herdsman entry (a JSON object with an id)", number)
        kind = entry.get("type")
        record = Herdsman(number, entry)
        if kind == "Group":
            groups.append(record)
            continue
        if not isinstance(entry.get("ieeeAddr"), str) or len(record.ieee.replace(":", "")) != 16:
            raise MigrateError(path, "a device entry without a valid ieeeAddr", number)
        if not isinstance(entry.get("nwkAddr"), int):
            raise MigrateError(path, f"device {entry['ieeeAddr']} has no nwkAddr", number)
        if kind == "Coordinator":
            coordinator = record
        else:
            devices.append(record)
    return coordinator, devices, groups


def read_json_object(path: Path) -> dict[str, Any]:
    """Read a JSON file that holds one object (state.json, coordinator_backup.json)."""
    text = _read_text(path)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MigrateError(path, f"not valid JSON ({exc.msg})", exc.lineno) from None
    if not isinstance(value, dict):
        raise MigrateError(path, "not a JSON object", 1)
    return value


def read_folder(folder: Path) -> DataFolder:
    """Read and check a whole data folder (nothing is written)."""
    if not folder.is_dir():
        raise MigrateError(folder, "is not a folder (a Zigbee2MQTT data folder holds configuration.yaml)")
    config = read_config(folder)
    result = DataFolder(folder, config)
    result.coordinator, result.devices, result.groups = read_database(folder / DATABASE)
    state_path = folder / STATE
    if state_path.exists():
        state = read_json_object(state_path)
        result.state = {key: value for key, value in state.items() if isinstance(value, dict)}
    else:
        result.warnings.append(f"{state_path}: does not exist: no cached state is carried over (devices start "
                               "with an empty state, as Zigbee2MQTT would)")
    backup_path = folder / BACKUP
    if backup_path.exists():
        result.backup = read_json_object(backup_path)
    return result
