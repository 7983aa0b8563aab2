"""An MQTT-only flow's start does not pay for the HTTP side: aiohttp and prometheus_client load only with --http."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
from flowengine import cli, runner
from flowengine.flow import load_flow
from flowengine.registry import Registry
from flowengine_nodes.mqtt import mqtt_in, mqtt_out
text = "version: 1\\nhttp: 8080\\nnodes:\\n  - {id: a, type: mqtt-in, broker: 'mqtt://127.0.0.1', topics: [t]}\\n"
assert load_flow("f.yaml", Registry.from_entry_points(), text=text).ok
print(sorted(name for name in ("aiohttp", "prometheus_client") if name in sys.modules))
"""


def test_the_http_libraries_are_not_imported_on_the_start_path() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
