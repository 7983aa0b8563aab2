"""Record the fixtures of the move from Zigbee2MQTT to flowengine: the real Zigbee2MQTT 2.14.1 on the emulator.

What it does and what it writes is in README.md beside this script. In short:

1. **pair**: a private Mosquitto, the project's deCONZ emulator on a new stick and the real
   Zigbee2MQTT (``adapter: deconz`` over ``tcp://``, base topic ``house``); the eight
   household devices announce themselves and are interviewed, renamed to friendly names with
   spaces and ``/``, given device options, and each sends reports; Zigbee2MQTT is stopped and
   the data folder it leaves (``configuration.yaml``, ``database.db``, ``state.json``,
   ``coordinator_backup.json``; ``secret.yaml`` with ``--mqtt-account``) and the stick it
   leaves (``stick.json``) are kept;
2. **restart**: Zigbee2MQTT starts again on that folder and on that stick, whose devices are
   already members of the network (they never announce again), the frames of
   ``restart_frames.jsonl`` are replayed one by one, and everything it publishes is written,
   in order, to ``restart_published.jsonl``, every request it sends to the stick to
   ``restart_requests.jsonl``;
3. **export**: ``flowengine import zigbee2mqtt`` of that folder, ``flowengine export
   zigbee2mqtt`` of the flow it wrote, and the same restart on the
   exported folder, written to ``export_published.jsonl`` and ``export_requests.jsonl``.

    ZIGBEE2MQTT_DIR=/opt/z2m .venv/bin/python tests/data/zigbee2mqtt_move/record.py
    ZIGBEE2MQTT_DIR=/opt/z2m .venv/bin/python tests/data/zigbee2mqtt_move/record.py --only export

``ZIGBEE2MQTT_DIR`` names a folder holding ``node_modules/zigbee2mqtt`` (``npm install
zigbee2mqtt@2.14.1``) and a node >= 22.2 (as for ``benchmarks/radio_path.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))

import aiomqtt  # noqa: E402
from paho.mqtt.subscribeoptions import SubscribeOptions  # noqa: E402

from benchmarks.zigbee2mqtt_bed import find_zigbee2mqtt, interrupt  # noqa: E402
from flowengine_nodes.emulator.replay import RecordedFrame, replay  # noqa: E402
from flowengine_nodes.emulator.scenario import load_scenario  # noqa: E402
from flowengine_nodes.emulator.server import Emulator  # noqa: E402
from flowengine_nodes.emulator.stick import StickState, ieee_to_wire  # noqa: E402
from tests.mosquitto import Mosquitto, mosquitto_binary  # noqa: E402

HERE = Path(__file__).resolve().parent
HOUSEHOLD = REPO / "flows" / "scenarios" / "household.yaml"
BASE = "house"
#: What the fixtures write in place of the ports of one recording (they change every run).
PLACEHOLDER_SERIAL = "tcp://127.0.0.1:6638"
PLACEHOLDER_BROKER = "mqtt://127.0.0.1:1883"
LOG_LEVEL = os.environ.get("RECORD_LOG_LEVEL", "info")
#: With --mqtt-account: the broker account (fake), kept in secret.yaml and named with '!secret' as
#: Zigbee2MQTT does; what every MQTT client of the script logs in with (empty: none).
MQTT_USER, MQTT_PASSWORD = "house", "fake-household-password"
ACCOUNT: dict[str, str] = {}
#: The stick's IEEE and the network Zigbee2MQTT is configured with: fixed, so that a new recording
#: changes no address or key (all fake, generated once by Zigbee2MQTT's GENERATE).
COORDINATOR_IEEE = "00:21:2e:4b:19:db:5d:ec"
CHANNEL = 20
PAN_ID = 27272
EXTENDED_PAN_ID = [57, 29, 62, 162, 193, 36, 187, 161]
NETWORK_KEY = [229, 45, 249, 139, 180, 203, 133, 171, 86, 81, 132, 10, 195, 116, 169, 248]

#: Scenario device name -> friendly name given through bridge/request/device/rename.
FRIENDLY_NAMES = {
    "front_door": "front door",
    "door_contact": "entrance/contact",
    "hall_motion": "hall/motion",
    "living_weather": "living room/weather",
    "desk_button": "desk button",
    "sink_leak": "kitchen/sink leak",
    "kitchen_plug": "kitchen/plug",
    "hall_light": "hall/light",
}
#: Device options set through bridge/request/device/options (friendly name -> options).
OPTIONS: dict[str, dict[str, Any]] = {
    "living room/weather": {"temperature_calibration": 0.5, "temperature_precision": 1, "pressure_precision": 0},
    "hall/motion": {"occupancy_timeout": 10},
    "kitchen/plug": {"power_calibration": -2},
}
#: Seconds to wait after the last replayed frame for the motion sensor's occupancy timeout.
OCCUPANCY_WAIT = 25.0

Event = tuple[str, str, dict[str, Any]]

#: Reports from every device while pairing (they fill Zigbee2MQTT's state cache).
PAIR_EVENTS: list[Event] = [
    ("front_door", "finger_open", {"role": "admin", "user": 1}),
    ("door_contact", "open", {}),
    ("door_contact", "heartbeat", {"voltage": 3005}),
    ("hall_motion", "motion", {"illuminance": 35}),
    ("hall_motion", "heartbeat", {"voltage": 3025}),
    ("living_weather", "weather", {"temperature": 21.37, "humidity": 48.2, "pressure": 1008.6}),
    ("living_weather", "heartbeat", {"voltage": 2995}),
    ("desk_button", "single", {}),
    ("desk_button", "heartbeat", {"voltage": 3035}),
    ("sink_leak", "heartbeat", {"voltage": 3015, "device_temperature": 21}),
    ("sink_leak", "dry", {}),
    ("kitchen_plug", "on", {}),
    ("kitchen_plug", "heartbeat", {"power": 12.5, "energy": 0.75, "voltage": 229.5, "current": 0.0625}),
    ("hall_light", "on", {}),
    ("hall_light", "brightness", {"brightness": 180}),
    ("hall_light", "color_temp", {"color_temp": 370}),
]
#: The frames replayed after the restart (written to restart_frames.jsonl).
RESTART_EVENTS: list[Event] = [
    ("living_weather", "weather", {"temperature": 22.04, "humidity": 51.3, "pressure": 1011.2}),
    ("door_contact", "close", {}),
    ("front_door", "finger_not_match", {"repeat": 2}),
    ("hall_motion", "motion", {"illuminance": 120}),
    ("desk_button", "double", {}),
    ("desk_button", "hold", {}),
    ("desk_button", "release", {}),
    ("sink_leak", "wet", {}),
    ("kitchen_plug", "power", {"power": 48.25}),
    ("kitchen_plug", "off", {}),
    ("hall_light", "brightness", {"brightness": 64}),
    ("hall_light", "off", {}),
    ("living_weather", "heartbeat", {"voltage": 2985}),
    ("front_door", "password_open", {"user": 3}),
    ("sink_leak", "dry", {}),
    ("door_contact", "open", {}),
]


def log(text: str) -> None:
    """Progress on stderr, with the time since the start."""
    print(f"[{time.perf_counter() - STARTED:7.1f} s] {text}", file=sys.stderr, flush=True)


STARTED = time.perf_counter()


# ---- what one Zigbee2MQTT session publishes -----------------------------------------------------


#: Topics whose payload the fixtures keep as a digest only (Zigbee2MQTT's 260 kB list of every cluster).
DIGEST_ONLY = {f"{BASE}/bridge/definitions"}


@dataclass
class Published:
    """One PUBLISH seen by the recorder: topic, payload text, retain flag, and when it came.

    ``phase`` is ``start`` (before the first replayed frame), ``frames`` (``after_frame``: the
    index of the last frame sent before it) or ``stop`` (after Zigbee2MQTT was told to stop).
    """

    topic: str
    payload: str
    retain: bool
    phase: str
    after_frame: int | None

    def json_obj(self) -> dict[str, Any]:
        """The line written to a ``*_published.jsonl`` fixture."""
        row: dict[str, Any] = {"topic": self.topic, "payload": self.payload, "retain": self.retain}
        if self.topic in DIGEST_ONLY:
            data = self.payload.encode()
            row["payload"] = None
            row["payload_sha256"] = hashlib.sha256(data).hexdigest()
            row["payload_bytes"] = len(data)
        row["phase"] = self.phase
        row["after_frame"] = self.after_frame
        return row


@dataclass
class Recorder:
    """Subscribes to everything on the broker (MQTT 5, retain as published) and keeps it in order."""

    port: int
    messages: list[Published] = field(default_factory=list)
    phase: str = "start"
    frame: int | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def listen(self, ready: asyncio.Event) -> None:
        """Record until cancelled; ``ready`` is set once the subscription stands."""
        async with aiomqtt.Client(
            "127.0.0.1",
            self.port,
            identifier=f"recorder-{os.getpid()}",
            protocol=aiomqtt.ProtocolVersion.V5,
            username=ACCOUNT.get("username"),
            password=ACCOUNT.get("password"),
        ) as client:
            await client.subscribe("#", options=SubscribeOptions(qos=1, retainAsPublished=True))
            ready.set()
            async for message in client.messages:
                payload = bytes(message.payload) if isinstance(message.payload, bytes | bytearray) else b""
                self.messages.append(
                    Published(
                        str(message.topic),
                        payload.decode("utf-8", "replace"),
                        bool(message.retain),
                        self.phase,
                        self.frame,
                    )
                )
                self.changed.set()

    async def until(self, predicate: Callable[[Published], bool], within: float, since: int = 0) -> Published | None:
        """Wait for a message (from index ``since``) that satisfies ``predicate``; ``None`` after ``within`` s."""
        seen = since
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                while True:
                    for message in self.messages[seen:]:
                        if predicate(message):
                            return message
                    seen = len(self.messages)
                    self.changed.clear()
                    await self.changed.wait()
        return None

    async def quiet(self, seconds: float, limit: float = 60.0) -> None:
        """Wait until nothing has been published for ``seconds`` (at most ``limit`` in all)."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            count = len(self.messages)
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await self.changed.wait()
            if len(self.messages) == count:
                return


