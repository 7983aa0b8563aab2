"""Templates (CONTRACT §5): typed single expressions, text rendering, member-by-member structures."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowengine.expressions import RULE_NAMES, ExpressionError
from flowengine.message import Message
from flowengine.templates import Template, TemplateError, compile_template

PAYLOAD = {
    "action": "finger_not_match",
    "linkquality": 120,
    "ratio": 2.5,
    "big": 1e16,
    "ok": True,
    "off": False,
    "nothing": None,
    "tags": ["b", "a"],
    "state": {"z": 1, "a": [True, None]},
    "text": "it's {{ not }} a template",
}
MSG = Message("zigbee2mqtt/front_door", PAYLOAD, {"ts": 1732435200.5, "friendly_name": "front_door"})

RENDERED = [
    # a single expression keeps its type
    ("{{ payload.linkquality }}", 120),
    ("{{payload.linkquality}}", 120),
    ("{{   payload.ratio   }}", 2.5),
    ("{{ payload.ok }}", True),
    ("{{ payload.missing }}", None),
    ("{{ payload.tags }}", ["b", "a"]),
    ("{{ payload.state }}", {"z": 1, "a": [True, None]}),
    ("{{ topic }}", "zigbee2mqtt/front_door"),
    ("{{ payload.linkquality > 100 }}", True),
    ("{{ {'a': {'b': 1}} }}", {"a": {"b": 1}}),
    ("{{ '}}' }}", "}}"),
    ("{{ '{{' }}", "{{"),
    ("{{ msg }}", MSG.to_json_obj()),
    # anything else is text
    (" {{ payload.linkquality }}", " 120"),
    ("{{ payload.linkquality }} ", "120 "),
    ("lqi={{ payload.linkquality }}", "lqi=120"),
    ("{{ payload.linkquality }}{{ payload.ratio }}", "1202.5"),
    ("alerts/{{ meta.friendly_name }}", "alerts/front_door"),
    ("[{{ payload.missing }}]", "[]"),
    ("{{ payload.ok }}/{{ payload.off }}", "true/false"),
    ("x{{ payload.big }}", "x1e+16"),
    ("x{{ payload.ratio * 2 }}", "x5.0"),
    ("s={{ payload.state }}", 's={"a":[true,null],"z":1}'),
    ("t={{ payload.tags }}", 't=["b","a"]'),
    ("{{ payload.action }} at {{ date(meta.ts, 'UTC') }}", "finger_not_match at 2024-11-24"),
    ("m={{ msg }}", "m=" + '{"meta":{"friendly_name":"front_door","ts":1732435200.5},"payload":'),
    ("a {{ 1 + 1 }} b", "a 2 b"),
    ("no braces here", "no braces here"),
    ("single { and } and }} alone", "single { and } and }} alone"),
    ("{{ payload.text }}!", "it's {{ not }} a template!"),  # values are not templates again
    ("", ""),
    ("line1\n{{ payload.linkquality }}\nline3", "line1\n120\nline3"),
]


@pytest.mark.parametrize(("source", "expected"), RENDERED)
def test_render(source: str, expected: Any) -> None:
    result = compile_template(source).render(MSG)
    if isinstance(expected, str) and source.startswith("m="):
        assert result.startswith(expected)
        return
    assert result == expected
    assert type(result) is type(expected)


def test_structures_are_rendered_member_by_member() -> None:
    template = compile_template(
        {
            "event": "{{ payload.action }}",
            "lqi": "{{ payload.linkquality }}",
            "site": "home",
            "n": 3,
            "none": None,
            "list": ["{{ topic }}", 1, {"deep": "x{{ payload.ok }}"}],
        }
    )
    assert not template.is_constant
    assert template.render(MSG) == {
        "event": "finger_not_match",
        "lqi": 120,
        "site": "home",
        "n": 3,
        "none": None,
        "list": ["zigbee2mqtt/front_door", 1, {"deep": "xtrue"}],
    }
    # a new structure per message: renders do not share mutable members
    first, second = template.render(MSG), template.render(MSG)
    assert first == second
    assert first is not second
    assert first["list"] is not second["list"]


def test_keys_are_literal() -> None:
    assert compile_template({"{{ topic }}": "{{ topic }}"}).render(MSG) == {"{{ topic }}": MSG.topic}
    assert compile_template({1: "{{ 1 }}"}).render(MSG) == {1: 1}


def test_tuples_stay_tuples() -> None:
    assert compile_template(("{{ payload.linkquality }}", "a")).render(MSG) == (120, "a")


@pytest.mark.parametrize("value", ["plain", "", 5, 2.5, True, None, ["a", 1], {"a": {"b": [1]}}], ids=repr)
def test_values_without_braces_are_constants(value: Any) -> None:
    template = compile_template(value)
    assert template.is_constant
    assert template.render(MSG) == value
    assert list(template.expressions()) == []


def test_constant_expressions_are_folded() -> None:
    assert compile_template("{{ 1 + 1 }}").is_constant
    assert compile_template("{{ 1 + 1 }}").render(MSG) == 2
    assert compile_template({"k": "v{{ 'x' }}"}).is_constant
    assert compile_template({"k": "v{{ 'x' }}"}).render(MSG) == {"k": "vx"}
    assert compile_template(["{{ null }}", "{{ true }}"]).render(MSG) == [None, True]
    assert not compile_template("{{ topic }}").is_constant


def test_extra_names() -> None:
    first = Message("t", {"action": "finger_not_match"}, {"ts": 1.0})
    template = compile_template(
        {"count": "{{ count }}", "text": "{{ count }} failures for {{ key }}", "since": "{{ first.meta.ts }}"},
        names=RULE_NAMES,
    )
    assert template.render(MSG, {"count": 3, "key": "door", "first": first}) == {
        "count": 3,
        "text": "3 failures for door",
        "since": 1.0,
    }
    assert template.render(MSG) == {"count": None, "text": " failures for ", "since": None}
    assert compile_template("{{ first }}", names=RULE_NAMES).render(MSG, {"first": first}) == first.to_json_obj()
    with pytest.raises(ExpressionError, match="unknown name 'count'"):
        compile_template("{{ count }}")
    with pytest.raises(ValueError, match="hide a built-in"):
        compile_template("plain", names=("payload",))


def test_function_attribute_and_call() -> None:
    template = compile_template("lqi={{ payload.linkquality }}")
    assert template.function(MSG) == "lqi=120"
    assert template(MSG) == "lqi=120"


def test_expressions_and_referenced_paths() -> None:
    template = compile_template({"a": "{{ payload.action }}", "b": ["{{ meta.ts }} {{ payload.action }}"]})
    assert [expression.source for expression in template.expressions()] == [
        " payload.action ",
        " meta.ts ",
        " payload.action ",
    ]
    assert template.referenced_paths() == [("payload", "action"), ("meta", "ts")]


def test_templates_are_values() -> None:
    a = compile_template({"x": "{{ topic }}"})
    assert a == compile_template({"x": "{{ topic }}"})
    assert hash(a) == hash(compile_template({"x": "{{ topic }}"}))
    assert a != compile_template({"x": "{{ payload }}"})
    assert compile_template(1) != compile_template(True)
    assert copy.deepcopy(a) is a
    assert pickle.loads(pickle.dumps(a)).render(MSG) == {"x": MSG.topic}
    assert isinstance(a, Template)


ERRORS = [
    # (template, error class, line, column, path, fragment)
    ("x {{ payload.", TemplateError, 1, 2, (), "unclosed '{{'"),
    ("x {{ }}", TemplateError, 1, 2, (), "empty '{{ }}'"),
    ("{{}}", TemplateError, 1, 0, (), "empty '{{ }}'"),
    ("a {{ paylod }}", ExpressionError, 1, 5, (), "unknown name 'paylod'"),
    ("a\nb {{ paylod }}", ExpressionError, 2, 5, (), "unknown name 'paylod'"),
    ("{{ payload.a\n and\n paylod }}", ExpressionError, 3, 1, (), "unknown name 'paylod'"),
    ("{{ (1 }}", ExpressionError, 1, 3, (), "'(' was never closed"),
    ("{{ 1 +* 2 }}", ExpressionError, 1, 6, (), "invalid syntax"),
    ("ok {{ topic }} then {{ payload.x() }}", ExpressionError, 1, 31, (), "method calls are not allowed"),
    ({"p": ["ok", "{{ 1 +* 2 }}"]}, ExpressionError, 1, 6, ("p", 1), "invalid syntax"),
    ({"a": {"b": "{{ ] }}"}}, ExpressionError, 1, 3, ("a", "b"), "unmatched ']'"),
    (["{{"], TemplateError, 1, 0, (0,), "unclosed '{{'"),
]


@pytest.mark.parametrize(
    ("source", "kind", "line", "column", "path", "fragment"), ERRORS, ids=[repr(e[0])[:30] for e in ERRORS]
)
def test_errors_point_inside_the_string(
    source: Any, kind: type[Exception], line: int, column: int, path: tuple[Any, ...], fragment: str
) -> None:
    with pytest.raises(kind) as caught:
        compile_template(source)
    error = caught.value
    assert isinstance(error, ExpressionError)
    assert fragment in error.message
    assert (error.line, error.column, error.path) == (line, column, path)


def test_template_errors_are_expression_errors_and_value_errors() -> None:
    with pytest.raises(ExpressionError):
        compile_template("{{")
    with pytest.raises(ValueError, match="unclosed"):
        compile_template("{{")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="{} payloadtopic.ax'\"()[]+1", max_size=40), json_values)
def test_junk_templates_compile_or_fail_cleanly_and_render_without_raising(source: str, payload: Any) -> None:
    try:
        template = compile_template(source)
    except ExpressionError as error:
        failure = error
    else:
        template.render(Message("t", payload, {}))
        return
    lines = source.split("\n")
    assert 1 <= failure.line <= len(lines)
    assert 0 <= failure.column <= len(lines[failure.line - 1])


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_text_rendering_never_raises(value: Any) -> None:
    text = compile_template("v={{ payload }}").render(Message("t", value, {}))
    assert isinstance(text, str)
    assert text.startswith("v=")
