"""Zigbee2MQTT-compatible decoding: ZCL parsing, device definitions, converters, lock events, lint.

The public entry points are :class:`~flowengine_nodes.devices.decoder.Decoder` (raw report -> payload
and typed event), :mod:`flowengine_nodes.devices.definitions` (the definitions) and
:mod:`flowengine_nodes.devices.lint` (the capability lint). Nothing here imports zigpy.
"""

from flowengine_nodes.devices.decoder import Decoder, DecodeResult, normalize_ieee
from flowengine_nodes.devices.events import LockEvent

__all__ = ["DecodeResult", "Decoder", "LockEvent", "normalize_ieee"]
