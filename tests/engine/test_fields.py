"""Pydantic field types for node configs: compile at validation, positions in errors, JSON Schema."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated, Any

import pytest
from pydantic import Field, ValidationError

from flowengine.expressions import Expression, compile_expression
from flowengine.fields import (
    PATH_PATTERN,
    Duration,
    Expr,
    ExpressionField,
    PathError,
    PropertyPath,
    RuleTemplate,
    TemplateValue,
    parse_path,
)
from flowengine.message import Message
from flowengine.node import NodeConfig
from flowengine.templates import Template, compile_template

MSG = Message("zigbee2mqtt/door", {"action": "finger_not_match", "linkquality": 120}, {"ts": 10.0})


class WatchConfig(NodeConfig):
    """A tiny node config using every field type."""

    when: Expr = Field(description="Messages for which this is true count.")
    key: Expr | None = Field(None, description="Groups messages.")
    within: Duration = Field("1m", validate_default=True, description="How far back to look.")
    property: PropertyPath = Field("payload", validate_default=True, description="What to remember.")
    emit: TemplateValue = Field(None, validate_default=True, description="What to send.")
    rule_emit: RuleTemplate = Field("{{ count }}", validate_default=True, description="With rule names.")
    condition: Annotated[Expression, ExpressionField(names=("count",))] = Field(
        "count > 1", validate_default=True, description="With an extra name."
    )
    set: dict[PropertyPath, TemplateValue] = Field(default_factory=dict, description="path -> template")


def valid(**data: Any) -> WatchConfig:
    return WatchConfig.model_validate({"when": "payload.action == 'finger_not_match'", **data})


def test_values_are_compiled_once_at_validation() -> None:
    config = valid(
        key="meta.ieee",
        within="1h30m",
        property="payload.a.b",
        emit={"event": "{{ payload.action }}", "lqi": "{{ payload.linkquality }}"},
        set={"payload.x": "{{ topic }}", "meta.note": "fixed"},
    )
    assert isinstance(config.when, Expression)
    assert config.when(MSG) is True
    assert config.within == 5400.0
    assert config.property == ("payload", "a", "b")
    assert isinstance(config.emit, Template)
    assert config.emit.render(MSG) == {"event": "finger_not_match", "lqi": 120}
    assert set(config.set) == {("payload", "x"), ("meta", "note")}
    assert config.set[("payload", "x")].render(MSG) == "zigbee2mqtt/door"


def test_defaults_in_yaml_form_are_compiled() -> None:
    config = valid()
    assert config.within == 60.0
    assert config.property == ("payload",)
    assert config.emit.is_constant
    assert config.emit.render(MSG) is None
    assert config.rule_emit.render(MSG, {"count": 4}) == 4
    assert config.condition.evaluate(MSG, {"count": 2}) is True


def test_frozen_models_with_these_fields_are_hashable_and_compare_by_value() -> None:
    class Small(NodeConfig):
        when: Expr
        within: Duration = 0.0
        property: PropertyPath = ("payload",)
        emit: TemplateValue | None = None

    a = Small.model_validate(
        {"when": "payload.x == 1", "within": "5s", "property": "meta.x", "emit": {"a": "{{ topic }}"}}
    )
    b = Small.model_validate(
        {"when": "payload.x == 1", "within": 5, "property": "meta.x", "emit": {"a": "{{ topic }}"}}
    )
    assert a == b
    assert hash(a) == hash(b)
    with pytest.raises(ValidationError, match="frozen"):
        a.within = 3  # type: ignore[misc]


def test_already_compiled_values_and_model_copy() -> None:
    expression = compile_expression("payload.x > 1")
    config = valid(when=expression, emit=compile_template("{{ topic }}"), within=timedelta(minutes=2))
    assert config.when is expression
    assert config.within == 120.0
    assert config.model_copy(deep=True).when == expression
    assert config.model_copy(update={"within": 3.0}).within == 3.0
    # an expression compiled with names the field does not allow is compiled again (and refused)
    with pytest.raises(ValidationError, match="unknown name 'count'"):
        valid(when=compile_expression("count > 1", names=("count",)))


def test_dump_gives_back_the_source() -> None:
    config = valid(within="5m", property="payload.a", emit={"e": "{{ payload.action }}"}, set={"payload.x": 1})
    dumped = config.model_dump()
    assert dumped["when"] == "payload.action == 'finger_not_match'"
    assert dumped["within"] == 300.0
    assert dumped["property"] == "payload.a"
    assert dumped["emit"] == {"e": "{{ payload.action }}"}
    assert dumped["set"] == {"payload.x": 1}
    assert json.loads(config.model_dump_json())["property"] == "payload.a"
    assert WatchConfig.model_validate(dumped) == config


def errors_of(**data: Any) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as caught:
        WatchConfig.model_validate({"when": "true", **data})
    return [dict(error) for error in caught.value.errors()]


ERRORS = [
    # (config, loc, type, ctx subset, message fragment)
    ({"when": "payload.action =="}, ("when",), "expression", {"line": 1, "column": 17}, "unexpected end of expression"),
    (
        {"when": "payload.a and\n  paylod.b"},
        ("when",),
        "expression",
        {"line": 2, "column": 2},
        "did you mean 'payload'",
    ),
    ({"when": "payload.x()"}, ("when",), "expression", {"line": 1, "column": 8}, "method calls are not allowed"),
    ({"when": True}, ("when",), "expression", {"line": 1, "column": 0}, "write it as text in quotes: 'true'"),
    ({"key": 3}, ("key",), "expression", {"line": 1, "column": 0}, "an expression must be a string, not int"),
    ({"within": "-5m"}, ("within",), "duration", {"line": 1, "column": 0}, "cannot be negative"),
    ({"within": "5 mins"}, ("within",), "duration", {}, "did you mean 'm'"),
    ({"within": True}, ("within",), "duration", {}, "is not a duration"),
    ({"property": "payload..b"}, ("property",), "path", {"line": 1, "column": 8}, "empty part"),
    ({"property": "paylod.b"}, ("property",), "path", {"column": 0}, "did you mean 'payload'"),
    ({"property": "topic.x"}, ("property",), "path", {"column": 5}, "topic is a string"),
    ({"property": "payload._x"}, ("property",), "path", {"column": 8}, "may not begin with '_'"),
    ({"property": 5}, ("property",), "path", {}, "a property path is a string"),
    (
        {"emit": {"x": ["ok", "{{ paylod }}"]}},
        ("emit",),
        "template",
        {"line": 1, "column": 3, "path": ["x", 1]},
        "unknown name 'paylod'",
    ),
    ({"emit": "a {{ b"}, ("emit",), "template", {"line": 1, "column": 2}, "unclosed '{{'"),
    ({"rule_emit": "{{ cuont }}"}, ("rule_emit",), "template", {"column": 3}, "did you mean 'count'"),
    ({"set": {"topic.x": 1}}, ("set", "topic.x", "[key]"), "path", {"column": 5}, "topic is a string"),
]


@pytest.mark.parametrize(("data", "loc", "kind", "context", "fragment"), ERRORS, ids=[str(e[0])[:40] for e in ERRORS])
def test_errors_are_typed_and_carry_positions(
    data: dict[str, Any], loc: tuple[Any, ...], kind: str, context: dict[str, Any], fragment: str
) -> None:
    (error,) = errors_of(**data)
    assert error["loc"] == loc
    assert error["type"] == kind
    assert fragment in error["msg"]
    assert context.items() <= error["ctx"].items()


def test_every_problem_is_reported_at_once() -> None:
    found = errors_of(when="paylod", within="x", property="x", emit="{{")
    assert [error["type"] for error in found] == ["expression", "duration", "path", "template"]


def test_json_schema() -> None:
    schema = WatchConfig.model_json_schema()
    properties = schema["properties"]
    assert properties["when"] == {
        "type": "string",
        "title": "When",
        "description": "Messages for which this is true count.",
    }
    assert properties["key"]["anyOf"][0]["type"] == "string"
    assert properties["within"]["oneOf"][0]["type"] == "string"
    assert properties["within"]["oneOf"][1] == {"type": "number", "minimum": 0}
    assert properties["within"]["default"] == "1m"
    assert properties["property"]["type"] == "string"
    assert properties["property"]["pattern"] == PATH_PATTERN
    assert properties["property"]["default"] == "payload"
    assert "type" not in properties["emit"]  # any JSON value
    assert properties["rule_emit"]["description"] == "With rule names."  # the field's own description wins
    assert "count" in WatchConfig.model_fields["condition"].metadata[0].names
    assert schema["required"] == ["when"]
    assert schema["additionalProperties"] is False
    json.dumps(schema)  # serialisable
    json.dumps(WatchConfig.model_json_schema(mode="serialization"))


def test_json_schema_describes_fields_without_a_description() -> None:
    class Bare(NodeConfig):
        when: Expr
        emit: RuleTemplate
        within: Duration
        property: PropertyPath

    properties = Bare.model_json_schema()["properties"]
    assert "expression over the message" in properties["when"]["description"]
    assert "count, key, first, last" in properties["emit"]["description"]
    assert "duration" in properties["within"]["description"]
    assert "property of the message" in properties["property"]["description"]


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("payload", ("payload",)),
        ("topic", ("topic",)),
        ("meta.ts", ("meta", "ts")),
        ("payload.a.b", ("payload", "a", "b")),
        ("msg.payload.a", ("payload", "a")),
        ("payload.0", ("payload", "0")),
        ("payload.with-dash", ("payload", "with-dash")),
    ],
)
def test_parse_path(text: str, parts: tuple[str, ...]) -> None:
    import re

    assert parse_path(text) == parts
    if not text.startswith("msg."):
        assert re.match(PATH_PATTERN, text)


@pytest.mark.parametrize(
    ("text", "column"),
    [("", 0), ("msg", 0), ("payload.", 8), ("meta..x", 5), ("topic.a", 5), ("msg.paylod", 4), ("payload. a", 8)],
)
def test_parse_path_refuses_with_column(text: str, column: int) -> None:
    with pytest.raises(PathError) as caught:
        parse_path(text)
    assert caught.value.column == column
    assert caught.value.line == 1