def payload_of(message: Published) -> Any:
    """The message's JSON payload, or its text when it is not JSON."""
    try:
        return json.loads(message.payload)
    except ValueError:
        return message.payload


class Zigbee2Mqtt:
    """The real Zigbee2MQTT on a data folder, as a child process."""

    def __init__(self, folder: Path, node: str, data: Path) -> None:
        self.folder = folder
        self.node = node
        self.data = data
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, log_name: str) -> None:
        """Spawn ``node …/zigbee2mqtt/index.js`` with ``ZIGBEE2MQTT_DATA`` = the data folder."""
        output = (self.data.parent / log_name).open("ab")
        self.process = subprocess.Popen(
            [self.node, str(self.folder / "node_modules" / "zigbee2mqtt" / "index.js")],
            cwd=self.data,
            env={**os.environ, "ZIGBEE2MQTT_DATA": str(self.data)},
            stdout=output,
            stderr=output,
        )
        output.close()

    async def stop(self) -> int | None:
        """SIGINT (Zigbee2MQTT saves its state and database on the way out), SIGKILL after 30 s."""
        if self.process is None:
            return None
        return await interrupt(self.process, grace=30, poll=0.1)


async def request(
    recorder: Recorder, client: aiomqtt.Client, name: str, body: dict[str, Any], *, retry: bool = False
) -> Any:
    """Send ``bridge/request/<name>`` and return the response's payload (raise when it is not ``ok``).

    ``retry``: send again every second until answered (Zigbee2MQTT subscribes to its requests a
    little after it says it is online).
    """
    since = len(recorder.messages)
    answer = None
    for _ in range(30 if retry else 1):
        await client.publish(f"{BASE}/bridge/request/{name}", json.dumps(body))
        answer = await recorder.until(on_topic(f"{BASE}/bridge/response/{name}"), 1.0 if retry else 30.0, since)
        if answer is not None:
            break
    if answer is None:
        raise RuntimeError(f"no answer to bridge/request/{name} {body}")
    value = payload_of(answer)
    if value.get("status") != "ok":
        raise RuntimeError(f"bridge/request/{name} {body}: {value}")
    return value


