"""The move from Zigbee2MQTT: how long the import takes, and the first message after it.

The household's Zigbee2MQTT data folder (tests/migrate/household.py: eight devices and one of an
unknown model, state.json, coordinator_backup.json) is imported with ``flowengine import
zigbee2mqtt`` as a command in its own process (wall time of the whole command, interpreter start
included, and the import's own time as it prints it). Then the imported flow runs with the real
``flowengine run`` against the project's deCONZ emulator in the state Zigbee2MQTT left (the
network formed, every device a member) and a private Mosquitto; the figures are from the start of
the runner's process to (a) the first device message on MQTT (a cached state sent on start) and
(b) the first message decoded from a device's report sent once the coordinator is up.

    .venv/bin/python benchmarks/migrate.py            # 5 runs; prints each and the median

Figures: see benchmarks/README.md ("The move from Zigbee2MQTT").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from flowengine_nodes.emulator.server import Emulator  # noqa: E402
from tests.migrate.household import BASE_TOPIC, DEVICES, formed_stick, virtual_devices, write_data_folder  # noqa: E402
from tests.mosquitto import Mosquitto, Subscriber, mosquitto_binary  # noqa: E402

NAMES = {name for name, _, _, _ in DEVICES}


async def once(folder: Path, broker: Mosquitto) -> dict[str, float]:
    emulator = Emulator(stick=formed_stick(folder / "stick.json"), devices=virtual_devices())
    await emulator.start()
    subscriber = Subscriber(broker, [f"{BASE_TOPIC}/#"], client_id=f"bench-{folder.name}").start()
    try:
        data = write_data_folder(folder / "z2m", mqtt_url=broker.url, serial_port=f"tcp://127.0.0.1:{emulator.port}")
        began = time.perf_counter()
        completed = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "flowengine.cli", "import", "zigbee2mqtt", str(data), "--to",
                             str(folder / "flow")], capture_output=True, text=True, check=True)
        import_wall = time.perf_counter() - began
        own = float(completed.stdout.rsplit(" in ", 1)[1].split(" s")[0])
        seen: dict[str, float] = {}

        def device_message(messages: list[object]) -> bool:
            return any(getattr(m, "topic", "").removeprefix(BASE_TOPIC + "/") in NAMES for m in messages)

        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "flowengine.cli", "run", str(folder / "flow" / "flow.yaml"),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            await asyncio.to_thread(subscriber.wait_until, device_message, 60)
            seen["first"] = time.perf_counter() - started
            await emulator.wait_host_ready()
            count = len(subscriber.messages)
            emulator.send_event("Desk_button", "single")

            def action(messages: list[object]) -> bool:
                return any(getattr(m, "topic", "") == f"{BASE_TOPIC}/Desk button" for m in messages[count:])

            await asyncio.to_thread(subscriber.wait_until, action, 60)
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
                result = asyncio.run(once(Path(scratch) / f"run{run}", broker))
                print(json.dumps({key: round(value, 3) for key, value in result.items()}))
                results.append(result)
        finally:
            broker.kill()
    print("median", json.dumps({key: round(statistics.median(r[key] for r in results), 3) for key in results[0]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
