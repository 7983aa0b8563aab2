"""``change``: reshape messages: set, then delete, then move properties."""

from __future__ import annotations

from typing import ClassVar

from flowengine.fields import PropertyPath, TemplateValue
from pydantic import Field

from flowengine import Message, NodeConfig, NodeContext, Transform
from flowengine.paths import compile_getter, delete_path, set_path


class ChangeConfig(NodeConfig):
    """Config of ``change``."""

    set: dict[PropertyPath, TemplateValue] = Field(
        default_factory=dict, description="path -> template (or mapping/list of templates), e.g. "
                                          "`payload.event: '{{ payload.action }}'`.")
    delete: list[PropertyPath] = Field(default_factory=list, description="Paths to remove.")
    move: dict[PropertyPath, PropertyPath] = Field(default_factory=dict, description="path -> new path.")


class Change(Transform[ChangeConfig]):
    """Sets, deletes and moves properties; every template sees the incoming message.

    Paths are ``topic``, ``payload``, ``payload.a.b`` or ``meta.x``. Setting inside a
    payload that is not a mapping replaces it with one. The incoming message is never
    modified: the node builds a new one.

    Example:
        ```yaml
        version: 1
        nodes:
          - id: capture
            type: zigbee-replay
            path: captures/front_door.jsonl
            wires: [reshape]
          - id: reshape
            type: change
            set:
              topic: "alerts/{{ meta.ieee }}"
              payload: {lqi: "{{ payload.lqi }}", frame: "{{ payload.frame }}"}
            wires: [out]
          - id: out
            type: file
            path: out/reshaped.jsonl
        ```
    """

    config_model: ClassVar[type[NodeConfig]] = ChangeConfig

    def __init__(self, config: ChangeConfig, context: NodeContext) -> None:
        super().__init__(config, context)
        self._sets = [(path, template) for path, template in config.set.items()]
        self._moves = [(compile_getter(source), source, target) for source, target in config.move.items()]

    def process(self, msg: Message) -> Message | None:
        """Return the reshaped message."""
        result = msg
        if self._sets:
            values = [(path, template.render(msg)) for path, template in self._sets]
            for path, value in values:
                result = set_path(result, path, value)
        for path in self.config.delete:
            result = delete_path(result, path)
        for get, source, target in self._moves:
            value = get(result)
            result = set_path(delete_path(result, source), target, value)
        return result