def configuration(emulator_port: int, broker_port: int) -> str:
    """The configuration.yaml Zigbee2MQTT starts with: a household's (the broker account in secret.yaml)."""
    account = "  user: '!secret mqtt_user'\n  password: '!secret mqtt_password'\n" if ACCOUNT else ""
    return f"""version: 5
mqtt:
  base_topic: {BASE}
  server: mqtt://127.0.0.1:{broker_port}
{account}serial:
  port: tcp://127.0.0.1:{emulator_port}
  adapter: deconz
frontend:
  enabled: false
homeassistant:
  enabled: false
advanced:
  channel: {CHANNEL}
  network_key: {NETWORK_KEY}
  pan_id: {PAN_ID}
  ext_pan_id: {EXTENDED_PAN_ID}
  log_level: {LOG_LEVEL}
  log_output: [console]
ota:
  disable_automatic_update_check: true
"""


def set_ports(text: str, serial: str, broker: str) -> str:
    """Point a configuration.yaml (or a payload) at other serial and broker addresses."""
    text = re.sub(r"tcp://127\.0\.0\.1:\d+", serial, text)
    return re.sub(r"mqtt://127\.0\.0\.1:\d+", broker, text)


def household() -> list[Any]:
    """Fresh virtual devices of the household (flows/scenarios/household.yaml)."""
    return load_scenario(HOUSEHOLD).build_devices()


