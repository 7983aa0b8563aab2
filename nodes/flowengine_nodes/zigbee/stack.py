"""The zigpy side of the ``zigbee`` node: the only module of the node that imports zigpy.

:mod:`flowengine_nodes.zigbee.source` imports this module inside ``start()``, so loading a flow (or
listing node types) never pays for zigpy (lazy loading). What lives here:

* :class:`FlowControllerApplication`, zigpy-deconz's controller with one change: its
  :meth:`~FlowControllerApplication.packet_received` hands every packet to the node's
  *frame tap* before zigpy parses it, keeps attribute reports that the
  flow decodes itself away from zigpy (below), and shields zigpy-deconz's data poller
  from exceptions raised while zigpy handles the packet (a frame shorter than a ZCL
  header raises ``ValueError`` there, and the poller then sleeps a second before it polls
  again, stalling every frame behind it), and lets an answer to a request still waiting for it
  through zigpy's duplicate filter (:func:`duplicates_let_through`).
* its :meth:`~FlowControllerApplication.connect` opens the stick as zigpy-deconz does,
  with :class:`~flowengine_nodes.zigbee.deconz_fast.FastDeconz` reading the two frames
  each device frame costs (the indication answer and the state change) directly.
* :class:`FlowOta`, zigpy's OTA manager, reporting each image lookup to the node.
* :func:`build_config`, the zigpy configuration for the node's settings.
* :class:`AppListener`, the application listener whose callbacks the node turns into
  ``events`` messages.

All zigpy callbacks run on the loop that started the application, which is the flow's
loop; see the bridge in :mod:`flowengine_nodes.zigbee.source`.

What zigpy does not see
-----------------------
zigpy is what the node relies on for the network, joins, interviews, ZDO, security, OTA
and the database of devices; the *contents* of attribute reports are the decoder's job.
So a ZCL Report Attributes frame (profile-wide command 0x0A on the Home Automation
profile) from an interviewed device, on an application endpoint it has, on any cluster
but Basic, goes to the frame tap only. For such a frame zigpy would parse the ZCL payload
a second time, update its attribute cache, queue a database write of the attribute and
of ``last_seen`` on aiosqlite's thread, and emit events that nothing in a flow listens
to. What it must still do is done here, as zigpy would (:func:`handle_report`):

* the device's ``lqi`` and ``rssi`` are set from the frame;
* ``last_seen`` is set through zigpy when zigpy would write it to the database (it skips
  updates less than ``MIN_UPDATE_DELTA``, 30 s, apart), so the database says the same;
* a report whose sender asks for a Default Response (its disable-default-response bit is
  clear and it was not a broadcast: the Zigbee Cluster Library's rule, which zigpy and
  Zigbee2MQTT both follow) is left to zigpy, which parses it and answers only when the
  frame parses, as Zigbee2MQTT does. Aqara devices set the bit on their reports.

Basic reports still go to zigpy: the model and manufacturer a restart knows every device
by live in its attribute cache. Responses to zigpy's own requests (read, configure
reporting, OTA), cluster commands and ZDO go to zigpy as before.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import importlib.metadata
import logging
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from flowengine import deferred_imports

#: Modules zigpy imports for OTA image providers only, loaded on their first use.
#: zigpy imports its OTA image providers (aiohttp, jsonschema and their dependencies, ≈ 13 MiB of
#: resident memory) whenever it is imported, though only an enabled OTA uses them; deferred
#: (:func:`flowengine.deferred_imports`), the module objects exist (zigpy keeps a reference) and
#: their code runs when zigpy registers providers (an OTA folder is set) or a provider opens its
#: HTTP session.
DEFERRED = ("zigpy.ota.providers", "aiohttp", "jsonschema")

#: Names zigpy imports for install codes (AES-MMO hash, CRC: ``zigpy.util``) and Green Power
#: security (AES-CCM and its failed-check exception: ``zigpy.zgp``, ``zigpy.device``), by module;
#: they stand in until first use (see :class:`_DeferredNames`).
DEFERRED_NAMES: dict[str, tuple[str, ...]] = {
    "crccheck.crc": ("CrcX25",),
    "cryptography.exceptions": ("InvalidTag",),
    "cryptography.hazmat.primitives.ciphers": ("Cipher",),
    "cryptography.hazmat.primitives.ciphers.aead": ("AESCCM",),
    "cryptography.hazmat.primitives.ciphers.algorithms": ("AES",),
    "cryptography.hazmat.primitives.ciphers.modes": ("ECB",),
}
#: zigpy versions whose imports from these packages are exactly :data:`DEFERRED_NAMES` (checked by
#: reading them); with any other zigpy the packages are imported as usual.
STAND_IN_ZIGPY = ("2.4.0",)


class _StandInMeta(type):
    """The class of a stand-in: calling it or reading an attribute it lacks resolves the real object."""

    _deferred: _DeferredNames
    _module: str
    _name: str

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return cls._deferred.resolve(cls._module, cls._name)(*args, **kwargs)

    def __getattr__(cls, attribute: str) -> Any:
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        return getattr(cls._deferred.resolve(cls._module, cls._name), attribute)


class _DeferredNames(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Stand-ins for the few names zigpy imports from cryptography and crccheck, until zigpy uses one.

    cryptography's Rust extension costs ≈ 6 MiB of resident memory as soon as any of its
    modules is imported, crccheck's table of CRC classes ≈ 0.7 MiB, and zigpy imports both at
    start for install codes and Green Power security, which a flow on a deCONZ stick may never
    use. While zigpy is imported (the ``with`` block below) this finder serves the modules of
    :data:`DEFERRED_NAMES` as stand-ins; zigpy binds their names to stand-in classes, and the
    stand-in modules leave ``sys.modules`` right after. The first call of a stand-in (or read of
    an attribute such as ``AES.block_size``) imports the real modules and puts the real objects
    in place of every stand-in in zigpy's modules, so from then on zigpy runs exactly as if it
    had imported them itself. ``InvalidTag`` (which zigpy only catches) is a stand-in exception
    until then: nothing can raise the real one before the real AES-CCM has been created.
    A package imported before zigpy (cryptography by another library, say) is not stood in,
    nor is anything with a zigpy version not in :data:`STAND_IN_ZIGPY` (it may import more).
    """

    def __init__(self, names: dict[str, tuple[str, ...]]) -> None:
        self.all_names = names
        self.names: dict[str, tuple[str, ...]] = {}
        self.packages: set[str] = set()
        self.stand_ins: dict[tuple[str, str], type] = {}
        self.bound: list[tuple[ModuleType, str, tuple[str, str]]] = []
        self.real: dict[tuple[str, str], Any] = {}

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        """A stand-in spec for the deferred modules and their parent packages."""
        if fullname not in self.names and fullname not in self.packages:
            return None
        return importlib.machinery.ModuleSpec(fullname, self, is_package=fullname in self.packages)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        """A plain module holding the stand-ins of :data:`DEFERRED_NAMES` for this module."""
        module = ModuleType(spec.name, "stand-in until first use (flowengine_nodes.zigbee.stack)")
        for name in self.names.get(spec.name, ()):
            bases: tuple[type, ...] = (Exception,) if name == "InvalidTag" else ()
            attributes = {"_deferred": self, "_module": spec.name, "_name": name, "__module__": spec.name}
            stand_in = _StandInMeta(name, bases, attributes)
            self.stand_ins[(spec.name, name)] = stand_in
            setattr(module, name, stand_in)
        return module

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: :meth:`create_module` made the stand-ins."""

    @contextlib.contextmanager
    def standing_in(self) -> Iterator[None]:
        """Serve stand-ins within the block; then note where zigpy bound them and drop the modules."""
        if _version("zigpy") not in STAND_IN_ZIGPY:
            yield
            return
        imported = {name.split(".")[0] for name in sys.modules}
        self.names = {name: held for name, held in self.all_names.items() if name.split(".")[0] not in imported}
        self.packages = {name.rsplit(".", depth)[0] for name in self.names for depth in range(1, name.count(".") + 1)}
        sys.meta_path.insert(0, self)
        try:
            yield
        finally:
            sys.meta_path.remove(self)
            for name in [*self.names, *self.packages]:
                module = sys.modules.get(name)
                if module is not None and getattr(module.__spec__, "loader", None) is self:
                    del sys.modules[name]
            by_object = {id(stand_in): key for key, stand_in in self.stand_ins.items()}
            for module_name, module in list(sys.modules.items()):
                if module_name.split(".")[0] in ("zigpy", "zigpy_deconz") and type(module) is ModuleType:
                    for attribute, value in list(vars(module).items()):
                        if id(value) in by_object and value is self.stand_ins[by_object[id(value)]]:
                            self.bound.append((module, attribute, by_object[id(value)]))

    def resolve(self, module: str, name: str) -> Any:
        """The real object for a stand-in; the first call imports the real modules and rebinds zigpy's names."""
        if not self.real:
            real = {key: getattr(importlib.import_module(key[0]), key[1]) for key in self.stand_ins}
            for holder, attribute, key in self.bound:
                if getattr(holder, attribute, None) is self.stand_ins[key]:
                    setattr(holder, attribute, real[key])
            self.real = real
        return self.real[(module, name)]


