"""``dedupe``: report by exception — pass a message only when a property changed for its key (CONTRACT §4)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from flowengine import (
    Expr,
    Message,
    NodeConfig,
    NodeContext,
    PropertyPath,
    Transform,
    compile_getter,
    json_safe,
    key_text,
)

_LAST = "v:"


class DedupeConfig(NodeConfig):
    """Config of ``dedupe``."""

    property: PropertyPath = Field(
        "payload", validate_default=True,
        description="The property compared with the last value passed for the key (e.g. payload.state).")
    key: Expr = Field(
        "meta.ieee", validate_default=True,
        description="Expression giving the key values are remembered per (default: the device, meta.ieee).")


class Dedupe(Transform[DedupeConfig]):
    """Passes a message only when ``property`` differs from the last value passed for its key.

    The first message of a key always passes. Values compare as JSON values (``1 == 1.0``,
    mappings by content); a missing property reads as null and is a value like any other.
    Dropped messages are counted (``counters["duplicates"]``). The last value of each key is
    kept in the flow's ``state``, so a restart does not repeat what was already reported.

    Example:
        ```yaml
        version: 1
        nodes:
          - id: capture
            type: zigbee-replay
            path: captures/front_door.jsonl
            wires: [decode]
          - id: decode
            type: decode
            wires: [changes]
          - id: changes
            type: dedupe
            property: payload.state
            wires: [out]
          - id: out
            type: file
            path: out/state_changes.jsonl
        ```
    """

    config_model: ClassVar[type[NodeConfig]] = DedupeConfig

    def __init__(self, config: DedupeConfig, context: NodeContext) -> None:
        super().__init__(config, context)
        self._get = compile_getter(config.property)
        self._key = config.key.function
        self._last: dict[str, Any] = {}
        self._durable = context.state.durable

    async def start(self) -> None:
        """Restore the last value passed for every key from the flow's state."""
        if self._durable:
            for name, value in self.context.state.items(_LAST):
                self._last[name[len(_LAST):]] = value

    def process(self, msg: Message) -> Message | None:
        """Return ``msg`` when its property changed for its key, else None."""
        value = self._get(msg)
        skey = key_text(self._key(msg))
        last = self._last.get(skey, _NEVER)
        if last is not _NEVER and last == value:
            self.counters["duplicates"] += 1
            return None
        self._last[skey] = value
        if self._durable:
            try:
                self.context.state.set(_LAST + skey, value)
            except TypeError:  # not JSON (bytes): remembered as text across restarts
                self.context.state.set(_LAST + skey, json_safe(value))
        return msg

    def keys(self) -> int:
        """Return how many keys have a remembered value."""
        return len(self._last)


_NEVER: Any = object()
