"""``split``: one message per item of a list, entry of a mapping, or line of a text."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from flowengine import Message, NodeConfig, NodeContext, PropertyPath, Transform, compile_getter, set_path


class SplitConfig(NodeConfig):
    """Config of ``split``."""

    property: PropertyPath = Field(("payload",), description="The value to split: a list, a mapping or a text.")
    separator: str = Field("\n", min_length=1, description="What separates the parts of a text.")


class Split(Transform[SplitConfig]):
    """Sends one message per part of ``property``, in order, each with ``meta.parts``.

    A list gives one message per item, a mapping one per entry (``meta.parts.key`` is the
    key), a text one per piece between ``separator`` s (empty pieces too). Each message is
    the incoming one with ``property`` replaced by the part and ``meta.parts`` =
    ``{index, count}`` (plus ``key``), as Node-RED's ``split`` does, so that a node further
    on can tell the parts apart. An empty list or mapping sends nothing. Any other value
    (a number, null) is a failure: the message goes to ``errors``.

    Example:
        ```yaml
        version: 1
        nodes:
          - id: capture
            type: zigbee-replay
            path: captures/front_door.jsonl
            wires: [bytes]
          - id: bytes
            type: change
            set:
              payload: ["{{ payload.cluster }}", "{{ payload.endpoint }}"]
            wires: [each]
          - id: each
            type: split
            wires: [out]
          - id: out
            type: log
        ```
    """

    config_model: ClassVar[type[NodeConfig]] = SplitConfig

    def __init__(self, config: SplitConfig, context: NodeContext) -> None:
        super().__init__(config, context)
        self._get = compile_getter(config.property)
        self._path = config.property
        self._where = ".".join(config.property)

    def process(self, msg: Message) -> None:
        """Emit the parts of ``property`` on ``out``; raise for a value that has no parts."""
        value = self._get(msg)
        parts: list[tuple[Any, dict[str, Any]]]
        if isinstance(value, list):
            parts = [(item, {"index": index, "count": len(value)}) for index, item in enumerate(value)]
        elif isinstance(value, dict):
            parts = [(item, {"index": index, "count": len(value), "key": key})
                     for index, (key, item) in enumerate(value.items())]
        elif isinstance(value, str):
            pieces = value.split(self.config.separator)
            parts = [(piece, {"index": index, "count": len(pieces)}) for index, piece in enumerate(pieces)]
        else:
            raise TypeError(f"{self._where} is {type(value).__name__}, not a list, a mapping or a text")
        for part, where in parts:
            split = set_path(msg, self._path, part)
            self.emit(split.evolve(meta={**split.meta, "parts": where}))
