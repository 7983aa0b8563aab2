"""CPU cost per input message of the lock-alert flow's hot path, stage by stage, in one process.

The peer benchmark (``peer_bench.sh``) measures the whole system: broker, load generator and
flowengine share two cores. This one takes the network out to show where flowengine's own time
goes: the flow of ``lock_alert.yaml`` is built by the engine as ``flowengine run`` builds it, and
its nodes are driven directly:

* ``receive``: QoS 0 PUBLISH packets (the load generator's, half of them alerts) are cut out of
  a read buffer by :class:`flowengine_nodes.mqtt.paho_fast.BufferedReads` and queued by ``mqtt-in``;
* ``+ mqtt-in``: ``mqtt-in``'s pump parses each payload (orjson) and builds the message (the
  rest of the flow replaced by ``discard``);
* ``+ switch``, ``+ change``: the same flow cut after that node (into ``discard``);
* ``+ mqtt-out``: the whole flow: QoS 0 packets encoded and written to a socket (a socket pair
  whose other end is read and thrown away in this process too).

Each row is the best of ``--repeat`` runs of ``--messages`` input messages, in CPU µs per input
message (the differences between rows are each stage's cost, the engine's call and forwarding
included). Run from the repository root: ``.venv/bin/python -m benchmarks.mqtt.hot_path``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from flowengine.flow import load_flow_or_raise
from flowengine.registry import Registry
from flowengine.runtime import FlowRun
from flowengine_nodes.mqtt.mqtt_in import MqttIn
from flowengine_nodes.mqtt.mqtt_out import MqttOut
from flowengine_nodes.mqtt.packets import add_publish, publish_header
from flowengine_nodes.mqtt.paho_fast import BufferedReads, attach_socket, unwritten, write_packets

FLOW = Path(__file__).with_name("lock_alert.yaml")
PASS = ("finger_not_match", "password_not_match", "lock_opened_outside")
DROP = ("unlock", "lock", "finger_open")
TAIL = {  # what replaces the rest of the flow after each cut
    "mqtt-in": "pick",
    "switch": "reshape",
    "change": "alerts",
}


def input_stream(count: int) -> bytes:
    """The load generator's input: Zigbee2MQTT-like lock reports, every other one an alert."""
    packets = bytearray()
    header = publish_header("zigbee2mqtt/front_door", False)
    now = time.time_ns()
    for index in range(count):
        action = PASS[index // 2 % 3] if index % 2 == 0 else DROP[index // 2 % 3]
        payload = orjson.dumps({"action": action, "action_repeat": 1, "linkquality": 120, "ts": now + index})
        add_publish(packets, header, payload, False)
    return bytes(packets)


def flow_text(cut: str | None) -> str:
    """``lock_alert.yaml``, or the same with the nodes after ``cut`` replaced by one ``discard``."""
    text = FLOW.read_text()
    if cut is None:
        return text
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == f"- id: {TAIL[cut]}")
    return "\n".join([*lines[:start], f"  - id: {TAIL[cut]}", "    type: discard"]) + "\n"