def event_reports(emulator: Emulator, events: Sequence[Event]) -> list[dict[str, Any]]:
    """The raw reports (one per frame) the scripted ``events`` send, with the device and event that sent them."""
    reports = []
    for name, event, params in events:
        device = emulator.device(name)
        for frame in device.event_frames(event, params):
            reports.append(
                {
                    "device": name,
                    "friendly_name": FRIENDLY_NAMES[name],
                    "event": event,
                    "ieee": device.ieee,
                    "nwk": device.nwk,
                    "endpoint": frame.src_endpoint,
                    "profile": frame.profile,
                    "cluster": frame.cluster,
                    "frame": frame.payload.hex(),
                    "lqi": frame.lqi,
                    "rssi": frame.rssi,
                }
            )
    return reports


def write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Write one JSON object per line."""
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")


@dataclass
class Bench:
    """A broker, an emulator on a stick file, and a recorder listening to the broker."""

    root: Path
    broker: Mosquitto
    emulator: Emulator
    recorder: Recorder
    listener: asyncio.Task[None]

    @classmethod
    async def open(cls, root: Path, stick_file: Path, *, members: bool) -> Bench:
        """Start everything; ``members``: the household is already on the stick's network."""
        binary = mosquitto_binary()
        if binary is None:
            raise SystemExit("record: mosquitto is not installed (bash tests/bootstrap.sh)")
        broker = Mosquitto(root / "broker", binary=binary, passwords={MQTT_USER: MQTT_PASSWORD} if ACCOUNT else None)
        broker.start()
        stick = StickState.load(stick_file)
        if not stick.formed:
            stick.mac_address = ieee_to_wire(COORDINATOR_IEEE)
        emulator = Emulator(stick=stick)
        for device in household():
            emulator.add_device(device)
        if members:
            strangers = [device.name for device in emulator.devices.values() if not device.joined]
            if strangers:
                raise SystemExit(f"record: the stick does not know {', '.join(strangers)}")
        await emulator.start()
        recorder = Recorder(broker.port)
        ready = asyncio.Event()
        listener = asyncio.create_task(recorder.listen(ready))
        async with asyncio.timeout(10):
            await ready.wait()
        return cls(root, broker, emulator, recorder, listener)

    async def close(self) -> None:
        """Stop the recorder, the emulator (saving the stick) and the broker."""
        self.listener.cancel()
        with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
            await self.listener
        await self.emulator.aclose()
        self.broker.stop()


