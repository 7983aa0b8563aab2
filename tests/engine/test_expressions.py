"""The expression language (CONTRACT §5): semantics, functions, refusals with positions, lint data."""

from __future__ import annotations

import copy
import math
import pickle
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from flowengine.errors import FlowError
from flowengine.expressions import (
    FUNCTIONS,
    Comparison,
    Expression,
    ExpressionError,
    ValueTooLargeError,
    compile_expression,
    format_json,
    format_text,
    property_getter,
)
from flowengine.message import Message

TS = 1732435200.5  # 2024-11-24 08:00:00.5 UTC, a Sunday

PAYLOAD = {
    "action": "finger_not_match",
    "linkquality": 120,
    "battery": 15,
    "ratio": 2.5,
    "flag": True,
    "nothing": None,
    "text": "  Hello World  ",
    "numbers": [3, 1, 2],
    "mixed": [1, "a"],
    "nested": {"a": {"b": 7}, "list": [{"x": 1}, {"x": 2}]},
    "_id": "hidden",
    "hex": "0x1a2b",
}
META = {"ts": TS, "ieee": "00:15:8d:00:01:02:03:04", "source": "radio"}
MSG = Message("zigbee2mqtt/front_door", PAYLOAD, META)


def run(source: str, msg: Message = MSG, **extra: Any) -> Any:
    expression = compile_expression(source, names=tuple(extra))
    return expression.evaluate(msg, extra) if extra else expression(msg)


# ---------------------------------------------------------------------------------------
# Semantics

