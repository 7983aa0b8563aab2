"""Parsing: expression text to a Python AST, with errors placed at the user's line and column."""

from __future__ import annotations

import ast
import io
import re
import tokenize
import warnings
from collections.abc import Collection
from typing import Final

from flowengine.expressions.base import CONSTANT_NAMES, MAX_SOURCE_LENGTH, MESSAGE_NAMES, ExpressionError
from flowengine.expressions.functions import FUNCTIONS

_DETECTED_AT = re.compile(r"\(detected at line (\d+)\)")
_OPENERS: Final = {"(": ")", "[": "]", "{": "}"}
_CLOSERS: Final = {")": "(", "]": "[", "}": "{"}


def validate_names(names: Collection[str]) -> tuple[str, ...]:
    """Check extra names for :func:`compile_expression`; return them as a tuple without repeats.

    Raises:
        ValueError: A name is not an identifier, begins with ``_``, or hides a built-in name.
    """
    checked: list[str] = []
    for name in names:
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
            raise ValueError(f"invalid extra name {name!r}: a Python identifier not beginning with '_'")
        if name in MESSAGE_NAMES or name in FUNCTIONS or name in CONSTANT_NAMES:
            raise ValueError(f"the extra name {name!r} would hide a built-in name")
        if name not in checked:
            checked.append(name)
    return tuple(checked)


def _check_brackets(wrapped: str, lines: list[str], source: str) -> None:
    """Report unbalanced brackets at the user's bracket (the wrapping '(' would blur them)."""
    closing_line = len(lines) + 2
    stack: list[tuple[str, int, int]] = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(wrapped).readline):
            if token.type == tokenize.ERRORTOKEN:
                return  # an unterminated string: the parser says it better
            if token.type != tokenize.OP:
                continue
            line, column = token.start[0] - 1, token.start[1]
            if token.start == (closing_line, 0):
                if len(stack) > 1:
                    char, open_line, open_column = stack[-1]
                    raise ExpressionError(
                        f"'{char}' was never closed", line=open_line, column=open_column, source=source
                    )
                return
            if token.string in _OPENERS:
                stack.append((token.string, line, column))
            elif token.string in _CLOSERS:
                if len(stack) <= 1:
                    raise ExpressionError(f"unmatched '{token.string}'", line=line, column=column, source=source)
                char, _, _ = stack.pop()
                if _OPENERS[char] != token.string:
                    raise ExpressionError(
                        f"closing '{token.string}' does not match opening '{char}'",
                        line=line,
                        column=column,
                        source=source,
                    )
    except (tokenize.TokenError, SyntaxError):
        return


def _syntax_error(exc: SyntaxError, lines: list[str], source: str) -> ExpressionError:
    message = exc.msg or "invalid syntax"
    message = _DETECTED_AT.sub(lambda match: f"(detected at line {int(match.group(1)) - 1})", message)
    line = (exc.lineno or 2) - 1
    column = (exc.offset or 1) - 1
    if line > len(lines):
        line, column = len(lines), len(lines[-1])
        if message == "invalid syntax":
            message = "unexpected end of expression"
    elif line < 1:
        line, column = 1, 0
    column = max(0, min(column, len(lines[line - 1])))
    return ExpressionError(message, line=line, column=column, source=source)


def _parse(source: str) -> tuple[ast.expr, list[str]]:
    if len(source) > MAX_SOURCE_LENGTH:
        raise ExpressionError(f"an expression is limited to {MAX_SOURCE_LENGTH} characters", source=source)
    text = source.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        column = lines[line - 1].index("\x00")
        raise ExpressionError("NUL characters are not allowed", line=line, column=column, source=source)
    if not text.strip() or all(not line.strip() or line.lstrip().startswith("#") for line in lines):
        raise ExpressionError("empty expression", source=source)
    # Wrapping in brackets lets an expression span lines (YAML block scalars) and start
    # with blanks; line 1 of the parsed text is the '(' so user line N is parsed line N+1.
    wrapped = f"(\n{text}\n)"
    _check_brackets(wrapped, lines, source)
    try:
        with warnings.catch_warnings():
            # '\d' in a regex literal or '1if x else 2' draw warnings from Python's parser
            # about its own future; they mean what they say today, so they are accepted.
            warnings.simplefilter("ignore", SyntaxWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            tree = ast.parse(wrapped, mode="eval")
    except SyntaxError as exc:
        raise _syntax_error(exc, lines, source) from exc
    except (RecursionError, MemoryError) as exc:
        raise ExpressionError("the expression is too complex", source=source) from exc
    return tree.body, lines
