"""A capture written by a ``file`` sink on the ``zigbee`` node replays unchanged; zigpy loads lazily."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from flowengine.testing import capture_context, run_flow, run_sync
from flowengine_nodes.basic.file import File, FileConfig
from tests.nodes.zigbee.harness import Running, formed_emulator, make_lock


def test_a_file_capture_of_zigbee_reports_replays_unchanged(tmp_path: Path) -> None:
    async def capture() -> list[dict[str, object]]:
        emulator = formed_emulator(tmp_path, make_lock())
        await emulator.start()
        try:
            async with Running(tmp_path, device=emulator.device_path, database="zigbee.db") as running:
                await running.wait_connected()
                await emulator.wait_host_ready()
                emulator.join("front_door")
                await running.wait_event("device_interviewed")
                start = len(running.out.messages)
                emulator.send_event("front_door", "finger_open", role="admin", user=1, lqi=200, rssi=-45)
                emulator.send_event("front_door", "finger_not_match", repeat=2, lqi=60, rssi=-80)
                emulator.send_event("front_door", "raw", frame="18", lqi=3, rssi=-99)
                reports = (await running.out.wait_count(start + 3))[start:start + 3]
        finally:
            await emulator.aclose()
        sink = File(FileConfig(path="captures/live.jsonl"), capture_context(tmp_path, "capture"))
        await sink.start()
        await sink.write(reports)
        await sink.aclose()
        return [msg.payload for msg in reports]

    live = run_sync(capture())
    result = run_flow(tmp_path, """
version: 1
nodes:
  - id: replay
    type: zigbee-replay
    path: captures/live.jsonl
    wires: [seen]
  - id: seen
    type: capture
""", name="replay.yaml")
    replayed = result.captured("seen")
    assert [msg.payload for msg in replayed] == live
    assert [msg.topic for msg in replayed] == [f"zigbee/{p['ieee']}/{p['endpoint']}/{p['cluster']}" for p in live]


def test_loading_the_node_module_does_not_import_zigpy() -> None:
    code = (
        "import sys\n"
        "import flowengine_nodes.zigbee.source, flowengine_nodes.emulator.server, flowengine_nodes.emulator.scenario\n"
        "from flowengine.registry import Registry\n"
        "Registry.from_entry_points().load('zigbee')\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('zigpy', 'zigpy_deconz', 'serialx'))\n"
        "print(','.join(heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parents[3])
    assert done.stdout.strip() == ""
