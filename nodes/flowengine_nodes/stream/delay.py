"""``delay``: pass every message ``for`` later, in event time (CONTRACT §4)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from flowengine import (
    Duration,
    Message,
    NodeConfig,
    NodeContext,
    Transform,
    event_time,
    json_safe,
    message_from_state,
    message_to_state,
)

#: State keys of held messages: this prefix and a zero-padded arrival number (restored in order).
HELD = "held/"


class DelayConfig(NodeConfig):
    """Config of ``delay``."""

    for_: Duration = Field(alias="for", description="How long to hold each message (e.g. 500ms, 30s).")


class Delay(Transform[DelayConfig]):
    """Passes every message ``for`` later in event time, in order; ``meta.ts`` becomes the release time.

    A message stamped ``ts`` leaves at ``ts + for``: on a live flow when the wall clock gets
    there, in a replay when the data carries event time past it. Messages with the same
    release time leave in arrival order. When the input ends, pending messages leave at
    their release times (CONTRACT §5). With a state file (the default), each held message
    is stored in the flow's state before the input that brought it is acknowledged, and
    forgotten there once its release is durable downstream; a restarted run releases what
    an earlier one still held (docs/delivery.md). With ``state: memory`` they are held in
    memory only.

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
        self._durable = context.state.durable
        self._arrivals = 0

    async def start(self) -> None:
        """Hold again what an earlier run stored and had not released durably."""
        if not self._durable:
            return
        restored = 0
        for key, value in self.context.state.items(HELD):
            self._arrivals = int(key[len(HELD):]) + 1
            self._hold(message_from_state(value["msg"]), float(value["release"]), key)
            restored += 1
        if restored:
            self.logger.info("delay '%s': holding %d message(s) again from the flow's state", self.id, restored)

    def process(self, msg: Message) -> Message | None:
        """Hold ``msg`` until ``meta.ts + for``; nothing leaves now (unless ``for`` is 0)."""
        ts = event_time(msg, self.context.clock)
        self._schedule.run_due(ts)
        if self.config.for_ <= 0:
            return msg
        release = ts + self.config.for_
        key = None
        if self._durable:
            key = f"{HELD}{self._arrivals:016d}"
            self._arrivals += 1
            stored = {"release": release, "msg": message_to_state(msg)}
            try:
                self.context.state.set(key, stored)
            except TypeError:
                self.context.state.set(key, json_safe(stored))
        self._hold(msg, release, key)
        return None

    def _hold(self, msg: Message, release: float, key: str | None) -> None:
        def release_it() -> None:
            self.emit(msg.evolve(meta={**msg.meta, "ts": release}))
            if key is not None:
                state = self.context.state
                self.when_durable(lambda: state.delete(key))

        self._schedule.add(release, release_it)

    def flush(self) -> None:
        """The input has ended: release every pending message at its time."""
        self._schedule.run_all()

    def pending(self) -> int:
        """Return how many messages are held."""
        return len(self._schedule)

