"""The vocabulary of expressions: the names they read, their limits, their error and lint record."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from types import MappingProxyType
from typing import Any, Final, NamedTuple

from flowengine.errors import FlowError
from flowengine.message import Message

#: The names every expression can read: the message's parts and the message itself.
MESSAGE_NAMES: Final = ("payload", "topic", "meta", "msg")
#: JSON spellings accepted beside Python's ``True``, ``False`` and ``None``.
CONSTANT_NAMES: Final[Mapping[str, Any]] = MappingProxyType({"true": True, "false": False, "null": None})
#: The extra names a ``rule`` node's ``emit`` templates see (CONTRACT §5).
RULE_NAMES: Final = ("count", "key", "first", "last")

#: Longest accepted expression source, in characters.
MAX_SOURCE_LENGTH: Final = 10_000
#: Deepest accepted nesting of the expression tree (each level is one closure call).
MAX_DEPTH: Final = 100
#: Longest string or list that ``*`` may build by repetition; longer gives ``None``.
MAX_REPEAT: Final = 100_000
#: Largest value an expression or template may build, as the approximate length of its
#: JSON text (see :mod:`flowengine.expressions.sizes`); larger is refused before it is built.
MAX_VALUE_SIZE: Final = 1_000_000
#: Largest integer result of ``**``, in bits; larger gives ``None``.
MAX_POWER_BITS: Final = 10_000
#: Largest ``ndigits`` accepted by ``round``.
MAX_ROUND_DIGITS: Final = 100

#: The compiled form of an expression: ``fn(extra_names, message) -> value``. Never raises
#: on JSON-like data. (Extra names come first so that ``functools.partial(fn, {})`` is a
#: one-argument function of the message that runs without a Python-level frame of its own.)
Evaluator = Callable[[Mapping[str, Any], Message], Any]

_EMPTY: Final[Mapping[str, Any]] = MappingProxyType({})
_ROOT_INDEX: Final = {"topic": 0, "payload": 1, "meta": 2}
_MESSAGE_FIELDS: Final = ("topic", "payload", "meta")


class ExpressionError(FlowError, ValueError):
    """An expression is outside the supported subset or does not parse.

    Also a :class:`ValueError`, so that a pydantic validator calling
    :func:`compile_expression` reports it as a validation error by itself.

    Attributes:
        message: What is wrong, without the position.
        line: 1-based line within the expression's source (or template string).
        column: 0-based character offset within that line.
        source: The text that was being compiled.
        path: For a member of a mapping or list template, the keys and indexes that lead
            to the offending string (``("payload", "event")``); empty otherwise.
    """

    def __init__(
        self,
        message: str,
        *,
        line: int = 1,
        column: int = 0,
        source: str = "",
        path: tuple[str | int, ...] = (),
    ) -> None:
        self.message = message
        self.line = line
        self.column = column
        self.source = source
        self.path = path
        super().__init__(f"line {line}, column {column}: {message}")

    def relocated(self, *, line: int, column: int, source: str, path: tuple[str | int, ...]) -> ExpressionError:
        """Return a copy of this error at another position (used for expressions in templates)."""
        return type(self)(self.message, line=line, column=column, source=source, path=path)


class Comparison(NamedTuple):
    """A comparison of a message property with a constant, found by :meth:`Expression.comparisons`.

    ``path`` is the property (``("payload", "action")``; ``msg.payload.x`` is normalised to
    ``("payload", "x")``), ``op`` one of ``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``in``,
    ``not in``, ``is``, ``is not`` (the property always on the left: ``3 < payload.n`` is
    reported as ``>``), or ``contains`` / ``not contains`` for ``'x' in payload.list``.
    ``constant`` is the constant's value (a list, tuple or frozenset for ``in``).
    ``line``/``column`` locate the property within the expression source.
    """

    path: tuple[Hashable, ...]
    op: str
    constant: Any
    line: int
    column: int
