"""What ``--http`` costs the lock-alert flow, per input message, measured in one process.

The peer bench (``benchmarks/mqtt/http_cost.sh``) runs the flow plain and with ``--http``
scraped once a second, but on a shared two-core machine its CPU figures move by ±20 %
between runs, far more than the cost being measured. This script takes the noise out by
measuring the two parts of the cost separately, with the process's own CPU clock:

* the hot path: ``benchmarks/mqtt/hot_path.py``'s whole lock-alert flow (packets cut from a
  buffer → ``mqtt-in`` → ``switch`` → ``change`` → ``mqtt-out`` writing to a socket), plain
  (``flowengine run``: counting only) and as ``--http`` runs it (a check per node whether its
  debug tap is watched), and, for information, with a tap open on every node;
* one scrape: ``GET /metrics`` served by the runner's real aiohttp server for this flow, over
  a real socket (the client's CPU counted too, so the figure is an upper bound).

The cost of scraping once a second, per message, is the scrape's CPU divided by the messages
the flow handles in that second (``--rate``, by default the peer bench's saturation rate).

    .venv/bin/python benchmarks/http_cost.py [--messages 50000] [--repeat 5] [--rate 14000]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from benchmarks.mqtt.hot_path import Stage, input_stream, measure
from flowengine.cli import _run_loop
from flowengine.health import Health
from flowengine.registry import Registry
from flowengine.web.server import HttpServer
from flowengine.web.settings import HttpSettings


async def hot_path(directory: Path, registry: Registry, stream: bytes, count: int, *, tap: bool,
                   watched: bool = False) -> float:
    """CPU µs per input message of the whole flow (``watched``: a tap open on every node)."""
    if not watched:
        options = {"tap": True, "health": Health().flow("lock-alert")} if tap else {}
        cpu = await measure(directory, None, stream, count, registry, **options)
        return cpu / count * 1e6
    stage = Stage(directory, None, registry, tap=True, health=Health().flow("lock-alert"))
    for traffic in stage.run.traffic.values():
        traffic.open_tap()
    await stage.start()
    try:
        cpu = time.process_time()
        stage.receive(stream)
        await stage.flow()
        return (time.process_time() - cpu) / count * 1e6
    finally:
        stage.close()


async def scrape_cost(directory: Path, registry: Registry, stream: bytes, scrapes: int) -> tuple[float, int]:
    """CPU µs of one ``GET /metrics`` of the flow (after a run, so every series has a value), and its size."""
    health = Health()
    stage = Stage(directory, None, registry, tap=True, health=health.flow("lock-alert"))
    await stage.start()
    stage.receive(stream)
    await stage.flow()
    server = HttpServer(HttpSettings("127.0.0.1", 0), health, set())
    await server.start()
    try:
        size = 0
        cpu = time.process_time()
        for _ in range(scrapes):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            body = await reader.read()
            size = len(body)
            writer.close()
            await writer.wait_closed()
        cpu = time.process_time() - cpu
    finally:
        await server.aclose()
        stage.close()
    return cpu / scrapes * 1e6, size


async def main_async(args: argparse.Namespace) -> int:
    registry = Registry.from_entry_points()
    stream = input_stream(args.messages)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        plain: list[float] = []
        tapped: list[float] = []
        watched: list[float] = []
        for _ in range(args.repeat):  # alternate, so drift of the machine hits all alike
            plain.append(await hot_path(directory, registry, stream, args.messages, tap=False))
            tapped.append(await hot_path(directory, registry, stream, args.messages, tap=True))
            watched.append(await hot_path(directory, registry, stream, args.messages, tap=True, watched=True))
        scrape, size = await scrape_cost(directory, registry, stream, args.scrapes)
    base, with_tap, watching = min(plain), min(tapped), min(watched)
    per_message = scrape / args.rate
    total = with_tap + per_message
    print(f"lock-alert flow, {args.messages} input messages, best of {args.repeat}; CPU µs per input message")
    print(f"  plain (counting only, no --http)          {base:7.3f}")
    print(f"  --http: hot path, nobody tapping          {with_tap:7.3f}  ({(with_tap / base - 1) * 100:+.1f} %)")
    print(f"  --http: one GET /metrics ({size} bytes)   {scrape:7.0f} µs CPU per scrape")
    print(f"  --http, scraped every second at {args.rate}/s: {total:7.3f}  (+{(total / base - 1) * 100:.1f} %)")
    print(f"  (while a debug tap is open on every node: {watching:.3f}, {(watching / base - 1) * 100:+.1f} %)")
    print(f"  throughput bound (1 / CPU per message): plain {1e6 / base:,.0f}/s, --http {1e6 / total:,.0f}/s "
          f"({(base / total - 1) * 100:+.1f} %)")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=50_000, help="at most 100,000 (mqtt-in's inbox)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--scrapes", type=int, default=200)
    parser.add_argument("--rate", type=float, default=14_000,
                        help="input messages per second while scraped (the peer bench's saturation rate)")
    # The loop `flowengine run` uses: uvloop when installed (the `fast` extra).
    _run_loop(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