VALUES = [
    # property access
    ("payload.action", "finger_not_match"),
    ("payload['action']", "finger_not_match"),
    ('payload["linkquality"]', 120),
    ("payload.nested.a.b", 7),
    ("payload.nested['a']['b']", 7),
    ("payload.nested.list[1].x", 2),
    ("payload.numbers[-1]", 2),
    ("payload.numbers[3]", None),
    ("payload.numbers[-4]", None),
    ("payload['_id']", "hidden"),
    ("payload[topic]", None),
    ("payload.action[0]", "f"),
    ("payload.missing", None),
    ("payload.missing.deeper.still", None),
    ("payload.linkquality.x", None),
    ("payload.numbers.x", None),
    ("payload.numbers['0']", None),
    ("topic", "zigbee2mqtt/front_door"),
    ("meta.ieee", "00:15:8d:00:01:02:03:04"),
    ("meta['ts']", TS),
    ("msg.payload.action", "finger_not_match"),
    ("msg.topic", "zigbee2mqtt/front_door"),
    ("msg['meta'].source", "radio"),
    ("msg[topic]", None),
    ("topic.x", None),
    # literals and JSON spellings
    ("true", True),
    ("false", False),
    ("null", None),
    ("None", None),
    ("[1, 'a', None]", [1, "a", None]),
    ("(1, 2)", (1, 2)),
    ("{'a': 1, 'b': [2]}", {"a": 1, "b": [2]}),
    ("{1, 2}", frozenset({1, 2})),
    ("{'a': payload.linkquality}", {"a": 120}),
    ("[payload.battery, topic]", [15, "zigbee2mqtt/front_door"]),
    ("{payload.nested: 1}", None),  # an unhashable key gives null
    ("{payload.numbers}", None),
    # comparisons
    ("payload.action == 'finger_not_match'", True),
    ("'finger_not_match' == payload.action", True),
    ("payload.action != 'finger_not_match'", False),
    ("payload.missing != 'x'", True),
    ("payload.missing == null", True),
    ("payload.nothing == None", True),
    ("payload.linkquality > 100", True),
    ("100 < payload.linkquality", True),
    ("payload.linkquality >= 120", True),
    ("payload.linkquality <= 119", False),
    ("1 < payload.battery < 20", True),
    ("1 < payload.battery < 10", False),
    ("0 < payload.missing < 10", False),
    ("payload.missing < 3", False),
    ("payload.missing > 3", False),
    ("payload.missing <= 3", False),
    ("payload.missing >= 3", False),
    ("3 > payload.missing", False),
    ("payload.missing < payload.missing", False),
    ("payload.action < 3", False),  # incomparable types: false, not an error
    ("payload.action > 3", False),
    ("payload.numbers < payload.nested", False),
    ("payload.action in ['finger_not_match', 'password_not_match']", True),
    ("payload.action in ('x', 'y')", False),
    ("payload.action in {'finger_not_match'}", True),
    ("payload.action not in ['x']", True),
    ("payload.action in null", False),
    ("payload.action not in null", True),
    ("payload.action in payload.missing", False),
    ("payload.action not in payload.missing", True),
    ("'finger' in payload.action", True),
    ("3 in payload.numbers", True),
    ("payload.numbers in [[3, 1, 2]]", True),  # unhashable value against a constant list
    ("payload.numbers in payload.numbers", False),
    ("3 in payload.action", False),  # TypeError in Python: false here
    ("payload.nested in payload.nested", False),
    ("'a' in payload.nested", True),
    ("payload.linkquality in 'abc'", False),
    ("payload.action in 'xfinger_not_matchx'", True),
    ("payload.action in 5", False),
    ("payload.missing is None", True),
    ("payload.action is not None", True),
    ("payload.flag is True", True),
    ("null is payload.missing", True),
    # boolean logic (Python truthiness, operand values)
    ("payload.flag and payload.action", "finger_not_match"),
    ("payload.missing or 'default'", "default"),
    ("payload.missing and payload.x", None),
    ("payload.battery < 20 or payload.linkquality < 10", True),
    ("not payload.missing", True),
    ("not payload.numbers", False),
    ("payload.a or payload.b or 0", 0),
    ("payload.flag and payload.battery and payload.linkquality", 120),
    ("payload.flag and payload.missing and payload.linkquality", None),
    # arithmetic and null
    ("payload.linkquality + 1", 121),
    ("payload.linkquality - payload.battery", 105),
    ("payload.battery * 2", 30),
    ("payload.battery / 2", 7.5),
    ("payload.battery // 2", 7),
    ("payload.battery % 4", 3),
    ("2 ** 10", 1024),
    ("-payload.battery", -15),
    ("+payload.ratio", 2.5),
    ("'ab' + 'cd'", "abcd"),
    ("[1] + payload.numbers", [1, 3, 1, 2]),
    ("'-' * 3", "---"),
    ("payload.missing + 1", None),
    ("1 - payload.missing", None),
    ("-payload.missing", None),
    ("-payload.action", None),
    ("payload.action + 1", None),  # TypeError gives null
    ("payload.battery / 0", None),  # ZeroDivisionError gives null
    ("payload.battery % 0", None),
    ("payload.battery // 0", None),
    ("'%s' % payload.battery", None),  # no printf-style formatting
    ("2 ** 100000", None),  # so is **
    ("10.0 ** 400", None),  # float overflow
    ("(-8) ** 0.5", None),  # no complex numbers
    ("0 ** -1", None),
    ("payload.nested + payload.nested", None),
    # conditional expression
    ("'low' if payload.battery < 20 else 'ok'", "low"),
    ("'low' if payload.missing < 20 else 'ok'", "ok"),
    ("payload.action if true else 0", "finger_not_match"),
    # comments and layout
    ("payload.linkquality  # the link", 120),
    ("  payload.battery\n  + 1", 16),
    ("payload.battery < 20\n  and payload.flag", True),
]


@pytest.mark.parametrize(("source", "expected"), VALUES)
def test_value(source: str, expected: Any) -> None:
    result = run(source)
    assert result == expected
    assert type(result) is type(expected)


def test_comparisons_return_booleans_and_missing_is_simply_false() -> None:
    # CONTRACT §5: payload.action_user == 3 is simply false on a message without that key.
    empty = Message("t", {}, {})
    assert run("payload.action_user == 3", empty) is False
    assert run("payload.action_user == 3", Message("t", None, {})) is False
    assert run("payload.action_user == 3", Message("t", "text", {})) is False
    assert run("payload.action_user == 3", Message("t", [1, 2], {})) is False


@pytest.mark.parametrize(
    "payload",
    [None, "text", 5, 2.5, True, [1, 2], {"a": 1}, {"action": None}, {"action": ["x"]}],
    ids=repr,
)
def test_hot_shapes_agree_with_generic_semantics_on_any_payload(payload: Any) -> None:
    msg = Message("t", payload, {})
    action = payload.get("action") if isinstance(payload, dict) else None
    assert run("payload.action == 'x'", msg) is (action == "x")
    assert run("payload.action != 'x'", msg) is (action != "x")
    assert run("payload.action in ['x', 'y']", msg) is (action in ["x", "y"])
    assert run("payload.action not in ['x', 'y']", msg) is (action not in ["x", "y"])
    assert run("payload.action > 1", msg) is False


