"""Templates: strings with ``{{ expression }}`` parts, and mappings and lists of them (CONTRACT §5).

``"alerts/{{ meta.friendly_name }}"`` renders as text; ``"{{ payload.linkquality }}"``, a
string that is exactly one ``{{ expression }}``, yields the expression's value with its
type (the number 120, not the text ``"120"``). A mapping or list is a template member by
member (keys stay literal), so ``{event: "{{ payload.action }}", lqi: "{{ payload.linkquality }}"}``
builds a new mapping per message. Everything is compiled once; a string without ``{{`` and
any non-string scalar is a constant and costs nothing per message.

Text rendering (:func:`flowengine.expressions.format_text`): ``null`` is empty, booleans
``true``/``false``, numbers JSON numbers, mappings and lists compact JSON with sorted keys.
The user reference is ``docs/expressions.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from functools import partial
from types import MappingProxyType
from typing import Any, Final

from flowengine.expressions import (
    Evaluator,
    Expression,
    ExpressionError,
    compile_expression,
    format_json,
    format_text,
    validate_names,
)
from flowengine.expressions.base import MAX_VALUE_SIZE
from flowengine.expressions.sizes import ValueTooLargeError
from flowengine.message import Message

__all__ = ["Template", "TemplateError", "compile_template"]

_EMPTY: Final[Mapping[str, Any]] = MappingProxyType({})
_OPEN: Final = "{{"
_CLOSE: Final = "}}"
_NOTHING: Final = Message("", None, {})  # what constant members are rendered with, at compile time


class TemplateError(ExpressionError):
    """A template's structure is wrong (an unclosed ``{{``, an empty ``{{ }}``).

    A subclass of :class:`~flowengine.expressions.ExpressionError`, so one ``except``
    catches both; errors inside an expression of a template are raised as
    ``ExpressionError`` with ``line``/``column`` inside the template string and ``path``
    leading to the string within a mapping or list template.
    """


class Template:
    """A compiled template: :meth:`render` it with a message to get the value.

    Build one with :func:`compile_template`. Instances are immutable and compare equal
    when their source values and extra names are equal.
    """

    __slots__ = ("_constant", "_expressions", "_fn", "function", "names", "source")

    source: Any
    names: tuple[str, ...]
    #: The fastest way to render without extra names: a one-argument function of the message.
    function: Callable[[Message], Any]

    def __init__(
        self, source: Any, names: tuple[str, ...], fn: Evaluator, constant: bool, expressions: tuple[Expression, ...]
    ) -> None:
        self.source = source
        self.names = names
        self._fn = fn
        self._constant = constant
        self._expressions = expressions
        self.function = partial(fn, _EMPTY)

    def render(self, msg: Message, extra: Mapping[str, Any] | None = None) -> Any:
        """Return the template's value for ``msg`` (and the extra names' values). Never raises.

        A constant template returns its source value itself (shared, so treat it as
        read-only, like every value in a message).
        """
        return self._fn(_EMPTY if extra is None else extra, msg)

    def __call__(self, msg: Message) -> Any:
        """Render for ``msg`` without extra names; the same as ``render(msg)``."""
        return self._fn(_EMPTY, msg)

    @property
    def is_constant(self) -> bool:
        """True when the value does not depend on the message (no ``{{`` anywhere, or constant parts)."""
        return self._constant

    def expressions(self) -> Iterator[Expression]:
        """Yield the expressions inside the template, in source order (for lints)."""
        return iter(self._expressions)

    def referenced_paths(self) -> list[tuple[Any, ...]]:
        """Return the property paths the template's expressions read, without repeats."""
        paths: dict[tuple[Any, ...], None] = {}
        for expression in self._expressions:
            paths.update(dict.fromkeys(expression.referenced_paths()))
        return list(paths)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Template):
            return NotImplemented
        return type(self.source) is type(other.source) and self.source == other.source and self.names == other.names

    def __hash__(self) -> int:
        return hash((Template, format_json(self.source), self.names))

    def __repr__(self) -> str:
        return f"Template({self.source!r})" if not self.names else f"Template({self.source!r}, names={self.names!r})"

    def __copy__(self) -> Template:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Template:
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.source, self.names))


