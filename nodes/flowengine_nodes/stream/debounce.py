"""``debounce``: pass a message once no newer one for its key has come for a while (CONTRACT §4)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from flowengine import (
    Duration,
    Expr,
    Message,
    NodeConfig,
    NodeContext,
    Timer,
    Transform,
    event_time,
    key_text,
)


class DebounceConfig(NodeConfig):
    """Config of ``debounce``."""

    for_: Duration = Field(alias="for", description="Quiet time after a key's newest message (e.g. 2s).")
    key: Expr = Field(
        "meta.ieee", validate_default=True,
        description="Expression giving the key messages are debounced per (default: the device, meta.ieee).")


class Debounce(Transform[DebounceConfig]):
    """Passes a key's newest message once no newer one for that key has come for ``for``.

    A burst of messages for one key becomes one message — the last of the burst — sent
    ``for`` after it, with ``meta.ts`` = that release time. Keys are independent. Event
    time is ``meta.ts``; when the input ends, pending messages leave at their release times.
    Pending messages are kept in memory only.

    Example:
        ```yaml
        version: 1
        nodes:
          - id: capture
            type: zigbee-replay
            path: captures/front_door.jsonl
            wires: [settle]
          - id: settle
            type: debounce
            for: 2s
            key: meta.ieee
            wires: [out]
          - id: out
            type: file
            path: out/settled.jsonl
        ```
    """

    config_model: ClassVar[type[NodeConfig]] = DebounceConfig

    def __init__(self, config: DebounceConfig, context: NodeContext) -> None:
        super().__init__(config, context)
        self._schedule = context.schedule()
        self._key = config.key.function
        self._pending: dict[str, tuple[Message, Timer]] = {}

    def process(self, msg: Message) -> Message | None:
        """Make ``msg`` its key's pending message, (re)starting the quiet period; nothing leaves now."""
        ts = event_time(msg, self.context.clock)
        self._schedule.run_due(ts)
        skey = key_text(self._key(msg))
        previous = self._pending.get(skey)
        if previous is not None:
            self._schedule.cancel(previous[1])
            self.counters["superseded"] += 1
        release = ts + self.config.for_
        timer = self._schedule.add(release, lambda: self._release(skey, release))
        self._pending[skey] = (msg, timer)
        return None

    def _release(self, skey: str, release: float) -> None:
        pending = self._pending.pop(skey, None)
        if pending is not None:
            msg = pending[0]
            self.emit(msg.evolve(meta={**msg.meta, "ts": release}))

    def flush(self) -> None:
        """The input has ended: every key's pending message leaves at its release time."""
        self._schedule.run_all()

    def pending(self) -> int:
        """Return how many keys have a message waiting."""
        return len(self._pending)