def test_subscripts_on_lists_and_strings_take_integers_only() -> None:
    assert run("payload.numbers[0]") == 3
    assert run("payload.numbers[true]") is None
    assert run("payload.numbers[1.0]") is None
    assert run("payload.numbers[payload.battery]") is None  # out of range
    assert run("payload.text[2]") == "H"


def test_mapping_payloads_other_than_dict_are_read() -> None:
    from types import MappingProxyType

    msg = Message("t", MappingProxyType({"a": {"b": 1}}), {})
    assert run("payload.a.b", msg) == 1
    assert run("payload['a']", msg) == {"b": 1}
    assert run("payload.a == {'b': 1}", msg) is True


def test_extra_names_are_read_from_evaluate_and_are_null_when_absent() -> None:
    first = Message("t", {"action": "finger_not_match", "n": 1}, {"ts": 1.0})
    expression = compile_expression("count >= 3 and first.payload.action == key", names=("count", "key", "first"))
    assert expression.evaluate(MSG, {"count": 3, "key": "finger_not_match", "first": first}) is True
    assert expression.evaluate(MSG, {"count": 2, "key": "finger_not_match", "first": first}) is False
    assert expression(MSG) is False  # count is null: the ordering comparison is false
    assert expression.evaluate(MSG, {}) is False
    assert run("first.meta.ts", first=first) == 1.0
    assert run("first.payload['n'] + count", first=first, count=2) == 3
    assert run("last.missing", last=first) is None
    assert run("last", last=first) is first
    assert run("count[0]", count=[5]) == 5


def test_names_hiding_built_ins_are_refused() -> None:
    for name in ("payload", "msg", "len", "true", "_x", "not an identifier", "1x"):
        with pytest.raises(ValueError, match="name"):
            compile_expression("1", names=(name,))


def test_msg_alone_is_the_message() -> None:
    assert run("msg") is MSG
    assert run("msg == msg") is True


def test_function_attribute_and_evaluator_give_the_same_results() -> None:
    expression = compile_expression("payload.linkquality > 100")
    assert expression.function(MSG) is True
    assert expression.evaluator({}, MSG) is True
    assert expression(MSG) is True


def test_constants_are_folded_at_compile_time() -> None:
    assert compile_expression("1 + 2 * 3").is_constant
    assert compile_expression("1 + 2 * 3").constant_value == 7
    assert compile_expression("len('abc') == 3 and not null").constant_value is True
    assert compile_expression("'a' if 1 < 2 < 3 else 'b'").constant_value == "a"
    assert compile_expression("[1, {'a': (2,)}]").constant_value == [1, {"a": (2,)}]
    assert not compile_expression("payload.x + 1").is_constant
    assert compile_expression("payload.x + 1").constant_value is None


def test_expressions_are_values_equal_by_source_and_survive_copy_and_pickle() -> None:
    a = compile_expression("payload.x == 1")
    b = compile_expression("payload.x == 1")
    assert a == b
    assert hash(a) == hash(b)
    assert a != compile_expression("payload.x == 2")
    assert a != compile_expression("payload.x == 1", names=("count",))
    assert copy.deepcopy(a) is a
    restored = pickle.loads(pickle.dumps(a))
    assert restored == a
    assert restored(Message("t", {"x": 1}, {})) is True
    assert repr(a) == "Expression('payload.x == 1')"
    assert isinstance(a, Expression)


def test_property_getter_reads_paths_with_null_semantics() -> None:
    assert property_getter(("payload", "nested", "a", "b"))(MSG) == 7
    assert property_getter(("payload", "missing", "a"))(MSG) is None
    assert property_getter(("topic",))(MSG) == MSG.topic
    assert property_getter(("meta", "ts"))(MSG) == TS
    with pytest.raises(ValueError, match="starts with"):
        property_getter(("msg", "payload"))


# ---------------------------------------------------------------------------------------
# Functions


