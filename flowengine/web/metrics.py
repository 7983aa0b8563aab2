"""``/metrics``: the flows' counters in Prometheus' text format, with prometheus_client.

A custom collector reads :func:`flowengine.stats.all_stats` at scrape time, so nothing is
counted twice and nothing costs anything between scrapes. The registry is private (no
global state) and also carries the standard process, platform and GC collectors.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from flowengine.health import Health
from flowengine.stats import all_stats

#: The ``Content-Type`` of the text format.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class FlowCollector(Collector):
    """Yields the ``flowengine_*`` metric families of every running flow."""

    def __init__(self, health: Health) -> None:
        self.health = health

    def collect(self) -> Iterator[Metric]:
        """Build the families from one snapshot of the flows' stats."""
        flow_node = ["flow", "node"]
        received = CounterMetricFamily("flowengine_messages_received", "Messages into a node's input "
                                       "(for a source: taken from outside).", labels=flow_node)
        sent = CounterMetricFamily("flowengine_messages_sent", "Messages a node emitted, per output port.",
                                   labels=[*flow_node, "port"])
        errors = CounterMetricFamily("flowengine_errors", "Messages a node failed on or sent to 'errors'.",
                                     labels=flow_node)
        dropped = CounterMetricFamily("flowengine_dropped", "Messages a node lost, by reason.",
                                      labels=[*flow_node, "reason"])
        events = CounterMetricFamily("flowengine_node_events", "A node's own counters (published, unmatched, ...).",
                                     labels=[*flow_node, "counter"])
        queue = GaugeMetricFamily("flowengine_queue_depth", "Messages waiting in front of or inside a node.",
                                  labels=flow_node)
        outbox = GaugeMetricFamily("flowengine_outbox_depth", "Messages stored in a node's outbox, not yet "
                                   "acknowledged.", labels=flow_node)
        timers = GaugeMetricFamily("flowengine_timers_pending", "Timers a node has scheduled.", labels=flow_node)
        connected = GaugeMetricFamily("flowengine_connected", "1 while every connection of the node is up, else 0.",
                                      labels=flow_node)
        ready = GaugeMetricFamily("flowengine_ready", "1 while the flow is ready (as /ready says).", labels=["flow"])
        for stats in all_stats(self.health):
            labels = [stats.flow, stats.node]
            received.add_metric(labels, stats.received)
            for port, count in stats.sent.items():
                sent.add_metric([*labels, port], count)
            errors.add_metric(labels, stats.errors)
            for reason, count in stats.dropped.items():
                dropped.add_metric([*labels, reason], count)
            for name, count in stats.events.items():
                events.add_metric([*labels, name], count)
            queue.add_metric(labels, stats.queue_depth)
            outbox.add_metric(labels, stats.outbox_depth)
            timers.add_metric(labels, stats.timers_pending)
            if stats.connected is not None:
                connected.add_metric(labels, stats.connected)
        for name, flow in self.health.flows.items():
            ready.add_metric([name], int(flow.ready))
        yield from (received, sent, errors, dropped, events, queue, outbox, timers, connected, ready)


class Metrics:
    """The registry ``/metrics`` renders: the flows plus the standard process metrics."""

    def __init__(self, health: Health) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(FlowCollector(health))
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)

    def render(self) -> bytes:
        """Return the text exposition of every metric."""
        result: Any = generate_latest(self.registry)
        return bytes(result)
