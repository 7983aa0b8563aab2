"""``switch``: route messages to named ports by tests on one property."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from pydantic import Field, model_validator

from flowengine import Comparison, Expr, Message, NodeConfig, PropertyPath, Transform, compile_getter, compile_regex

TESTS = ("eq", "in", "gt", "lt", "regex", "when")


class SwitchRule(NodeConfig):
    """One rule: exactly one test and the port a matching message goes to."""

    port: str = Field(description="Output port for messages this rule matches.")
    eq: Any = Field(None, description="Property equals this value.")
    in_: list[Any] | None = Field(None, alias="in", description="Property is one of these values.")
    gt: float | None = Field(None, description="Property is a number greater than this.")
    lt: float | None = Field(None, description="Property is a number less than this.")
    regex: str | None = Field(None, description="Property is a string this pattern matches (a search).")
    when: Expr | None = Field(None, description="Expression over the message (ignores `property`).")

    @model_validator(mode="after")
    def _one_test(self) -> SwitchRule:
        given = [name for name in TESTS if (name if name != "in" else "in_") in self.model_fields_set]
        if len(given) != 1:
            raise ValueError(f"a rule has exactly one test of {', '.join(TESTS)}; this one has "
                             f"{', '.join(given) or 'none'}")
        if self.regex is not None:
            compile_regex(self.regex)  # linear-time (RE2); a ValueError saying why otherwise
        return self

    def test(self) -> Callable[[Any, Message], bool]:
        """Return ``test(value, msg)`` for this rule."""
        fields = self.model_fields_set
        if "when" in fields and self.when is not None:
            condition = self.when.function
            return lambda value, msg: bool(condition(msg))
        if "in_" in fields:
            choices = list(self.in_ or [])
            try:
                frozen = frozenset(choices)
            except TypeError:
                return lambda value, msg: value in choices
            return lambda value, msg: _hashable(value) and value in frozen
        if "gt" in fields:
            bound = self.gt
            return lambda value, msg: _number(value) and value > bound
        if "lt" in fields:
            bound_lt = self.lt
            return lambda value, msg: _number(value) and value < bound_lt
        if "regex" in fields:
            search = compile_regex(self.regex or "")
            return lambda value, msg: isinstance(value, str) and search(value)
        expected = self.eq
        return lambda value, msg: value == expected


def _hashable(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool | tuple)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class SwitchConfig(NodeConfig):
    """Config of ``switch``."""

    property: PropertyPath = Field(("payload",), description="The property the rules test, e.g. `payload.action`.")
    rules: list[SwitchRule] = Field(min_length=1, description="Tests in order; each names a port.")
    otherwise: str | None = Field(None, description="Port for messages no rule matches (else dropped, counted).")
    first_match: bool = Field(True, description="Stop at the first matching rule; false: every matching port.")


class Switch(Transform[SwitchConfig]):
    """Routes each message to the port of the first rule it matches (or of every rule).

    The ports are the ``port`` names of the rules plus ``otherwise``. A message that no
    rule matches goes to ``otherwise`` or, without it, is dropped and counted in
    ``counters["unmatched"]``.

    Example:
        ```yaml
        version: 1
        nodes:
          - id: capture
            type: zigbee-replay
            path: captures/front_door.jsonl
            wires: [route]
          - id: route
            type: switch
            property: payload.cluster
            rules:
              - {eq: 257, port: lock}
              - {in: [0, 1], port: power}
            otherwise: other
            wires: {lock: [locks], power: [power], other: [rest]}
          - id: locks
            type: file
            path: out/lock.jsonl
          - id: power
            type: file
            path: out/power.jsonl
          - id: rest
            type: discard
        ```
    """

    config_model: ClassVar[type[NodeConfig]] = SwitchConfig
    passes_payload: ClassVar[bool] = True

    @classmethod
    def comparisons(cls, config: Any) -> list[Comparison]:
        """The constants the rules compare ``property`` (or message properties) with."""
        found: list[Comparison] = []
        for index, rule in enumerate(config.rules):
            fields = rule.model_fields_set
            if "eq" in fields:
                found.append(Comparison(tuple(config.property), "==", rule.eq, ("rules", index, "eq")))
            elif "in_" in fields:
                found.append(Comparison(tuple(config.property), "in", list(rule.in_ or []),
                                        ("rules", index, "in")))
            elif rule.when is not None:
                found.extend(Comparison(tuple(str(p) for p in c.path), c.op, c.constant,
                                        ("rules", index, "when")) for c in rule.when.comparisons())
        return found

    @classmethod
    def output_ports(cls, config: Any) -> tuple[str, ...]:
        """The rules' ports, then ``otherwise``, without repeats."""
        ports = [rule.port for rule in config.rules]
        if config.otherwise:
            ports.append(config.otherwise)
        return tuple(dict.fromkeys(ports))

    async def start(self) -> None:
        """Compile the rules against the wired ports."""
        self._compile()

    def rewired(self) -> None:
        """A reload re-bound the ports: compile the routes against the new wiring."""
        self._compile()

    def _compile(self) -> None:
        getter = compile_getter(self.config.property)
        routes = [(rule.test(), self.emitter(rule.port)) for rule in self.config.rules]
        otherwise = self.emitter(self.config.otherwise) if self.config.otherwise else None
        counters = self.counters

        if self.config.first_match:
            def route_first(msg: Message) -> None:
                value = getter(msg)
                for test, emit in routes:
                    if test(value, msg):
                        emit(msg)
                        return
                if otherwise is not None:
                    otherwise(msg)
                else:
                    counters["unmatched"] += 1

            self._route = route_first
        else:
            def route_all(msg: Message) -> None:
                value = getter(msg)
                matched = False
                for test, emit in routes:
                    if test(value, msg):
                        matched = True
                        emit(msg)
                if not matched:
                    if otherwise is not None:
                        otherwise(msg)
                    else:
                        counters["unmatched"] += 1

            self._route = route_all

    def process(self, msg: Message) -> Message | None:
        """Emit ``msg`` on the matching port(s); nothing goes to ``out``."""
        self._route(msg)
        return None
