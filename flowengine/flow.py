"""Turning a flow file into a checked :class:`~flowengine.graph.FlowGraph` (CONTRACT §1).

Every problem — YAML syntax, unknown keys, config values, wiring, cycles — is collected
with its position, and :class:`~flowengine.errors.ConfigError` carries all of them at
once. Nothing is started here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from flowengine import lint
from flowengine.errors import ConfigError, Issue
from flowengine.graph import FlowGraph, NodeSpec, build_graph, find_cycles
from flowengine.loader import Document, YamlPath, load_yaml
from flowengine.node import ERRORS_PORT, Node, NodeConfig, expand_home
from flowengine.redaction import expand, redact
from flowengine.registry import Registry, RegistryError, suggest
from flowengine.web.settings import HttpSettings, parse_listen

TOP_LEVEL_KEYS = ("version", "name", "state", "nodes", "http")
RESERVED_NODE_KEYS = ("id", "type", "wires", "name", "comment", "disabled")
NODE_ID = re.compile(r"^[a-z0-9_-]+$")
MEMORY_STATE = "memory"


class LoadedFlow:
    """The outcome of loading one file: the graph (when valid), errors and warnings."""

    def __init__(self, file: str, graph: FlowGraph | None, issues: list[Issue]) -> None:
        self.file = file
        self.graph = graph
        self.errors = [issue for issue in issues if issue.severity == "error"]
        self.warnings = [issue for issue in issues if issue.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when the flow has no errors (warnings allowed)."""
        return not self.errors and self.graph is not None


def load_flow(path: Path | str, registry: Registry, *, text: str | None = None,
              environ: Mapping[str, str] | None = None, check_files: bool = True) -> LoadedFlow:
    """Load, validate and check the flow at ``path``; never raises for problems in the flow.

    ``check_files=False`` skips the checks of files the flow reads or writes (a capture that must
    exist, a sink's folder): for flow tests, which replace the sources and sinks. Node configs see
    it as ``check_files`` in their validation context, beside ``flow_dir``.
    """
    file = Path(path)
    document = load_yaml(file, text=text, environ=environ)
    checker = _FlowChecker(file, document, registry, check_files=check_files)
    graph = checker.check()
    issues = sorted(document.issues + checker.issues, key=lambda i: (i.line, i.column))
    if document.secrets:
        # A secret may land in any message (a bad model, duration, topic, version...).
        forms = expand(document.secrets)
        issues = [replace(issue, message=redact(issue.message, forms)) for issue in issues]
    has_errors = any(issue.severity == "error" for issue in issues)
    return LoadedFlow(document.file, None if has_errors else graph, issues)


def load_flow_or_raise(path: Path | str, registry: Registry, **kwargs: Any) -> FlowGraph:
    """Like :func:`load_flow` but raise :class:`ConfigError` with every error found."""
    loaded = load_flow(path, registry, **kwargs)
    if not loaded.ok or loaded.graph is None:
        raise ConfigError(loaded.errors)
    return loaded.graph


def load_installed_flow(path: Path | str) -> FlowGraph:
    """Load and validate the flow at ``path`` with the installed node types (for tools that read a flow).

    Raises:
        ConfigError: every problem found, as ``file:line:col`` issues.
    """
    from flowengine.registry import Registry

    return load_flow_or_raise(path, Registry.from_entry_points())


