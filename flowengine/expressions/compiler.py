"""Compilation: vet a parsed expression tree node by node and turn it into closures."""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Hashable, Iterable, Mapping
from functools import lru_cache
from typing import Any, Final

from flowengine.expressions.base import (
    _MESSAGE_FIELDS,
    _ROOT_INDEX,
    CONSTANT_NAMES,
    MAX_DEPTH,
    MESSAGE_NAMES,
    Comparison,
    ExpressionError,
)
from flowengine.expressions.evaluators import (
    _call,
    _Code,
    _compare_one,
    _constant,
    _is_singleton,
    _path_evaluator,
    _path_key,
)
from flowengine.expressions.functions import (
    _TIME_FIELDS,
    _TIME_FUNCTIONS,
    FUNCTIONS,
    FunctionSpec,
    _datetime,
    _fn_coalesce,
    _search,
    _zone,
    _zone_of,
)
from flowengine.expressions.regex import RegexError, compile_regex
from flowengine.expressions.semantics import _BINARY, _COMPARE, _FLIPPED, _REFUSED_OPERATORS, _item, _negate, _plus
from flowengine.expressions.sizes import ValueTooLargeError, check_size
from flowengine.message import Message

_REFUSED_NODES: Final[dict[type[ast.AST], str]] = {
    ast.Lambda: "lambda functions are not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "generator expressions are not allowed",
    ast.NamedExpr: "assignment expressions (:=) are not allowed",
    ast.JoinedStr: "f-strings are not supported; use a template ('{{ ... }}') or str() and +",
    ast.FormattedValue: "f-strings are not supported; use a template ('{{ ... }}') or str() and +",
    ast.Await: "'await' is not allowed",
    ast.Yield: "'yield' is not allowed",
    ast.YieldFrom: "'yield' is not allowed",
    ast.Starred: "'*' unpacking is not allowed",
    ast.Slice: "slices are not supported",
}


def _suggest(word: str, candidates: Iterable[str]) -> str:
    import difflib  # only when a flow has a mistake: a valid flow's start does without it

    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


