"""Loading flow files: safe YAML with positions, ``${VAR}`` substitution and ``!secret``.

The result is a :class:`Document`: plain Python values plus the 1-based line and
column of every value and mapping key, so that later checks can report
``file:line:col: message`` for any problem they find. Every problem found while
loading is collected; nothing is raised until the whole file has been read.

Loading is bounded, whatever the bytes: a file that is not UTF-8 is reported at the
first bad byte (offset and line); nesting deeper than :data:`MAX_NESTING` levels and
aliases that would expand to more than :data:`MAX_ALIAS_NODES` nodes (the "billion
laughs") are refused at the offending position before anything is expanded. The same
bounds apply to ``secrets.yaml``, whose errors are reported by line and column only,
never with its text.
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
from flowengine.redaction import is_secret_variable, secret_leaves

YamlPath = tuple[str | int, ...]

_ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"
_COLLECTION_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")
#: What PyYAML's constructors raise on a value they cannot build (``!!timestamp x`` fails
#: inside the constructor with an AttributeError, ``2001-13-45`` with a ValueError, ...).
_CONSTRUCT_ERRORS = (yaml.YAMLError, ValueError, TypeError, OverflowError, AttributeError, IndexError, KeyError)
#: Deepest accepted nesting of mappings and lists in a flow or secrets file.
MAX_NESTING = 64
#: Most YAML nodes that aliases (``*name``) may add to a file by repeating anchored parts.
MAX_ALIAS_NODES = 10_000


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe composer with a nesting limit and a budget for alias expansion.

    The composer is recursive (one Python frame per level) and an alias shares its node,
    so a few hundred bytes can stand for billions of nodes once walked. Each composed
    node's expanded size is remembered; an alias adds its target's size to a running
    total, and the total is checked at the alias, before anything is expanded.
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._depth = 0
        self._sizes: dict[int, int] = {}
        self._aliased = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        """Compose one node, refusing excess depth and alias expansion at their marks."""
        if self.check_event(yaml.AliasEvent):
            event: Any = self.peek_event()  # type: ignore[no-untyped-call]
            target = self.anchors.get(event.anchor)
            if target is not None:
                self._aliased += self._sizes.get(id(target), 1)
                if self._aliased > MAX_ALIAS_NODES:
                    raise YamlLimitError(f"aliases expand to more than {MAX_ALIAS_NODES} nodes (limit)",
                                         event.start_mark.line + 1, event.start_mark.column + 1)
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_NESTING:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise YamlLimitError(f"nested more than {MAX_NESTING} levels deep (limit)", mark.line + 1,
                                     mark.column + 1)
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        self._sizes[id(node)] = 1 + sum(self._sizes.get(id(child), 1) for child in children)
        return node


class YamlLimitError(ValueError):
    """A YAML text could not be composed; ``line``/``column`` (1-based) locate the problem."""

    def __init__(self, problem: str, line: int, column: int) -> None:
        self.problem = problem
        self.line = line
        self.column = column
        super().__init__(f"line {line}, column {column}: {problem}")


def compose(text: str) -> yaml.Node | None:
    """Compose ``text`` safely within the nesting and alias limits.

    Raises:
        YamlLimitError: the text is not YAML, breaks a limit, or holds a character YAML
            refuses; the message never quotes the text.
    """
    loader: _BoundedLoader | None = None
    try:
        loader = _BoundedLoader(text)  # the reader checks every character here
        return loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        raise YamlLimitError(exc.problem or exc.context or "invalid YAML", line, column) from exc
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        raise YamlLimitError(f"character #x{exc.character:04x} is not allowed in YAML", line, column) from exc
    except yaml.YAMLError as exc:
        raise YamlLimitError(f"invalid YAML ({type(exc).__name__})", 1, 1) from exc
    except RecursionError as exc:
        raise YamlLimitError(f"nested more than {MAX_NESTING} levels deep (limit)", 1, 1) from exc
    finally:
        if loader is not None:
            loader.dispose()


def decode_utf8(data: bytes) -> str:
    """Decode ``data`` as UTF-8 (a BOM is dropped).

    Raises:
        YamlLimitError: at the first byte that is not UTF-8, naming its offset and line.
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        offset = exc.start
        line = data.count(b"\n", 0, offset) + 1
        column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
        raise YamlLimitError(
            f"not UTF-8: byte 0x{data[offset]:02x} at byte offset {offset} (line {line}); save the file as UTF-8",
            line, column) from exc


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
        if len(path) > MAX_NESTING:  # aliases inside aliases can nest deeper than the text
            self._issue(node, f"nested more than {MAX_NESTING} levels deep (limit)", "too-deep")
            return None
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
        from_merge: set[str] = set()  # keys that came from '<<' (an explicit key overrides them)
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged = self.build(value_node, path)
                sources = merged if isinstance(merged, list) else [merged]
                for source in sources:
                    if isinstance(source, dict):
                        for key, value in source.items():
                            if key not in result:
                                result[key] = value
                                from_merge.add(key)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self._issue(key_node, "mapping keys must be plain scalars", "bad-key")
                continue
            if key_node.tag.startswith("!"):
                self._issue(key_node, f"a mapping key cannot carry a tag ('{key_node.tag}')", "bad-tag")
                continue
            try:
                constructed = self.constructor.construct_object(key_node)
            except _CONSTRUCT_ERRORS as exc:
                self._issue(key_node, f"cannot read this key: {_problem(exc)}", "bad-key")
                continue
            key = str(constructed)
            key_path = (*path, key)
            if isinstance(constructed, bool):
                self.document.boolean_keys[key_path] = str(key_node.value)
            if key in result and key not in from_merge:
                self._issue(key_node, f"duplicate key '{key}'", "duplicate-key")
            from_merge.discard(key)
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
        except _CONSTRUCT_ERRORS as exc:
            self._issue(node, f"cannot read this value: {_problem(exc)}{_quote_hint(node)}", "bad-value")
            return None
        if isinstance(value, str) and "${" in value:
            return self._substitute(node, value, path)
        return value

    def _substitute(self, node: yaml.ScalarNode, text: str, path: YamlPath) -> Any:
        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in self.environ:
                if is_secret_variable(name) and self.environ[name]:
                    self.document.secrets.add(self.environ[name])
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
        try:
            return self.constructor.construct_object(yaml.ScalarNode(tag, substituted))
        except _CONSTRUCT_ERRORS as exc:
            self._issue(node, f"cannot read the substituted value: {_problem(exc)}", "bad-value")
            return None

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
        self.document.secrets.update(secret_leaves(value))
        return value

    def _load_secrets(self, node: yaml.ScalarNode) -> dict[str, Any] | None:
        if self._secrets is None:
            try:
                loaded = _read_secrets(self.secrets_file)
            except FileNotFoundError:
                self._issue(node, f"!secret used but {self.secrets_file} does not exist", "missing-secret")
                return None
            except OSError as exc:
                self._issue(node, f"cannot read {self.secrets_file}: {exc.strerror or type(exc).__name__}",
                            "bad-secrets")
                return None
            except YamlLimitError as exc:
                # Line and column only: the text of a secrets file is never shown.
                self._issue(node, f"{self.secrets_file}:{exc.line}:{exc.column}: cannot be read "
                                  f"({_secrets_reason(exc)})", "bad-secrets")
                return None
            self._secrets = loaded if isinstance(loaded, dict) else {}
        return self._secrets

    def _issue(self, node: yaml.Node, message: str, code: str) -> None:
        mark = node.start_mark
        self.document.issues.append(Issue(self.document.file, mark.line + 1, mark.column + 1, message, code))


