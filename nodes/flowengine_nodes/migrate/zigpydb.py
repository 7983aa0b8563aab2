"""zigpy's device database, written and read through zigpy's own API (its ``PersistingListener``).

:func:`seed` stores devices as zigpy stores a device it has interviewed (addresses, node
descriptor, endpoints with profile, device type and clusters, and the Basic cluster's model and
manufacturer in the attribute cache), and network backups as zigpy's backup manager stores
them; a ``zigbee`` node on that database knows each device at start and never interviews it.
:func:`load` reads them back. zigpy is imported only by these functions' module (this one).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zigpy.appdb
import zigpy.backups
import zigpy.config as zigpy_config
import zigpy.device
import zigpy.endpoint
import zigpy.types as zigpy_t
import zigpy.zdo.types as zdo_t
from zigpy.zcl.clusters.general import Basic

from flowengine_nodes.zigbee.stack import FlowControllerApplication

#: Logical types of a node descriptor.
ROUTER = "Router"
END_DEVICE = "EndDevice"
_LOGICAL = {ROUTER: zdo_t.LogicalType.Router, END_DEVICE: zdo_t.LogicalType.EndDevice}
#: Node descriptor MAC capability flags (alternate PAN coordinator 0x01 unused).
_FFD = 0x02
_MAINS = 0x04
_RX_ON = 0x08
_ALLOCATE = 0x80


@dataclass
class Endpoint:
    """One application endpoint of a device."""

    id: int
    profile: int
    device_type: int
    in_clusters: list[int] = field(default_factory=list)
    out_clusters: list[int] = field(default_factory=list)


@dataclass
class Device:
    """A device as both programs know it."""

    ieee: str
    nwk: int
    logical_type: str = END_DEVICE
    mains_powered: bool = False
    manufacturer_code: int | None = None
    model: str | None = None
    manufacturer: str | None = None
    endpoints: list[Endpoint] = field(default_factory=list)
    last_seen: float | None = None


def check_backup(backup: dict[str, Any]) -> None:
    """Raise ValueError unless zigpy reads ``backup`` as an Open ZigBee Coordinator Backup."""
    try:
        zigpy.backups.NetworkBackup.from_open_coordinator_json(backup)
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise ValueError(f"not an Open ZigBee Coordinator Backup zigpy can read (bad or missing {exc})") from None


def _application(database: Path) -> Any:
    """An application object that is never connected: zigpy's listener needs one to write through."""
    return FlowControllerApplication({
        zigpy_config.CONF_DEVICE: {zigpy_config.CONF_DEVICE_PATH: "socket://127.0.0.1:1"},
        zigpy_config.CONF_DATABASE: str(database),
    })


def _node_descriptor(device: Device) -> zdo_t.NodeDescriptor:
    router = device.logical_type == ROUTER
    flags = _ALLOCATE | (_FFD | _MAINS | _RX_ON if router or device.mains_powered else 0)
    if device.mains_powered:
        flags |= _MAINS | _RX_ON
    return zdo_t.NodeDescriptor(  # type: ignore[no-untyped-call]
        logical_type=_LOGICAL.get(device.logical_type, zdo_t.LogicalType.EndDevice),
        complex_descriptor_available=0,
        user_descriptor_available=0,
        reserved=0,
        aps_flags=0,
        frequency_band=zdo_t.NodeDescriptor.FrequencyBand.Freq2400MHz,
        mac_capability_flags=flags,
        manufacturer_code=device.manufacturer_code or 0,
        maximum_buffer_size=82,
        maximum_incoming_transfer_size=82,
        server_mask=0,
        maximum_outgoing_transfer_size=82,
        descriptor_capability_field=0,
    )


