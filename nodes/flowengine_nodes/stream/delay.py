"""``delay``: pass every message ``for`` later, in event time (CONTRACT §4)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from flowengine import Duration, Message, NodeConfig, NodeContext, Transform, event_time


class DelayConfig(NodeConfig):
    """Config of ``delay``."""

    for_: Duration = Field(alias="for", description="How long to hold each message (e.g. 500ms, 30s).")


class Delay(Transform[DelayConfig]):
    """Passes every message ``for`` later in event time, in order; ``meta.ts`` becomes the release time.

    A message stamped ``ts`` leaves at ``ts + for``: on a live flow when the wall clock gets
    there, in a replay when the data carries event time past it. Messages with the same
    release time leave in arrival order. When the input ends, pending messages leave at
    their release times (CONTRACT §5). Pending messages are kept in memory only.

    Example:
        ```yaml
        version: 1
        nodes:
          - id: capture
            type: zigbee-replay
            path: captures/front_door.jsonl
            wires: [later]
          - id: later
            type: delay
            for: 30s
            wires: [out]
          - id: out
            type: file
            path: out/delayed.jsonl
        ```
    """

    config_model: ClassVar[type[NodeConfig]] = DelayConfig

    def __init__(self, config: DelayConfig, context: NodeContext) -> None:
        super().__init__(config, context)
        self._schedule = context.schedule()

    def process(self, msg: Message) -> Message | None:
        """Hold ``msg`` until ``meta.ts + for``; nothing leaves now (unless ``for`` is 0)."""
        ts = event_time(msg, self.context.clock)
        self._schedule.run_due(ts)
        if self.config.for_ <= 0:
            return msg
        release = ts + self.config.for_
        self._schedule.add(release, lambda: self.emit(msg.evolve(meta={**msg.meta, "ts": release})))
        return None

    def flush(self) -> None:
        """The input has ended: release every pending message at its time."""
        self._schedule.run_all()

    def pending(self) -> int:
        """Return how many messages are held."""
        return len(self._schedule)