def _version(distribution: str) -> str | None:
    """The installed version of ``distribution``, None when it has no metadata."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


_deferred_names = _DeferredNames(DEFERRED_NAMES)

with deferred_imports(DEFERRED), _deferred_names.standing_in():
    import zigpy.backups
    import zigpy.config as zigpy_config
    import zigpy.device
    import zigpy.exceptions
    import zigpy.ota
    import zigpy.types as zigpy_t
    import zigpy_deconz.zigbee.application as deconz_application
    from zigpy.appdb import MIN_UPDATE_DELTA
    from zigpy.zcl.clusters.general import QueryNextImageCommand

from flowengine_nodes.zigbee.deconz_fast import FastDeconz  # noqa: E402 - after zigpy, imported above

logger = logging.getLogger("flowengine.zigbee")

#: Called with every packet zigpy-deconz delivers, before zigpy looks at it; must not raise.
FrameTap = Callable[[zigpy_t.ZigbeePacket, Any], None]
#: Called with a packet and the exception zigpy raised while handling it.
ErrorTap = Callable[[zigpy_t.ZigbeePacket, Exception], None]
#: Called with (device, query, images result) after each OTA image lookup.
OtaTap = Callable[[Any, QueryNextImageCommand, Any], None]


@dataclass(frozen=True, slots=True)
class NetworkSettings:
    """Network settings used only when zigpy forms a network."""

    channel: int | None = None
    pan_id: int | None = None
    extended_pan_id: str | None = None
    network_key: str | None = None


def build_config(
    *,
    device_path: str,
    database: Path | None,
    network: NetworkSettings,
    ota_dir: Path | None,
    baudrate: int | None = None,
) -> dict[str, Any]:
    """Return zigpy's configuration dictionary for the node's settings.

    OTA: with ``ota_dir``, the only provider is zigpy's local-folder provider on that
    folder; zigpy's internet providers (zigpy-ota, Ledvance, Sonoff) are always off.
    """
    device: dict[str, Any] = {zigpy_config.CONF_DEVICE_PATH: device_path}
    if baudrate is not None:
        device[zigpy_config.CONF_DEVICE_BAUDRATE] = baudrate
    nwk: dict[str, Any] = {}
    if network.channel is not None:
        nwk[zigpy_config.CONF_NWK_CHANNEL] = network.channel
    if network.pan_id is not None:
        nwk[zigpy_config.CONF_NWK_PAN_ID] = network.pan_id
    if network.extended_pan_id is not None:
        nwk[zigpy_config.CONF_NWK_EXTENDED_PAN_ID] = network.extended_pan_id
    if network.network_key is not None:
        # zigpy's schema takes the key as 16 integers (a colon-hex text is refused).
        nwk[zigpy_config.CONF_NWK_KEY] = [int(part, 16) for part in network.network_key.split(":")]
    ota: dict[str, Any] = {
        zigpy_config.CONF_OTA_ENABLED: ota_dir is not None,
        zigpy_config.CONF_OTA_PROVIDERS: [],
        zigpy_config.CONF_OTA_BROADCAST_ENABLED: False,
    }
    if ota_dir is not None:
        ota[zigpy_config.CONF_OTA_EXTRA_PROVIDERS] = [
            {
                zigpy_config.CONF_OTA_PROVIDER_TYPE: "advanced",
                zigpy_config.CONF_OTA_PROVIDER_PATH: str(ota_dir),
                zigpy_config.CONF_OTA_PROVIDER_WARNING: zigpy_config.CONF_OTA_ALLOW_ADVANCED_DIR_STRING,
            }
        ]
    return {
        zigpy_config.CONF_DEVICE: device,
        zigpy_config.CONF_DATABASE: None if database is None else str(database),
        zigpy_config.CONF_NWK: nwk,
        zigpy_config.CONF_OTA: ota,
    }


class FlowOta(zigpy.ota.OTA):
    """zigpy's OTA manager, telling the node about every image lookup it makes."""

    tap: OtaTap | None = None

    async def get_ota_images(self, device: Any, query_cmd: QueryNextImageCommand) -> Any:
        """Look images up as zigpy does, then report the result to the node."""
        result = await super().get_ota_images(device, query_cmd)
        if self.tap is not None:
            self.tap(device, query_cmd, result)
        return result


