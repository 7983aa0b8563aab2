"""``discard``: a sink that drops every message (for benchmarks and dead ends)."""

from __future__ import annotations

from typing import ClassVar

from flowengine import Message, NodeConfig, Sink


class DiscardConfig(NodeConfig):
    """``discard`` takes no config."""


class Discard(Sink[DiscardConfig]):
    """Drops messages, counting them in ``counters["discarded"]`` when the node closes.

    Example:
        ```yaml
        version: 1
        nodes:
          - id: capture
            type: zigbee-replay
            path: captures/front_door.jsonl
            wires: [drop]
          - id: drop
            type: discard
        ```
    """

    config_model: ClassVar[type[NodeConfig]] = DiscardConfig
    inline = True
    discarded = 0

    def write_now(self, msg: Message) -> None:
        """Drop ``msg``."""
        self.discarded += 1

    async def aclose(self) -> None:
        """Publish the count."""
        self.counters["discarded"] = self.discarded