class Stage:
    """One flow, built by the engine, with ``mqtt-in`` fed from a buffer and ``mqtt-out`` on a socket pair."""

    def __init__(self, directory: Path, cut: str | None, registry: Registry, **run_options: Any) -> None:
        path = directory / "bench.yaml"
        path.write_text(flow_text(cut))
        self.run = FlowRun(load_flow_or_raise(path, registry), **run_options)
        source = self.run.nodes["lock"]
        assert isinstance(source, MqttIn)
        self.source: MqttIn = source
        self.source._backpressure = self.run.backpressure
        self.paho = mqtt.Client(CallbackAPIVersion.VERSION2)
        self.reads = BufferedReads(self.paho)
        self.reads.on_publish = self.source._on_publish
        self.ours, self.theirs = socket.socketpair()
        self.ours.setblocking(False)
        self.theirs.setblocking(False)
        attach_socket(self.paho, self.ours)
        sink = self.run.nodes.get("alerts")
        self.sink = sink if isinstance(sink, MqttOut) else None

    async def start(self) -> None:
        for node_id, node in self.run.nodes.items():
            if node_id not in ("lock", "alerts"):
                await node.start()  # switch compiles its routes against the wired ports
        if self.sink is not None:
            self.sink._paho = self.paho
            self.sink._write_direct = functools.partial(write_packets, self.paho)
            asyncio.get_running_loop().add_reader(self.theirs.fileno(), self._drain)

    def _drain(self) -> None:
        try:
            while self.theirs.recv(1 << 20):
                pass
        except BlockingIOError:
            pass
        if unwritten(self.paho):
            self.paho.loop_write()

    def receive(self, stream: bytes) -> None:
        self.reads._buffer, self.reads._position = stream, 0
        self.reads._take_publishes()

    async def flow(self) -> None:
        pump = asyncio.ensure_future(self.source._pump())
        inbox = self.source._inbox
        while inbox:  # noqa: ASYNC110 - one turn at a time beside the pump, as the loop would run it
            await asyncio.sleep(0)
        await asyncio.sleep(0)  # mqtt-out's write of the last turn
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump
        if self.sink is not None:
            while unwritten(self.paho):  # noqa: ASYNC110 - paho's queue has no event to wait for
                await asyncio.sleep(0.001)

    def close(self) -> None:
        if self.sink is not None:
            asyncio.get_running_loop().remove_reader(self.theirs.fileno())
        self.ours.close()
        self.theirs.close()


async def measure(directory: Path, cut: str | None, stream: bytes, count: int, registry: Registry,
                  *, receive_only: bool = False, **run_options: Any) -> float:
    """Return CPU seconds of one run (``run_options`` go to :class:`FlowRun`, e.g. ``tap=True``)."""
    stage = Stage(directory, cut, registry, **run_options)
    await stage.start()
    try:
        cpu = time.process_time()
        stage.receive(stream)
        if not receive_only:
            await stage.flow()
        cpu = time.process_time() - cpu
        assert len(stage.source._inbox) == (count if receive_only else 0)
        if stage.sink is not None:
            assert stage.sink.counters["published"] == count // 2, stage.sink.counters
        return cpu
    finally:
        stage.close()


async def main_async(args: Any) -> None:
    registry = Registry.from_entry_points()
    stream = input_stream(args.messages)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        rows: list[tuple[str, float]] = []
        variants: list[tuple[str, str | None, bool]] = [
            ("receive (cut PUBLISH packets from the buffer, queue)", "mqtt-in", True),
            ("+ mqtt-in (orjson, message) → discard", "mqtt-in", False),
            ("+ switch → discard", "switch", False),
            ("+ change → discard", "change", False),
            ("+ mqtt-out (encode, write to a socket): the whole flow", None, False),
        ]
        print(f"{args.messages} input messages (half of them alerts), best of {args.repeat}, CPU µs per input message")
        previous = 0.0
        for name, cut, receive_only in variants:
            best = min([await measure(directory, cut, stream, args.messages, registry, receive_only=receive_only)
                        for _ in range(args.repeat)])
            per = best / args.messages * 1e6
            rows.append((name, per))
            print(f"  {name:58} {per:6.2f}  (+{per - previous:.2f})")
            previous = per


def main() -> None:
    """Parse the options and run every stage."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=50_000, help="at most 100,000 (mqtt-in's inbox)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--asyncio", action="store_true", help="asyncio's own loop, not uvloop")
    args = parser.parse_args()
    if args.asyncio:
        asyncio.run(main_async(args))
        return
    try:
        import uvloop
    except ImportError:
        asyncio.run(main_async(args))
    else:
        uvloop.run(main_async(args))


if __name__ == "__main__":
    main()