class FlowControllerApplication(deconz_application.ControllerApplication):  # type: ignore[misc]
    """zigpy-deconz's controller with a frame tap below ZCL parsing (see the module docstring)."""

    frame_tap: FrameTap | None = None
    error_tap: ErrorTap | None = None

    def __init__(self, config: dict[str, Any]) -> None:
        # With an OTA folder zigpy loads its providers here; their HTTP client waits for a fetch.
        with deferred_imports(DEFERRED[1:]):
            super().__init__(config)
            self.ota = FlowOta(self._config[zigpy_config.CONF_OTA], self)

    async def connect(self) -> None:
        """Open the stick as zigpy-deconz does, reading indications with :class:`FastDeconz`."""
        api = FastDeconz(self, self._config[zigpy_config.CONF_DEVICE])
        try:
            await api.connect()
        except Exception:
            await api.disconnect()
            raise
        self._api = api
        self._written_endpoints.clear()

    def packet_received(self, packet: zigpy_t.ZigbeePacket) -> None:
        """Give ``packet`` to the frame tap, then to zigpy unless it is a report the flow decodes.

        zigpy's errors are shielded: the caller is zigpy-deconz's data poller, and an
        exception escaping from here makes it sleep a second before it polls the next
        indication. See the module docstring for what zigpy does not see.
        """
        device = self._source_device(packet)
        if self.frame_tap is not None:
            self.frame_tap(packet, device)
        try:
            if device is None or not handle_report(packet, device):
                if device is not None and answers_pending_request(packet, device):
                    with duplicates_let_through(device):
                        super().packet_received(packet)
                else:
                    super().packet_received(packet)
        except Exception as exc:  # noqa: BLE001 - any zigpy failure here would stall the poller
            if self.error_tap is not None:
                self.error_tap(packet, exc)

    def _source_device(self, packet: zigpy_t.ZigbeePacket) -> Any:
        try:
            return self.get_device_with_address(packet.src)
        except (KeyError, ValueError):
            return None

    def coordinator_ieee(self) -> str:
        """Return the coordinator's IEEE address (``00:21:2e:…``)."""
        return str(self.state.node_info.ieee)


