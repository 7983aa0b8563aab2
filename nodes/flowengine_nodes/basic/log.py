"""``log``: one log line per message."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import ClassVar, Literal

import orjson
from pydantic import Field

from flowengine import Message, NodeConfig, Sink
from flowengine_nodes.basic.file import encode_line

Level = Literal["debug", "info", "warning", "error"]


class LogConfig(NodeConfig):
    """Config of ``log``."""

    level: Level = Field("info", description="Log level of the lines.")
    format: Literal["text", "json"] = Field("text", description="`text`: topic and payload; `json`: "
                                                                "the whole message as one JSON line.")


class Log(Sink[LogConfig]):
    """Logs each message on one line, through the ``flowengine.log.<node id>`` logger.

    ``text`` prints ``topic payload`` (payload as compact JSON); ``json`` prints the whole
    message as the ``file`` sink would write it.

    Example:
        ```yaml
        version: 1
        nodes:
          - id: capture
            type: zigbee-replay
            path: captures/front_door.jsonl
            wires: [show]
          - id: show
            type: log
            level: info
            format: text
        ```
    """

    config_model: ClassVar[type[NodeConfig]] = LogConfig

    async def start(self) -> None:
        """Pick the logger and level."""
        self._out = logging.getLogger(f"flowengine.log.{self.id}")
        self._level = logging.getLevelName(self.config.level.upper())

    async def write(self, batch: Sequence[Message]) -> None:
        """Log every message of the batch."""
        out, level = self._out, self._level
        if not out.isEnabledFor(level):
            return
        as_json = self.config.format == "json"
        for msg in batch:
            if as_json:
                out.log(level, "%s", encode_line(msg).decode().rstrip("\n"))
            else:
                payload = orjson.dumps(msg.payload, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
                out.log(level, "%s %s", msg.topic, payload)
