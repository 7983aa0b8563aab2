"""Expressions: a safe subset of Python expression syntax, compiled once into closures (CONTRACT §5).

An expression such as ``payload.action in ['finger_not_match', 'password_not_match']``
is parsed with :func:`ast.parse`, every node of the tree is vetted against a small
whitelist, and the tree is turned into nested Python closures. Nothing is ever handed to
``eval``/``exec`` and no bytecode is generated from user text, so an expression can only
do what the closures below do: read the message, compare, compute, and call the
documented pure functions of :data:`FUNCTIONS`.

Evaluation follows *null semantics*: a missing key or attribute is ``None``, an ordering
comparison involving ``None`` (or values of incomparable types) is ``False``, ``x in
None`` is ``False``, and arithmetic with ``None`` (or arithmetic that Python would reject)
gives ``None``. So evaluation never raises on JSON-like data, and a broken expression is
reported when the flow loads, with its line and column, instead of failing per message.

The user reference is ``docs/expressions.md``.
"""

from __future__ import annotations

from flowengine.expressions.base import (
    CONSTANT_NAMES,
    MAX_DEPTH,
    MAX_POWER_BITS,
    MAX_REPEAT,
    MAX_ROUND_DIGITS,
    MAX_SOURCE_LENGTH,
    MAX_VALUE_SIZE,
    MESSAGE_NAMES,
    RULE_NAMES,
    Comparison,
    Evaluator,
    ExpressionError,
)
from flowengine.expressions.evaluators import property_getter
from flowengine.expressions.expression import Expression, compile_expression
from flowengine.expressions.functions import FUNCTIONS, FunctionSpec
from flowengine.expressions.parser import validate_names
from flowengine.expressions.regex import RegexError, compile_regex
from flowengine.expressions.rendering import format_json, format_text
from flowengine.expressions.sizes import ValueTooLargeError

__all__ = [
    "CONSTANT_NAMES",
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_POWER_BITS",
    "MAX_REPEAT",
    "MAX_ROUND_DIGITS",
    "MAX_SOURCE_LENGTH",
    "MAX_VALUE_SIZE",
    "MESSAGE_NAMES",
    "RULE_NAMES",
    "Comparison",
    "Evaluator",
    "Expression",
    "ExpressionError",
    "FunctionSpec",
    "RegexError",
    "ValueTooLargeError",
    "compile_expression",
    "compile_regex",
    "format_json",
    "format_text",
    "property_getter",
    "validate_names",
]
