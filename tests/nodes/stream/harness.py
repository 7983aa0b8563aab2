"""Drive one event-time node directly: an event clock, a state store, and the messages it emits."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from flowengine import EventClock, Message, NodeContext, StateStore, Transform
from flowengine.registry import Registry

REGISTRY = Registry.from_entry_points()


class Harness:
    """One node of type ``type_name`` with ``config``, on an event clock, emitting into ``out``.

    ``state`` is a file path for durable state (a restart is a new Harness on the same path)
    or None for ``state: memory``.
    """

    def __init__(self, type_name: str, config: dict[str, Any], *, directory: Path,
                 state: Path | None = None, node_id: str = "node") -> None:
        node_class = REGISTRY.load(type_name)
        self.clock = EventClock()
        self.store = StateStore(state)
        self.node_id = node_id
        context = NodeContext(node_id=node_id, flow_name="test", flow_dir=directory, clock=self.clock,
                              state=self.store.node(node_id))
        parsed = node_class.config_model.model_validate(config)
        node = node_class(parsed, context)
        assert isinstance(node, Transform)
        self.node: Any = node
        self.out: list[Message] = []
        node.bind_output("out", self.out.append)
        asyncio.run(node.start())

    def send(self, ts: float, payload: Any = None, *, key: str = "00:15:8d:00:00:00:00:01",
             topic: str = "lock", **meta: Any) -> None:
        """Deliver one message stamped ``ts`` as a source would: event time moves first."""
        self.clock.observe(ts)
        result = self.node.process(Message(topic, payload, {"ts": ts, "ieee": key, **meta}))
        if result is not None:
            self.out.append(result)

    def advance(self, ts: float) -> None:
        """Move event time to ``ts`` without a message (timers due by then fire)."""
        self.clock.observe(ts)

    def end(self) -> None:
        """The input ends: pending timers fire, then the node flushes (as the runtime does)."""
        self.clock.run_all()
        self.node.flush()

    def times(self) -> list[float]:
        """The ``meta.ts`` of every message emitted so far."""
        return [msg.meta["ts"] for msg in self.out]

    def close(self) -> None:
        """Close the state store (a clean stop; a kill is simply not calling this)."""
        self.store.close()