#: ZCL frame control: frame type bits (0: profile-wide), manufacturer specific, disable default response.
_FRAME_TYPE = 0x03
_MANUFACTURER_SPECIFIC = 0x04
_DISABLE_DEFAULT_RESPONSE = 0x10
_REPORT_ATTRIBUTES = 0x0A
_BASIC_CLUSTER = 0x0000
_HA_PROFILE = 0x0104


def is_plain_report(packet: zigpy_t.ZigbeePacket, frame: bytes) -> bool:
    """True for a ZCL Report Attributes frame on an HA application endpoint, outside Basic."""
    if packet.profile_id != _HA_PROFILE or packet.cluster_id == _BASIC_CLUSTER or not packet.src_ep:
        return False
    if len(frame) < 3 or frame[0] & _FRAME_TYPE:
        return False
    command = 4 if frame[0] & _MANUFACTURER_SPECIFIC else 2
    return len(frame) > command and frame[command] == _REPORT_ATTRIBUTES


def handle_report(packet: zigpy_t.ZigbeePacket, device: Any) -> bool:
    """Do for a plain report what zigpy must, without zigpy; False: zigpy should handle ``packet``.

    See the module docstring: link quality and ``last_seen`` when zigpy would persist it.
    A report whose sender wants a Default Response goes to zigpy.
    """
    if not isinstance(device, zigpy.device.Device) or not device.is_initialized:
        return False
    frame = packet.data.serialize()
    if not is_plain_report(packet, frame) or packet.src_ep not in device.endpoints:
        return False
    broadcast = packet.dst is not None and packet.dst.addr_mode == zigpy_t.AddrMode.Broadcast
    if not frame[0] & _DISABLE_DEFAULT_RESPONSE and not broadcast:
        return False  # the sender asks for a Default Response: zigpy parses the frame and sends it
    if packet.lqi is not None:
        device.lqi = packet.lqi
    if packet.rssi is not None:
        device.rssi = packet.rssi
    seen = packet.timestamp.timestamp() if packet.timestamp is not None else time.time()
    if device.last_seen is None or seen - device.last_seen > MIN_UPDATE_DELTA:
        device.last_seen = seen  # zigpy queues the database write of last_seen
    return True


