"""Throughput of ``mqtt-out``'s publish path against a private Mosquitto (issue 5).

Rows:

* ``outbox only``: :class:`~flowengine_nodes.mqtt.outbox.Outbox` append (one transaction per batch of
  512) + take + ack, no network: the ceiling the SQLite outbox puts on QoS 1/2.
* ``qos1 file outbox`` / ``qos1 memory outbox`` / ``qos2 file outbox``: ``MqttOut.write`` in
  batches of 512 (as the engine's channel feeds it) until the broker has acknowledged every
  message (the outbox is empty again); nobody subscribes.
* ``qos1 + subscriber``: the same until a QoS 1 subscriber (paho, in another process) has
  received every message.
* ``qos0``: ``MqttOut.write`` until a QoS 0 subscriber (another process) has received every message.

Each row: messages/s (median of ``--repeat`` runs, min-max) and this process's CPU µs per
message (the subscriber's own CPU is not counted).

Run from the repository root: ``.venv/bin/python -m benchmarks.mqtt.outbox_publish [--messages N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import statistics
import tempfile
import time
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

from flowengine import Message, NodeContext, StateStore, WallClock
from flowengine_nodes.mqtt.mqtt_out import MqttOut, MqttOutConfig
from flowengine_nodes.mqtt.outbox import Outbox
from tests.mosquitto import Mosquitto, mosquitto_binary

BATCH = 512
PAYLOAD = {"action": "finger_not_match", "action_repeat": 1, "linkquality": 120, "ts": 1_732_435_200_000_000_000}


def cpu() -> float:
    return time.process_time()


def count_messages(host: str, port: int, qos: int, count: int, ready: Event, done: Event) -> None:
    """Child process: subscribe to bench/#, set ``ready``, set ``done`` after ``count`` messages."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    received = 0
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)

    def on_message(*_: Any) -> None:
        nonlocal received
        received += 1
        if received >= count:
            done.set()
            client.disconnect()

    client.on_connect = lambda c, *_: c.subscribe("bench/#", qos)
    client.on_subscribe = lambda *_: ready.set()
    client.on_message = on_message
    client.connect(host, port)
    client.loop_forever()


class Counter:
    """A subscriber in another process that counts to ``count``."""

    def __init__(self, broker: Mosquitto, qos: int, count: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.ready = context.Event()
        self.done = context.Event()
        self.process = context.Process(target=count_messages,
                                       args=(broker.host, broker.port, qos, count, self.ready, self.done))
        self.process.start()
        if not self.ready.wait(30):
            raise SystemExit("the counting subscriber did not subscribe")

    def wait(self) -> None:
        if not self.done.wait(120):
            raise SystemExit("the counting subscriber did not get every message")
        self.process.join(10)


def outbox_only(folder: Path, count: int) -> tuple[float, float]:
    box = Outbox(folder / "bench.db", limit=count + 1)
    entries = [("bench/t", b'{"n":1}', 1, False)] * BATCH
    began, began_cpu = time.perf_counter(), cpu()
    for _ in range(count // BATCH):
        box.append(entries)
        rows = box.take(BATCH)
        box.ack(row[0] for row in rows)
    seconds, cpu_seconds = time.perf_counter() - began, cpu() - began_cpu
    box.close()
    (folder / "bench.db").unlink()
    return count / seconds, cpu_seconds / count * 1e6


async def through_broker(broker: Mosquitto, folder: Path, count: int, *, qos: int, outbox: str,
                         subscribe: bool) -> tuple[float, float]:
    store = StateStore(None)
    context = NodeContext(node_id="bench", flow_name="bench", flow_dir=folder, clock=WallClock(),
                          state=store.node("bench"), logger=logging.getLogger("bench"))
    node = MqttOut(MqttOutConfig(broker=broker.url, qos=qos, outbox=outbox, topic="bench/t",
                                 outbox_limit=count + 1), context)
    await node.start()
    await node.status.wait_for(lambda s: s.connected)
    batches = [[Message("x", PAYLOAD, {}) for _ in range(BATCH)] for _ in range(count // BATCH)]
    sent = len(batches) * BATCH
    counter = Counter(broker, qos, sent) if subscribe else None
    began, began_cpu = time.perf_counter(), cpu()
    for batch in batches:
        await node.write(batch)
        await asyncio.sleep(0)  # the engine's channel task yields between batches
    if counter is not None:
        await asyncio.to_thread(counter.wait)
    else:
        await node._drained.wait()
    seconds, cpu_seconds = time.perf_counter() - began, cpu() - began_cpu
    await node.aclose()
    return sent / seconds, cpu_seconds / sent * 1e6


def row(name: str, runs: list[tuple[float, float]]) -> str:
    rates = [r for r, _ in runs]
    costs = [c for _, c in runs]
    return (f"| {name} | {statistics.median(rates):,.0f} ({min(rates):,.0f}-{max(rates):,.0f}) "
            f"| {statistics.median(costs):.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop")
    args = parser.parse_args()
    binary = mosquitto_binary()
    if binary is None:
        raise SystemExit("mosquitto is not installed")
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        broker = Mosquitto(folder / "broker", binary=binary, tcp_nodelay=True)
        broker.start()
        try:
            results: dict[str, list[tuple[float, float]]] = {}

            def run(coroutine: Any) -> tuple[float, float]:
                if args.uvloop:
                    import uvloop

                    return uvloop.run(coroutine)  # type: ignore[no-any-return]
                return asyncio.run(coroutine)

            n = args.messages
            for _ in range(args.repeat):
                results.setdefault("outbox only (SQLite, no network)", []).append(outbox_only(folder, n))
                for name, qos, outbox, subscribe in (
                    ("qos1, file outbox", 1, "bench.db", False),
                    ("qos1, memory outbox", 1, "memory", False),
                    ("qos2, file outbox", 2, "bench.db", False),
                    ("qos1, file outbox + qos1 subscriber", 1, "bench.db", True),
                    ("qos0 + qos0 subscriber", 0, "bench.db", True),
                ):
                    results.setdefault(name, []).append(
                        run(through_broker(broker, folder, n, qos=qos, outbox=outbox, subscribe=subscribe)))
            loop = "uvloop" if args.uvloop else "asyncio"
            print(f"{n:,} messages of {len(str(PAYLOAD))} bytes, batches of {BATCH}, {loop}, {args.repeat} runs")
            print("| path | messages/s median (min-max) | CPU µs/msg (publisher) |")
            print("|---|---|---|")
            for name, runs in results.items():
                print(row(name, runs))
        finally:
            broker.kill()


if __name__ == "__main__":
    main()
