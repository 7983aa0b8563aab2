"""The move from Zigbee2MQTT: how long the import takes, and the first message after it.

The data folder is the one the real Zigbee2MQTT 2.14.1 left after pairing the household
(tests/data/zigbee2mqtt_move: eight devices, state.json, coordinator_backup.json). It is
imported with ``flowengine import zigbee2mqtt`` as a command in its own process (wall time of the
whole command, interpreter start included, and the import's own time as it prints it). Then the
imported flow runs with the real ``flowengine run`` against the project's deCONZ emulator in the
state Zigbee2MQTT left (its stick: the network formed, every device a member) and a private
Mosquitto; the figures are from the start of the runner's process to (a) the first device message
on MQTT (a cached state sent on start) and (b) the first message decoded from a device's report
(the first frame Zigbee2MQTT was sent after its restart, sent once the coordinator is up).

    .venv/bin/python benchmarks/migrate.py            # 5 runs; prints each and the median

Figures: see benchmarks/README.md ("The move from Zigbee2MQTT").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from flowengine_nodes.emulator.replay import RecordedFrame, replay  # noqa: E402
from flowengine_nodes.emulator.scenario import load_scenario  # noqa: E402
from flowengine_nodes.emulator.server import Emulator  # noqa: E402
from flowengine_nodes.emulator.stick import StickState  # noqa: E402
from tests.mosquitto import Mosquitto, ReceivedMessage, Subscriber, mosquitto_binary  # noqa: E402

FIXTURES = REPO / "tests" / "data" / "zigbee2mqtt_move"
BASE = "house"


async def once(folder: Path, broker: Mosquitto) -> dict[str, float]:
    shutil.copyfile(FIXTURES / "stick.json", folder / "stick.json")
    emulator = Emulator(stick=StickState.load(folder / "stick.json"))
    for device in load_scenario(REPO / "flows" / "scenarios" / "household.yaml").build_devices():
        emulator.add_device(device)
    await emulator.start()
    subscriber = Subscriber(broker, [f"{BASE}/#"], client_id=f"bench-{folder.name}").start()
    frames = [json.loads(line) for line in (FIXTURES / "restart_frames.jsonl").read_text().splitlines()]
    names = {frame["friendly_name"] for frame in frames}
    try:
        data = folder / "zigbee2mqtt"
        shutil.copytree(FIXTURES / "zigbee2mqtt", data)
        config = data / "configuration.yaml"
        config.write_text(config.read_text().replace("tcp://127.0.0.1:6638", f"tcp://127.0.0.1:{emulator.port}")
                          .replace("mqtt://127.0.0.1:1883", broker.url))
        began = time.perf_counter()
        completed = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "flowengine.cli", "import", "zigbee2mqtt", str(data), "--to",
                             str(folder / "flow")], capture_output=True, text=True, check=True)
        import_wall = time.perf_counter() - began
        own = float(completed.stdout.rsplit(" in ", 1)[1].split(" s")[0])
        seen: dict[str, float] = {}

        def device_message(messages: list[ReceivedMessage]) -> bool:
            return any(m.topic.removeprefix(BASE + "/") in names for m in messages)

        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "flowengine.cli", "run", str(folder / "flow" / "flow.yaml"),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            await asyncio.to_thread(subscriber.wait_until, device_message, 60)
            seen["first"] = time.perf_counter() - started
            await emulator.wait_host_ready()
            count = len(subscriber.messages)
            await replay(emulator, [RecordedFrame.from_report(frames[0])], rate=None)
            topic = f"{BASE}/{frames[0]['friendly_name']}"

            def decoded(messages: list[ReceivedMessage]) -> bool:
                return any(m.topic == topic for m in messages[count:])

            await asyncio.to_thread(subscriber.wait_until, decoded, 60)
            seen["report"] = time.perf_counter() - started
        finally:
            process.terminate()
            await process.wait()
        return {"import_wall_s": import_wall, "import_s": own, "first_message_s": seen["first"],
                "first_report_s": seen["report"]}
    finally:
        subscriber.close()
        await emulator.aclose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    binary = mosquitto_binary()
    if binary is None:
        sys.exit("mosquitto is not installed")
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        broker = Mosquitto(Path(scratch) / "mosquitto", binary=binary)
        broker.start()
        try:
            for run in range(args.runs):
                folder = Path(scratch) / f"run{run}"
                folder.mkdir()
                result = asyncio.run(once(folder, broker))
                print(json.dumps({key: round(value, 3) for key, value in result.items()}))
                results.append(result)
        finally:
            broker.kill()
    print("median", json.dumps({key: round(statistics.median(r[key] for r in results), 3) for key in results[0]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
