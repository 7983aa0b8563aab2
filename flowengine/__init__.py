"""flowengine: flow-based event processing for Zigbee devices, in plain YAML.

The package root is the whole public API for node authors (docs/nodes.md): a node module
imports ``from flowengine import ...`` and nothing else of the engine; a test keeps it so.
Names load lazily on first use, so ``import flowengine`` costs nothing on the start path.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowengine.acks import Holding
    from flowengine.clock import Clock, EventClock, TimerHandle, WallClock
    from flowengine.errors import ConfigError, FlowError, Issue, NodeError
    from flowengine.expressions import Expression, format_text
    from flowengine.expressions.regex import compile_regex
    from flowengine.fields import Duration, Expr, PropertyPath, RuleTemplate, TemplateValue
    from flowengine.flow import load_installed_flow
    from flowengine.hints import Comparison, PayloadValues
    from flowengine.lazyimports import deferred_imports
    from flowengine.lint import FlowSetting
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
        TaskStatus,
        Transform,
        error_message,
        expand_home,
    )
    from flowengine.paths import compile_getter, delete_path, set_path, with_key
    from flowengine.raw import RawReport, record_in, report_message
    from flowengine.scheduling import (
        Expiry,
        Schedule,
        Timer,
        event_time,
        json_safe,
        key_text,
        message_from_state,
        message_to_state,
    )
    from flowengine.state import NodeState, StateStore
    from flowengine.supervision import Backoff, ConnectionState, PermanentError, supervise
    from flowengine.templates import Template

#: Where each public name lives (the modules themselves are the engine's own business).
_EXPORTS: dict[str, str] = {
    "Clock": "flowengine.clock",
    "EventClock": "flowengine.clock",
    "TimerHandle": "flowengine.clock",
    "WallClock": "flowengine.clock",
    "ConfigError": "flowengine.errors",
    "FlowError": "flowengine.errors",
    "Issue": "flowengine.errors",
    "NodeError": "flowengine.errors",
    "Message": "flowengine.message",
    "load_installed_flow": "flowengine.flow",
    "ERRORS_PORT": "flowengine.node",
    "OUT_PORT": "flowengine.node",
    "Counters": "flowengine.node",
    "Node": "flowengine.node",
    "NodeConfig": "flowengine.node",
    "NodeContext": "flowengine.node",
    "Sink": "flowengine.node",
    "Source": "flowengine.node",
    "Transform": "flowengine.node",
    "TaskStatus": "flowengine.node",
    "error_message": "flowengine.node",
    "expand_home": "flowengine.node",
    "NodeState": "flowengine.state",
    "StateStore": "flowengine.state",
    "Duration": "flowengine.fields",
    "Expr": "flowengine.fields",
    "PropertyPath": "flowengine.fields",
    "RuleTemplate": "flowengine.fields",
    "TemplateValue": "flowengine.fields",
    "Comparison": "flowengine.hints",
    "FlowSetting": "flowengine.lint",
    "deferred_imports": "flowengine.lazyimports",
    "PayloadValues": "flowengine.hints",
    "Backoff": "flowengine.supervision",
    "Holding": "flowengine.acks",
    "ConnectionState": "flowengine.supervision",
    "PermanentError": "flowengine.supervision",
    "supervise": "flowengine.supervision",
    "Expiry": "flowengine.scheduling",
    "Schedule": "flowengine.scheduling",
    "Timer": "flowengine.scheduling",
    "event_time": "flowengine.scheduling",
    "json_safe": "flowengine.scheduling",
    "key_text": "flowengine.scheduling",
    "message_from_state": "flowengine.scheduling",
    "message_to_state": "flowengine.scheduling",
    "compile_getter": "flowengine.paths",
    "RawReport": "flowengine.raw",
    "record_in": "flowengine.raw",
    "report_message": "flowengine.raw",
    "delete_path": "flowengine.paths",
    "set_path": "flowengine.paths",
    "with_key": "flowengine.paths",
    "Expression": "flowengine.expressions",
    "format_text": "flowengine.expressions",
    "compile_regex": "flowengine.expressions.regex",
    "Template": "flowengine.templates",
}

__all__ = [
    "ERRORS_PORT",
    "OUT_PORT",
    "Backoff",
    "Clock",
    "Comparison",
    "ConfigError",
    "ConnectionState",
    "Counters",
    "Duration",
    "EventClock",
    "Expiry",
    "Expr",
    "Expression",
    "FlowError",
    "FlowSetting",
    "Holding",
    "Issue",
    "Message",
    "Node",
    "NodeConfig",
    "NodeContext",
    "NodeError",
    "NodeState",
    "PayloadValues",
    "PermanentError",
    "PropertyPath",
    "RawReport",
    "RuleTemplate",
    "Schedule",
    "Sink",
    "Source",
    "StateStore",
    "TaskStatus",
    "Template",
    "TemplateValue",
    "Timer",
    "TimerHandle",
    "Transform",
    "WallClock",
    "compile_getter",
    "compile_regex",
    "deferred_imports",
    "delete_path",
    "error_message",
    "event_time",
    "expand_home",
    "format_text",
    "json_safe",
    "key_text",
    "load_installed_flow",
    "message_from_state",
    "message_to_state",
    "record_in",
    "report_message",
    "set_path",
    "supervise",
    "with_key",
]


def __getattr__(name: str) -> Any:
    """Load a public name from the module that defines it, on first use (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'flowengine' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """List the public API, for completion in an interactive session."""
    return sorted(__all__)