def _zigpy_device(app: Any, device: Device) -> Any:
    zdevice = zigpy.device.Device(app, zigpy_t.EUI64.convert(device.ieee), zigpy_t.NWK(device.nwk))  # type: ignore[no-untyped-call]
    zdevice.node_desc = _node_descriptor(device)
    basic_done = False
    for endpoint in device.endpoints:
        zendpoint = zdevice.add_endpoint(endpoint.id)
        zendpoint.profile_id = endpoint.profile
        zendpoint.device_type = endpoint.device_type  # type: ignore[assignment]
        zendpoint.status = zigpy.endpoint.Status.ZDO_INIT
        for cluster in endpoint.in_clusters:
            zendpoint.add_input_cluster(cluster)
        for cluster in endpoint.out_clusters:
            zendpoint.add_output_cluster(cluster)
        if not basic_done and Basic.cluster_id in zendpoint.in_clusters:
            basic = zendpoint.in_clusters[Basic.cluster_id]
            if device.manufacturer is not None:
                basic.update_attribute(Basic.AttributeDefs.manufacturer.id, device.manufacturer)
            if device.model is not None:
                basic.update_attribute(Basic.AttributeDefs.model.id, device.model)
            basic_done = True
    zdevice.model = device.model
    zdevice.manufacturer = device.manufacturer
    zdevice.status = zigpy.device.Status.ENDPOINTS_INIT
    if device.last_seen is not None:
        zdevice.last_seen = device.last_seen
    return zdevice


async def seed(database: Path, devices: list[Device], backups: list[dict[str, Any]]) -> None:
    """Write ``devices`` and the Open ZigBee Coordinator ``backups`` into zigpy's database at ``database``."""
    with _quiet_zigpy():
        app = _application(database)
        listener = await zigpy.appdb.PersistingListener.new(str(database), app)
        try:
            for device in devices:
                listener.raw_device_initialized(_zigpy_device(app, device))
            for backup in backups:
                listener.network_backup_created(zigpy.backups.NetworkBackup.from_open_coordinator_json(backup))
        finally:
            await listener.shutdown()


@dataclass
class Loaded:
    """What zigpy's database holds: its devices and its most recent network backup (OZCB format)."""

    devices: list[Device]
    backup: dict[str, Any] | None


async def load(database: Path) -> Loaded:
    """Read zigpy's database at ``database`` through zigpy (the coordinator itself left out)."""
    with _quiet_zigpy():
        app = _application(database)
        listener = await zigpy.appdb.PersistingListener.new(str(database), app)
        try:
            await listener.load()
            newest = app.backups.most_recent_backup()
            coordinator = None if newest is None else str(newest.node_info.ieee)
            devices = [_device_of(d) for d in app.devices.values()
                       if isinstance(d, zigpy.device.Device) and str(d.ieee) != coordinator]
        finally:
            await listener.shutdown()
            for zdevice in list(app.devices.values()):
                zdevice.on_remove()
    backup = None if newest is None else newest.as_open_coordinator_json()
    return Loaded(devices, backup)


def _device_of(zdevice: Any) -> Device:
    node = zdevice.node_desc
    logical = END_DEVICE
    mains = False
    if node is not None:
        logical = ROUTER if node.logical_type == zdo_t.LogicalType.Router else END_DEVICE
        mains = bool(node.mac_capability_flags & _MAINS)
    endpoints = [
        Endpoint(int(ep_id), int(ep.profile_id or 0), int(ep.device_type or 0),
                 sorted(int(c) for c in ep.in_clusters), sorted(int(c) for c in ep.out_clusters))
        for ep_id, ep in sorted(zdevice.endpoints.items()) if ep_id != 0
    ]
    return Device(
        ieee=str(zdevice.ieee), nwk=int(zdevice.nwk), logical_type=logical, mains_powered=mains,
        manufacturer_code=None if node is None else int(node.manufacturer_code),
        model=zdevice.model, manufacturer=zdevice.manufacturer, endpoints=endpoints,
        last_seen=zdevice.last_seen)


@contextlib.contextmanager
def _quiet_zigpy() -> Any:
    """Keep zigpy's INFO lines (schema migrations) out of the command's output."""
    library = logging.getLogger("zigpy")
    before = library.level
    if before == logging.NOTSET:
        library.setLevel(logging.WARNING)
    try:
        yield
    finally:
        library.setLevel(before)


def run(coroutine: Any) -> Any:
    """Run one of this module's coroutines to the end (the commands are synchronous)."""
    return asyncio.run(coroutine)
