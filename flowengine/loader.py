"""Loading flow files: safe YAML with positions, ``${VAR}`` substitution and ``!secret``.

The result is a :class:`Document`: plain Python values plus the 1-based line and
column of every value and mapping key, so that later checks can report
``file:line:col: message`` for any problem they find. Every problem found while
loading is collected; nothing is raised until the whole file has been read.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from flowengine.errors import Issue

YamlPath = tuple[str | int, ...]

_ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"
_COLLECTION_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


@dataclass(frozen=True, slots=True)
class Position:
    """A 1-based line and column in a file."""

    line: int
    column: int


@dataclass(slots=True)
class Document:
    """A parsed YAML file with the position of every value and key, and the secrets it used."""

    file: str
    data: Any
    positions: dict[YamlPath, Position] = field(default_factory=dict)
    key_positions: dict[YamlPath, Position] = field(default_factory=dict)
    secrets: set[str] = field(default_factory=set)
    issues: list[Issue] = field(default_factory=list)
    #: Values already reported while loading (an unset ``${VAR}``, a missing ``!secret``): later
    #: checks say nothing more about them, so one mistake gives one message.
    reported: set[YamlPath] = field(default_factory=set)
    #: Mapping keys that YAML 1.1 read as booleans (``yes``, ``no``, ``on``, ``off``…) -> the text written.
    boolean_keys: dict[YamlPath, str] = field(default_factory=dict)

    def was_reported(self, path: YamlPath) -> bool:
        """True when loading already reported a problem with ``path``, a value inside it or one containing it."""
        return any(path[:len(done)] == done or done[:len(path)] == path for done in self.reported)

    def position(self, path: YamlPath, *, key: bool = False) -> Position:
        """Return the position of ``path`` or of its nearest known ancestor.

        With ``key=True`` the position of the mapping key is preferred (for "unknown key").
        """
        probe = tuple(path)
        while True:
            if key and probe in self.key_positions:
                return self.key_positions[probe]
            if probe in self.positions:
                return self.positions[probe]
            if not probe:
                return Position(1, 1)
            probe = probe[:-1]

    def issue(self, path: YamlPath, message: str, *, code: str = "invalid", key: bool = False,
              offset: tuple[int, int] | None = None, severity: str = "error") -> Issue:
        """Build an :class:`Issue` located at ``path`` (plus an optional line/column offset)."""
        where = self.position(path, key=key)
        line, column = where.line, where.column
        if offset is not None:
            line_offset, column_offset = offset
            if line_offset:
                line += line_offset
                column = column_offset + 1
            else:
                column += column_offset
        return Issue(self.file, line, column, message, code, tuple(path),
                     "warning" if severity == "warning" else "error")


class _Builder:
    """Turns a composed YAML node tree into Python values, recording positions."""

    def __init__(self, document: Document, secrets_file: Path, environ: Mapping[str, str]) -> None:
        self.document = document
        self.secrets_file = secrets_file
        self.environ = environ
        self.constructor = yaml.SafeLoader("")
        self._secrets: dict[str, Any] | None = None

    def build(self, node: yaml.Node, path: YamlPath) -> Any:
        mark = node.start_mark
        self.document.positions[path] = Position(mark.line + 1, mark.column + 1)
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode) and node.tag not in _COLLECTION_TAGS:
            self._issue(node, f"unsupported tag '{node.tag}' (only safe YAML is read)", "bad-tag")
            return None
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, index)) for index, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        return self._scalar(node, path)

    def _mapping(self, node: yaml.MappingNode, path: YamlPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged = self.build(value_node, path)
                sources = merged if isinstance(merged, list) else [merged]
                for source in sources:
                    if isinstance(source, dict):
                        for key, value in source.items():
                            result.setdefault(key, value)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self._issue(key_node, "mapping keys must be plain scalars", "bad-key")
                continue
            constructed = self.constructor.construct_object(key_node)
            key = str(constructed)
            key_path = (*path, key)
            if isinstance(constructed, bool):
                self.document.boolean_keys[key_path] = str(key_node.value)
            if key in result:
                self._issue(key_node, f"duplicate key '{key}'", "duplicate-key")
            self.document.key_positions[key_path] = Position(key_node.start_mark.line + 1,
                                                             key_node.start_mark.column + 1)
            result[key] = self.build(value_node, key_path)
        return result

    def _scalar(self, node: yaml.ScalarNode, path: YamlPath) -> Any:
        if node.tag == "!secret":
            return self._secret(node, path)
        if node.tag.startswith("!"):
            self._issue(node, f"unknown tag '{node.tag}' (only !secret is supported)", "bad-tag")
            return None
        try:
            value = self.constructor.construct_object(node)
        except yaml.YAMLError as exc:
            self._issue(node, f"cannot read this value: {getattr(exc, 'problem', None) or exc}", "bad-value")
            return None
        if isinstance(value, str) and "${" in value:
            return self._substitute(node, value, path)
        return value

    def _substitute(self, node: yaml.ScalarNode, text: str, path: YamlPath) -> Any:
        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in self.environ:
                return self.environ[name]
            if default is not None:
                return default
            self._issue(node, f"environment variable '{name}' is not set "
                              f"(set it, or give a default: ${{{name}:-value}})", "missing-env")
            self.document.reported.add(path)
            return ""

        substituted = _ENV_PATTERN.sub(replace, text)
        whole = _ENV_PATTERN.fullmatch(text)
        if whole is None or node.style is not None:
            return substituted
        # A scalar that is exactly one ${…} takes the type YAML gives the substituted text.
        tag = self.constructor.resolve(yaml.ScalarNode, substituted, (True, False))  # type: ignore[no-untyped-call]
        if tag == _STR_TAG:
            return substituted
        return self.constructor.construct_object(yaml.ScalarNode(tag, substituted))

    def _secret(self, node: yaml.ScalarNode, path: YamlPath) -> Any:
        name = str(node.value)
        secrets = self._load_secrets(node)
        if secrets is None:
            self.document.reported.add(path)
            return None
        if name not in secrets:
            self._issue(node, f"secret '{name}' is not defined in {self.secrets_file}", "missing-secret")
            self.document.reported.add(path)
            return None
        value = secrets[name]
        if isinstance(value, str | int | float) and str(value):
            self.document.secrets.add(str(value))
        return value

    def _load_secrets(self, node: yaml.ScalarNode) -> dict[str, Any] | None:
        if self._secrets is None:
            try:
                loaded = yaml.safe_load(self.secrets_file.read_text(encoding="utf-8"))
            except FileNotFoundError:
                self._issue(node, f"!secret used but {self.secrets_file} does not exist", "missing-secret")
                return None
            except yaml.YAMLError as exc:
                self._issue(node, f"cannot read {self.secrets_file}: {exc}", "bad-secrets")
                return None
            self._secrets = loaded if isinstance(loaded, dict) else {}
        return self._secrets

    def _issue(self, node: yaml.Node, message: str, code: str) -> None:
        mark = node.start_mark
        self.document.issues.append(Issue(self.document.file, mark.line + 1, mark.column + 1, message, code))


def load_yaml(path: Path, *, text: str | None = None, environ: Mapping[str, str] | None = None,
              display_name: str | None = None) -> Document:
    """Read a YAML file safely, keeping positions; problems are collected in ``Document.issues``.

    ``text`` replaces reading ``path`` (tests, editors); ``display_name`` is the file name used
    in messages (default: ``path`` as given).
    """
    name = display_name or str(path)
    document = Document(file=name, data=None)
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            document.issues.append(Issue(name, 1, 1, f"cannot read the file: {exc.strerror or exc}", "io"))
            return document
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        document.issues.append(Issue(name, line, column, f"invalid YAML: {problem}", "yaml"))
        return document
    except yaml.YAMLError as exc:
        document.issues.append(Issue(name, 1, 1, f"invalid YAML: {exc}", "yaml"))
        return document
    if root is None:
        document.issues.append(Issue(name, 1, 1, "the file is empty", "empty"))
        return document
    builder = _Builder(document, path.parent / "secrets.yaml", os.environ if environ is None else environ)
    document.data = builder.build(root, ())
    return document