def _problem(exc: BaseException) -> str:
    """The first line of what went wrong, without YAML's quoted snippet of the text."""
    if isinstance(exc, AttributeError | IndexError | KeyError):
        return "not a valid value of its type"
    text = str(getattr(exc, "problem", None) or str(exc) or type(exc).__name__)
    if "integer string conversion" in text:
        return "a number with more digits than Python reads (4,300)"
    return text.splitlines()[0]


def _quote_hint(node: yaml.ScalarNode) -> str:
    """Advice for a plain scalar that YAML read as a date or number but could not build."""
    if node.style is None and node.tag in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:int",
                                           "tag:yaml.org,2002:float"):
        return " (quote it to keep it as text)"
    return ""


def _read_secrets(path: Path) -> Any:
    """Read ``secrets.yaml`` within the loader's limits (OSError and YamlLimitError pass through)."""
    node = compose(decode_utf8(path.read_bytes()))
    if node is None:
        return None
    constructor = yaml.SafeLoader("")
    try:
        return constructor.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        raise YamlLimitError("a value cannot be read", line, column) from exc
    except (*_CONSTRUCT_ERRORS, RecursionError) as exc:
        raise YamlLimitError("a value cannot be read", 1, 1) from exc


def _secrets_reason(exc: YamlLimitError) -> str:
    """Why a secrets file was refused, in words that cannot quote it."""
    if exc.problem.startswith(("not UTF-8", "nested more", "aliases expand")):
        return exc.problem.split(":")[0] if exc.problem.startswith("not UTF-8") else exc.problem
    return "invalid YAML" if "value cannot" not in exc.problem else "a value cannot be read"


def load_yaml(path: Path, *, text: str | None = None, environ: Mapping[str, str] | None = None,
              display_name: str | None = None) -> Document:
    """Read a YAML file safely, keeping positions; problems are collected in ``Document.issues``.

    ``text`` replaces reading ``path`` (tests, editors); ``display_name`` is the file name used
    in messages (default: ``path`` as given).
    """
    name = display_name or str(path)
    document = Document(file=name, data=None)
    try:
        if text is None:
            text = decode_utf8(path.read_bytes())
        root = compose(text)
    except OSError as exc:
        document.issues.append(Issue(name, 1, 1, f"cannot read the file: {exc.strerror or type(exc).__name__}", "io"))
        return document
    except YamlLimitError as exc:
        problem = exc.problem if exc.problem.startswith(("not UTF-8", "nested", "aliases")) else \
            f"invalid YAML: {exc.problem}"
        document.issues.append(Issue(name, exc.line, exc.column, problem, "yaml"))
        return document
    if root is None:
        document.issues.append(Issue(name, 1, 1, "the file is empty", "empty"))
        return document
    builder = _Builder(document, path.parent / "secrets.yaml", os.environ if environ is None else environ)
    try:
        document.data = builder.build(root, ())
    except RecursionError:
        document.issues.append(Issue(name, 1, 1, f"nested more than {MAX_NESTING} levels deep (limit)", "too-deep"))
        document.data = None
    return document