FUNCTION_VALUES = [
    ("len(payload.numbers)", 3),
    ("len(payload.action)", 16),
    ("len(payload.nested)", 2),
    ("len(payload.missing)", None),
    ("len(payload.linkquality)", None),
    ("len(msg)", None),
    ("str(payload.linkquality)", "120"),
    ("str(payload.ratio)", "2.5"),
    ("str(payload.flag)", "true"),
    ("str(payload.nested.a)", '{"b":7}'),
    ("str(payload.mixed)", '[1,"a"]'),
    ("str(payload.missing)", None),
    ("str('x')", "x"),
    ("int('12')", 12),
    ("int(' 12 ')", 12),
    ("int('3.7')", 3),
    ("int(payload.hex)", 0x1A2B),
    ("int(3.9)", 3),
    ("int(true)", 1),
    ("int('abc')", None),
    ("int(payload.missing)", None),
    ("int(payload.numbers)", None),
    ("int('nan')", None),
    ("int('inf')", None),
    ("float('2.5')", 2.5),
    ("float(2)", 2.0),
    ("float('x')", None),
    ("float(payload.missing)", None),
    ("bool(payload.numbers)", True),
    ("bool('')", False),
    ("bool(payload.missing)", False),
    ("bool('false')", True),  # Python truthiness: a non-empty text is true
    ("round(2.567, 2)", 2.57),
    ("round(2.5)", 2),
    ("round(3.5)", 4),
    ("round(payload.linkquality, -1)", 120),
    ("round(payload.missing)", None),
    ("round('x')", None),
    ("round(1.5, 1000)", None),
    ("round(1.5, 'x')", None),
    ("abs(-3)", 3),
    ("abs(-2.5)", 2.5),
    ("abs('x')", None),
    ("abs(payload.missing)", None),
    ("min(payload.numbers)", 1),
    ("max(payload.numbers)", 3),
    ("min(4, 2, 8)", 2),
    ("max(4, payload.battery)", 15),
    ("min(1, payload.missing)", None),
    ("min([])", None),
    ("max(payload.mixed)", None),
    ("max(payload.missing)", None),
    ("max(5)", None),
    ("sum(payload.numbers)", 6),
    ("sum(1, 2, 3.5)", 6.5),
    ("sum(payload.mixed)", None),
    ("sum('abc')", None),
    ("lower('ABC')", "abc"),
    ("upper(payload.action)", "FINGER_NOT_MATCH"),
    ("lower(payload.missing)", None),
    ("upper(5)", None),
    ("strip(payload.text)", "Hello World"),
    ("strip(payload.numbers)", None),
    ("contains(payload.numbers, 3)", True),
    ("contains(payload.action, 'not')", True),
    ("contains(payload.missing, 3)", False),
    ("contains(payload.action, 3)", False),
    ("startswith(payload.action, 'finger')", True),
    ("startswith(payload.action, ['x', 'fing'])", True),
    ("startswith(payload.action, 'x')", False),
    ("startswith(payload.missing, 'x')", False),
    ("startswith(payload.action, payload.missing)", False),
    ("endswith(payload.action, 'match')", True),
    ("endswith(topic, ('door', 'window'))", True),
    ("endswith(5, '5')", False),
    ("matches(payload.action, '^finger_')", True),
    ("matches(payload.action, 'password')", False),
    ("matches(payload.linkquality, '^12')", True),
    ("matches(payload.flag, '^true$')", True),
    ("matches(payload.missing, '.*')", False),
    ("matches(payload.numbers, '.*')", False),
    ("coalesce(payload.missing, payload.nothing, payload.battery, 5)", 15),
    ("coalesce(payload.missing)", None),
    ("coalesce(payload.missing, 'default')", "default"),
    ("json(payload.nested)", '{"a":{"b":7},"list":[{"x":1},{"x":2}]}'),
    ("json(payload.missing)", "null"),
    ("json('x')", '"x"'),
    ("json({'b': 1, 'a': [true, null]})", '{"a":[true,null],"b":1}'),
    ("hour(meta.ts, 'UTC')", 8),
    ("hour(meta.ts, tz='Europe/Paris')", 9),
    ("hour(meta.ts, 'America/New_York')", 3),
    ("minute(meta.ts + 90, 'UTC')", 1),
    ("weekday(meta.ts, 'UTC')", 7),
    ("weekday(meta.ts + 86400, 'UTC')", 1),
    ("weekday(meta.ts, 'Pacific/Kiritimati')", 7),
    ("weekday(meta.ts + 43200, 'Pacific/Kiritimati')", 1),
    ("date(meta.ts, 'UTC')", "2024-11-24"),
    ("isoformat(meta.ts, 'UTC')", "2024-11-24T08:00:00.500000+00:00"),
    ("isoformat(0, 'Asia/Kolkata')", "1970-01-01T05:30:00+05:30"),
    ("hour('2024-11-24T08:30:00+00:00', 'Europe/Paris')", 9),
    ("hour('2024-11-24T08:30:00Z', 'UTC')", 8),
    ("hour('2024-11-24 08:30', 'Europe/Paris')", 8),  # a naive time is wall time in the zone
    ("hour(payload.missing, 'UTC')", None),
    ("hour('not a time', 'UTC')", None),
    ("hour(true, 'UTC')", None),
    ("hour(1e300, 'UTC')", None),
    ("hour(meta.ts, payload.missing) == hour(meta.ts)", True),  # a null tz is the local zone
    ("hour(meta.ts, payload.action)", None),  # not a zone
    ("hour(meta.ts, payload.linkquality)", None),
    ("hour(meta.ts, meta.source)", None),
]


