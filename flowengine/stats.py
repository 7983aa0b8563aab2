"""One snapshot of what every node of the running flows counted, for ``/metrics`` and ``/api/stats``.

Both read the same :func:`node_stats`, so the page and Prometheus always agree. Reading
costs nothing on the hot path: the counters are plain integers the runtime and the nodes
increment anyway (:mod:`flowengine.traffic`, :class:`~flowengine.node.Counters`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flowengine.node import Source

if TYPE_CHECKING:
    from flowengine.health import FlowHealth, Health
    from flowengine.runtime import FlowRun

#: Counters exported under their own metric names; the others go to ``flowengine_node_events_total``.
_OWN_METRICS = frozenset({"errors", "dropped", "received"})


@dataclass
class NodeStats:
    """What one node has done so far and where it stands."""

    flow: str
    node: str
    type: str
    role: str
    received: int
    sent: dict[str, int]
    errors: int
    dropped: dict[str, int]
    queue_depth: int
    outbox_depth: int
    timers_pending: int
    #: 1/0 for a node holding connections, None for the others.
    connected: int | None
    #: The state of each of its connections (``connected``, ``connecting``, …) with the detail.
    connections: dict[str, str] = field(default_factory=dict)
    #: The node's other counters (``published``, ``unmatched``, …).
    events: dict[str, int] = field(default_factory=dict)
    #: Somebody watches the node's debug tap (it records its messages).
    tapped: bool = False

    def as_json(self) -> dict[str, object]:
        """Return the stats as a JSON-ready dict."""
        return {
            "type": self.type, "role": self.role, "received": self.received, "sent": self.sent,
            "errors": self.errors, "dropped": self.dropped, "queue_depth": self.queue_depth,
            "outbox_depth": self.outbox_depth, "timers_pending": self.timers_pending,
            "connected": self.connected, "connections": self.connections, "events": self.events,
            "tapped": self.tapped,
        }


def node_stats(health: FlowHealth) -> list[NodeStats]:
    """Return the stats of every node of the flow's current run (empty between runs)."""
    run: FlowRun | None = health.run
    if run is None:
        return []
    found: list[NodeStats] = []
    for node_id, node in run.nodes.items():
        spec = run.specs[node_id]
        traffic = run.traffic[node_id]
        counters = node.counters
        sent = dict(traffic.sent)
        if isinstance(node, Source):
            # Taken from outside: what the source counted itself, else what it emitted plus the
            # input it skipped as unusable (a replay's bad lines).
            received = (counters["received"] if "received" in counters
                        else sum(sent.values()) + counters["skipped"])
        else:
            received = traffic.received_now()
        dropped = dict(counters.dropped_by)
        unexplained = counters["dropped"] - sum(dropped.values())
        if unexplained > 0:
            dropped["other"] = unexplained
        pending = run.channel_drops_pending(node_id)
        if pending:
            dropped["queue_full"] = dropped.get("queue_full", 0) + pending
        levels = node.gauges()
        channel = run.channels.get(node_id)
        queue = len(channel) if channel is not None else 0
        held = health.connections.get(node_id, {})
        connected = health.connected(node_id)
        found.append(NodeStats(
            flow=health.name, node=node_id, type=spec.type, role=spec.role, received=received, sent=sent,
            errors=counters["errors"], dropped=dropped,
            queue_depth=queue + levels.get("queue_depth", 0), outbox_depth=levels.get("outbox_depth", 0),
            timers_pending=levels.get("timers_pending", 0),
            connected=None if connected is None else int(connected),
            connections={name: c.state + (f" ({c.detail})" if c.detail else "") for name, c in held.items()},
            events={name: value for name, value in counters.items() if name not in _OWN_METRICS},
            tapped=traffic.viewers > 0,
        ))
    return found


def all_stats(health: Health) -> list[NodeStats]:
    """Return the stats of every node of every flow."""
    return [stats for flow in health.flows.values() for stats in node_stats(flow)]
