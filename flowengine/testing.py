"""Helpers for testing flows and nodes: run a flow from YAML text, capture what reaches a node.

Used by flowengine's own tests and meant for node authors' tests too. The ``capture``
sink keeps every message it receives in memory, in order, so tests can assert on them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from flowengine.clock import Clock, EventClock
from flowengine.errors import ConfigError
from flowengine.flow import LoadedFlow, load_flow
from flowengine.message import Message
from flowengine.node import NodeConfig, NodeContext, Sink
from flowengine.registry import Registry
from flowengine.runtime import FlowRun, RunSummary
from flowengine.state import StateStore

T = TypeVar("T")


class CaptureConfig(NodeConfig):
    """``capture`` takes no config."""


class Capture(Sink[CaptureConfig]):
    """Test sink: keeps every message it receives in ``messages``, in arrival order.

    Example:
        ```yaml
        version: 1
        nodes:
          - id: capture
            type: zigbee-replay
            path: captures/front_door.jsonl
            wires: [seen]
          - id: seen
            type: capture
        ```
    """

    config_model: ClassVar[type[NodeConfig]] = CaptureConfig
    inline = True

    def __init__(self, config: CaptureConfig, context: NodeContext) -> None:
        super().__init__(config, context)
        self.messages: list[Message] = []

    def write_now(self, msg: Message) -> None:
        """Keep ``msg``."""
        self.messages.append(msg)


def registry_with_capture() -> Registry:
    """Return the installed registry plus the ``capture`` sink."""
    registry = Registry.from_entry_points()
    registry.register("capture", Capture)
    return registry


def write_flow(directory: Path, text: str, name: str = "flow.yaml") -> Path:
    """Write a flow file (and return its path)."""
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def load_text(directory: Path, text: str, *, registry: Registry | None = None,
              name: str = "flow.yaml") -> LoadedFlow:
    """Write ``text`` as a flow file in ``directory`` and load it."""
    return load_flow(write_flow(directory, text, name), registry or registry_with_capture())


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` on a fresh loop and fail if it leaves tasks behind."""

    async def checked() -> T:
        result = await coroutine
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
        if others:
            names = ", ".join(sorted(t.get_name() for t in others))
            raise AssertionError(f"tasks left running: {names}")
        return result

    return asyncio.run(checked())


class FlowResult:
    """What :func:`run_flow` returns: the summary and the messages each ``capture`` node got."""

    def __init__(self, summary: RunSummary, run: FlowRun) -> None:
        self.summary = summary
        self.run = run

    def captured(self, node_id: str) -> list[Message]:
        """Messages received by the ``capture`` node ``node_id``."""
        node = self.run.nodes[node_id]
        assert isinstance(node, Capture), f"node '{node_id}' is not a capture sink"
        return node.messages

    def counters(self, node_id: str) -> dict[str, int]:
        """Counters of ``node_id`` at the end of the run."""
        return self.summary.counters[node_id]


def run_flow(directory: Path, text: str, *, registry: Registry | None = None, clock: Clock | None = None,
             stop_after: float | None = None, name: str = "flow.yaml",
             state: StateStore | None = None) -> FlowResult:
    """Load and run a flow given as YAML text, until its input ends (or ``stop_after`` seconds)."""
    loaded = load_text(directory, text, registry=registry, name=name)
    if not loaded.ok or loaded.graph is None:
        raise ConfigError(loaded.errors)
    run = FlowRun(loaded.graph, clock=clock, store=state)

    async def go() -> RunSummary:
        stop = asyncio.Event()
        if stop_after is not None:
            asyncio.get_running_loop().call_later(stop_after, stop.set)
        return await run.run(stop)

    return FlowResult(run_sync(go()), run)


def capture_context(directory: Path, node_id: str = "node", *, clock: Clock | None = None,
                    state: StateStore | None = None) -> NodeContext:
    """Build a :class:`NodeContext` for testing a node class directly (event clock, memory state)."""
    return NodeContext(node_id=node_id, flow_name="test", flow_dir=directory, clock=clock or EventClock(),
                       state=(state or StateStore(None)).node(node_id))


def messages_of(seq: Sequence[Message]) -> list[dict[str, Any]]:
    """Turn messages into plain ``{"topic","payload","meta"}`` dicts (for comparisons)."""
    return [msg.to_json_obj() for msg in seq]
