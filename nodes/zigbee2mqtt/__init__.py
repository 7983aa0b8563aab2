"""Zigbee2MQTT-compatible decoding: ZCL parsing, device definitions, converters, lock events, lint.

The public entry points are :class:`~nodes.zigbee2mqtt.decoder.Decoder` (raw report -> payload
and typed event), :mod:`nodes.zigbee2mqtt.devices` (the definitions) and
:mod:`nodes.zigbee2mqtt.lint` (the capability lint). Nothing here imports zigpy.
"""

from nodes.zigbee2mqtt.decoder import Decoder, DecodeResult, normalize_ieee
from nodes.zigbee2mqtt.events import LockEvent

__all__ = ["DecodeResult", "Decoder", "LockEvent", "normalize_ieee"]