@pytest.mark.parametrize(("source", "expected"), FUNCTION_VALUES)
def test_function(source: str, expected: Any) -> None:
    result = run(source)
    assert result == expected
    assert type(result) is type(expected)


def test_time_functions_default_to_the_machine_local_zone() -> None:
    local = datetime.fromtimestamp(TS)
    assert run("hour(meta.ts)") == local.hour
    assert run("minute(meta.ts)") == local.minute
    assert run("weekday(meta.ts)") == local.isoweekday()
    assert run("date(meta.ts)") == local.date().isoformat()
    assert run("isoformat(meta.ts)") == local.astimezone().isoformat()


def test_a_zone_from_the_message_is_looked_up_at_run_time() -> None:
    msg = Message("t", {"tz": "Asia/Tokyo"}, {"ts": TS})
    assert run("hour(meta.ts, payload.tz)", msg) == 17
    assert run("hour(meta.ts, tz=payload.tz)", Message("t", {"tz": "Nowhere/Special"}, {"ts": TS})) is None
    assert run("hour(meta.ts, payload.tz)", Message("t", {"tz": "../../etc/passwd"}, {"ts": TS})) is None


def test_every_function_is_documented() -> None:
    from pathlib import Path

    reference = (Path(__file__).parents[2] / "docs" / "expressions.md").read_text(encoding="utf-8")
    for name in FUNCTIONS:
        assert f"`{name}(" in reference, name


def test_format_text_and_json() -> None:
    assert format_text(None) == ""
    assert format_text(True) == "true"
    assert format_text(False) == "false"
    assert format_text(3) == "3"
    assert format_text(2.5) == "2.5"
    assert format_text(1e16) == "1e+16"
    assert format_text(math.nan) == ""
    assert format_text(math.inf) == ""
    assert format_text("x") == "x"
    assert format_text({"b": 1, "a": None}) == '{"a":null,"b":1}'
    assert format_text([1, "é"]) == '[1,"é"]'
    assert format_text(10**30) == str(10**30)
    assert format_json({"big": 10**30}) == '{"big":' + str(10**30) + "}"
    assert format_json(Message("t", 1, {"a": 1})) == '{"meta":{"a":1},"payload":1,"topic":"t"}'
    assert format_json(frozenset({2, 1})) == "[1,2]"
    assert format_json({1: "a", "b": 2}) == '{"1":"a","b":2}'
    assert format_json(object()).startswith('"<object object')


# ---------------------------------------------------------------------------------------
# Refusals, with positions (1-based line, 0-based column within the expression)