class _FlowChecker:
    """Checks one loaded document; collects issues instead of raising."""

    def __init__(self, file: Path, document: Document, registry: Registry, *, check_files: bool = True) -> None:
        self.file = file
        self.check_files = check_files
        self.document = document
        self.registry = registry
        self.issues: list[Issue] = []
        #: Every well-formed id, including nodes that failed their own checks (no dangling-wire noise).
        self.all_ids: set[str] = set()
        self.index_of: dict[str, int] = {}
        #: Node types whose entry point is broken -> the line where that was first reported.
        self.broken_types: dict[str, int] = {}

    def error(self, path: YamlPath, message: str, code: str, *, key: bool = False,
              offset: tuple[int, int] | None = None) -> None:
        self.issues.append(self.document.issue(path, message, code=code, key=key, offset=offset))

    def check(self) -> FlowGraph | None:
        data = self.document.data
        if self.document.issues and data is None:
            return None
        if not isinstance(data, dict):
            self.error((), "a flow file must be a mapping with 'version' and 'nodes'", "not-a-flow")
            return None
        for key in data:
            if key not in TOP_LEVEL_KEYS:
                self.error((key,), f"unknown top-level key '{key}'{suggest(key, TOP_LEVEL_KEYS)}",
                           "unknown-key", key=True)
        if data.get("version") != 1:
            self.error(("version",), f"'version' must be 1, not {data.get('version')!r}", "version")
        name = data.get("name", self.file.stem)
        if not isinstance(name, str) or not name:
            self.error(("name",), "'name' must be a non-empty string", "bad-name")
            name = self.file.stem
        state_path = self._state_path(data.get("state"), name)
        http = self._http(data.get("http")) if "http" in data else None
        raw_nodes = data.get("nodes")
        if not isinstance(raw_nodes, list):
            self.error(("nodes",), "'nodes' must be a list of nodes", "no-nodes")
            return None
        specs = self._agree(self._nodes(raw_nodes))
        self._check_wiring(specs)
        graph = build_graph(specs)
        self._check_cycles(specs, graph)
        flow = FlowGraph(self.file.resolve(), name, state_path, specs, graph,
                         expand(self.document.secrets), http)
        if not any(issue.severity == "error" for issue in self.issues + self.document.issues):
            for finding in lint.check(flow):
                path: YamlPath = ("nodes", self.index_of[finding.node_id], *finding.config_path)
                self.issues.append(self.document.issue(path, finding.message, code="capability",
                                                       severity="warning"))
        return flow

    def _http(self, value: Any) -> HttpSettings | None:
        """The ``http:`` key: ``HOST:PORT``, or ``{listen: HOST:PORT, token: …}``."""
        listen, token = value, None
        path: YamlPath = ("http",)
        if isinstance(value, dict):
            if "listen" not in value:
                self.error(("http",), "http: missing 'listen' (HOST:PORT, for example 127.0.0.1:8080)", "bad-http")
                return None
            for key in value:
                if key not in ("listen", "token"):
                    self.error(("http", key), f"http: unknown key '{key}'{suggest(str(key), ('listen', 'token'))}",
                               "unknown-key", key=True)
            listen, token, path = value.get("listen"), value.get("token"), ("http", "listen")
            if token is not None and (not isinstance(token, str) or not token):
                self.error(("http", "token"), "http: 'token' must be a non-empty string", "bad-http")
                return None
        if isinstance(listen, int) and not isinstance(listen, bool):
            listen = str(listen)
        if not isinstance(listen, str):
            self.error(path, "http: expected HOST:PORT (for example 127.0.0.1:8080) or {listen, token}", "bad-http")
            return None
        try:
            host, port = parse_listen(listen)
        except ValueError as exc:
            self.error(path, f"http: {exc}", "bad-http")
            return None
        return HttpSettings(host, port, token)

    def _agree(self, specs: dict[str, NodeSpec]) -> dict[str, NodeSpec]:
        """One value per flow-wide setting (lint.FlowSetting): report disagreements, pass the value on."""
        disagreements, configs = lint.agree(specs)
        for found in disagreements:
            (first_id, first_path, first_value), (second_id, second_path, second_value) = found.first, found.second
            where = self.document.position(("nodes", self.index_of[first_id], *first_path))
            self.error(("nodes", self.index_of[second_id], *second_path),
                       f"node '{second_id}': {found.name} {second_value!r} differs from {first_value!r} set on "
                       f"node '{first_id}' at {self.document.file}:{where.line}:{where.column}; a flow has one "
                       f"{found.name} (set it once, or the same on both)", "setting-disagrees")
        return {node_id: replace(spec, config=configs[node_id]) if node_id in configs else spec
                for node_id, spec in specs.items()}

    def _state_path(self, value: Any, name: str) -> Path | None:
        if value is None:
            return self.file.parent / ".flowengine" / f"{name}.db"
        if value == MEMORY_STATE:
            return None
        if not isinstance(value, str):
            self.error(("state",), "'state' must be a path or 'memory'", "bad-state")
            return None
        try:
            candidate = expand_home(value)
        except ValueError as error:  # '~someone' who is not a user of this machine
            self.error(("state",), f"'state': {error}", "bad-state")
            return None
        return candidate if candidate.is_absolute() else self.file.parent / candidate

    def _nodes(self, raw_nodes: list[Any]) -> dict[str, NodeSpec]:
        specs: dict[str, NodeSpec] = {}
        first_seen: dict[str, int] = {}
        for index, raw in enumerate(raw_nodes):
            path: YamlPath = ("nodes", index)
            if not isinstance(raw, dict):
                self.error(path, "a node must be a mapping with 'id' and 'type'", "bad-node")
                continue
            node_id = raw.get("id")
            if not isinstance(node_id, str) or not NODE_ID.match(node_id):
                shown = "missing" if node_id is None else repr(node_id)
                self.error((*path, "id") if "id" in raw else path,
                           f"node id {shown}: ids are required and use only a-z, 0-9, '_' and '-'", "bad-id")
                continue
            if node_id in first_seen:
                line = self.document.position(("nodes", first_seen[node_id])).line
                self.error((*path, "id"), f"duplicate node id '{node_id}' (first defined on line {line})",
                           "duplicate-id")
                continue
            first_seen[node_id] = index
            self.all_ids.add(node_id)
            self.index_of[node_id] = index
            spec = self._node(node_id, raw, path)
            if spec is not None:
                specs[node_id] = spec
        return specs

    def _node(self, node_id: str, raw: dict[str, Any], path: YamlPath) -> NodeSpec | None:
        type_name = raw.get("type")
        if not isinstance(type_name, str):
            self.error(path, f"node '{node_id}': missing 'type'", "missing-type")
            return None
        if type_name not in self.registry:
            hint = suggest(type_name, self.registry.names())
            self.error((*path, "type"), f"node '{node_id}': unknown node type '{type_name}'{hint}",
                       "unknown-type")
            return None
        try:
            node_class = self.registry.load(type_name)
        except RegistryError as exc:
            line = self.document.position((*path, "type")).line
            first = self.broken_types.setdefault(type_name, line)
            # The reason is said once, at the first node of that type; the others point at it.
            reason = str(exc) if first == line else f"node type '{type_name}' cannot be loaded (see line {first})"
            self.error((*path, "type"), f"node '{node_id}': {reason}", "unloadable-type")
            return None
        disabled = raw.get("disabled", False)
        if not isinstance(disabled, bool):
            self.error((*path, "disabled"), f"node '{node_id}': 'disabled' must be true or false", "bad-value")
        label = raw.get("name")
        config_data = {k: v for k, v in raw.items() if k not in RESERVED_NODE_KEYS}
        config = self._config(node_id, node_class, config_data, path)
        wires = self._wires(node_id, node_class, raw.get("wires"), path)
        if config is None or wires is None:
            return None
        ports = set(node_class.output_ports(config)) | {ERRORS_PORT}
        for port in wires:
            if port not in ports:
                where = (*path, "wires", port) if isinstance(raw.get("wires"), dict) else (*path, "wires")
                written = self.document.boolean_keys.get(where)
                if written is not None:
                    self.error(where, f"node '{node_id}': YAML reads the port name {written} as the boolean "
                                      f"{port.lower()}; quote it: \"{written}\": [...]", "boolean-key", key=True)
                    continue
                have = ", ".join(sorted(ports))
                self.error(where, f"node '{node_id}' ({type_name}) has no output port '{port}'"
                                  f"{suggest(port, ports)}; its ports: {have}", "unknown-port", key=True)
        return NodeSpec(node_id, type_name, node_class, config, wires,
                        self.document.position(path), label if isinstance(label, str) else None,
                        disabled is True)

    def _config(self, node_id: str, node_class: type[Node[Any]], data: dict[str, Any],
                path: YamlPath) -> NodeConfig | None:
        model = node_class.config_model
        try:
            return model.model_validate(data, context={"flow_dir": self.file.parent,
                                                       "check_files": self.check_files})
        except ValidationError as exc:
            known = [name for name, info in model.model_fields.items()] + [
                info.alias for info in model.model_fields.values() if info.alias]
            for error in exc.errors():
                self._config_error(node_id, error, data, path, known)
            return None
        except (ArithmeticError, TypeError, ValueError, RecursionError) as exc:
            # A validator that failed other than by ValueError (an overflow, a type it did not
            # expect): still a bad value in this node's config, not a crash of the loader.
            self.error(path, f"node '{node_id}': invalid config ({type(exc).__name__}: {exc})", "bad-config")
            return None

    def _config_error(self, node_id: str, error: Any, data: dict[str, Any], path: YamlPath,
                      known: list[str]) -> None:
        loc = _data_path(data, tuple(error["loc"]))
        if self.document.was_reported((*path, *loc)):
            return  # the value's own problem (an unset ${VAR}, a missing secret) is already said
        kind = error["type"]
        context = error.get("ctx") or {}
        if kind == "extra_forbidden":
            key = str(loc[-1]) if loc else "?"
            hint = suggest(key, known) if len(loc) == 1 else ""
            written = self.document.boolean_keys.get((*path, *loc))
            if written is not None:
                key, hint = written, f" (YAML reads {written} as a boolean; quote it: \"{written}\")"
            self.error((*path, *loc), f"node '{node_id}': unknown config key '{key}'{hint}",
                       "unknown-key", key=True)
            return
        if kind == "missing":
            key = ".".join(str(part) for part in error["loc"] if isinstance(part, str | int))
            self.error((*path, *loc), f"node '{node_id}': missing required key '{key}'", "missing-key")
            return
        where = ".".join(str(part) for part in loc) or "config"
        offset = None
        if "line" in context and "column" in context:
            offset = (int(context["line"]) - 1, int(context["column"]))
        message = str(error["msg"])
        message = message.removeprefix("Value error, ")
        self.error((*path, *loc), f"node '{node_id}': {where}: {message}", kind, offset=offset)

    def _wires(self, node_id: str, node_class: type[Node[Any]], raw: Any,
               path: YamlPath) -> dict[str, tuple[str, ...]] | None:
        if raw is None:
            return {}
        if isinstance(raw, list | str):
            raw = {"out": raw}
        if not isinstance(raw, dict):
            self.error((*path, "wires"), f"node '{node_id}': 'wires' must be a list of node ids "
                                         "or a mapping of port -> ids", "bad-wires")
            return None
        wires: dict[str, tuple[str, ...]] = {}
        for port, targets in raw.items():
            if isinstance(targets, str):
                targets = [targets]
            if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
                self.error((*path, "wires", port), f"node '{node_id}': wires of port '{port}' must be "
                                                   "a list of node ids", "bad-wires")
                return None
            wires[str(port)] = tuple(targets)
        return wires

    def _check_wiring(self, specs: dict[str, NodeSpec]) -> None:
        fed: set[str] = set()
        raw_nodes = self.document.data.get("nodes", [])
        # Every well-formed node's wires are checked, even when its own config has errors.
        for node_id, node_index in self.index_of.items():
            raw_wires = raw_nodes[node_index].get("wires")
            if isinstance(raw_wires, list | str):
                ports: dict[Any, Any] = {"out": raw_wires}
            elif isinstance(raw_wires, dict):
                ports = raw_wires
            else:
                continue
            for port, targets in ports.items():
                listed = [targets] if isinstance(targets, str) else targets if isinstance(targets, list) else []
                for position, target in enumerate(listed):
                    if not isinstance(target, str):
                        continue
                    if target in self.all_ids:
                        fed.add(target)
                        continue
                    where: YamlPath = ("nodes", node_index, "wires")
                    if isinstance(raw_wires, dict):
                        where = (*where, port, position)
                    elif isinstance(raw_wires, list):
                        where = (*where, position)
                    self.error(where, f"node '{node_id}': wire to missing node '{target}'"
                                      f"{suggest(target, self.all_ids)}", "dangling-wire")
        for spec in specs.values():
            if spec.disabled or spec.role == "source" or spec.id in fed:
                continue
            self.issues.append(Issue(self.document.file, spec.position.line, spec.position.column,
                                     f"node '{spec.id}' ({spec.type}) is not fed by any node and is not "
                                     "a source", "orphan"))

    def _check_cycles(self, specs: dict[str, NodeSpec], graph: Any) -> None:
        for cycle in find_cycles(graph):
            if all(specs[node_id].node_class.allows_cycles for node_id in cycle):
                continue
            # Start the report at the node written first in the file.
            begin = min(range(len(cycle)), key=lambda i: self.index_of.get(cycle[i], 0))
            cycle = cycle[begin:] + cycle[:begin]
            first = specs[cycle[0]]
            loop = " -> ".join([*cycle, cycle[0]])
            self.issues.append(Issue(self.document.file, first.position.line, first.position.column,
                                     f"cycle: {loop} (a message would loop forever)", "cycle"))


def _data_path(data: Any, loc: tuple[Any, ...]) -> tuple[str | int, ...]:
    """Keep the parts of a pydantic error location that exist in the data (drop union tags)."""
    result: list[str | int] = []
    current = data
    for part in loc:
        present = isinstance(current, dict) and part in current
        indexed = isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        if present or indexed:
            result.append(part)
            current = current[part]
        elif isinstance(current, dict) and isinstance(part, str) and result[-1:] != [part]:
            # A key that is not there (missing, or unknown under a nested model).
            if not part.startswith(("function-", "json-or-python", "union", "tagged-union")) \
                    and "[" not in part:
                result.append(part)
            current = None
    return tuple(result)
