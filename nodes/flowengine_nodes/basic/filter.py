"""``filter``: pass the messages for which an expression is true."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from flowengine import Comparison, Expr, Message, NodeConfig, NodeContext, Transform


class FilterConfig(NodeConfig):
    """Config of ``filter``."""

    when: Expr = Field(description="Expression; messages for which it is true pass (CONTRACT §5).")


class Filter(Transform[FilterConfig]):
    """Passes a message when ``when`` is true, drops it otherwise (no error, no count).

    A missing property reads as null, so ``payload.action_user == 3`` is simply false on a
    message without that key.

    Example:
        ```yaml
        version: 1
        nodes:
          - id: capture
            type: zigbee-replay
            path: captures/front_door.jsonl
            wires: [strong]
          - id: strong
            type: filter
            when: "payload.lqi > 100 and payload.cluster == 257"
            wires: [out]
          - id: out
            type: file
            path: out/strong.jsonl
        ```
    """

    config_model: ClassVar[type[NodeConfig]] = FilterConfig
    passes_payload: ClassVar[bool] = True

    @classmethod
    def comparisons(cls, config: Any) -> list[Comparison]:
        """The constants ``when`` compares message properties with (for the capability lint)."""
        return [Comparison(tuple(str(p) for p in c.path), c.op, c.constant, ("when",))
                for c in config.when.comparisons()]

    def __init__(self, config: FilterConfig, context: NodeContext) -> None:
        super().__init__(config, context)
        self._when = config.when.function

    def process(self, msg: Message) -> Message | None:
        """Return ``msg`` when ``when`` holds for it, else ``None``."""
        return msg if self._when(msg) else None
