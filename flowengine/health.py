"""Readiness and connection state of the running flows, in one place.

``/ready``, ``/metrics`` (``flowengine_connected``) and sd_notify (``READY=1``, ``STATUS=``)
all read this module, so they can never disagree. A flow is *ready* once every node has
started and every connection its nodes hold (an MQTT broker, a Zigbee coordinator) is up.

Connections are reported by :func:`flowengine.supervision.supervise`, the one helper every
connection-holding node uses: the runtime sets :data:`current_node` while a node starts and
while a source runs, and the tasks a node creates inherit it, so ``supervise`` knows whose
connection changed without the node saying so. With no :class:`FlowHealth` set (unit tests,
``flowengine test``) reporting is a no-op.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowengine.supervision import ConnectionState


@dataclass(slots=True)
class Connection:
    """One supervised connection of a node: its latest state and why."""

    state: ConnectionState
    detail: str = ""

    @property
    def up(self) -> bool:
        """True while the connection is usable."""
        return self.state == "connected"


@dataclass
class FlowHealth:
    """Readiness of one flow: started or not, and the connections of its nodes.

    ``run`` is the flow's current :class:`~flowengine.runtime.FlowRun` (``None`` between
    runs of a reload); the HTTP pages read counters from it.
    """

    name: str
    started: bool = False
    ended: bool = False
    run: Any = None
    #: node id -> supervised name -> connection.
    connections: dict[str, dict[str, Connection]] = field(default_factory=dict)
    _on_change: Callable[[], None] | None = field(default=None, repr=False)

    def begin(self, run: Any) -> None:
        """A new run of the flow is starting (first start or a reload): not ready until it has started."""
        self.run = run
        self.started = False
        self.ended = False
        self.connections = {}
        self._changed()

    def mark_started(self) -> None:
        """Every node has started and every source runs."""
        self.started = True
        self._changed()

    def mark_ended(self) -> None:
        """The run is over (input ended, stopped, or reloading)."""
        self.ended = True
        self.started = False
        self._changed()

    def report(self, node_id: str, name: str, state: ConnectionState, detail: str) -> None:
        """Record a connection's state change (called by ``supervise``)."""
        self.connections.setdefault(node_id, {})[name] = Connection(state, detail)
        self._changed()

    def connected(self, node_id: str) -> bool | None:
        """True when every connection of ``node_id`` is up; None when the node holds none."""
        held = self.connections.get(node_id)
        if not held:
            return None
        return all(connection.up for connection in held.values())

    def reasons(self) -> list[str]:
        """Why the flow is not ready (empty when it is)."""
        if self.ended:
            return [f"flow '{self.name}': not running"]
        if not self.started:
            return [f"flow '{self.name}': starting"]
        found = []
        for node_id, held in self.connections.items():
            for name, connection in held.items():
                if not connection.up:
                    detail = f" ({connection.detail})" if connection.detail else ""
                    found.append(f"node '{node_id}': {name} {connection.state}{detail}")
        return found

    @property
    def ready(self) -> bool:
        """True when the flow has started and every connection is up."""
        return not self.reasons()

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()


class Health:
    """Readiness of every flow the runner runs, with an awaitable "became ready" and change callbacks."""

    def __init__(self) -> None:
        self.flows: dict[str, FlowHealth] = {}
        self._listeners: list[Callable[[], None]] = []
        self._change = asyncio.Event()

    def flow(self, name: str) -> FlowHealth:
        """Return the health of flow ``name`` (created on first use)."""
        found = self.flows.get(name)
        if found is None:
            found = self.flows[name] = FlowHealth(name, _on_change=self._changed)
        return found

    def add(self, name: str) -> FlowHealth:
        """Add a flow that the runner runs: ``name``, or ``name#2``… when two files use one name."""
        key, number = name, 1
        while key in self.flows:
            number += 1
            key = f"{name}#{number}"
        return self.flow(key)

    @property
    def ready(self) -> bool:
        """True when there is at least one flow and every flow is ready."""
        return bool(self.flows) and all(flow.ready for flow in self.flows.values())

    def reasons(self) -> list[str]:
        """Why the runner is not ready (empty when it is)."""
        if not self.flows:
            return ["no flow is running"]
        return [reason for flow in self.flows.values() for reason in flow.reasons()]

    def summary(self) -> str:
        """One line for people: ready with the connection count, or what is missing."""
        if self.ready:
            held = sum(len(held) for flow in self.flows.values() for held in flow.connections.values())
            names = ", ".join(self.flows)
            return f"ready: {len(self.flows)} flow(s) ({names}), {held} connection(s) up"
        return "not ready: " + "; ".join(self.reasons())

    def listen(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (synchronously) after every change of readiness or connection state."""
        self._listeners.append(callback)

    async def wait_ready(self) -> None:
        """Return once every flow is ready (at once when it is)."""
        while not self.ready:
            await self._wait_change()

    async def wait_change(self) -> None:
        """Return after the next change of readiness or connection state."""
        await self._wait_change()

    async def _wait_change(self) -> None:
        event = self._change
        await event.wait()

    def _changed(self) -> None:
        event, self._change = self._change, asyncio.Event()
        event.set()
        for callback in self._listeners:
            callback()


#: The node whose code runs now, and its flow's health (set by the runtime, read by ``supervise``).
current_node: ContextVar[tuple[FlowHealth, str] | None] = ContextVar("flowengine_current_node", default=None)


def report_connection(name: str, state: ConnectionState, detail: str) -> None:
    """Report a supervised connection's state for the node running now (a no-op outside a run)."""
    found = current_node.get()
    if found is not None:
        health, node_id = found
        health.report(node_id, name, state, detail)
