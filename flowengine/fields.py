"""Pydantic field types for node configs: expressions, templates, durations, property paths.

Use them as annotations in a :class:`~flowengine.node.NodeConfig`::

    class FilterConfig(NodeConfig):
        when: Expr = Field(description="Messages for which this is true pass.")
        window: Duration = Field(60.0, description="How long to remember.")
        property: PropertyPath = Field(("payload",), description="What to test.")
        emit: TemplateValue = Field(None, description="The payload to send.")

Validation compiles once, at load time: the field's value is a ready
:class:`~flowengine.expressions.Expression`, :class:`~flowengine.templates.Template`,
``float`` of seconds, or ``tuple`` of path parts. An invalid value is a pydantic error of
type ``expression``, ``template``, ``duration`` or ``path`` whose context carries
``line`` (1-based) and ``column`` (0-based) inside the YAML string, and for templates
``path`` (the keys leading to the offending string), so the loader can point at the exact
character. Serialising a model (``model_dump``) gives back the source text.

Pydantic does not validate defaults unless asked: give a default in its YAML form with
``Field("payload", validate_default=True)`` (or compile it yourself), or the field holds
the raw default instead of a compiled value.

Expressions or templates that see extra names (a rule's ``emit`` sees ``count``, ``key``,
``first``, ``last``) take the names in their marker:
``Annotated[Template, TemplateField(names=RULE_NAMES)]`` — or use :data:`RuleTemplate`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, Final

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from flowengine.durations import DURATION_PATTERN, parse_duration
from flowengine.expressions import RULE_NAMES, Expression, ExpressionError, compile_expression
from flowengine.templates import Template, compile_template

__all__ = [
    "PATH_PATTERN",
    "Duration",
    "DurationField",
    "Expr",
    "ExpressionField",
    "PathField",
    "PropertyPath",
    "RuleTemplate",
    "TemplateField",
    "TemplateValue",
    "parse_path",
]

#: The roots a property path may start with.
PATH_ROOTS: Final = ("topic", "payload", "meta")
#: A JSON Schema pattern for property paths (``payload.a.b``, ``topic``, ``meta.x``).
PATH_PATTERN: Final = r"^(topic|payload(\.[^._][^.]*)*|meta(\.[^._][^.]*)*)$"


def _error(kind: str, exc: ExpressionError) -> PydanticCustomError:
    """Turn an :class:`ExpressionError` into a pydantic error the loader can position."""
    context: dict[str, Any] = {"message": exc.message, "line": exc.line, "column": exc.column}
    if exc.path:
        context["path"] = list(exc.path)
    return PydanticCustomError(kind, "{message}", context)


def _plain(validate: Callable[[Any], Any], serialize: Callable[[Any], Any] | None = None) -> core_schema.CoreSchema:
    """A schema validated by one function and, when given, dumped by another."""
    return core_schema.no_info_plain_validator_function(
        validate,
        serialization=None
        if serialize is None
        else core_schema.plain_serializer_function_ser_schema(serialize, when_used="always"),
    )


@dataclass(frozen=True, slots=True)
class ExpressionField:
    """Annotation marker: a string compiled to an :class:`Expression`.

    Attributes:
        names: Extra names the expression may read (besides ``payload``, ``topic``,
            ``meta``, ``msg``).
    """

    names: tuple[str, ...] = ()

    def validate(self, value: Any) -> Expression:
        """Compile ``value``; an already compiled expression with fitting names passes."""
        if isinstance(value, Expression):
            if set(value.names) <= set(self.names):
                return value
            value = value.source
        if not isinstance(value, str):
            hint = ""
            if value is None or isinstance(value, bool | int | float):
                hint = f" (to compare with a constant, write it as text in quotes: '{_yaml(value)}')"
            raise PydanticCustomError(
                "expression",
                "an expression must be a string, not {kind}{hint}",
                {"kind": type(value).__name__, "hint": hint, "line": 1, "column": 0},
            )
        try:
            return compile_expression(value, names=self.names)
        except ExpressionError as exc:
            raise _error("expression", exc) from exc

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return _plain(self.validate, _source_of)

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        names = f" It may also read {', '.join(self.names)}." if self.names else ""
        return {
            "type": "string",
            "description": "An expression over the message (payload, topic, meta, msg), "
            f"e.g. payload.action == 'finger_not_match'.{names} See docs/expressions.md.",
        }


@dataclass(frozen=True, slots=True)
class TemplateField:
    """Annotation marker: any JSON value whose strings are templates, compiled to a :class:`Template`.

    Attributes:
        names: Extra names the template's expressions may read.
    """

    names: tuple[str, ...] = ()

    def validate(self, value: Any) -> Template:
        """Compile ``value``; an already compiled template with fitting names passes."""
        if isinstance(value, Template):
            if set(value.names) <= set(self.names):
                return value
            value = value.source
        try:
            return compile_template(value, names=self.names)
        except ExpressionError as exc:
            raise _error("template", exc) from exc

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return _plain(self.validate, _source_of)

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        names = f" Expressions may also read {', '.join(self.names)}." if self.names else ""
        return {
            "description": "A value whose strings are templates: '{{ expression }}' parts are "
            "replaced per message; a string that is exactly one '{{ expression }}' keeps the "
            f"value's type; mappings and lists are templates member by member.{names} "
            "See docs/expressions.md.",
        }


@dataclass(frozen=True, slots=True)
class DurationField:
    """Annotation marker: ``500ms``, ``60s``, ``5m``, ``2h``, ``1d``, ``1h30m`` or seconds → float seconds."""

    def validate(self, value: Any) -> float:
        """Parse ``value`` with :func:`~flowengine.durations.parse_duration`."""
        if isinstance(value, timedelta):
            value = value.total_seconds()
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise PydanticCustomError("duration", "{message}", {"message": str(exc), "line": 1, "column": 0}) from exc

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return _plain(self.validate)

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {
            "oneOf": [
                {"type": "string", "pattern": DURATION_PATTERN},
                {"type": "number", "minimum": 0},
            ],
            "description": "A duration: 500ms, 60s, 5m, 2h, 1d, 1h30m, or a number of seconds.",
        }


@dataclass(frozen=True, slots=True)
class PathField:
    """Annotation marker: a property path such as ``payload.a.b`` → ``("payload", "a", "b")``."""

    def validate(self, value: Any) -> tuple[str, ...]:
        """Parse a dotted path; a tuple or list of parts is checked as the joined path."""
        if isinstance(value, tuple | list) and all(isinstance(part, str) for part in value):
            value = ".".join(value)
        if not isinstance(value, str):
            raise PydanticCustomError(
                "path",
                "a property path is a string like payload.a.b, not {kind}",
                {"kind": type(value).__name__, "line": 1, "column": 0},
            )
        try:
            return parse_path(value)
        except ExpressionError as exc:
            raise _error("path", exc) from exc

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return _plain(self.validate, _dotted)

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {
            "type": "string",
            "pattern": PATH_PATTERN,
            "description": "A property of the message: topic, payload, payload.a.b or meta.x.",
        }


class PathError(ExpressionError):
    """A property path is malformed; ``column`` points at the offending part."""


def parse_path(text: str) -> tuple[str, ...]:
    """Split a property path (``payload.a.b``, ``topic``, ``meta.x``) into its parts.

    ``msg.payload.a`` is accepted as ``payload.a``. Parts are keys, kept as strings; a
    part may not be empty or begin with ``_`` (as in expressions).

    Raises:
        PathError: The path is malformed; ``column`` is where, ``line`` is 1.
    """
    offset = 0
    parts = text.split(".")
    if len(parts) > 1 and parts[0] == "msg":
        parts = parts[1:]
        offset = len("msg.")
    root = parts[0]
    if root not in PATH_ROOTS:
        hint = _root_hint(root)
        raise PathError(
            f"a property path starts with topic, payload or meta, not '{root}'{hint}", column=offset, source=text
        )
    if root == "topic" and len(parts) > 1:
        raise PathError("topic is a string: it has no members", column=offset + len("topic"), source=text)
    column = offset + len(root) + 1
    for part in parts[1:]:
        if not part:
            raise PathError(f"empty part in the path '{text}'", column=column, source=text)
        if part.startswith("_"):
            raise PathError(f"a path part may not begin with '_': '{part}'", column=column, source=text)
        if part != part.strip():
            raise PathError(f"a path part may not begin or end with blanks: '{part}'", column=column, source=text)
        column += len(part) + 1
    return tuple(parts)


def _root_hint(root: str) -> str:
    from difflib import get_close_matches

    close = get_close_matches(root, PATH_ROOTS, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _yaml(value: Any) -> str:
    if value is None:
        return "null"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _dotted(value: Any) -> Any:
    """What a model dump shows for a property path: the dotted text."""
    return ".".join(value) if isinstance(value, tuple) else value


def _source_of(value: Any) -> Any:
    """What a model dump shows for a compiled expression or template: its source."""
    return value.source if isinstance(value, Expression | Template) else value


#: A string field compiled to an :class:`Expression` over the message.
Expr = Annotated[Expression, ExpressionField()]
#: Any JSON value whose strings are templates, compiled to a :class:`Template`.
TemplateValue = Annotated[Template, TemplateField()]
#: A template that also sees a rule's ``count``, ``key``, ``first`` and ``last`` (CONTRACT §5).
RuleTemplate = Annotated[Template, TemplateField(names=RULE_NAMES)]
#: A duration, validated to float seconds.
Duration = Annotated[float, DurationField()]
#: A property path, validated to a tuple of parts (``("payload", "a", "b")``).
PropertyPath = Annotated[tuple[str, ...], PathField()]
