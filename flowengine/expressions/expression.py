"""The compiled :class:`Expression` and :func:`compile_expression`, which builds it."""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Iterator, Mapping
from functools import partial
from typing import Any

from flowengine.expressions.base import _EMPTY, Comparison, Evaluator, ExpressionError
from flowengine.expressions.compiler import _Compiler
from flowengine.expressions.evaluators import _Code
from flowengine.expressions.parser import _parse, validate_names
from flowengine.message import Message


class Expression:
    """A compiled expression: call it with a message to get its value.

    Build one with :func:`compile_expression`. Instances are immutable, hashable and
    compare equal when their source and extra names are equal.
    """

    __slots__ = ("_code", "_comparisons", "_fn", "_paths", "function", "names", "source")

    source: str
    names: tuple[str, ...]
    #: The fastest way to evaluate: a plain one-argument function of the message (extra
    #: names read as ``None``). Nodes on the hot path may fetch it once and keep it.
    function: Callable[[Message], Any]

    def __init__(
        self,
        source: str,
        names: tuple[str, ...],
        code: _Code,
        paths: tuple[tuple[Hashable, ...], ...],
        comparisons: tuple[Comparison, ...],
    ) -> None:
        self.source = source
        self.names = names
        self._code = code
        self._fn = code.fn
        self._paths = paths
        self._comparisons = comparisons
        self.function = partial(code.fn, _EMPTY)

    def __call__(self, msg: Message) -> Any:
        """Evaluate against ``msg`` (extra names read as ``None``).

        Never raises on JSON data, but for :class:`~flowengine.expressions.sizes.ValueTooLargeError`
        when it would build a value over a size limit (the documented refusal: the node fails on
        that message).
        """
        return self._fn(_EMPTY, msg)

    def evaluate(self, msg: Message, extra: Mapping[str, Any]) -> Any:
        """Evaluate against ``msg`` with values for the extra ``names`` given at compile time.

        A name missing from ``extra`` reads as ``None``.
        """
        return self._fn(extra, msg)

    @property
    def evaluator(self) -> Evaluator:
        """The raw compiled function ``fn(extra, msg)`` (templates compose these)."""
        return self._code.fn

    @property
    def is_constant(self) -> bool:
        """True when the value does not depend on the message (``1 + 1``, ``'a'``)."""
        return self._code.constant

    @property
    def constant_value(self) -> Any:
        """The value of a constant expression (``None`` when :attr:`is_constant` is false)."""
        return self._code.value

    def referenced_paths(self) -> list[tuple[Hashable, ...]]:
        """Return the property paths the expression reads, in source order, without repeats.

        ``payload.a.b == 1 and meta['ts'] > 0`` gives ``[("payload", "a", "b"), ("meta", "ts")]``.
        A path stops where a key is computed (``payload[topic]`` reads ``("payload",)`` and
        ``("topic",)``). Paths may start with extra names (``("first", "payload")``).
        """
        return list(self._paths)

    def comparisons(self) -> Iterator[Comparison]:
        """Yield every comparison of a property path with a constant, for the capability lint.

        ``payload.action == 'x'`` yields ``Comparison(("payload", "action"), "==", "x", ...)``;
        ``payload.action in ['a', 'b']`` yields ``op="in"`` with the list as constant.
        """
        return iter(self._comparisons)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Expression):
            return NotImplemented
        return self.source == other.source and self.names == other.names

    def __hash__(self) -> int:
        return hash((Expression, self.source, self.names))

    def __repr__(self) -> str:
        return (
            f"Expression({self.source!r})" if not self.names else f"Expression({self.source!r}, names={self.names!r})"
        )

    def __copy__(self) -> Expression:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Expression:
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.source, self.names))


def _rebuild(source: str, names: tuple[str, ...]) -> Expression:
    return compile_expression(source, names=names)


def compile_expression(source: str, *, names: Collection[str] = ()) -> Expression:
    """Compile an expression of the language of CONTRACT §5 (reference: docs/expressions.md).

    Args:
        source: The expression text; it may span lines and carry ``#`` comments.
        names: Extra names the expression may read besides ``payload``, ``topic``, ``meta``
            and ``msg`` (a rule's templates use ``count``, ``key``, ``first``, ``last``);
            their values are given to :meth:`Expression.evaluate`.

    Returns:
        The compiled :class:`Expression`.

    Raises:
        ExpressionError: The text does not parse or uses something outside the language;
            ``line``/``column`` locate the problem within ``source``.
        ValueError: An extra name is not an identifier or hides a built-in name.
        TypeError: ``source`` is not a string.
    """
    if not isinstance(source, str):
        raise TypeError(f"an expression is a string, not {type(source).__name__}")
    extra = validate_names(names)
    body, lines = _parse(source)
    compiler = _Compiler(source, lines, extra)
    try:
        code = compiler.compile(body, 0)
    except RecursionError as exc:
        raise ExpressionError("the expression is too complex", source=source) from exc
    return Expression(source, extra, code, tuple(compiler.paths), tuple(compiler.comparisons))
