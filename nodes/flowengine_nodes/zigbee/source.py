"""The ``zigbee`` source: a ConBee/RaspBee (or the built-in emulator) through zigpy + zigpy-deconz.

Every frame a device sends on an application endpoint becomes one raw report message
(CONTRACT §3), taken below zigpy's ZCL parsing so that nothing is lost: manufacturer
attributes zigpy does not know, frames it cannot parse, duplicates and frames shorter
than a ZCL header all go out, each with its own LQI and RSSI. Joins, interviews, leaves,
OTA lookups and the coordinator connection go out on ``events``.

The bridge from zigpy into the flow
-----------------------------------
zigpy and zigpy-deconz run on the flow's own asyncio loop (the node starts them in
:meth:`Zigbee.run`), so their callbacks (the frame tap in zigpy-deconz's data poller,
application listener calls, OTA lookups) already run on the loop the flow's ``emit``
belongs to. :meth:`Zigbee._deliver` is the one place where a message crosses from zigpy
into the flow: it calls ``emit`` synchronously when it runs on the flow's loop thread
(always, today), and hands the message to that loop with ``call_soon_threadsafe``
otherwise (a defence for radio libraries that call back from threads). ``emit`` never
blocks: what is downstream runs at once (transforms) or lands in a sink's bounded channel
(the engine's overflow policy applies). A failure downstream is logged and counted, never
raised into zigpy, whose poller would otherwise stall for a second.

zigpy is imported only in :meth:`Zigbee.start` (module :mod:`flowengine_nodes.zigbee.stack`), so
loading a flow or listing node types stays fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, SecretStr, field_validator

from flowengine import (
    Backoff,
    ConnectionState,
    Message,
    NodeConfig,
    NodeContext,
    NodeError,
    PermanentError,
    RawReport,
    Source,
    report_message,
    supervise,
)
from flowengine_nodes.zigbee.commands import STATE_PORT, Commander
from flowengine_nodes.zigbee.journal import FrameJournal

if TYPE_CHECKING:
    from flowengine_nodes.emulator.scenario import ScenarioRunner
    from flowengine_nodes.emulator.server import Emulator

EVENTS_PORT = "events"
#: Seconds allowed for zigpy's shutdown when a connection ends or the flow stops.
SHUTDOWN_TIMEOUT = 10.0
_HEX_BYTES = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2})*$")


def _colon_hex(value: str, size: int, what: str) -> str:
    text = value.strip()
    if not _HEX_BYTES.match(text) or len(text.split(":")) != size:
        raise ValueError(f"{what} must be {size} bytes as colon hex (aa:bb:…), not {value!r}")
    return text.lower()


class NetworkConfig(NodeConfig):
    """Network settings: those of a network zigpy forms, or (``form: false``) those the stick must hold."""

    form: bool = Field(
        True,
        description="Form a network on a stick that holds none. false: the network must already be on the "
        "stick (moved from another program); the flow stops before anything is written when the stick holds "
        "none, or one whose channel, pan_id, extended_pan_id or network_key differ from those set here.",
    )

    channel: int | None = Field(None, ge=11, le=26, description="Zigbee channel 11-26 (default: zigpy picks).")
    pan_id: int | None = Field(None, ge=0x0001, le=0xFFF7, description="PAN id (default: random).")
    extended_pan_id: str | None = Field(None, description="Extended PAN id, 8 bytes colon hex (default: random).")
    network_key: SecretStr | None = Field(None, description="Network key, 16 bytes colon hex (default: random).")

    @field_validator("extended_pan_id")
    @classmethod
    def _check_extended_pan_id(cls, value: str | None) -> str | None:
        return None if value is None else _colon_hex(value, 8, "extended_pan_id")

    @field_validator("network_key")
    @classmethod
    def _check_network_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        try:
            return SecretStr(_colon_hex(value.get_secret_value(), 16, "network_key"))
        except ValueError:
            raise ValueError("network_key must be 16 bytes as colon hex (aa:bb:…)") from None


class ZigbeeConfig(NodeConfig):
    """Config of the ``zigbee`` source (CONTRACT §4)."""

    radio: Literal["deconz"] = Field("deconz", description="Radio library; deconz (ConBee, RaspBee).")
    device: str = Field(
        description="Serial port (/dev/ttyACM0), socket://host:port, or 'emulated' (built-in emulator)."
    )
    scenario: str | None = Field(
        None,
        description="With device: emulated, the emulator's scenario YAML (ignored, with a warning, with a "
        "real device, so one flow serves both: device: ${ZIGBEE_DEVICE:-emulated}).",
    )
    database: str | None = Field(
        None, description="zigpy's SQLite database (default .flowengine/<flow>-<node id>.zigbee.db)."
    )
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    permit_join: int = Field(0, ge=0, le=254, description="Open the network for joins this many seconds at start.")
    ota_dir: str | None = Field(None, description="Folder of OTA images zigpy serves (internet providers are off).")
    ota_auto_update: bool = Field(
        False,
        description="Install an image found in ota_dir on the device that asked (default: only report it).",
    )
    baudrate: int | None = Field(None, gt=0, description="Serial speed (default zigpy's, 115200).")
    friendly_names: dict[str, str] = Field(
        default_factory=dict, description="Commands: ieee (any usual form) -> the friendly name commands use.")
    base_topic: str = Field("zigbee2mqtt", description="Commands: the topic prefix of command and state topics.")
    command_expiry: float = Field(10.0, gt=0, description="Commands: seconds a command may wait before it is "
                                  "dropped (never sent late).")
    command_timeout: float = Field(5.0, gt=0, description="Commands: seconds to wait for a device's answer.")
    command_queue: int = Field(2000, ge=1, description="Commands: how many may wait; more are refused.")
    homeassistant: bool = Field(False, description="Commands: Home Assistant sends them (as Zigbee2MQTT with its "
                                "integration on, a redundant 'state' beside a colour change is dropped).")
    journal: bool = Field(True, description="Keep every frame in a journal beside the database until the sinks "
                          "have it durably; frames a killed run had not delivered come first at the next start.")
    journal_fsync: Literal["batch", "never"] = Field(
        "batch", description="Sync the journal after checkpoints, at most once a second (batch: a power cut "
        "loses at most the last second of frames) or leave it to the OS (never: safe against a killed process only).")


class Zigbee(Source[ZigbeeConfig]):
    """Zigbee coordinator source (zigpy + zigpy-deconz): one raw report per device frame.

    ``out``: one message per frame a device sends on an application endpoint, topic
    ``zigbee/<ieee>/<endpoint>/<cluster>``, payload the raw report (CONTRACT §3).
    ``state``: the state after a command (commands: a message wired into the node is a command for
    one device, see :mod:`flowengine_nodes.zigbee.commands`; a flow with no wire into the node
    accepts none). ``events``: ``zigbee/event/<event>`` with ``payload.event`` one of ``coordinator``
    (``state``: connecting, connected, disconnected, failed), ``device_joined``,
    ``device_interviewed``, ``device_interview_failed``, ``device_restored`` (known from
    the database at each connect), ``device_left``, ``device_removed``, ``permit_join``,
    ``ota_image_available``, ``ota_update_finished``. The connection is supervised: when
    it drops the node says so, retries with backoff and rebuilds zigpy on the same
    database. ``device: emulated`` runs the built-in deCONZ emulator in-process, its stick
    state kept beside the database, playing ``scenario`` (docs/emulator.md).

    Counters: ``frames`` (raw reports), ``short_frames`` (shorter than a ZCL header),
    ``zigpy_errors`` (zigpy failed on a frame; shielded), ``unknown_source`` (a frame from
    an address zigpy does not know; not emitted), ``emit_errors``.

    Example:
        ```yaml
        version: 1
        name: demo
        nodes:
          - id: radio
            type: zigbee
            device: emulated
            scenario: scenarios/demo.yaml
            wires: {out: [log], events: [log]}
          - id: log
            type: log
        ```
    """

    config_model: ClassVar[type[NodeConfig]] = ZigbeeConfig
    outputs: ClassVar[tuple[str, ...]] = ("out", EVENTS_PORT, STATE_PORT)
    live: ClassVar[bool] = True
    accepts_input: ClassVar[bool] = True
    #: Its events may feed what sends it commands (zigbee2mqtt-api lists the devices it hears of).
    allows_cycles: ClassVar[bool] = True

    def __init__(self, config: ZigbeeConfig, context: NodeContext) -> None:
        super().__init__(config, context)
        self.emulator: Emulator | None = None
        self.scenario_runner: ScenarioRunner | None = None
        self.application: Any = None
        self.connected = asyncio.Event()
        self._stack: ModuleType | None = None
        self._device_path = config.device
        self._database: Path | None = None
        self._ota_dir: Path | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._permit_done = False
        self._source = context.node_id
        self._group: asyncio.TaskGroup | None = None
        self.journal: FrameJournal | None = None
        self._journaled: list[dict[str, Any]] = []
        self.commands = Commander(self, friendly_names=config.friendly_names, base_topic=config.base_topic,
                                  expiry=config.command_expiry, timeout=config.command_timeout,
                                  capacity=config.command_queue, homeassistant=config.homeassistant)
        self.holding = self.commands.holding  # commands that arrive before the coordinator's first connection

    def permit_opened(self, seconds: int) -> None:
        """Say on ``events`` that the network was opened (or closed, 0) on request."""
        self._emit_event("permit_join", {"seconds": seconds})

    def receive(self, msg: Message) -> None:
        """A command wired into the node (:mod:`flowengine_nodes.zigbee.commands`); refused ones raise."""
        self.commands.submit(msg)

    # ---- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Import zigpy, resolve paths, and with ``device: emulated`` start the emulator.

        Raises:
            NodeError: a missing ``ota_dir`` or a bad scenario.
        """
        from flowengine_nodes.zigbee import stack

        _quiet_library_loggers()
        self._stack = stack
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        config = self.config
        self._database = self.context.resolve_path(
            config.database or f".flowengine/{self.context.flow_name}-{self.id}.zigbee.db"
        )
        self._database.parent.mkdir(parents=True, exist_ok=True)
        if config.journal:
            self.journal = FrameJournal(self._database.with_suffix(".journal"), when_durable=self.when_durable,
                                        counters=self.counters, logger=self.logger,
                                        fsync=config.journal_fsync == "batch")
            try:
                self._journaled = self.journal.open()
            except OSError as exc:
                raise NodeError(self.id, f"frame journal {self.journal.path}: {exc}") from exc
        if config.ota_dir is not None:
            self._ota_dir = self.context.resolve_path(config.ota_dir)
            if not self._ota_dir.is_dir():
                raise NodeError(self.id, f"ota_dir {self._ota_dir} is not a folder")
        if config.device == "emulated":
            await self._start_emulator()
        elif config.scenario is not None:
            self.logger.warning("node '%s': scenario is ignored with a real device (%s)", self.id, config.device)
        if not config.network.form:
            await self._check_network()

    async def _check_network(self) -> None:
        """With ``network.form: false``, stop here unless the stick holds the configured network.

        Raises:
            NodeError: the stick cannot be read, holds no network or another one (one line; nothing written).
        """
        stack = self._stack
        assert stack is not None
        try:
            found = await stack.read_stick_network(self._zigpy_config())
        except Exception as exc:
            raise NodeError(self.id, f"cannot read the network on {self._device_path}: {exc or type(exc).__name__}"
                            ) from exc
        if found is None:
            raise NodeError(self.id, f"the stick on {self._device_path} holds no network and network.form is "
                            "false: nothing was written (a new stick: flowengine import zigbee2mqtt "
                            "--restore-network)")
        differences = found.differences(self._network_settings())
        if differences:
            raise NodeError(self.id, f"the stick on {self._device_path} holds another network than the flow's: "
                            + ", ".join(differences) + "; nothing was written")

    async def _start_emulator(self) -> None:
        from flowengine_nodes.emulator.scenario import ScenarioError, ScenarioRunner, load_scenario
        from flowengine_nodes.emulator.server import Emulator
        from flowengine_nodes.emulator.stick import StickState

        assert self._database is not None
        scenario = None
        if self.config.scenario is not None:
            try:
                scenario = load_scenario(self.context.resolve_path(self.config.scenario))
            except ScenarioError as exc:
                raise NodeError(self.id, str(exc)) from exc
        stick = StickState.load(self.stick_path)
        if scenario is not None:
            scenario.form_network(stick)  # the network another program left on the stick, if the scenario says so
        if not stick.formed:
            # A formed stick spares zigpy's formation (2-4 s): the demo shows events at once.
            network = self.config.network
            stick.form(
                channel=network.channel or 15,
                pan_id=network.pan_id,
                extended_pan_id=network.extended_pan_id,
                network_key=None if network.network_key is None else network.network_key.get_secret_value(),
            )
            stick.save()
        emulator = Emulator(stick=stick)
        if scenario is not None:
            scenario.add_devices(emulator)
        await emulator.start()
        self.emulator = emulator
        self._device_path = emulator.device_path
        if scenario is not None:
            self.scenario_runner = ScenarioRunner(emulator, scenario)

    @property
    def stick_path(self) -> Path:
        """Where ``device: emulated`` keeps the emulated stick's state: beside the database."""
        assert self._database is not None
        return self._database.with_name(self._database.name.removesuffix(".db") + ".stick.json")

    async def run(self) -> None:
        """Emit the journaled frames a killed run had not delivered, then run the coordinator until cancelled."""
        if self._journaled:
            await self._replay_journal()
        async with asyncio.TaskGroup() as group:
            self._group = group
            if self.scenario_runner is not None:
                group.create_task(self.scenario_runner.run())
            commands = group.create_task(self.commands.serve())
            await supervise(
                self._connect_and_serve,
                name=f"zigbee {self.id}",
                logger=self.logger,
                backoff=Backoff(base=0.5, cap=30.0, permanent=30.0),
                on_state=self._on_connection_state,
            )
            commands.cancel()
        self._group = None

    async def _replay_journal(self) -> None:
        """Emit the frames journaled and not committed, with their original ``ts``, before live ones."""
        journal = self.journal
        assert journal is not None
        records, self._journaled = self._journaled, []
        for index, record in enumerate(records):
            self._deliver(report_message(record, self._source), "out")
            if index % 256 == 255:
                await self.backpressure()
        journal.checkpoint()

    async def aclose(self) -> None:
        """Stop the emulator (zigpy is shut down when ``run`` ends); close the journal."""
        if self.journal is not None:
            self.journal.checkpoint()  # the sinks are drained: what was delivered is committed at once
            self.journal.close()
        if self.emulator is not None:
            await self.emulator.aclose()
            self.emulator = None

    # ---- one coordinator session ---------------------------------------------------------

    def _zigpy_config(self) -> dict[str, Any]:
        stack = self._stack
        assert stack is not None
        return dict(
            stack.build_config(
                device_path=self._device_path,
                database=self._database,
                network=self._network_settings(),
                ota_dir=self._ota_dir,
                baudrate=self.config.baudrate,
            )
        )

    def _network_settings(self) -> Any:
        stack = self._stack
        assert stack is not None
        network = self.config.network
        return stack.NetworkSettings(
            channel=network.channel,
            pan_id=network.pan_id,
            extended_pan_id=network.extended_pan_id,
            network_key=None if network.network_key is None else network.network_key.get_secret_value(),
        )

    async def _connect_and_serve(self, connected: Any) -> None:
        """One session: build the application, start it, serve until the connection drops."""
        stack = self._stack
        assert stack is not None
        loop = asyncio.get_running_loop()
        lost: asyncio.Future[BaseException | None] = loop.create_future()

        def connection_lost(exc: BaseException | None) -> None:
            if not lost.done():
                lost.set_result(exc)

        before = asyncio.all_tasks()
        path = self._device_path
        if not path.startswith(("socket://", "tcp://")) and not await asyncio.to_thread(Path(path).exists):
            raise PermanentError(f"{path} does not exist (is the stick plugged in?)")
        form = self.config.network.form
        app = await stack.FlowControllerApplication.new(self._zigpy_config(), auto_form=form, start_radio=False)
        app.frame_tap = self._on_frame
        app.error_tap = self._on_zigpy_error
        app.ota.tap = self._on_ota_lookup
        app.add_listener(stack.AppListener(on_device=self._on_device_event, on_connection_lost=connection_lost))
        self.application = app
        try:
            await app.startup(auto_form=form)
            connected()
            self.connected.set()
            self.commands.connected()
            for device in list(app.devices.values()):
                if self._is_end_device(device):
                    self._device_event("device_restored", device)
            if not self._permit_done and self.config.permit_join > 0:
                self._permit_done = True
                try:
                    await app.permit(self.config.permit_join)
                except Exception:  # a lost broadcast must not end a working session
                    self.logger.warning("zigbee %s: opening the network failed", self.id, exc_info=True)
                else:
                    self._emit_event("permit_join", {"seconds": self.config.permit_join})
            reason = await lost
            raise ConnectionError(f"coordinator connection lost: {reason or 'closed'}")
        finally:
            self.connected.clear()
            self.application = None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(SHUTDOWN_TIMEOUT):
                    await asyncio.shield(app.shutdown())
            await _reap_library_tasks(before)

    def _is_end_device(self, device: Any) -> bool:
        stack = self._stack
        assert stack is not None
        return bool(stack.is_zigbee_device(device)) and str(device.ieee) != self._coordinator()

    def _coordinator(self) -> str | None:
        """The coordinator's IEEE (known from the first network-info load of a session)."""
        app = self.application
        return None if app is None else str(app.coordinator_ieee())

    # ---- the bridge (see the module docstring) --------------------------------------------

    def _deliver(self, msg: Message, port: str) -> None:
        """Cross from zigpy into the flow: emit on the flow's loop, never raising into zigpy."""
        if self._loop is not None and threading.get_ident() != self._loop_thread:
            self._loop.call_soon_threadsafe(self._deliver, msg, port)
            return
        try:
            self.emit(msg, port)
        except Exception:  # a failure downstream must not reach zigpy's poller (it would stall)
            self.counters["emit_errors"] += 1
            self.logger.exception("zigbee %s: delivering %s failed", self.id, msg.topic)

    # ---- frames -------------------------------------------------------------------------

    def _on_frame(self, packet: Any, device: Any) -> None:
        """Frame tap: one raw report for every frame from a device's application endpoint."""
        src_ep = packet.src_ep
        if src_ep is None or src_ep == 0 or packet.dst_ep == 0 or packet.profile_id == 0:
            return  # ZDO traffic is not a raw report (CONTRACT §3)
        if device is None:
            self.counters["unknown_source"] += 1
            self.logger.debug("zigbee %s: frame from unknown address %s", self.id, packet.src)
            return
        ieee = str(device.ieee)
        if ieee == self._coordinator():
            return
        frame = bytes(packet.data.serialize())
        if _shorter_than_zcl_header(frame):
            self.counters["short_frames"] += 1
        self.counters["frames"] += 1
        self.counters["received"] += 1  # taken from outside (flowengine_messages_received_total)
        report = RawReport(
            ts=self.context.clock.now(),
            ieee=ieee,
            nwk=f"0x{int(device.nwk):04x}",
            model=None if device.model is None else str(device.model),
            manufacturer=None if device.manufacturer is None else str(device.manufacturer),
            endpoint=int(src_ep),
            profile=int(packet.profile_id),
            cluster=int(packet.cluster_id),
            lqi=None if packet.lqi is None else int(packet.lqi),
            rssi=None if packet.rssi is None else int(packet.rssi),
            frame=frame.hex(),
        )
        msg = report.message(self._source)
        if self.journal is not None:
            self.journal.append(msg.payload)  # before the flow sees it (docs/zigbee.md, "Frame journal")
        self._deliver(msg, "out")

    def _on_zigpy_error(self, packet: Any, exc: Exception) -> None:
        self.counters["zigpy_errors"] += 1
        self.logger.debug(
            "zigbee %s: zigpy failed on frame %s from %s: %r",
            self.id,
            bytes(packet.data.serialize()).hex(),
            packet.src,
            exc,
        )

    # ---- events -------------------------------------------------------------------------

    def _emit_event(self, event: str, fields: dict[str, Any], ieee: str | None = None) -> None:
        ts = self.context.clock.now()
        payload = {"event": event, "ts": ts, **fields}
        meta: dict[str, Any] = {"ts": ts, "source": self._source}
        if ieee is not None:
            meta["ieee"] = ieee
        self._deliver(Message(f"zigbee/event/{event}", payload, meta), EVENTS_PORT)

    def _on_connection_state(self, state: ConnectionState, detail: str) -> None:
        device = "emulated" if self.config.device == "emulated" else self.config.device
        self._emit_event("coordinator", {"state": state, "detail": detail, "device": device})

    def _on_device_event(self, event: str, device: Any) -> None:
        if not self._is_end_device(device):
            return
        self._device_event(event, device)

    def _device_event(self, event: str, device: Any) -> None:
        stack = self._stack
        assert stack is not None
        ieee = str(device.ieee)
        fields: dict[str, Any] = {"ieee": ieee, "nwk": f"0x{int(device.nwk):04x}"}
        if event in ("device_interviewed", "device_restored", "device_interview_failed"):
            fields["model"] = device.model
            fields["manufacturer"] = device.manufacturer
            fields["endpoints"] = stack.device_endpoints(device)
        self._emit_event(event, fields, ieee)

    def _on_ota_lookup(self, device: Any, query: Any, result: Any) -> None:
        ieee = str(device.ieee)
        upgrades = list(result.upgrades)
        if not upgrades:
            return
        best = upgrades[0]
        self._emit_event(
            "ota_image_available",
            {
                "ieee": ieee,
                "manufacturer_code": int(query.manufacturer_code),
                "image_type": int(query.image_type),
                "current_version": int(query.current_file_version),
                "version": int(best.version),
                "source": str(best.metadata.source),
            },
            ieee,
        )
        if self.config.ota_auto_update and not device.ota_in_progress and self._group is not None:
            # Owned by run()'s task group: an update in progress ends with the node.
            self._group.create_task(self._update(device, best))

    async def _update(self, device: Any, image: Any) -> None:
        ieee = str(device.ieee)
        try:
            status = await device.update_firmware(image)
        except Exception as exc:  # noqa: BLE001 - reported as an event, the flow goes on
            self._emit_event("ota_update_finished", {"ieee": ieee, "ok": False, "detail": repr(exc)}, ieee)
            return
        ok = status is not None and int(status) == 0
        self._emit_event(
            "ota_update_finished",
            {
                "ieee": ieee,
                "ok": ok,
                "version": int(image.version),
                "status": None if status is None else int(status),
            },
            ieee,
        )


