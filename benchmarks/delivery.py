"""What durability costs: throughput and CPU per message, durable default vs main's vs ``inline: true``.

Usage:
    .venv/bin/python -m benchmarks.delivery [--records 200000] [--messages 20000] [--main CHECKOUT]
        [--broker-window default 1000] [--only replay|mqtt]

Runs real ``flowengine run`` processes. "main" rows run the same flows on another checkout
(``--main``, its sources put first on ``PYTHONPATH``): the non-durable behaviour the durable
default replaced (a source tree from before it, e.g. ``git archive <commit> | tar -x -C DIR``).

Flows (those of issue 13's acceptance 1):
* ``zigbee-replay`` (speed 0) → ``file``, ``--records`` records, measured from start to exit
  (wall time, and the child's user + system CPU from ``wait4``: start-up included alike in
  every row, about 1-2 µs per record at 200,000);
* ``mqtt-in`` (QoS 1, persistent session) → ``change`` → ``mqtt-out`` (QoS 1), ``--messages``
  messages published into the runner's session beforehand; the run ends (SIGTERM) once a
  subscriber (QoS 1) has them all. Throughput and CPU (the child's, from ``/proc``) are taken
  from the first to the last message at the subscriber: the steady state, start-up excluded.
  Each ``--broker-window`` runs all four rows against a private Mosquitto whose
  ``max_inflight_messages`` (QoS 1/2 messages it sends a client before that client's
  acknowledgements: to the runner's ``mqtt-in`` and to the subscriber alike) is Mosquitto's
  default (20: ``default``) or the number given (0: no limit).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.delivery.harness import FLOWENGINE, REPLAY_TO_FILE, file_lines, mqtt_flow, write_capture
from tests.mosquitto import Mosquitto, Subscriber, mosquitto_binary, publish_messages


def environment(tree: Path | None) -> dict[str, str]:
    """The child's environment: this checkout, or ``tree``'s sources first on the path."""
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = f"{tree}:{tree / 'nodes'}"
    return env


def measure(folder: Path, tree: Path | None,
            done: Callable[[subprocess.Popen[bytes]], None] | None = None) -> tuple[float, float]:
    """Run ``flow.yaml`` in ``folder``; return (wall seconds, CPU seconds) of the child.

    ``done(runner)``, when given, is waited for and the child then stopped with SIGTERM.
    """
    began = time.monotonic()
    with (folder / "bench.log").open("wb") as log:
        process = subprocess.Popen([*FLOWENGINE, "run", "flow.yaml"], cwd=folder, stdout=subprocess.DEVNULL,
                                   stderr=log, env=environment(tree))
    if done is not None:
        try:
            done(process)
        except BaseException:
            process.kill()
            process.wait()
            raise
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


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds process ``pid`` has used so far (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def mqtt_row(broker: Mosquitto, tree: Path | None, messages: int, *, inline: bool,
             mqtt5: bool = False) -> tuple[float, float]:
    """mqtt-in → change → mqtt-out: (messages/s, CPU µs per message), both first to last arrival.

    ``mqtt5``: ``mqtt-in`` speaks MQTT 5, so it asks the broker for its own window (``max_inflight``).
    """
    with tempfile.TemporaryDirectory(prefix="delivery-bench-") as tmp:
        folder = Path(tmp)
        Subscriber(broker, ["in/#"], client_id="delivery-in", persistent=True).start().close()
        publish_messages(broker, [(f"in/{seq % 3}", json.dumps({"seq": seq})) for seq in range(messages)])
        arrivals = folder / "arrivals.txt"
        subscriber = subscribe(broker, arrivals, messages)
        flow = mqtt_flow(broker.url, inline=inline)
        if mqtt5:
            flow = flow.replace("    client_id: delivery-in\n", "    client_id: delivery-in\n    protocol: 5\n")
        (folder / "flow.yaml").write_text(flow)
        cpu: list[float] = []

        def arrived(runner: subprocess.Popen[bytes]) -> None:
            while _lines(arrivals) < 1:
                _alive(runner, folder)
                time.sleep(0.001)
            cpu.append(cpu_seconds(runner.pid))
            while True:
                try:
                    subscriber.wait(1)  # it exits with the last message
                    break
                except subprocess.TimeoutExpired:
                    _alive(runner, folder)
            cpu.append(cpu_seconds(runner.pid))

        try:
            measure(folder, tree, arrived)
        finally:
            if subscriber.poll() is None:
                subscriber.kill()
            subscriber.wait()
        times = [float(line) for line in arrivals.read_text().split()]
        assert len(times) == messages, f"{len(times)} of {messages} arrived"
        return (messages - 1) / (times[-1] - times[0]), (cpu[1] - cpu[0]) / (messages - 1) * 1e6


def subscribe(broker: Mosquitto, arrivals: Path, count: int) -> subprocess.Popen[bytes]:
    """Start ``mosquitto_sub`` (QoS 1, ``out/#``): each arrival's time a line of ``arrivals``, exit after ``count``.

    A subscriber of its own, in C: a Python one in this process would share the CPU and the
    GIL with the measuring and bound every row alike. Returns once the broker logged the
    subscription (its config has ``log_type subscribe``).
    """
    client = f"bench-{time.monotonic_ns()}"
    with arrivals.open("wb") as out:
        process = subprocess.Popen(["stdbuf", "-oL", "mosquitto_sub", "-h", broker.host, "-p", str(broker.port),
                                    "-i", client, "-t", "out/#", "-q", "1", "-C", str(count), "-F", "%U"],
                                   stdout=out)
    deadline = time.monotonic() + 10
    while f"{client} 1 out/#" not in broker.log():
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise SystemExit(f"mosquitto_sub did not subscribe:\n{broker.log()}")
        time.sleep(0.01)
    return process


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n")


def _alive(runner: subprocess.Popen[bytes], folder: Path) -> None:
    if runner.poll() is not None:
        raise SystemExit(f"the runner ended early:\n{(folder / 'bench.log').read_text()}")


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--main", type=Path, default=Path("/work/main"), help="the checkout to compare with")
    parser.add_argument("--only", choices=["replay", "mqtt"], help="run one flow's rows")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each row, taken in turn (row 1, 2, …, then again): median (min-max)")
    parser.add_argument("--broker-window", nargs="+", default=["default", "1000"],
                        help="Mosquitto's max_inflight_messages for the MQTT rows: 'default' (20) or a number "
                             "(0: no limit); the rows run once per value")
    args = parser.parse_args()
    print("| flow | variant | msg/s | CPU µs/msg |\n| --- | --- | --- | --- |")

    if args.only != "mqtt":
        replay_rows(args)
    if args.only != "replay":
        mqtt_rows(args)


Measure = Callable[[], tuple[float, float]]


def run_rows(flow: str, rows: list[tuple[str, Measure]], repeat: int) -> None:
    """Run every row ``repeat`` times in turn (so each meets the machine's load alike), then print them.

    A cell is the median, with the range when there are several runs.
    """
    results: dict[str, list[tuple[float, float]]] = {variant: [] for variant, _ in rows}
    for _ in range(repeat):
        for variant, measure_row in rows:
            results[variant].append(measure_row())
    for variant, runs in results.items():
        rates = sorted(rate for rate, _ in runs)
        cpus = sorted(cpu for _, cpu in runs)
        print(f"| {flow} | {variant} | {_cell(rates, '{:,.0f}')} | {_cell(cpus, '{:.1f}')} |", flush=True)


def _cell(values: list[float], shape: str) -> str:
    median = statistics.median(values)
    if len(values) == 1:
        return shape.format(median)
    return f"{shape.format(median)} ({shape.format(values[0])}-{shape.format(values[-1])})"


def replay_rows(args: argparse.Namespace) -> None:
    """The replay → file rows."""
    records = args.records
    run_rows("replay → file", [
        ("main, resume: false", lambda: replay_row(args.main, records, resume=False, fsync=None)),
        ("main, resume: true", lambda: replay_row(args.main, records, resume=True, fsync=None)),
        ("durable default (resume: true)", lambda: replay_row(None, records, resume=True, fsync=None)),
        ("resume: true, fsync: never", lambda: replay_row(None, records, resume=True, fsync="never")),
    ], args.repeat)


def mqtt_rows(args: argparse.Namespace) -> None:
    """The mqtt-in → mqtt-out rows, on a private broker."""
    binary = mosquitto_binary()
    if binary is None:
        raise SystemExit("mosquitto is not installed")
    for window in args.broker_window:
        broker_rows(args, binary, window)


def broker_rows(args: argparse.Namespace, binary: str, window: str) -> None:
    """The four MQTT rows against one private broker with ``max_inflight_messages`` ``window``."""
    flow = "mqtt-in → mqtt-out" + ("" if window == "default" else f", broker window {window}")
    with tempfile.TemporaryDirectory(prefix="delivery-broker-") as tmp:
        broker = Mosquitto(Path(tmp), binary=binary)
        with broker.config_path.open("a") as config:
            config.write("log_type subscribe\n")  # subscribe() waits for its line
            if window != "default":
                config.write(f"max_inflight_messages {int(window)}\n")
        broker.start()
        count = args.messages
        try:
            run_rows(flow, [
                ("main default", lambda: mqtt_row(broker, args.main, count, inline=False)),
                ("main inline: true", lambda: mqtt_row(broker, args.main, count, inline=True)),
                ("durable default", lambda: mqtt_row(broker, None, count, inline=False)),
                ("durable, mqtt-in MQTT 5", lambda: mqtt_row(broker, None, count, inline=False, mqtt5=True)),
                ("inline: true", lambda: mqtt_row(broker, None, count, inline=True)),
            ], args.repeat)
        finally:
            broker.kill()


if __name__ == "__main__":
    main()