async def wait_online(recorder: Recorder, zigbee2mqtt: Zigbee2Mqtt) -> None:
    """Wait for ``bridge/state`` online (raise when Zigbee2MQTT exits first)."""

    def online(message: Published) -> bool:
        return message.topic == f"{BASE}/bridge/state" and payload_of(message) in ({"state": "online"}, "online")

    logs = sorted(zigbee2mqtt.data.parent.glob("*.log"))
    for _ in range(120):
        if await recorder.until(online, 1.0):
            return
        if zigbee2mqtt.process is not None and zigbee2mqtt.process.poll() is not None:
            break
        if logs and "Refusing to start" in logs[-1].read_text(errors="replace"):
            break  # it serves its failure page and would wait there for ever
    tail = re.sub(r"\x1b\[[0-9;]*m", "", logs[-1].read_text(errors="replace"))[-1500:] if logs else ""
    raise RuntimeError(f"Zigbee2MQTT did not come online; the end of its log:\n{tail}")


# ---- 1. pair ------------------------------------------------------------------------------------


def interview_done(ieee: str) -> Callable[[Published], bool]:
    """A predicate: Zigbee2MQTT's ``bridge/event`` saying the interview of ``ieee`` ended."""
    address = f"0x{ieee.replace(':', '')}"

    def done(message: Published) -> bool:
        if message.topic != f"{BASE}/bridge/event":
            return False
        event = payload_of(message)
        data = event.get("data", {}) if isinstance(event, dict) else {}
        return (
            event.get("type") == "device_interview"
            and data.get("ieee_address") == address
            and data.get("status") in ("successful", "failed")
        )

    return done


def on_topic(topic: str) -> Callable[[Published], bool]:
    """A predicate: a message on ``topic``."""
    return lambda message: message.topic == topic


async def pair(root: Path, z2m_dir: Path, node: str, out: Path) -> None:
    """Pair, rename, configure and exercise the household on a new stick; keep the folder it leaves."""
    stick_file = root / "pair-stick.json"
    bench = await Bench.open(root / "pair", stick_file, members=False)
    data = root / "pair" / "data"
    data.mkdir(parents=True)
    (data / "configuration.yaml").write_text(configuration(bench.emulator.port, bench.broker.port))
    if ACCOUNT:
        (data / "secret.yaml").write_text(f"mqtt_user: {MQTT_USER}\nmqtt_password: {MQTT_PASSWORD}\n")
    zigbee2mqtt = Zigbee2Mqtt(z2m_dir, node, data)
    recorder = bench.recorder
    try:
        zigbee2mqtt.start("pair-zigbee2mqtt.log")
        await wait_online(recorder, zigbee2mqtt)
        log("pair: Zigbee2MQTT is online on a new stick")
        async with aiomqtt.Client(
            "127.0.0.1",
            bench.broker.port,
            identifier=f"record-{os.getpid()}",
            username=ACCOUNT.get("username"),
            password=ACCOUNT.get("password"),
        ) as client:
            await request(recorder, client, "permit_join", {"time": 254}, retry=True)
            for device in bench.emulator.devices.values():
                since = len(recorder.messages)
                bench.emulator.join(device)
                interviewed = await recorder.until(interview_done(device.ieee), 60, since)
                status = None if interviewed is None else payload_of(interviewed)["data"]["status"]
                if status != "successful":
                    raise RuntimeError(f"{device.name}: interview {status or 'not finished in 60 s'}")
                log(f"pair: {device.name} interviewed")
            await recorder.quiet(2.0)  # Zigbee2MQTT configures each device after its interview
            await request(recorder, client, "permit_join", {"time": 0})
            for device in bench.emulator.devices.values():
                name = FRIENDLY_NAMES[device.name]
                await request(
                    recorder, client, "device/rename", {"from": f"0x{device.ieee.replace(':', '')}", "to": name}
                )
            for name, options in OPTIONS.items():
                await request(recorder, client, "device/options", {"id": name, "options": options})
            log("pair: renamed, options set")
            reports = event_reports(bench.emulator, PAIR_EVENTS)
            await send_events(bench, reports)
            await recorder.quiet(1.0)
        code = await zigbee2mqtt.stop()
        log(f"pair: Zigbee2MQTT stopped (exit code {code})")
    finally:
        await zigbee2mqtt.stop()
        await bench.close()
    folder = out / "zigbee2mqtt"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for name in ("configuration.yaml", "secret.yaml", "database.db", "state.json", "coordinator_backup.json"):
        if not (data / name).exists():
            continue
        text = (data / name).read_text(encoding="utf-8")
        (folder / name).write_text(
            set_ports(text, PLACEHOLDER_SERIAL, PLACEHOLDER_BROKER) if name == "configuration.yaml" else text,
            encoding="utf-8",
        )
    shutil.copyfile(stick_file, out / "stick.json")
    write_jsonl(out / "pair_frames.jsonl", reports)
    log(f"pair: kept {folder} and {out / 'stick.json'}")