def _rebuild(source: Any, names: tuple[str, ...]) -> Template:
    return compile_template(source, names=names)


def _position(text: str, offset: int) -> tuple[int, int]:
    """The 1-based line and 0-based column of ``offset`` in ``text``."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1)


def _find_close(text: str, start: int) -> int:
    """Find the ``}}`` ending the expression that starts at ``start``, or -1.

    Quotes and brackets are followed, so ``{{ {'a': {'b': 1}} }}`` and ``{{ '}}' }}`` end at
    the right place. When that finds nothing (an unbalanced bracket inside), the first
    ``}}`` is taken and the expression's own error explains the problem.
    """
    depth = 0
    quote = ""
    index = start
    end = len(text)
    while index < end:
        char = text[index]
        if quote:
            if char == "\\":
                index += 1
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]":
            depth = max(depth - 1, 0)
        elif char == "}":
            if depth == 0 and text.startswith(_CLOSE, index):
                return index
            depth = max(depth - 1, 0)
        index += 1
    return text.find(_CLOSE, start)


def _compile_string(
    text: str, names: tuple[str, ...], path: tuple[str | int, ...]
) -> tuple[Evaluator, bool, tuple[Expression, ...]]:
    """Compile one template string into ``(fn, constant, expressions)``."""
    pieces: list[str | Expression] = []
    index = 0
    while True:
        start = text.find(_OPEN, index)
        if start < 0:
            pieces.append(text[index:])
            break
        pieces.append(text[index:start])
        close = _find_close(text, start + len(_OPEN))
        if close < 0:
            line, column = _position(text, start)
            raise TemplateError("unclosed '{{' (no matching '}}')", line=line, column=column, source=text, path=path)
        source = text[start + len(_OPEN) : close]
        pieces.append(_compile_part(text, source, start + len(_OPEN), names, path))
        index = close + len(_CLOSE)

    expressions = tuple(piece for piece in pieces if isinstance(piece, Expression))
    # Exactly one {{ expression }} and nothing else: the value keeps its type.
    if len(pieces) == 3 and pieces[0] == "" and pieces[2] == "" and isinstance(pieces[1], Expression):
        only = pieces[1]
        if only.is_constant:
            return _constant(only.constant_value), True, expressions
        if any(len(path) == 1 and (path[0] == "msg" or path[0] in names) for path in only.referenced_paths()):
            return _message_as_object(only.evaluator), False, expressions
        return only.evaluator, False, expressions

    # Text: fold constant expressions into the surrounding text.
    parts: list[str | Evaluator] = []
    for piece in pieces:
        if isinstance(piece, Expression):
            if not piece.is_constant:
                parts.append(piece.evaluator)
                continue
            piece = format_text(piece.constant_value)
        if parts and isinstance(parts[-1], str):
            if len(parts[-1]) + len(piece) > MAX_VALUE_SIZE:
                line, column = _position(text, 0)
                raise TemplateError(f"this template would build more than {MAX_VALUE_SIZE:,} characters",
                                    line=line, column=column, source=text, path=path)
            parts[-1] += piece
        else:
            parts.append(piece)
    if all(isinstance(part, str) for part in parts):
        return _constant("".join(part for part in parts if isinstance(part, str))), True, expressions
    return _text(parts), False, expressions


def _compile_part(
    text: str, source: str, offset: int, names: tuple[str, ...], path: tuple[str | int, ...]
) -> Expression:
    """Compile the expression between ``{{`` and ``}}``; errors are placed within ``text``."""
    if not source.strip():
        line, column = _position(text, offset - len(_OPEN))
        raise TemplateError("empty '{{ }}'", line=line, column=column, source=text, path=path)
    try:
        return compile_expression(source, names=names)
    except ExpressionError as exc:
        start_line, start_column = _position(text, offset)
        line = start_line + exc.line - 1
        column = start_column + exc.column if exc.line == 1 else exc.column
        raise exc.relocated(line=line, column=column, source=text, path=path) from exc


def _message_as_object(read: Evaluator) -> Evaluator:
    """A message as a value (``{{ msg }}``, ``{{ first }}``) becomes its ``{topic, payload, meta}`` mapping."""

    def render(x: Mapping[str, Any], m: Message) -> Any:
        value = read(x, m)
        return value.to_json_obj() if isinstance(value, Message) else value

    return render


def _path_part(key: Any) -> str | int:
    return key if isinstance(key, str | int) else str(key)


def _constant(value: Any) -> Evaluator:
    def constant(x: Mapping[str, Any], m: Message) -> Any:
        return value

    return constant


def _text(parts: list[str | Evaluator]) -> Evaluator:
    """Build the text renderer of alternating literal text and expressions."""
    prefix = parts[0] if isinstance(parts[0], str) else ""
    rest = parts[1:] if isinstance(parts[0], str) else parts
    pairs: list[tuple[Evaluator, str]] = []
    for part in rest:
        if isinstance(part, str):
            function, text = pairs[-1]
            pairs[-1] = (function, text + part)
        else:
            pairs.append((part, ""))
    text_of = format_text
    if len(pairs) == 1:
        ((read, suffix),) = pairs

        def render_one(x: Mapping[str, Any], m: Message) -> str:
            value = read(x, m)
            return prefix + (value if type(value) is str else text_of(value)) + suffix

        return render_one
    frozen = tuple(pairs)

    def render_many(x: Mapping[str, Any], m: Message) -> str:
        out = [prefix]
        length = len(prefix)
        for read, suffix in frozen:
            value = read(x, m)
            text = value if type(value) is str else text_of(value)
            length += len(text) + len(suffix)
            if length > MAX_VALUE_SIZE:  # checked before the join allocates the whole text
                raise ValueTooLargeError("this template", length)
            out.append(text)
            out.append(suffix)
        return "".join(out)

    return render_many


def _compile(
    value: Any, names: tuple[str, ...], path: tuple[str | int, ...]
) -> tuple[Evaluator, bool, tuple[Expression, ...]]:
    if isinstance(value, str):
        if _OPEN not in value:
            return _constant(value), True, ()
        return _compile_string(value, names, path)
    if isinstance(value, Mapping):
        members = [(key, *_compile(member, names, (*path, _path_part(key)))) for key, member in value.items()]
        expressions = tuple(expression for *_, found in members for expression in found)
        if all(constant for _, _, constant, _ in members):
            return _constant({key: function(_EMPTY, _NOTHING) for key, function, _, _ in members}), True, expressions
        items = tuple((key, function) for key, function, _, _ in members)

        def render_mapping(x: Mapping[str, Any], m: Message) -> Any:
            return {key: function(x, m) for key, function in items}

        return render_mapping, False, expressions
    if isinstance(value, list | tuple):
        elements = [_compile(member, names, (*path, index)) for index, member in enumerate(value)]
        expressions = tuple(expression for _, _, found in elements for expression in found)
        kind = type(value) if isinstance(value, tuple) else list
        if all(constant for _, constant, _ in elements):
            return _constant(kind([function(_EMPTY, _NOTHING) for function, _, _ in elements])), True, expressions
        functions = tuple(function for function, _, _ in elements)

        def render_sequence(x: Mapping[str, Any], m: Message) -> Any:
            return kind([function(x, m) for function in functions])

        return render_sequence, False, expressions
    return _constant(value), True, ()


def compile_template(value: Any, *, names: Collection[str] = ()) -> Template:
    """Compile a template: a string with ``{{ expression }}`` parts, or a mapping/list of them.

    Args:
        value: The template as it comes from YAML. Strings are templates; mappings and
            lists are templates member by member (keys are literal); other scalars
            (numbers, booleans, null) are constants.
        names: Extra names the expressions may read (see
            :func:`~flowengine.expressions.compile_expression`).

    Returns:
        The compiled :class:`Template`.

    Raises:
        TemplateError: An unclosed ``{{`` or an empty ``{{ }}``.
        ExpressionError: An expression inside does not compile; ``line``/``column`` are
            inside the template string and ``path`` leads to that string.
        ValueError: An extra name is not an identifier or hides a built-in name.
    """
    extra = validate_names(names)
    function, constant, expressions = _compile(value, extra, ())
    return Template(value, extra, function, constant, expressions)