REFUSED = [
    ("paylod.action", 1, 0, "unknown name 'paylod' (did you mean 'payload'?)"),
    ("payload.a == x", 1, 13, "unknown name 'x'; the names are payload, topic, meta, msg"),
    ("count > 1", 1, 0, "unknown name 'count'"),
    ("len", 1, 0, "'len' is a function"),
    ("payload.__class__", 1, 8, "attributes beginning with '_' are not allowed"),
    ("payload._id", 1, 8, "write ['_id']"),
    ("__import__('os')", 1, 0, "names beginning with '_' are not allowed"),
    ("_x", 1, 0, "names beginning with '_' are not allowed"),
    ("payload.action.lower()", 1, 15, "method calls are not allowed; write lower(payload.action)"),
    ("topic.startswith('a', 1)", 1, 6, "write startswith(topic, ...)"),
    ("payload.keys()", 1, 8, "method calls are not allowed"),
    ("open('/etc/passwd')", 1, 0, "unknown function 'open'"),
    ("lenght(payload)", 1, 0, "unknown function 'lenght' (did you mean 'len'?)"),
    ("getattr(payload, 'x')", 1, 0, "unknown function 'getattr'"),
    ("payload(1)", 1, 0, "'payload' is not a function"),
    ("(lambda: 1)()", 1, 0, "only the functions listed"),
    ("lambda: 1", 1, 0, "lambda functions are not allowed"),
    ("[x for x in payload]", 1, 0, "comprehensions are not allowed"),
    ("{k: 1 for k in payload}", 1, 0, "comprehensions are not allowed"),
    ("{k for k in payload}", 1, 0, "comprehensions are not allowed"),
    ("sum(x for x in payload)", 1, 3, "generator expressions are not allowed"),
    ("(n := 1)", 1, 1, "assignment expressions (:=) are not allowed"),
    ("f'{payload}'", 1, 0, "f-strings are not supported"),
    ("len(*payload)", 1, 4, "'*' unpacking is not allowed"),
    ("[*payload]", 1, 1, "'*' unpacking is not allowed"),
    ("{**payload}", 1, 3, "'**' unpacking is not allowed"),
    ("hour(**payload)", 1, 7, "'**' unpacking is not allowed"),
    ("await payload", 1, 0, "'await' is not allowed"),
    ("(yield)", 1, 1, "'yield' is not allowed"),
    ("payload[1:2]", 1, 8, "slices are not supported"),
    ("b'bytes'", 1, 0, "bytes literals are not supported"),
    ("1j", 1, 0, "complex numbers are not supported"),
    ("...", 1, 0, "not supported"),
    ("payload << 2", 1, 0, "the operator '<<' is not supported"),
    ("payload & 1", 1, 0, "the operator '&' is not supported"),
    ("payload @ 1", 1, 0, "the operator '@' is not supported"),
    ("~payload", 1, 0, "the operator '~' is not supported"),
    ("payload is 3", 1, 11, "'is' compares only with None, True or False; use =="),
    ("payload is not 'x'", 1, 15, "use != to compare values"),
    ("msg.paylod", 1, 4, "a message has only topic, payload and meta, not 'paylod' (did you mean 'payload'?)"),
    ("msg[0]", 1, 4, "a message has only topic, payload and meta"),
    ("hour()", 1, 0, "hour(ts, tz=None) is missing 'ts'"),
    ("hour(1, 'UTC', 3)", 1, 15, "too many arguments: hour(ts, tz=None)"),
    ("hour(1, zone='UTC')", 1, 13, "hour() has no parameter 'zone'"),
    ("hour(1, ts=2)", 1, 11, "hour() got 'ts' twice"),
    ("hour(meta.ts, 'Europe/Pari')", 1, 14, "unknown time zone 'Europe/Pari' (did you mean 'Europe/Paris'?)"),
    ("hour(meta.ts, 5)", 1, 14, "unknown time zone 5"),
    ("min()", 1, 0, "needs at least 1 argument"),
    ("max(1, key=2)", 1, 11, "max() takes no keyword arguments"),
    ("matches(payload, payload.p)", 1, 17, "the pattern of matches() must be a string literal"),
    ("matches(payload, '(')", 1, 17, "invalid regular expression"),
    ("len(payload, 2)", 1, 13, "too many arguments: len(value)"),
    # syntax errors
    ("payload ==", 1, 10, "unexpected end of expression"),
    ("payload.action = 'x'", 1, 0, "Maybe you meant '==' instead of '='?"),
    ("n = 1", 1, 0, "Maybe you meant '==' or ':=' instead of '='?"),
    ("1 +* 2", 1, 3, "invalid syntax"),
    ("'abc", 1, 0, "unterminated string literal (detected at line 1)"),
    ("(payload", 1, 0, "'(' was never closed"),
    ("payload)", 1, 7, "unmatched ')'"),
    ("[1, 2)", 1, 5, "closing ')' does not match opening '['"),
    ("payload) or (topic", 1, 7, "unmatched ')'"),
    ("payload topic", 1, 0, "Perhaps you forgot a comma?"),
    ("", 1, 0, "empty expression"),
    ("   ", 1, 0, "empty expression"),
    ("# nothing", 1, 0, "empty expression"),
    ("payload\x00", 1, 7, "NUL characters are not allowed"),
    # multi-line: positions are within the expression's own lines
    ("payload.a and\n  paylod.b", 2, 2, "unknown name 'paylod'"),
    ("payload.a and\n  payload.b ==", 2, 14, "unexpected end of expression"),
    ("payload.a\n  and topic)", 2, 11, "unmatched ')'"),
    ("(payload.a\n  and topic", 1, 0, "'(' was never closed"),
    # columns count characters, not UTF-8 bytes
    ("'é' + paylod", 1, 6, "unknown name 'paylod'"),
    ("'日本' == x", 1, 8, "unknown name 'x'"),
    # complexity limits
    ("-" * 150 + "1", 1, 101, "nested too deeply"),
    ("a" + "+a" * 150, 1, 0, "nested too deeply"),
    ("(" * 250 + "1" + ")" * 250, 1, 199, "too many nested parentheses"),
    ("1" * 10_001, 1, 0, "limited to 10000 characters"),
]


