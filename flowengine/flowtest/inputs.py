"""Feeding a flow under test: the in-memory source that stands in for the flow's sources.

The test's input node emits the test's messages in order and moves the event clock to
each one's time, so every timer in the flow fires exactly where the data says. It knows no
node type: a raw report becomes the message CONTRACT §3 defines for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, ClassVar

from flowengine.flowtest.cases import Step
from flowengine.message import Message
from flowengine.node import OUT_PORT, NodeConfig, Source

#: Node id of the test's input in the rewired flow (``meta.source`` of the messages it sends).
INPUT_ID = "__input__"
#: Messages emitted between two waits for the sinks to keep up.
BATCH = 256


def report_message(record: dict[str, Any]) -> Message:
    """Return the message a Zigbee source sends for a raw report record (CONTRACT §3)."""
    ieee = record.get("ieee")
    topic = f"zigbee/{ieee}/{record.get('endpoint')}/{record.get('cluster')}"
    return Message(topic, record, {"ts": record.get("ts"), "ieee": ieee, "source": INPUT_ID})


class InjectConfig(NodeConfig):
    """Config of the test input node: its output ports (``out``, ``to:<node>``)."""

    ports: tuple[str, ...] = (OUT_PORT,)


class Inject(Source[InjectConfig]):
    """Test input: emits the test's steps in order, moving the event clock to each one's time.

    Set :attr:`steps` (and, for ``at_end: stop``, :attr:`hold`) before the flow runs. Without
    ``hold`` the input ends after the last step, as a finite replay does, so pending timers fire;
    with it, the node sets ``hold`` and waits to be cancelled (the flow stops, timers do not fire).
    """

    config_model: ClassVar[type[NodeConfig]] = InjectConfig
    live: ClassVar[bool] = False
    steps: Sequence[Step] = ()
    hold: asyncio.Event | None = None

    @classmethod
    def output_ports(cls, config: Any) -> tuple[str, ...]:
        """The ports the test's input uses."""
        return tuple(config.ports)

    async def run(self) -> None:
        """Emit every step; with ``hold`` stop the flow instead of ending its input."""
        observe = self.context.clock.observe
        for index, step in enumerate(self.steps):
            observe(step.ts)
            if step.message is not None:
                self.emit(step.message, step.port)
            if index % BATCH == BATCH - 1:
                await self.backpressure()
        if self.hold is not None:
            self.hold.set()
            await asyncio.Event().wait()  # cancelled by the runtime: the input did not "end"
