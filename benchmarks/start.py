"""Start-up and idle memory of ``flowengine run`` on the lock-alert flow (issue 14).

Starts a private Mosquitto on a free loopback port (the test suite's helper), then, N
times: a subscriber on ``alerts/front_door`` and a publisher that sends a lock report
that must raise an alert every 20 ms are connected first; ``flowengine run
benchmarks/mqtt/lock_alert.yaml`` is spawned; the time from the spawn to the first alert
at the subscriber is the *start*; one second later the process's resident memory is the
*idle RSS*. The engine runs as an installed program does, with its bytecode cached (a
warm-up run, not counted, writes the caches). Prints the best and the median of each, and the modules the run imported
(``-X importtime`` in a last run) that cost the most.

Run: ``.venv/bin/python benchmarks/start.py`` (``--runs 9``).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.mosquitto import Mosquitto, mosquitto_binary  # noqa: E402 - after the path is set

FLOW = ROOT / "benchmarks" / "mqtt" / "lock_alert.yaml"
PROBE = orjson.dumps({"action": "finger_not_match", "linkquality": 90, "ts": 1})
PROBE_INTERVAL = 0.02
FIRST_ALERT_TIMEOUT = 30.0
IDLE_WAIT = 1.0


def _client(name: str, port: int) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=name)
    client.connect("127.0.0.1", port)
    return client


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (less sensitive to a busy machine than wall time)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_run(port: int, engine: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, float]:
    """Spawn the engine once; return (seconds from spawn to the first alert, idle RSS in MB, CPU s)."""
    first = threading.Event()
    arrived: list[float] = []

    def on_message(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        if not arrived:
            arrived.append(time.perf_counter())
            first.set()

    subscriber = _client(f"start-sub-{os.getpid()}", port)
    subscriber.on_message = on_message
    subscribed = threading.Event()
    subscriber.on_subscribe = lambda *args: subscribed.set()
    subscriber.subscribe("alerts/front_door", 0)
    subscriber.loop_start()
    publisher = _client(f"start-pub-{os.getpid()}", port)
    publisher.loop_start()
    if not subscribed.wait(10):
        raise RuntimeError("the subscriber was not subscribed")
    stop_publishing = threading.Event()

    def publish() -> None:
        while not stop_publishing.wait(PROBE_INTERVAL):
            publisher.publish("zigbee2mqtt/front_door", PROBE, 0)

    pump = threading.Thread(target=publish, daemon=True)
    pump.start()
    began = time.perf_counter()
    process = subprocess.Popen([*engine, "run", str(FLOW)], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, start_new_session=True, cwd=cwd)
    try:
        if not first.wait(FIRST_ALERT_TIMEOUT):
            raise RuntimeError(f"no alert within {FIRST_ALERT_TIMEOUT:.0f} s")
        start = arrived[0] - began
        stop_publishing.set()
        time.sleep(IDLE_WAIT)  # idle: nothing arrives; the figure is the memory at rest
        rss = _rss_mb(process.pid)
        cpu = _cpu_seconds(process.pid)
    finally:
        stop_publishing.set()
        pump.join()
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=30)
        for client in (subscriber, publisher):
            client.loop_stop()
            client.disconnect()
    if process.returncode != 0:
        raise RuntimeError(f"flowengine exited with {process.returncode}: {errors.decode()[-2000:]}")
    return start, rss, cpu


def import_costs(port: int, engine: list[str], env: dict[str, str], top: int) -> list[tuple[int, str]]:
    """Run once under ``-X importtime``; return the ``top`` costliest packages (µs, name)."""
    python = [sys.executable, "-X", "importtime", "-c", "from flowengine.cli import main; main()"]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen([*python, "run", str(FLOW)], env=env, stdout=subprocess.DEVNULL,
                                   stderr=log, start_new_session=True)
        time.sleep(3.0)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        log.seek(0)
        lines = log.read().decode(errors="replace").splitlines()
    by_package: dict[str, int] = {}
    for line in lines:
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, raw = line.removeprefix("import time:").split("|")
        if not cumulative.strip().isdigit():
            continue
        package = raw.strip().split(".")[0]
        # The outermost import of a package carries the cost of all of it.
        by_package[package] = max(by_package.get(package, 0), int(cumulative))
    costs = [(micros, name) for name, micros in by_package.items()]
    return sorted(costs, reverse=True)[:top]


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--imports", type=int, default=12, help="how many costly imports to list (0: none)")
    parser.add_argument("--vs", metavar="CHECKOUT", type=Path,
                        help="also run another checkout of the repository (e.g. main), in turn with this one")
    args = parser.parse_args()
    binary = mosquitto_binary()
    if binary is None:
        raise SystemExit("mosquitto is not installed")
    targets = {"this checkout": ([str(Path(sys.executable).parent / "flowengine")], {}, ROOT)}
    if args.vs is not None:
        other = args.vs.resolve()
        path = os.pathsep.join([str(other), str(other / "nodes")])
        # Run from that checkout: ``-m`` puts the working folder first on the path.
        targets[str(args.vs)] = ([sys.executable, "-m", "flowengine.cli"], {"PYTHONPATH": path}, other)
    starts: dict[str, list[float]] = {name: [] for name in targets}
    rss: dict[str, list[float]] = {name: [] for name in targets}
    cpu: dict[str, list[float]] = {name: [] for name in targets}
    with tempfile.TemporaryDirectory() as workdir:
        broker = Mosquitto(Path(workdir), binary=binary)
        broker.start()
        try:
            # As an installed program runs: with its bytecode cached (a session may forbid writing it).
            env = {**os.environ, "MQTT_URL": broker.url}
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            for engine, extra, cwd in targets.values():  # a warm-up run writes the caches
                one_run(broker.port, engine, {**env, **extra}, cwd)
            for _ in range(args.runs):
                for name, (engine, extra, cwd) in targets.items():  # in turn: drift of the machine hits both
                    seconds, megabytes, cpu_seconds = one_run(broker.port, engine, {**env, **extra}, cwd)
                    starts[name].append(seconds)
                    rss[name].append(megabytes)
                    cpu[name].append(cpu_seconds)
            engine = targets["this checkout"][0]
            costs = import_costs(broker.port, engine, env, args.imports) if args.imports else []
        finally:
            broker.kill()
    print(f"lock-alert flow, {args.runs} runs: spawn -> first alert at a subscriber; RSS 1 s after")
    print("| checkout | figure | best | median | worst |\n| --- | --- | --- | --- | --- |")
    for name in targets:
        for figure, values, digits in (("start -> first alert, s", starts[name], 3),
                                       ("CPU until idle, s", cpu[name], 2),
                                       ("idle RSS, MB", rss[name], 1)):
            print(f"| {name} | {figure} | {min(values):.{digits}f} | {statistics.median(values):.{digits}f} "
                  f"| {max(values):.{digits}f} |")
    if costs:
        print("\ncostliest packages the run imported (cumulative, ms):")
        for micros, name in costs:
            print(f"  {micros / 1000:7.1f}  {name}")


if __name__ == "__main__":
    main()