class _Compiler:
    """Vets one parsed expression and turns it into closures; records paths and comparisons."""

    def __init__(self, source: str, lines: list[str], names: tuple[str, ...]) -> None:
        self.source = source
        self.lines = lines
        self.names = names
        self.name_set = frozenset(names)
        self.paths: dict[tuple[Hashable, ...], None] = {}
        self.comparisons: list[Comparison] = []

    # -- positions and errors ---------------------------------------------------------

    def _char_column(self, line: int, byte_offset: int) -> int:
        text = self.lines[line - 1]
        return len(text.encode("utf-8")[:byte_offset].decode("utf-8", errors="ignore"))

    def position(self, node: ast.AST) -> tuple[int, int]:
        """The 1-based line and 0-based character column of ``node`` in the user's source."""
        line = getattr(node, "lineno", 2) - 1  # line 1 of the parsed text is the wrapping '('
        if line < 1:
            return 1, 0
        if line > len(self.lines):
            return len(self.lines), len(self.lines[-1])
        return line, self._char_column(line, getattr(node, "col_offset", 0))

    def end_position(self, node: ast.AST, back: int = 0) -> tuple[int, int]:
        """The position ``back`` characters before the end of ``node`` (an attribute's name)."""
        line = (getattr(node, "end_lineno", None) or 2) - 1
        if not 1 <= line <= len(self.lines):
            return self.position(node)
        column = self._char_column(line, getattr(node, "end_col_offset", 0) or 0)
        return line, max(column - back, 0)

    def error(self, node: ast.AST | tuple[int, int], message: str) -> ExpressionError:
        line, column = node if isinstance(node, tuple) else self.position(node)
        return ExpressionError(message, line=line, column=column, source=self.source)

    # -- dispatch -----------------------------------------------------------------------

    def compile(self, node: ast.AST, depth: int) -> _Code:
        """Compile ``node`` as a value; a property path used as a value is recorded."""
        code = self._compile(node, depth)
        if code.path is not None:
            self.paths.setdefault(code.path)
        return code

    def _compile(self, node: ast.AST, depth: int) -> _Code:
        if depth > MAX_DEPTH:
            raise self.error(node, f"the expression is nested too deeply (more than {MAX_DEPTH} levels)")
        handler = getattr(self, f"_compile_{type(node).__name__}", None)
        if handler is not None:
            try:
                return handler(node, depth + 1)  # type: ignore[no-any-return]
            except ValueTooLargeError as exc:  # a constant part is folded now: refuse it at load time
                raise self.error(node, str(exc)) from exc
        message = _REFUSED_NODES.get(type(node))
        if message is None:
            message = f"{type(node).__name__} is not supported in expressions"
        raise self.error(node, message)

    # -- leaves -------------------------------------------------------------------------

    def _compile_Constant(self, node: ast.Constant, depth: int) -> _Code:
        value = node.value
        if value is None or isinstance(value, bool | int | float | str):
            return _constant(value)
        if isinstance(value, bytes):
            raise self.error(node, "bytes literals are not supported; use a string")
        if isinstance(value, complex):
            raise self.error(node, "complex numbers are not supported")
        raise self.error(node, f"the literal {ast.unparse(node)} is not supported")

    def _compile_Name(self, node: ast.Name, depth: int) -> _Code:
        name = node.id
        if name.startswith("_"):
            raise self.error(node, f"names beginning with '_' are not allowed: '{name}'")
        if name in _ROOT_INDEX or name == "msg" or name in self.name_set:
            path = (name,)
            return _Code(_path_evaluator(path), path=path)
        if name in CONSTANT_NAMES:
            return _constant(CONSTANT_NAMES[name])
        if name in FUNCTIONS:
            raise self.error(node, f"'{name}' is a function: call it, as in {name}(payload)")
        allowed = (*MESSAGE_NAMES, *self.names)
        hint = _suggest(name, (*allowed, *CONSTANT_NAMES))
        raise self.error(node, f"unknown name '{name}'{hint}; the names are {', '.join(allowed)}")

    # -- property access ----------------------------------------------------------------

    def _extend(self, node: ast.AST, base: _Code, key: Hashable, key_position: tuple[int, int]) -> _Code:
        """Extend the property path ``base`` by ``key``; ``msg.payload`` becomes ``payload``."""
        assert base.path is not None
        if base.path == ("msg",):
            if key not in _MESSAGE_FIELDS:
                hint = _suggest(str(key), _MESSAGE_FIELDS) if isinstance(key, str) else ""
                raise self.error(key_position, f"a message has only topic, payload and meta, not {key!r}{hint}")
            path: tuple[Hashable, ...] = (key,)
        else:
            path = (*base.path, key)
        return _Code(_path_evaluator(path), path=path)

    def _compile_Attribute(self, node: ast.Attribute, depth: int) -> _Code:
        name_position = self.end_position(node, back=len(node.attr))
        if node.attr.startswith("_"):
            raise self.error(
                name_position,
                f"attributes beginning with '_' are not allowed: '{node.attr}' "
                f"(for a key that begins with '_', write ['{node.attr}'])",
            )
        base = self._compile(node.value, depth)
        if base.path is not None:
            return self._extend(node, base, node.attr, name_position)
        return self._item(base, _constant(node.attr))

    def _compile_Subscript(self, node: ast.Subscript, depth: int) -> _Code:
        if isinstance(node.slice, ast.Slice):
            raise self.error(node.slice, _REFUSED_NODES[ast.Slice])
        base = self._compile(node.value, depth)
        key = self.compile(node.slice, depth)
        path_key = _path_key(key)
        if base.path is not None and path_key is not None:
            return self._extend(node, base, path_key, self.position(node.slice))
        if base.path is not None:
            self.paths.setdefault(base.path)
        return self._item(base, key)

    def _item(self, base: _Code, key: _Code) -> _Code:
        if base.constant and key.constant:
            return _constant(_item(base.value, key.value))
        read_base = base.fn
        if key.constant:
            constant_key = key.value

            def item_constant(x: Mapping[str, Any], m: Message) -> Any:
                return _item(read_base(x, m), constant_key)

            return _Code(item_constant)
        read_key = key.fn

        def item_computed(x: Mapping[str, Any], m: Message) -> Any:
            return _item(read_base(x, m), read_key(x, m))

        return _Code(item_computed)

    # -- comparisons --------------------------------------------------------------------

    def _compile_Compare(self, node: ast.Compare, depth: int) -> _Code:
        operands = [self.compile(node.left, depth)]
        operand_nodes: list[ast.expr] = [node.left, *node.comparators]
        for comparator in node.comparators:
            operands.append(self.compile(comparator, depth))
        steps: list[tuple[str, Callable[[Any, Any], bool]]] = []
        for index, op in enumerate(node.ops):
            symbol, function = _COMPARE[type(op)]
            left, right = operands[index], operands[index + 1]
            if symbol in ("is", "is not") and not (_is_singleton(right) or _is_singleton(left)):
                raise self.error(
                    operand_nodes[index + 1],
                    f"'{symbol}' compares only with None, True or False; use "
                    f"{'==' if symbol == 'is' else '!='} to compare values",
                )
            self._record_comparison(symbol, left, right, operand_nodes[index], operand_nodes[index + 1])
            steps.append((symbol, function))

        if all(code.constant for code in operands):
            left_value = operands[0].value
            result = True
            for (_, function), code in zip(steps, operands[1:], strict=True):
                if not function(left_value, code.value):
                    result = False
                    break
                left_value = code.value
            return _constant(result)
        if len(steps) == 1:
            return _Code(_compare_one(steps[0][0], steps[0][1], operands[0], operands[1]))
        functions = tuple(step[1] for step in steps)
        readers = tuple(code.fn for code in operands)

        def chain(x: Mapping[str, Any], m: Message) -> Any:
            left = readers[0](x, m)
            for function, read in zip(functions, readers[1:], strict=True):
                right = read(x, m)
                if not function(left, right):
                    return False
                left = right
            return True

        return _Code(chain)

    def _record_comparison(
        self, symbol: str, left: _Code, right: _Code, left_node: ast.expr, right_node: ast.expr
    ) -> None:
        if left.path is not None and right.constant:
            line, column = self.position(left_node)
            self.comparisons.append(Comparison(left.path, symbol, right.value, line, column))
        elif right.path is not None and left.constant:
            line, column = self.position(right_node)
            if symbol in ("in", "not in"):
                flipped = "contains" if symbol == "in" else "not contains"
            else:
                flipped = _FLIPPED.get(symbol, symbol)
            self.comparisons.append(Comparison(right.path, flipped, left.value, line, column))

    # -- boolean logic, arithmetic, conditionals ----------------------------------------

    def _compile_BoolOp(self, node: ast.BoolOp, depth: int) -> _Code:
        codes = [self.compile(value, depth) for value in node.values]
        is_and = isinstance(node.op, ast.And)
        if all(code.constant for code in codes):
            result = codes[0].value
            for code in codes[1:]:
                if (not result) if is_and else result:
                    break
                result = code.value
            return _constant(result)
        if len(codes) == 2:
            first, second = codes[0].fn, codes[1].fn
            if is_and:

                def and_two(x: Mapping[str, Any], m: Message) -> Any:
                    return first(x, m) and second(x, m)

                return _Code(and_two)

            def or_two(x: Mapping[str, Any], m: Message) -> Any:
                return first(x, m) or second(x, m)

            return _Code(or_two)
        readers = tuple(code.fn for code in codes)
        if is_and:

            def and_many(x: Mapping[str, Any], m: Message) -> Any:
                value: Any = True
                for read in readers:
                    value = read(x, m)
                    if not value:
                        return value
                return value

            return _Code(and_many)

        def or_many(x: Mapping[str, Any], m: Message) -> Any:
            value: Any = False
            for read in readers:
                value = read(x, m)
                if value:
                    return value
            return value

        return _Code(or_many)

    def _compile_UnaryOp(self, node: ast.UnaryOp, depth: int) -> _Code:
        if isinstance(node.op, ast.Invert):
            raise self.error(node, "the operator '~' is not supported")
        operand = self.compile(node.operand, depth)
        function: Callable[[Any], Any]
        if isinstance(node.op, ast.Not):
            function = operator.not_
        elif isinstance(node.op, ast.USub):
            function = _negate
        else:
            function = _plus
        if operand.constant:
            return _constant(function(operand.value))
        read = operand.fn

        def unary(x: Mapping[str, Any], m: Message) -> Any:
            return function(read(x, m))

        return _Code(unary)

    def _compile_BinOp(self, node: ast.BinOp, depth: int) -> _Code:
        refused = _REFUSED_OPERATORS.get(type(node.op))
        if refused is not None:
            raise self.error(node, f"the operator '{refused}' is not supported")
        _, function = _BINARY[type(node.op)]
        left = self.compile(node.left, depth)
        right = self.compile(node.right, depth)
        if left.constant and right.constant:
            return _constant(function(left.value, right.value))
        read_left, read_right = left.fn, right.fn
        if right.constant:
            constant_right = right.value

            def binary_constant(x: Mapping[str, Any], m: Message) -> Any:
                return function(read_left(x, m), constant_right)

            return _Code(binary_constant)

        def binary(x: Mapping[str, Any], m: Message) -> Any:
            return function(read_left(x, m), read_right(x, m))

        return _Code(binary)

    def _compile_IfExp(self, node: ast.IfExp, depth: int) -> _Code:
        test = self.compile(node.test, depth)
        body = self.compile(node.body, depth)
        orelse = self.compile(node.orelse, depth)
        if test.constant:
            return body if test.value else orelse
        read_test, read_body, read_else = test.fn, body.fn, orelse.fn

        def conditional(x: Mapping[str, Any], m: Message) -> Any:
            return read_body(x, m) if read_test(x, m) else read_else(x, m)

        return _Code(conditional)

    # -- displays -----------------------------------------------------------------------

    def _elements(self, nodes: list[ast.expr], depth: int) -> list[_Code]:
        return [self.compile(element, depth) for element in nodes]

    def _compile_List(self, node: ast.List, depth: int) -> _Code:
        codes = self._elements(node.elts, depth)
        if all(code.constant for code in codes):
            return _constant(check_size([code.value for code in codes], "this list"))
        readers = tuple(code.fn for code in codes)

        def build_list(x: Mapping[str, Any], m: Message) -> Any:
            return check_size([read(x, m) for read in readers], "a list")

        return _Code(build_list)

    def _compile_Tuple(self, node: ast.Tuple, depth: int) -> _Code:
        codes = self._elements(node.elts, depth)
        if all(code.constant for code in codes):
            return _constant(check_size(tuple(code.value for code in codes), "this tuple"))
        readers = tuple(code.fn for code in codes)

        def build_tuple(x: Mapping[str, Any], m: Message) -> Any:
            return check_size(tuple([read(x, m) for read in readers]), "a tuple")

        return _Code(build_tuple)

    def _compile_Set(self, node: ast.Set, depth: int) -> _Code:
        codes = self._elements(node.elts, depth)
        if all(code.constant for code in codes):
            try:
                return _constant(check_size(frozenset(code.value for code in codes), "this set"))
            except TypeError:
                return _constant(None)
        readers = tuple(code.fn for code in codes)

        def build_set(x: Mapping[str, Any], m: Message) -> Any:
            try:
                return check_size(frozenset([read(x, m) for read in readers]), "a set")
            except TypeError:
                return None

        return _Code(build_set)

    def _compile_Dict(self, node: ast.Dict, depth: int) -> _Code:
        for key_node, value_node in zip(node.keys, node.values, strict=True):
            if key_node is None:
                raise self.error(value_node, "'**' unpacking is not allowed")
        keys = self._elements([key for key in node.keys if key is not None], depth)
        values = self._elements(node.values, depth)
        pairs = tuple((key.fn, value.fn) for key, value in zip(keys, values, strict=True))
        if all(code.constant for code in (*keys, *values)):
            try:
                built = {key.value: value.value for key, value in zip(keys, values, strict=True)}
                return _constant(check_size(built, "this mapping"))
            except TypeError:
                return _constant(None)

        def build_dict(x: Mapping[str, Any], m: Message) -> Any:
            try:
                built = {read_key(x, m): read_value(x, m) for read_key, read_value in pairs}
            except TypeError:  # an unhashable key
                return None
            return check_size(built, "a mapping")

        return _Code(build_dict)

    # -- calls --------------------------------------------------------------------------

    def _compile_Call(self, node: ast.Call, depth: int) -> _Code:
        func = node.func
        if isinstance(func, ast.Attribute):
            if func.attr in FUNCTIONS:
                suggestion = f"{func.attr}({ast.unparse(func.value)}"
                suggestion += ", ...)" if (node.args or node.keywords) else ")"
                message = f"method calls are not allowed; write {suggestion}"
            else:
                message = "method calls are not allowed; only the functions listed in docs/expressions.md"
            raise self.error(self.end_position(func, back=len(func.attr)), message)
        if not isinstance(func, ast.Name):
            raise self.error(node, "only the functions listed in docs/expressions.md can be called, by name")
        name = func.id
        spec = FUNCTIONS.get(name)
        if spec is None:
            if name in _ROOT_INDEX or name == "msg" or name in self.name_set or name in CONSTANT_NAMES:
                raise self.error(func, f"'{name}' is not a function")
            if name.startswith("_"):
                raise self.error(func, f"names beginning with '_' are not allowed: '{name}'")
            hint = _suggest(name, FUNCTIONS)
            raise self.error(func, f"unknown function '{name}'{hint}; the functions are {', '.join(sorted(FUNCTIONS))}")
        nodes = self._bind(node, name, spec)
        if name == "matches":
            return self._compile_matches(node, nodes, depth)
        if name in _TIME_FUNCTIONS and len(nodes) == 2 and nodes[1] is not None:
            return self._compile_time(name, spec, nodes, depth)
        codes = [self.compile(arg, depth) if arg is not None else _constant(None) for arg in nodes]
        if name == "coalesce":
            return self._compile_coalesce(codes)
        impl = spec.impl
        if all(code.constant for code in codes):
            return _constant(impl(*(code.value for code in codes)))
        return _Code(_call(impl, tuple(code.fn for code in codes)))

    def _bind(self, node: ast.Call, name: str, spec: FunctionSpec) -> list[ast.expr | None]:
        """Match positional and keyword arguments to ``spec``'s parameters, at compile time."""
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise self.error(arg, _REFUSED_NODES[ast.Starred])
        if spec.variadic:
            if node.keywords:
                raise self.error(node.keywords[0].value, f"{name}() takes no keyword arguments")
            if len(node.args) < spec.required:
                raise self.error(node, f"{spec.signature(name)} needs at least {spec.required} argument(s)")
            return list(node.args)
        if len(node.args) > len(spec.params):
            raise self.error(node.args[len(spec.params)], f"too many arguments: {spec.signature(name)}")
        bound: list[ast.expr | None] = [*node.args, *([None] * (len(spec.params) - len(node.args)))]
        for keyword in node.keywords:
            if keyword.arg is None:
                raise self.error(keyword.value, "'**' unpacking is not allowed")
            if keyword.arg not in spec.params:
                hint = _suggest(keyword.arg, spec.params)
                raise self.error(
                    keyword.value, f"{name}() has no parameter '{keyword.arg}'{hint}: {spec.signature(name)}"
                )
            index = spec.params.index(keyword.arg)
            if bound[index] is not None:
                raise self.error(keyword.value, f"{name}() got '{keyword.arg}' twice")
            bound[index] = keyword.value
        missing = [spec.params[i] for i in range(spec.required) if bound[i] is None]
        if missing:
            raise self.error(node, f"{spec.signature(name)} is missing '{missing[0]}'")
        while bound and bound[-1] is None:
            bound.pop()
        return bound

    def _compile_matches(self, node: ast.Call, nodes: list[ast.expr | None], depth: int) -> _Code:
        pattern_node = nodes[1]
        assert pattern_node is not None
        if not (isinstance(pattern_node, ast.Constant) and isinstance(pattern_node.value, str)):
            raise self.error(pattern_node, "the pattern of matches() must be a string literal")
        try:
            search = compile_regex(pattern_node.value)
        except RegexError as exc:
            raise self.error(pattern_node, str(exc)) from exc
        assert nodes[0] is not None
        value = self.compile(nodes[0], depth)

        def match(candidate: Any) -> bool:
            return _search(search, candidate)

        if value.constant:
            return _constant(match(value.value))
        return _Code(_call(match, (value.fn,)))

    def _compile_time(self, name: str, spec: FunctionSpec, nodes: list[ast.expr | None], depth: int) -> _Code:
        """A time function with a ``tz``: a literal zone is checked now and looked up once."""
        ts_node, tz_node = nodes
        assert ts_node is not None
        assert tz_node is not None
        ts = self.compile(ts_node, depth)
        tz = self.compile(tz_node, depth)
        if not tz.constant:
            impl = spec.impl
            return _Code(_call(impl, (ts.fn, tz.fn)))
        if tz.value is not None and (not isinstance(tz.value, str) or _zone(tz.value) is None):
            raise self.error(tz_node, f"unknown time zone {tz.value!r}{_zone_hint(tz.value)}")
        zone = _zone_of(tz.value)
        field = _TIME_FIELDS[name]

        def in_zone(stamp: Any) -> Any:
            moment = _datetime(stamp, zone)
            return None if moment is None else field(moment)

        if ts.constant:
            return _constant(in_zone(ts.value))
        return _Code(_call(in_zone, (ts.fn,)))

    def _compile_coalesce(self, codes: list[_Code]) -> _Code:
        readers = tuple(code.fn for code in codes)

        def coalesce(x: Mapping[str, Any], m: Message) -> Any:
            for read in readers:
                value = read(x, m)
                if value is not None:
                    return value
            return None

        if all(code.constant for code in codes):
            return _constant(_fn_coalesce(*(code.value for code in codes)))
        return _Code(coalesce)


def _zone_hint(name: Any) -> str:
    return _suggest(name, _zone_names()) if isinstance(name, str) else ""


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    from zoneinfo import available_timezones  # slow (walks the zone files): only on an error

    return frozenset(available_timezones())
