"""``trigger``: a watchdog — emit when no message has come for a key within a duration (CONTRACT §4)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from flowengine import Duration, Expr, NodeConfig
from flowengine_nodes.keyed.node import KeyedRule
from flowengine_nodes.keyed.spec import RuleEmit, RuleSpec


class TriggerConfig(NodeConfig):
    """Config of ``trigger``."""

    within: Duration = Field(
        gt=0, description="Emit when a key has been silent this long after its last message (e.g. 2h).")
    key: Expr = Field(
        "meta.ieee", validate_default=True,
        description="Expression giving the key each watchdog is kept per (default: the device, meta.ieee).")
    emit: RuleEmit | None = Field(
        None, description="{topic, payload} templates, as a rule's (they see count, key, first, last); "
                          "without it the key's last message is sent again.")


class Trigger(KeyedRule):
    """Watchdog: emits once when no message has come for a key within ``within`` of its last one.

    Every message (re)starts its key's timer; when a timer runs out the node emits ``emit``
    (templates seeing the key's last message as ``payload``/``topic``/``meta``/``msg``, and
    ``count`` = messages since the watchdog was last armed, ``key``, ``first``, ``last``) or,
    without ``emit``, the last message itself; ``meta.ts`` is the deadline and ``meta.rule``
    this node's id. The next message arms the watchdog again. Timers are durable like a
    rule's (the flow's ``state``), fire on the wall clock while nothing arrives, and — as for
    every timer — when a finite replay ends.

    Example:
        ```yaml
        version: 1
        nodes:
          - id: capture
            type: zigbee-replay
            path: captures/front_door.jsonl
            wires: [silent]
          - id: silent
            type: trigger
            within: 6h
            emit:
              topic: "alerts/{{ meta.ieee }}/silent"
              payload: {last_seen: "{{ payload.ts }}", reports: "{{ count }}"}
            wires: [alerts]
          - id: alerts
            type: file
            path: out/silent.jsonl
        ```
    """

    config_model: ClassVar[type[NodeConfig]] = TriggerConfig

    def build_spec(self, config: Any) -> RuleSpec:
        """An absence rule whose every message is a `when` message and nothing cancels."""
        assert isinstance(config, TriggerConfig)
        return RuleSpec.emitting(config.emit, kind="absence", when=None, key=config.key, within=config.within)