_LIBRARY_PATHS = ("zigpy", "serialx", "aiosqlite")
_LIBRARY_LOGGERS = ("zigpy", "zigpy_deconz", "serialx", "aiosqlite")


def _quiet_library_loggers() -> None:
    """Keep zigpy's chatty INFO lines (interview steps) out of a flow's log.

    Only loggers nobody configured (level NOTSET) are set to WARNING; the node's own
    ``events`` port says what matters (joins, interviews, connection state).
    """
    for name in _LIBRARY_LOGGERS:
        library_logger = logging.getLogger(name)
        if library_logger.level == logging.NOTSET:
            library_logger.setLevel(logging.WARNING)


async def _reap_library_tasks(before: set[asyncio.Task[Any]]) -> None:
    """Cancel and await what zigpy left running after ``shutdown()`` (no task outlives its owner).

    zigpy cancels its tasks on shutdown but does not wait for them, and a few (cluster
    request handlers, event callbacks) it does not track at all. Only tasks created since
    ``before`` whose coroutine comes from zigpy, zigpy-deconz, serialx or aiosqlite are
    touched; each is given until :data:`SHUTDOWN_TIMEOUT` to finish.
    """
    current = asyncio.current_task()
    leftovers = []
    for task in asyncio.all_tasks() - before:
        if task is current or task.done():
            continue
        code = getattr(task.get_coro(), "cr_code", None)
        filename = "" if code is None else code.co_filename
        if any(part in filename for part in _LIBRARY_PATHS):
            task.cancel()
            leftovers.append(task)
    if leftovers:
        await asyncio.wait(leftovers, timeout=SHUTDOWN_TIMEOUT)


def _shorter_than_zcl_header(frame: bytes) -> bool:
    """True when ``frame`` cannot hold a ZCL header (3 bytes, 5 with a manufacturer code)."""
    if len(frame) < 3:
        return True
    return bool(frame[0] & 0x04) and len(frame) < 5