def answers_pending_request(packet: zigpy_t.ZigbeePacket, device: Any) -> bool:
    """True when ``packet`` is the answer to a request of ours the device has not answered yet.

    zigpy matches an answer to its request by endpoint, cluster, direction and ZCL sequence number
    (its ``ResponseKey``); the key is computed here by zigpy's own header parser. An attribute report
    is never an answer (zigpy does not match reports either).
    """
    requests = getattr(device, "_requests", None)
    if not requests or not packet.src_ep:
        return False
    try:
        header, key = device._parse_packet_header(packet)  # noqa: SLF001 - zigpy's own response key
    except Exception:  # noqa: BLE001 - a frame zigpy cannot parse answers nothing
        return False
    if header is None or key not in requests:
        return False
    frame = packet.data.serialize()
    return not is_plain_report(packet, frame)


@contextlib.contextmanager
def duplicates_let_through(device: Any) -> Iterator[None]:
    """While inside, zigpy's duplicate filter lets every packet of ``device`` through.

    zigpy drops a frame byte-identical (radio fields aside) to one the same device sent within
    the last ten seconds. A device's answer to a request repeats byte for byte whenever the same
    request comes back with the same 8-bit ZCL sequence number, as it does after 256 requests:
    without this, the 257th identical command of a burst times out although the device answered.
    Zigbee2MQTT (zigbee-herdsman) has no such filter: it matches an answer to its waiting request by
    address, endpoint, cluster, sequence number and command. Only the filter is skipped, for this
    one packet; zigpy parses and matches it as any other.
    """
    device._should_filter_packet = _never  # noqa: SLF001 - an instance attribute shadows the method
    try:
        yield
    finally:
        del device._should_filter_packet  # noqa: SLF001


def _never(packet: zigpy_t.ZigbeePacket) -> bool:
    return False


class AppListener:
    """zigpy application listener: zigpy calls these methods by name."""

    def __init__(
        self,
        *,
        on_device: Callable[[str, Any], None],
        on_connection_lost: Callable[[BaseException | None], None],
    ) -> None:
        self._on_device = on_device
        self._on_connection_lost = on_connection_lost

    def device_joined(self, device: Any) -> None:
        """A device announced itself (new, or known with a new NWK)."""
        self._on_device("device_joined", device)

    def device_initialized(self, device: Any) -> None:
        """A device's interview finished (fires for the coordinator too)."""
        self._on_device("device_interviewed", device)

    def device_init_failure(self, device: Any) -> None:
        """A device's interview failed."""
        self._on_device("device_interview_failed", device)

    def device_left(self, device: Any) -> None:
        """A device left the network."""
        self._on_device("device_left", device)

    def device_removed(self, device: Any) -> None:
        """A device was removed from zigpy."""
        self._on_device("device_removed", device)

    def connection_lost(self, exc: BaseException | None) -> None:
        """The coordinator connection closed, or a watchdog feed failed."""
        self._on_connection_lost(exc)


def is_zigbee_device(device: Any) -> bool:
    """True for an ordinary Zigbee device (not a Green Power device)."""
    return isinstance(device, zigpy.device.Device)


