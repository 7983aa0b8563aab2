"""A capture written by a ``file`` sink on the ``zigbee`` node replays unchanged; zigpy loads lazily."""

from __future__ import annotations

import json
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
    assert _python(code) == ""


def _python(code: str) -> str:
    """Run ``code`` in a fresh interpreter at the repository's root; its output, stripped."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parents[3])
    return done.stdout.strip()


_DEFERRED_CODE = """
import asyncio, json, sys, tempfile
from pathlib import Path

def loaded(name):
    module = sys.modules.get(name)
    return module is not None and type(module).__name__ != "_LazyModule"

names = ("zigpy.ota.providers", "aiohttp", "jsonschema", "cryptography", "crccheck")
import flowengine_nodes.zigbee.stack as stack
seen = {"after import": [n for n in names if loaded(n)]}

config = stack.build_config(device_path="socket://127.0.0.1:9", database=None, network=stack.NetworkSettings(),
                            ota_dir=Path(tempfile.mkdtemp()))
app = stack.FlowControllerApplication(config)
seen["with an OTA folder"] = [n for n in names if loaded(n)]
seen["images"] = [asyncio.run(provider.load_index()) for provider in app.ota._providers]
seen["after a lookup"] = [n for n in names if loaded(n)]

import zigpy.device, zigpy.util, zigpy.zgp.crypto, zigpy.zgp.manager
seen["install code key"] = str(zigpy.util.convert_install_code(bytes.fromhex("83FED3407A939723A5C639B26916D505C3B5")))
try:
    zigpy.zgp.crypto.decrypt_security_key(0x12345678, bytes(16), bytes(4))
    seen["bad MIC"] = "accepted"
except zigpy.zgp.manager.InvalidTag as exc:
    seen["bad MIC"] = type(exc).__module__ + "." + type(exc).__name__
import crccheck.crc, cryptography.exceptions
from cryptography.hazmat.primitives.ciphers import algorithms
seen["zigpy holds the real objects"] = (zigpy.device.InvalidTag is cryptography.exceptions.InvalidTag
                                         and zigpy.util.AES is algorithms.AES
                                         and zigpy.util.CrcX25 is crccheck.crc.CrcX25)
print(json.dumps(seen))
"""


def test_zigpy_loads_ota_providers_and_cryptography_on_first_use() -> None:
    """The zigbee node's adapter defers what zigpy imports only for OTA, install codes and Green Power security.

    All of it still works on first use: an OTA folder's provider, the install-code key (AES-MMO
    hash and CRC), and a Green Power key with a bad MIC is caught by zigpy as it would be.
    """
    seen = json.loads(_python(_DEFERRED_CODE))
    assert seen["after import"] == []
    assert seen["with an OTA folder"] == ["zigpy.ota.providers"]  # the providers; their HTTP client waits
    assert seen["images"] == [[]]  # the empty folder, read through zigpy's provider and its client session
    assert "aiohttp" in seen["after a lookup"]
    # The Zigbee Base Device Behavior specification's install code example and its link key.
    assert seen["install code key"] == "66:b6:90:09:81:e1:ee:3c:a4:20:6b:6b:86:1c:02:bb"
    assert seen["bad MIC"] == "cryptography.exceptions.InvalidTag"  # caught by the name zigpy imported
    assert seen["zigpy holds the real objects"] is True


def test_zigpy_imports_cryptography_itself_when_it_was_loaded_first() -> None:
    """No stand-ins for a package imported before zigpy: zigpy binds its real names at import."""
    code = (
        "import sys, cryptography.exceptions\n"
        "import flowengine_nodes.zigbee.stack, zigpy.device, zigpy.util\n"
        "print(zigpy.device.InvalidTag is cryptography.exceptions.InvalidTag, 'crccheck' in sys.modules)\n"
    )
    assert _python(code) == "True False"


def test_the_stand_ins_were_checked_against_the_installed_zigpy() -> None:
    """zigpy's imports from cryptography and crccheck were read for these versions only; a new zigpy needs a look.

    With another version the adapter imports them as usual (nothing stood in), so this fails to
    say that the memory the stand-ins save is gone until ``STAND_IN_ZIGPY`` is brought up to date.
    """
    code = (
        "import importlib.metadata, sys\n"
        "import flowengine_nodes.zigbee.stack as stack\n"
        "print(importlib.metadata.version('zigpy') in stack.STAND_IN_ZIGPY, 'cryptography' in sys.modules)\n"
    )
    assert _python(code) == "True False"