async def send_events(bench: Bench, reports: list[dict[str, Any]]) -> None:
    """Send each report and wait (at most 3 s) for Zigbee2MQTT to publish on its device's topic."""
    bench.recorder.phase = "frames"
    for index, report in enumerate(reports):
        bench.recorder.frame = index
        since = len(bench.recorder.messages)
        await replay(bench.emulator, [RecordedFrame.from_report(report)], rate=None)
        topic = f"{BASE}/{report['friendly_name']}"
        heard = await bench.recorder.until(on_topic(topic), 3.0, since)
        if heard is None:
            log(f"  frame {index} ({report['device']} {report['event']}): nothing on {topic}")
        await bench.recorder.quiet(0.3)


# ---- 2. restart (and 3. export) -----------------------------------------------------------------


async def restart(root: Path, z2m_dir: Path, node: str, source: Path, stick: Path, out: Path, name: str) -> None:
    """Start Zigbee2MQTT on ``source`` and ``stick`` (devices already members), replay, record what it publishes."""
    work = root / name
    data = work / "data"
    shutil.copytree(source, data)
    stick_file = root / f"{name}-stick.json"
    shutil.copyfile(stick, stick_file)
    bench = await Bench.open(work, stick_file, members=True)
    config = data / "configuration.yaml"
    serial, broker = f"tcp://127.0.0.1:{bench.emulator.port}", f"mqtt://127.0.0.1:{bench.broker.port}"
    config.write_text(set_ports(config.read_text(encoding="utf-8"), serial, broker), encoding="utf-8")
    zigbee2mqtt = Zigbee2Mqtt(z2m_dir, node, data)
    recorder = bench.recorder
    reports = [json.loads(line) for line in (out / "restart_frames.jsonl").read_text().splitlines()]
    try:
        started = time.perf_counter()
        zigbee2mqtt.start(f"{name}-zigbee2mqtt.log")
        await wait_online(recorder, zigbee2mqtt)
        log(f"{name}: Zigbee2MQTT online after {time.perf_counter() - started:.1f} s")
        await recorder.quiet(3.0)
        await send_events(bench, reports)
        motion = f"{BASE}/{FRIENDLY_NAMES['hall_motion']}"
        cleared = await recorder.until(
            lambda message: message.topic == motion and payload_of(message).get("occupancy") is False,
            OCCUPANCY_WAIT,
            next(i for i, m in enumerate(recorder.messages) if m.phase == "frames"),
        )
        log(f"{name}: occupancy cleared: {cleared is not None}")
        await recorder.quiet(1.0)
        recorder.phase = "stop"
        code = await zigbee2mqtt.stop()
        await recorder.quiet(1.0, limit=5.0)
        log(f"{name}: Zigbee2MQTT stopped (exit code {code})")
    finally:
        await zigbee2mqtt.stop()
        await bench.close()
    placeholders = {serial: PLACEHOLDER_SERIAL, broker: PLACEHOLDER_BROKER}
    rows = []
    for message in recorder.messages:
        for real, placeholder in placeholders.items():
            message.payload = message.payload.replace(real, placeholder)
        rows.append(message.json_obj())
    write_jsonl(out / f"{name}_published.jsonl", rows)
    emulator = bench.emulator
    requests: list[dict[str, Any]] = [
        {"kind": "write_parameter", "parameter": f"0x{param:02x}", "value": value.hex()}
        for param, value in emulator.parameter_writes
    ]
    requests += [{"kind": "change_network_state", "state": state} for state in emulator.network_state_changes]
    requests += [
        {
            "kind": "aps_data_request",
            "device": entry.device,
            "dst_nwk": entry.dst_nwk,
            "profile": entry.request.profile,
            "cluster": entry.request.cluster,
            "endpoint": entry.request.dst_endpoint,
            "payload": entry.request.payload.hex(),
            "interview": entry.interview,
        }
        for entry in emulator.requests
    ]
    write_jsonl(out / f"{name}_requests.jsonl", requests)
    interviews = [row for row in requests if row.get("interview")]
    announced = bench.emulator.stats.indications_written
    log(
        f"{name}: {len(rows)} messages, {len(requests)} requests to the stick ({len(interviews)} interview steps), "
        f"{announced} indications written"
    )


