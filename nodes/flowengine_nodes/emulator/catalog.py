"""The emulator's device models: Zigbee model id ↔ Zigbee2MQTT model, and building a device from a scenario entry."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flowengine_nodes.emulator.devices import LOCK_MODELS, LumiLock, VirtualDevice
from flowengine_nodes.emulator.ikea import TradfriBulb
from flowengine_nodes.emulator.xiaomi import Button, DoorContact, LeakSensor, MotionSensor, SmartPlug, WeatherSensor

#: Every model the emulator knows: Zigbee model id -> Zigbee2MQTT model.
MODELS: dict[str, str] = {
    **LOCK_MODELS,
    "lumi.sensor_magnet.aq2": "MCCGQ11LM",
    "lumi.sensor_motion.aq2": "RTCGQ11LM",
    "lumi.weather": "WSDCGQ11LM",
    "lumi.sensor_switch.aq2": "WXKG11LM",
    "lumi.sensor_wleak.aq1": "SJCGQ11LM",
    "lumi.plug": "ZNCZ02LM",
    "TRADFRI bulb E27 WS opal 980lm": "LED1545G12",
}

_HOUSEHOLD: dict[str, Callable[..., VirtualDevice]] = {
    "lumi.sensor_magnet.aq2": DoorContact,
    "lumi.sensor_motion.aq2": MotionSensor,
    "lumi.weather": WeatherSensor,
    "lumi.sensor_switch.aq2": Button,
    "lumi.sensor_wleak.aq1": LeakSensor,
    "lumi.plug": SmartPlug,
    "TRADFRI bulb E27 WS opal 980lm": TradfriBulb,
}


def zigbee_model(model: str) -> str:
    """Return the Zigbee model id for a Zigbee model id or a Zigbee2MQTT model.

    Raises:
        ValueError: the emulator has no such model.
    """
    if model in MODELS:
        return model
    for zigbee, z2m in MODELS.items():
        if z2m == model:
            return zigbee
    known = ", ".join(f"{zigbee} ({z2m})" for zigbee, z2m in MODELS.items())
    raise ValueError(f"unknown model {model!r}; known: {known}")


def make_device(name: str, spec: Mapping[str, Any]) -> VirtualDevice:
    """Build a virtual device from a scenario's device entry (``model``, ``ieee``, ``nwk``, …).

    ``manufacturer`` unset (or None) is the model's own (LUMI, IKEA of Sweden).

    Raises:
        ValueError: unknown model or bad values.
    """
    model = zigbee_model(str(spec.get("model", "lumi.lock.aq1")))
    common: dict[str, Any] = {
        "ieee": str(spec["ieee"]),
        "nwk": int(spec["nwk"]),
        "lqi": int(spec.get("lqi", 120)),
        "rssi": int(spec.get("rssi", -60)),
    }
    if spec.get("manufacturer") is not None:
        common["manufacturer"] = str(spec["manufacturer"])
    if model in LOCK_MODELS:
        return LumiLock(name, model=model, firmware_version=int(spec.get("firmware_version", 0x10)), **common)
    return _HOUSEHOLD[model](name, **common)
