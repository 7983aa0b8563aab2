"""Zigbee2MQTT-compatible decoding: ZCL parsing, device definitions, converters, typed device events, lint.

The public entry points are :class:`~flowengine_nodes.devices.decoder.Decoder` (raw report -> payload
and typed event), :mod:`flowengine_nodes.devices.definitions` (the definitions) and
:mod:`flowengine_nodes.devices.lint` (the capability lint). Nothing here imports zigpy.
"""

from flowengine_nodes.devices.decoder import Decoder, DecodeResult, normalize_ieee
from flowengine_nodes.devices.events import DeviceEvent, LockEvent

__all__ = ["DecodeResult", "Decoder", "DeviceEvent", "LockEvent", "compiled", "normalize_ieee"]


def compiled() -> bool:
    """Whether the cold decoding path runs as C extensions (a ``FLOWENGINE_COMPILE=1`` build, see setup.py)."""
    from flowengine_nodes.devices import decoder

    return not (decoder.__file__ or "").endswith(".py")
