"""What durability costs: throughput and CPU per message, durable default vs main's vs ``inline: true``.

Usage:
    .venv/bin/python -m benchmarks.delivery [--records 200000] [--messages 20000] [--main /work/main]

Runs real ``flowengine run`` processes and measures each from start to exit (wall time, and
the child's user + system CPU from ``wait4``), so interpreter start-up is included alike in
every row. "main" rows run the same flows on another checkout (``--main``, its sources put
first on ``PYTHONPATH``): the non-durable behaviour this branch replaces.

Flows (those of issue 13's acceptance 1):
* ``zigbee-replay`` (speed 0) → ``file``, ``--records`` records;
* ``mqtt-in`` (QoS 1, persistent session) → ``change`` → ``mqtt-out`` (QoS 1), ``--messages``
  messages published into the runner's session beforehand; the run ends (SIGTERM) once a
  subscriber has them all. Its throughput is timed from the first to the last message at
  the subscriber (start-up excluded); its CPU includes start-up.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tests.delivery.harness import FLOWENGINE, REPLAY_TO_FILE, file_lines, mqtt_flow, write_capture
from tests.mosquitto import Mosquitto, Subscriber, mosquitto_binary, publish_messages


def environment(tree: Path | None) -> dict[str, str]:
    """The child's environment: this checkout, or ``tree``'s sources first on the path."""
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = f"{tree}:{tree / 'nodes'}"
    return env


def measure(folder: Path, tree: Path | None, done: object = None) -> tuple[float, float]:
    """Run ``flow.yaml`` in ``folder``; return (wall seconds, CPU seconds) of the child.

    ``done`` (a callable), when given, is waited for and the child then stopped with SIGTERM.
    """
    began = time.monotonic()
    with (folder / "bench.log").open("wb") as log:
        process = subprocess.Popen([*FLOWENGINE, "run", "flow.yaml"], cwd=folder, stdout=subprocess.DEVNULL,
                                   stderr=log, env=environment(tree))
    if callable(done):
        done()
        wall = time.monotonic() - began
        process.send_signal(signal.SIGTERM)
    _, status, usage = os.wait4(process.pid, 0)
    if done is None:
        wall = time.monotonic() - began
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"the runner failed:\n{(folder / 'bench.log').read_text()}")
    return wall, usage.ru_utime + usage.ru_stime


def replay_row(tree: Path | None, records: int, *, resume: bool, fsync: str | None) -> tuple[float, float]:
    """replay → file: (messages/s, CPU µs per message)."""
    with tempfile.TemporaryDirectory(prefix="delivery-bench-") as tmp:
        folder = Path(tmp)
        write_capture(folder / "capture.jsonl", records)
        flow = REPLAY_TO_FILE.replace("resume: true", f"resume: {'true' if resume else 'false'}")
        if fsync is not None:
            flow += f"    fsync: {fsync}\n"
        (folder / "flow.yaml").write_text(flow)
        wall, cpu = measure(folder, tree)
        assert file_lines(folder / "out.jsonl") == records
        return records / wall, cpu / records * 1e6


def mqtt_row(broker: Mosquitto, tree: Path | None, messages: int, *, inline: bool) -> tuple[float, float]:
    """mqtt-in → change → mqtt-out: (messages/s, CPU µs per message)."""
    with tempfile.TemporaryDirectory(prefix="delivery-bench-") as tmp:
        folder = Path(tmp)
        client = f"bench-{time.monotonic_ns()}"
        Subscriber(broker, ["in/#"], client_id="delivery-in", persistent=True).start().close()
        publish_messages(broker, [(f"in/{seq % 3}", json.dumps({"seq": seq})) for seq in range(messages)])
        subscriber = Subscriber(broker, ["out/#"], client_id=client, persistent=False).start()
        (folder / "flow.yaml").write_text(mqtt_flow(broker.url, inline=inline))
        marks: list[float] = []

        def arrived() -> None:
            for count in (1, messages):
                while not subscriber.wait_for_count(count, timeout=1):
                    if not _children():
                        raise SystemExit(f"the runner ended early:\n{(folder / 'bench.log').read_text()}")
                marks.append(time.monotonic())

        try:
            _, cpu = measure(folder, tree, arrived)
        finally:
            subscriber.close()
        return (messages - 1) / (marks[1] - marks[0]), cpu / messages * 1e6


def _children() -> list[Path]:
    """The runner processes this benchmark started and that still run (their /proc entries)."""
    mine = str(os.getpid())
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if stat[1] == mine and stat[0] != "Z":
                found.append(entry)
    return found


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--main", type=Path, default=Path("/work/main"), help="the checkout to compare with")
    parser.add_argument("--only", choices=["replay", "mqtt"], help="run one flow's rows")
    args = parser.parse_args()
    print("| flow | variant | msg/s | CPU µs/msg |\n| --- | --- | --- | --- |")

    if args.only != "mqtt":
        replay_rows(args)
    if args.only != "replay":
        mqtt_rows(args)


def show(flow: str, variant: str, result: tuple[float, float]) -> None:
    """Print one row of the table."""
    print(f"| {flow} | {variant} | {result[0]:,.0f} | {result[1]:.1f} |", flush=True)


def replay_rows(args: argparse.Namespace) -> None:
    """The replay → file rows."""
    show("replay → file", "main, resume: false", replay_row(args.main, args.records, resume=False, fsync=None))
    show("replay → file", "main, resume: true", replay_row(args.main, args.records, resume=True, fsync=None))
    show("replay → file", "durable default (resume: true)", replay_row(None, args.records, resume=True, fsync=None))
    show("replay → file", "resume: true, fsync: never", replay_row(None, args.records, resume=True, fsync="never"))


def mqtt_rows(args: argparse.Namespace) -> None:
    """The mqtt-in → mqtt-out rows, on a private broker."""
    binary = mosquitto_binary()
    if binary is None:
        raise SystemExit("mosquitto is not installed")
    with tempfile.TemporaryDirectory(prefix="delivery-broker-") as tmp:
        broker = Mosquitto(Path(tmp), binary=binary)
        broker.start()
        try:
            show("mqtt-in → mqtt-out", "main default", mqtt_row(broker, args.main, args.messages, inline=False))
            show("mqtt-in → mqtt-out", "main inline: true", mqtt_row(broker, args.main, args.messages, inline=True))
            show("mqtt-in → mqtt-out", "durable default", mqtt_row(broker, None, args.messages, inline=False))
            show("mqtt-in → mqtt-out", "inline: true", mqtt_row(broker, None, args.messages, inline=True))
        finally:
            broker.kill()


if __name__ == "__main__":
    main()
