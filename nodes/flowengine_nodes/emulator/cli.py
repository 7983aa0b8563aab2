"""``flowengine emulate``: run the deCONZ coordinator emulator with a scenario until Ctrl-C.

Point a ``zigbee`` node (or any zigpy-deconz host) at the printed ``socket://`` path.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from flowengine_nodes.emulator.scenario import Scenario, ScenarioError, ScenarioRunner, SentEvent, load_scenario
from flowengine_nodes.emulator.server import Emulator
from flowengine_nodes.emulator.stick import StickState

DEFAULT_PORT = 6638


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flowengine emulate",
        description="Run a deCONZ (ConBee II) coordinator emulator with virtual devices over TCP.",
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT}; 0: any)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--scenario", type=Path, help="scenario YAML: devices and timed events (docs/emulator.md)")
    parser.add_argument(
        "--state",
        type=Path,
        help="stick state JSON (network parameters, joined devices); created if missing. Default: in memory",
    )
    parser.add_argument(
        "--form",
        action="store_true",
        help="start with a formed network (channel 15) when the stick is new: zigpy starts in ~40 ms",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every event sent")
    return parser


def main(argv: list[str]) -> int:
    """Run the emulator until SIGINT/SIGTERM; return the exit code (2 for a bad scenario)."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    try:
        scenario = load_scenario(args.scenario) if args.scenario else None
    except ScenarioError as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    try:
        asyncio.run(_serve(args, scenario))
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    return 0


async def _serve(args: argparse.Namespace, scenario: Scenario | None) -> None:
    stick = StickState.load(args.state)
    if scenario is not None:
        scenario.form_network(stick)
    if args.form and not stick.formed:
        stick.form(channel=15)
        stick.save()
    emulator = Emulator(stick=stick)
    runner: ScenarioRunner | None = None
    if scenario is not None:
        scenario.add_devices(emulator)
        runner = ScenarioRunner(emulator, scenario, on_sent=_report_sent)
    await emulator.start(args.host, args.port)
    log = logging.getLogger("flowengine.emulator")
    log.info(
        "deCONZ emulator on socket://%s:%d (stick %s, network %s)",
        args.host,
        emulator.port,
        stick.ieee,
        "formed" if stick.formed else "not formed",
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    try:
        async with asyncio.TaskGroup() as group:
            playing = group.create_task(runner.run()) if runner is not None else None
            await stop.wait()
            if playing is not None:
                playing.cancel()
    finally:
        await emulator.aclose()
        log.info("emulator stopped")


def _report_sent(record: SentEvent) -> None:
    what = record.event.event if record.event is not None else "join"
    for frame in record.frames:
        logging.getLogger("flowengine.emulator").info(
            "%s: %s frame %s lqi %d rssi %d", record.device, what, frame.payload.hex(), frame.lqi, frame.rssi)
