"""``change``: reshape messages: set, then delete, then move properties."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from flowengine import (
    Message,
    NodeConfig,
    NodeContext,
    PropertyPath,
    TemplateValue,
    Transform,
    compile_getter,
    delete_path,
    set_path,
    with_key,
)


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
        self._sets = [(_root_index(path), path[1:], template) for path, template in config.set.items()]
        self._deletes = list(config.delete)
        self._moves = [(compile_getter(source), source, target) for source, target in config.move.items()]

    def process(self, msg: Message) -> Message | None:
        """Return the reshaped message."""
        if self._sets:
            # Render every template against the incoming message first, then assemble once.
            fields = [msg.topic, msg.payload, msg.meta]
            for index, rest, template in self._sets:
                value = template.render(msg)
                if not rest:
                    fields[index] = value
                else:
                    fields[index] = with_key(fields[index], rest, value)
            topic, payload, meta = fields
            if type(topic) is not str:
                topic = "" if topic is None else str(topic)
            if type(meta) is not dict:
                raise TypeError("meta must stay a mapping")
            result = Message(topic, payload, meta)
        else:
            result = msg
        for path in self._deletes:
            result = delete_path(result, path)
        for get, source, target in self._moves:
            value = get(result)
            result = set_path(delete_path(result, source), target, value)
        return result


def _root_index(path: tuple[str, ...]) -> int:
    return ("topic", "payload", "meta").index(path[0])
