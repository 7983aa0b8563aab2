"""flowengine: flow-based event processing for Zigbee devices, in plain YAML.

This module is the public API for node authors: import from here, never from the
runtime's modules.
"""

from flowengine.clock import Clock, EventClock, TimerHandle, WallClock
from flowengine.errors import ConfigError, FlowError, Issue, NodeError
from flowengine.message import Message
from flowengine.node import (
    ERRORS_PORT,
    OUT_PORT,
    Counters,
    Node,
    NodeConfig,
    NodeContext,
    Sink,
    Source,
    Transform,
)
from flowengine.state import NodeState, StateStore

__all__ = [
    "ERRORS_PORT",
    "OUT_PORT",
    "Clock",
    "ConfigError",
    "Counters",
    "EventClock",
    "FlowError",
    "Issue",
    "Message",
    "Node",
    "NodeConfig",
    "NodeContext",
    "NodeError",
    "NodeState",
    "Sink",
    "Source",
    "StateStore",
    "TimerHandle",
    "Transform",
    "WallClock",
]
