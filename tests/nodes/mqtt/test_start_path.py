"""An MQTT-only flow's ``run`` loads only what it uses (issue 14).

No networkx, no zigpy, no decoder; no HTTP side without ``--http``; no SQLite when no node
keeps state and ``mqtt-out`` has no outbox (QoS 0); no ``difflib`` while nothing is misspelt;
not ``mqtt-out``'s Zigbee2MQTT mode (the bridge and its Home Assistant discovery) unless turned on;
not ``urllib.request`` (paho's proxy lookup: deferred, and no proxy is set) nor the ``idna`` codec
(``encodings.idna``, ``stringprep``, ``unicodedata``: the broker's host is looked up as bytes),
both on the MQTT fast path (with another paho, paho's own connect runs and may load them).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.mosquitto import Mosquitto

REPO = Path(__file__).resolve().parents[3]
LOCK_ALERT = REPO / "benchmarks" / "mqtt" / "lock_alert.yaml"

#: Runs ``flowengine run`` in this process; once both connections are up it stops the run with
#: SIGTERM (an event: the supervision's "connected" log lines) and prints what was imported.
CHILD = """
import logging, os, signal, sys
connected = set()

class StopWhenConnected(logging.Handler):
    def emit(self, record):
        if record.getMessage().endswith(": connected"):
            connected.add(record.name)
            if len(connected) == 2:
                os.kill(os.getpid(), signal.SIGTERM)

logging.getLogger("flowengine").addHandler(StopWhenConnected())
from flowengine.cli import main
rc = main(["run", sys.argv[1]])
LAZY_MODULES = ("flowengine_nodes.zigbee2mqtt.bridge", "flowengine_nodes.zigbee2mqtt.discovery")
unused = ("networkx", "zigpy", "zigpy_deconz", "aiohttp", "prometheus_client", "sqlite3", "difflib")
#: Loaded, not merely bound to a module that runs its code on first use (flowengine.deferred_imports).
from flowengine_nodes.mqtt import paho_fast
DEFERRED = ("urllib.request", "http.client", "encodings.idna", "stringprep", "unicodedata") if paho_fast.FAST else ()
heavy = sorted({m.split(".")[0] for m in sys.modules if m.split(".")[0] in unused}
               | {m for m in sys.modules if m.startswith("flowengine_nodes.devices")}
               | {m for m in LAZY_MODULES if m in sys.modules}
               | {m for m in DEFERRED if m in sys.modules and type(sys.modules[m]).__name__ != "_LazyModule"})
print("CONNECTED", len(connected), "HEAVY", heavy)
raise SystemExit(rc)
"""


def test_an_mqtt_only_run_imports_only_what_it_uses(mosquitto: Mosquitto) -> None:
    completed = subprocess.run([sys.executable, "-c", CHILD, str(LOCK_ALERT)], capture_output=True, timeout=60,
                               check=False, env={**os.environ, "MQTT_URL": mosquitto.url})
    assert completed.returncode == 0, completed.stderr.decode()
    assert "CONNECTED 2 HEAVY []" in completed.stdout.decode(), completed.stdout.decode()