def device_endpoints(device: Any) -> list[dict[str, Any]]:
    """Describe a device's application endpoints (id, profile, device type, clusters)."""
    described = []
    for endpoint_id, endpoint in sorted(device.endpoints.items()):
        if endpoint_id == 0:
            continue
        described.append(
            {
                "endpoint": int(endpoint_id),
                "profile": None if endpoint.profile_id is None else int(endpoint.profile_id),
                "device_type": None if endpoint.device_type is None else int(endpoint.device_type),
                "in_clusters": sorted(int(cluster) for cluster in endpoint.in_clusters),
                "out_clusters": sorted(int(cluster) for cluster in endpoint.out_clusters),
            }
        )
    return described


@dataclass(frozen=True, slots=True)
class StickNetwork:
    """The network a stick holds, in the forms a flow writes them (colon hex, display order)."""

    channel: int
    pan_id: int
    extended_pan_id: str
    network_key: str

    def differences(self, expected: NetworkSettings) -> list[str]:
        """Name each setting of ``expected`` (those set) that this network does not have; never a key's value."""
        found = []
        if expected.channel is not None and expected.channel != self.channel:
            found.append(f"channel {self.channel} (expected {expected.channel})")
        if expected.pan_id is not None and expected.pan_id != self.pan_id:
            found.append(f"PAN id 0x{self.pan_id:04x} (expected 0x{expected.pan_id:04x})")
        if expected.extended_pan_id is not None and expected.extended_pan_id.lower() != self.extended_pan_id:
            found.append(f"extended PAN id {self.extended_pan_id} (expected {expected.extended_pan_id.lower()})")
        if expected.network_key is not None and expected.network_key.lower() != self.network_key:
            found.append("network key (not shown)")
        return found


def _network_of(app: Any) -> StickNetwork:
    info = app.state.network_info
    return StickNetwork(
        channel=int(info.channel),
        pan_id=int(info.pan_id),
        extended_pan_id=str(info.extended_pan_id).lower(),
        network_key=":".join(f"{byte:02x}" for byte in info.network_key.key.serialize()),
    )


async def read_stick_network(config: dict[str, Any]) -> StickNetwork | None:
    """Open the stick, read the network it holds and close it again; None when it holds none.

    Only reads: no formation, no write of any network parameter (zigpy's
    ``load_network_info``). ``config`` is :func:`build_config`'s; its database is not opened.
    """
    app = FlowControllerApplication({**config, zigpy_config.CONF_DATABASE: None})
    await app.connect()
    try:
        await app.load_network_info(load_devices=False)
    except zigpy.exceptions.NetworkNotFormed:
        return None
    finally:
        await app.disconnect()
    return _network_of(app)


async def restore_network(config: dict[str, Any], backup: dict[str, Any], *, force: bool) -> str:
    """Write an Open ZigBee Coordinator Backup (``coordinator_backup.json``) to the stick through zigpy.

    Returns what was done, in words. A stick that already holds the backup's network is left
    as it is; one that holds another network is refused unless ``force``.

    Raises:
        ValueError: the backup cannot be read by zigpy, or the stick holds another network.
    """
    try:
        wanted = zigpy.backups.NetworkBackup.from_open_coordinator_json(backup)
    except (KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"not an Open ZigBee Coordinator Backup zigpy can read ({exc!r})") from exc
    app = FlowControllerApplication({**config, zigpy_config.CONF_DATABASE: None})
    await app.connect()
    try:
        try:
            await app.load_network_info(load_devices=False)
            current: StickNetwork | None = _network_of(app)
        except zigpy.exceptions.NetworkNotFormed:
            current = None
        info = wanted.network_info
        expected = NetworkSettings(
            channel=int(info.channel), pan_id=int(info.pan_id), extended_pan_id=str(info.extended_pan_id),
            network_key=":".join(f"{byte:02x}" for byte in info.network_key.key.serialize()))
        if current is not None and not current.differences(expected):
            return "the stick already holds this network: nothing written"
        if current is not None and not force:
            raise ValueError(f"the stick holds another network ({', '.join(current.differences(expected))}); "
                             "--force overwrites it")
        await app.backups.restore_backup(wanted, create_new=False)
        return (f"network written to the stick (channel {wanted.network_info.channel}, PAN id "
                f"0x{int(wanted.network_info.pan_id):04x})")
    finally:
        await app.disconnect()
