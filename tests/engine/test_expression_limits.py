"""Expression and template limits: sizes checked before allocation, regular expressions in linear time."""

from __future__ import annotations

import resource
from pathlib import Path

import pytest

from flowengine.cli import main
from flowengine.expressions import (
    MAX_VALUE_SIZE,
    ExpressionError,
    ValueTooLargeError,
    compile_expression,
    compile_regex,
)
from flowengine.message import Message
from flowengine.templates import TemplateError, compile_template

BIG = "[('x' * 99999)] * 99999"  # about 10 GB once rendered as JSON


def msg(**payload: object) -> Message:
    return Message("t", dict(payload), {})


@pytest.mark.parametrize(("source", "column"), [
    (BIG, 0),
    (f"json({BIG})", 5),
    ("len(str([[1] * 99999] * 99999))", 8),
    ("['a' * 99999] * 6 + ['a' * 99999] * 6", 0),
    ("{'a': [[0] * 99999] * 999}", 6),
])
def test_a_constant_over_the_limit_is_refused_at_load_with_its_position(source: str, column: int) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ExpressionError, match=r"would build about [\d,]+ characters") as caught:
        compile_expression(source)
    assert (caught.value.line, caught.value.column) == (1, column)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 * 1024


def test_repetition_keeps_its_item_limit() -> None:
    with pytest.raises(ExpressionError, match=r"repeating 1,000,000 times would build about 1,000,000 characters "
                                              r"\(the limit is 100,000\)"):
        compile_expression("'x' * 1000000")
    assert len(compile_expression("'x' * 99999").constant_value) == 99_999


@pytest.mark.parametrize("source", [
    "[payload.s] * payload.n",
    "json([payload.s] * payload.n)",
    "[payload.s, payload.s, payload.s] * 99999",
    "payload.list + payload.list",
    "{'a': payload.list, 'b': payload.list}",
    "str([payload.list, payload.list])",
])
def test_a_value_over_the_limit_at_run_time_raises_before_it_is_built(source: str) -> None:
    expression = compile_expression(source)
    text = "x" * 99_999
    shared = [text] * 9
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ValueTooLargeError, match="the limit is"):
        expression(msg(s=text, n=99_999, list=shared))
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 * 1024


def test_values_within_the_limit_are_untouched() -> None:
    assert compile_expression("len([payload.s] * 9)")(msg(s="abc")) == 9
    assert compile_expression("payload.a + payload.b")(msg(a=[1], b=[2])) == [1, 2]
    assert compile_expression("json({'k': [payload.s] * 3})")(msg(s="v")) == '{"k":["v","v","v"]}'
    assert len(compile_expression("str([payload.s] * 10)")(msg(s="y" * (MAX_VALUE_SIZE // 20)))) > MAX_VALUE_SIZE // 3


def test_a_text_template_over_the_limit_raises_before_the_join() -> None:
    template = compile_template("{{ json(payload.a) }}-{{ json(payload.a) }}-{{ json(payload.a) }}")
    part = ["z" * 99_000] * 4  # each part ~400 KB: three of them pass the limit
    with pytest.raises(ValueTooLargeError, match="this template would build"):
        template.render(msg(a=part))


def test_a_constant_template_over_the_limit_is_refused_at_load() -> None:
    source = "{{ json([('w' * 99999)] * 9) }}" * 2
    with pytest.raises(TemplateError, match="more than 1,000,000 characters"):
        compile_template(source)


def test_validate_reports_the_limit_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flow = tmp_path / "flow.yaml"
    (tmp_path / "c.jsonl").write_text("")
    flow.write_text(f'version: 1\nstate: memory\nnodes:\n  - id: src\n    type: zigbee-replay\n    path: c.jsonl\n'
                    f'    wires: [f]\n  - id: f\n    type: filter\n    when: "len(json({BIG})) > 0"\n')
    assert main(["validate", str(flow)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    assert ":10:" in lines[0]
    assert "would build about" in lines[0]


def test_nested_quantifiers_match_in_linear_time_and_mean_what_they_say() -> None:
    search = compile_regex(r"(a+)+$")
    assert search("a" * 40)
    assert not search("a" * 40 + "!")  # the backtracking case: RE2 answers at once
    assert compile_expression(r"matches(payload.s, '^(\w+\s?)*$')")(msg(s="lumi " * 8 + "!")) is False


@pytest.mark.parametrize(("pattern", "fragment"), [
    (r"(a)\1", "no lookaround or backreferences"),
    (r"(?=a)b", "no lookaround or backreferences"),
    (r"(?<!a)b", "no lookaround or backreferences"),
    (r"[", "missing ]"),
])
def test_patterns_the_linear_engine_lacks_are_refused_at_load(pattern: str, fragment: str) -> None:
    with pytest.raises(ExpressionError, match="invalid regular expression") as caught:
        compile_expression(f"matches(payload.s, {pattern!r})")
    assert fragment in caught.value.message
    assert caught.value.column == 19