@pytest.mark.parametrize(("source", "line", "column", "fragment"), REFUSED, ids=[r[0][:40] for r in REFUSED])
def test_refused_with_position(source: str, line: int, column: int, fragment: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(source)
    error = caught.value
    assert fragment in error.message
    assert (error.line, error.column) == (line, column)
    assert error.source == source
    assert str(error) == f"line {line}, column {column}: {error.message}"


def test_expression_error_is_a_flow_error_and_a_value_error() -> None:
    with pytest.raises(FlowError):
        compile_expression("payload.")
    with pytest.raises(ValueError, match="unexpected end"):
        compile_expression("payload.")


def test_non_string_source_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="string"):
        compile_expression(3)  # type: ignore[arg-type]


def test_unknown_name_lists_extra_names() -> None:
    with pytest.raises(ExpressionError, match="the names are payload, topic, meta, msg, count, key"):
        compile_expression("cuont", names=("count", "key"))
    with pytest.raises(ExpressionError, match="did you mean 'count'"):
        compile_expression("cuont", names=("count", "key"))


# ---------------------------------------------------------------------------------------
# What the capability lint reads


def test_comparisons_report_paths_ops_constants_and_positions() -> None:
    expression = compile_expression(
        "payload.action == 'finger_not_match' or msg.payload.action in ['a', 'b']\n"
        "  or 3 < payload.n or 'x' in payload.tags or payload.a == payload.b or lower(topic) == 'x'"
    )
    found = list(expression.comparisons())
    assert found == [
        Comparison(("payload", "action"), "==", "finger_not_match", 1, 0),
        Comparison(("payload", "action"), "in", ["a", "b"], 1, 40),
        Comparison(("payload", "n"), ">", 3, 2, 9),
        Comparison(("payload", "tags"), "contains", "x", 2, 29),
    ]
    path, op, constant, *_ = found[0]
    assert (path, op, constant) == (("payload", "action"), "==", "finger_not_match")


def test_comparisons_see_through_not_and_conditionals() -> None:
    expression = compile_expression("not (payload.event != 'x') if meta.ts > 0 else payload.user is None")
    assert [(c.path, c.op, c.constant) for c in expression.comparisons()] == [
        (("meta", "ts"), ">", 0),
        (("payload", "event"), "!=", "x"),
        (("payload", "user"), "is", None),
    ]


def test_comparison_constants_may_be_negative_numbers_and_tuples() -> None:
    expression = compile_expression("payload.t < -5 or payload.k in (1, 2) or payload.s in {'a'}")
    assert [(c.op, c.constant) for c in expression.comparisons()] == [
        ("<", -5),
        ("in", (1, 2)),
        ("in", frozenset({"a"})),
    ]


def test_referenced_paths() -> None:
    expression = compile_expression(
        "payload.a.b == 1 and meta['ts'] > 0 and payload[topic] and len(payload.list) "
        "and msg.payload.a.b and first.payload.x",
        names=("first",),
    )
    assert expression.referenced_paths() == [
        ("payload", "a", "b"),
        ("meta", "ts"),
        ("topic",),
        ("payload",),
        ("payload", "list"),
        ("first", "payload", "x"),
    ]