def installed_zigbee2mqtt() -> tuple[Path, str]:
    """``ZIGBEE2MQTT_DIR`` and the node that runs it, as the benchmarks find them; warns if not 2.14.1."""
    found = find_zigbee2mqtt()
    if isinstance(found, str):
        raise SystemExit(f"record: {found}")
    folder, node = found
    version = json.loads((folder / "node_modules" / "zigbee2mqtt" / "package.json").read_text())["version"]
    if version != "2.14.1":
        log(f"warning: Zigbee2MQTT {version}, the fixtures were recorded with 2.14.1")
    return folder, node


def exported_folder(root: Path, out: Path, python: str) -> Path | None:
    """Import the kept data folder with ``flowengine import zigbee2mqtt`` and export it back; ``None`` without them.

    ``python`` runs ``-m flowengine.cli`` (the checkout's, unless told otherwise).
    """
    cli = [python, "-m", "flowengine.cli"]
    probe = subprocess.run([*cli, "import", "--help"], capture_output=True, text=True, check=False, cwd=root)
    if probe.returncode != 0:
        return None
    flow, target = root / "imported", root / "exported"
    for command in (
        ["import", "zigbee2mqtt", str(out / "zigbee2mqtt"), "--to", str(flow)],
        ["export", "zigbee2mqtt", str(flow / "flow.yaml"), "--to", str(target)],
    ):
        done = subprocess.run([*cli, *command], capture_output=True, text=True, check=False, cwd=root)
        if done.returncode != 0:
            raise SystemExit(f"record: flowengine {' '.join(command[:2])} failed:\n{done.stdout}{done.stderr}")
        log(f"export: flowengine {' '.join(command[:2])}: {done.stdout.strip().splitlines()[-1]}")
    return target


async def main(args: argparse.Namespace) -> None:
    """Run the steps asked for."""
    z2m_dir, node = installed_zigbee2mqtt()
    if args.mqtt_account:
        ACCOUNT.update(username=MQTT_USER, password=MQTT_PASSWORD)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - before anything runs
    steps = {args.only} if args.only else {"pair", "restart", "export"}
    root = Path(tempfile.mkdtemp(prefix="z2m-move-"))
    try:
        if "pair" in steps:
            await pair(root, z2m_dir, node, out)
        if "restart" in steps:
            probe = Emulator()
            for device in household():
                probe.add_device(device)
            write_jsonl(out / "restart_frames.jsonl", event_reports(probe, RESTART_EVENTS))
            await restart(root, z2m_dir, node, out / "zigbee2mqtt", out / "stick.json", out, "restart")
        if "export" in steps:
            exported = args.exported or exported_folder(root, out, args.flowengine_python)
            if exported is None:
                log(f"export: skipped: {args.flowengine_python} -m flowengine.cli has no 'import zigbee2mqtt'")
            else:
                await restart(root, z2m_dir, node, exported, out / "stick.json", out, "export")
    finally:
        if args.keep:
            log(f"work folders kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    log("done")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE, help="where the fixtures go (default: beside this script)")
    parser.add_argument("--only", choices=("pair", "restart", "export"), help="one step (default: all three)")
    parser.add_argument(
        "--exported", type=Path, help="step 3 on this folder (written by flowengine export zigbee2mqtt) as it is"
    )
    parser.add_argument(
        "--flowengine-python",
        default=sys.executable,
        help="the Python whose flowengine imports and exports for step 3 (default: this one)",
    )
    parser.add_argument(
        "--mqtt-account",
        action="store_true",
        help="the broker wants a user and password, which Zigbee2MQTT reads from secret.yaml",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folders (Zigbee2MQTT's logs)")
    asyncio.run(main(parser.parse_args()))