# ---------------------------------------------------------------------------------------
# Properties: junk never crashes the compiler; compiled expressions never raise on JSON

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)
keys = st.sampled_from(["a", "b", "action", "n", "list", "0", "x"])
payload_values = st.one_of(
    json_values,
    st.dictionaries(keys, json_values, max_size=6),
    st.fixed_dictionaries({"a": json_values, "n": json_values, "list": st.lists(json_values, max_size=4)}),
)
messages = st.builds(
    Message,
    st.text(max_size=10),
    payload_values,
    st.dictionaries(st.sampled_from(["ts", "ieee", "x"]), json_values, max_size=3),
)

EXPRESSION_CHARS = "payloadtopicmeta.[]()'\"0123456789 +-*/%<>=!andornotif else,:{}_#\n\\lenhourxyz"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=40) | st.text(alphabet=EXPRESSION_CHARS, max_size=40))
def test_junk_never_crashes_the_compiler(source: str) -> None:
    try:
        expression = compile_expression(source)
    except ExpressionError as error:
        failure = error
    else:
        expression(Message("t", {"a": 1}, {}))
        return
    lines = source.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    assert 1 <= failure.line <= len(lines)
    assert 0 <= failure.column <= len(lines[failure.line - 1])
    assert failure.message


atoms = st.one_of(
    st.sampled_from(
        [
            "payload",
            "payload.a",
            "payload.n",
            "payload['list']",
            "payload.list[0]",
            "payload.list[-1]",
            "payload.a.b.c",
            "payload[payload.a]",
            "meta.ts",
            "meta",
            "topic",
            "msg.payload.n",
            "msg",
            "null",
            "true",
            "[1, 'a']",
            "{'k': payload.a}",
            "{payload.a}",
            "(payload.a, 1)",
        ]
    ),
    st.integers(-(10**20), 10**20).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.text(alphabet="abc%_ ", max_size=4).map(repr),
)
binary_operators = st.sampled_from(
    ["+", "-", "*", "/", "//", "%", "**", "==", "!=", "<", "<=", ">", ">=", "in", "not in", "and", "or"]
)
functions = st.sampled_from(sorted(set(FUNCTIONS) - {"matches"}))


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(children, binary_operators, children).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(st.sampled_from(["-", "+", "not "]), children).map(lambda t: f"({t[0]}{t[1]})"),
        st.tuples(children, children, children).map(lambda t: f"({t[0]} if {t[1]} else {t[2]})"),
        st.tuples(functions, st.lists(children, min_size=1, max_size=2)).map(lambda t: f"{t[0]}({', '.join(t[1])})"),
        st.tuples(children, children).map(lambda t: f"matches({t[0]}, 'a.*')"),
        st.tuples(children, children).map(lambda t: f"{t[0]}[{t[1]}]"),
        st.tuples(children, children).map(lambda t: f"hour({t[0]}, {t[1]})"),
    )


expressions = st.recursive(atoms, _combine, max_leaves=8)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions, messages)
# Three items repeated 33,334 times is 100,002 items: one over the repetition limit (found by Hypothesis).
@example("(payload * 33334)", Message("t", [1, 2, 3], {}))
def test_compiled_expressions_never_raise_on_json_messages(source: str, msg: Message) -> None:
    """Evaluating never raises, but for the documented refusal of a value over a size limit.

    docs/expressions.md, "Size limits": over a limit is an error on the message that makes
    it (the node fails on that message), never ``null`` and never another exception.
    """
    try:
        expression = compile_expression(source)
    except ExpressionError:
        return  # e.g. hour(x, 'not a zone') or too many arguments for a function
    try:
        expression(msg)
        expression.evaluate(msg, {"count": 1})
        format_text(expression(msg))
    except ValueTooLargeError as refused:
        refusal = str(refused)
        assert "the limit is" in refusal, refusal


def test_a_repetition_one_item_over_the_limit_is_refused_on_the_message() -> None:
    expression = compile_expression("payload * 33334")
    assert len(expression(Message("t", [1, 2], {}))) == 66_668  # within the limit: built
    with pytest.raises(ValueTooLargeError, match=r"repeating 33,334 times would build about 100,002 items"):
        expression(Message("t", [1, 2, 3], {}))


def test_sources_python_only_warns_about_are_accepted_without_warnings() -> None:
    # pytest turns warnings into errors here: compiling must not emit any.
    assert run(r"matches(payload.hex, '\d')") is True
    assert compile_expression("1if true else 2").constant_value == 1
