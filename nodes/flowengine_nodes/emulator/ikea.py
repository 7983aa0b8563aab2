"""A virtual IKEA TRADFRI white-spectrum bulb (LED1545G12, ``TRADFRI bulb E27 WS opal 980lm``).

A mains-powered router with one Home Automation endpoint (color temperature light, 0x010C)
whose On/Off, Level Control and Color Control attributes can be read, and which reports
them when they change: ``on`` / ``off`` (On/Off ``onOff``), ``brightness`` (Level Control
``currentLevel``, 0-254) and ``color_temp`` (Color Control ``colorTemperature`` in mireds
with ``colorMode`` 2, colour temperature). It answers no commands yet: a command gets the
ordinary Default Response "unsupported cluster command".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flowengine_nodes.emulator.devices import (
    BASE_EVENT_PARAMETERS,
    BASIC_CLUSTER,
    HA_PROFILE,
    IDENTIFY_CLUSTER,
    Endpoint,
    EventBuilder,
    OtaFirmware,
    Report,
    VirtualDevice,
    int_param,
)
from flowengine_nodes.emulator.encoding import (
    T_BITMAP16,
    T_BOOL,
    T_ENUM8,
    T_UINT8,
    T_UINT16,
    Record,
    attribute_report,
    encode_value,
)

IKEA_MANUFACTURER_CODE = 0x117C
ON_OFF_CLUSTER = 0x0006
LEVEL_CLUSTER = 0x0008
COLOR_CLUSTER = 0x0300
#: LED1545G12's colour temperature range, in mireds (2200-4000 K).
COLOR_TEMP_MIN = 250
COLOR_TEMP_MAX = 454
#: Color Control ``colorMode`` for colour temperature.
COLOR_MODE_TEMPERATURE = 2


class TradfriBulb(VirtualDevice):
    """LED1545G12: state, brightness and colour temperature, read and reported (no commands yet)."""

    logical_type = 0x01  # router
    mac_capability = 0x8E  # full-function device, mains powered, receiver on when idle
    power_source = 0x01

    def __init__(
        self,
        name: str,
        *,
        ieee: str,
        nwk: int,
        manufacturer: str = "IKEA of Sweden",
        lqi: int = 120,
        rssi: int = -60,
        firmware_version: int = 0x23086631,
    ) -> None:
        endpoint = Endpoint(
            endpoint=1,
            profile=HA_PROFILE,
            device_type=0x010C,
            in_clusters=(BASIC_CLUSTER, IDENTIFY_CLUSTER, 0x0004, 0x0005, ON_OFF_CLUSTER, LEVEL_CLUSTER,
                         COLOR_CLUSTER, 0x0B05, 0x1000),
            out_clusters=(0x0005, 0x0019, 0x0020, 0x1000),
        )
        super().__init__(
            name,
            ieee=ieee,
            nwk=nwk,
            model="TRADFRI bulb E27 WS opal 980lm",
            manufacturer=manufacturer,
            manufacturer_code=IKEA_MANUFACTURER_CODE,
            endpoints=(endpoint,),
            lqi=lqi,
            rssi=rssi,
            ota=OtaFirmware(IKEA_MANUFACTURER_CODE, 0x2101, firmware_version),
        )
        self.on = False
        self.level = 254
        self.color_temp = 370
        self._store()
        self._set(COLOR_CLUSTER, 0x4001, T_ENUM8, COLOR_MODE_TEMPERATURE)  # enhancedColorMode
        self._set(COLOR_CLUSTER, 0x400A, T_BITMAP16, 0x0010)  # colorCapabilities: colour temperature
        self._set(COLOR_CLUSTER, 0x400B, T_UINT16, COLOR_TEMP_MIN)
        self._set(COLOR_CLUSTER, 0x400C, T_UINT16, COLOR_TEMP_MAX)

    def _set(self, cluster: int, attribute: int, data_type: int, value: int | bool) -> None:
        self.attributes[(1, cluster, attribute)] = (data_type, encode_value(data_type, value))

    def _store(self) -> None:
        self._set(ON_OFF_CLUSTER, 0x0000, T_BOOL, self.on)
        self._set(LEVEL_CLUSTER, 0x0000, T_UINT8, self.level)
        self._set(COLOR_CLUSTER, 0x0007, T_UINT16, self.color_temp)
        self._set(COLOR_CLUSTER, 0x0008, T_ENUM8, COLOR_MODE_TEMPERATURE)

    def event_parameters(self) -> Mapping[str, frozenset[str]]:
        """``on``, ``off``, ``brightness`` (``brightness``), ``color_temp`` (``color_temp``)."""
        return {"on": frozenset(), "off": frozenset(), "brightness": frozenset({"brightness"}),
                "color_temp": frozenset({"color_temp"}), **BASE_EVENT_PARAMETERS}

    def events(self) -> dict[str, EventBuilder]:
        """The bulb's attribute reports."""
        return {
            "on": lambda params: self._switch(True),
            "off": lambda params: self._switch(False),
            "brightness": self._brightness,
            "color_temp": self._color_temp,
        }

    def _report(self, cluster: int, records: list[Record]) -> list[Report]:
        self._store()
        return [Report(attribute_report(self.next_tsn(), records), cluster)]

    def _switch(self, on: bool) -> list[Report]:
        self.on = on
        return self._report(ON_OFF_CLUSTER, [(0x0000, T_BOOL, on)])

    def _brightness(self, params: Mapping[str, Any]) -> list[Report]:
        self.level = int_param(params, "brightness", self.level, 0, 254)
        return self._report(LEVEL_CLUSTER, [(0x0000, T_UINT8, self.level)])

    def _color_temp(self, params: Mapping[str, Any]) -> list[Report]:
        self.color_temp = int_param(params, "color_temp", self.color_temp, COLOR_TEMP_MIN, COLOR_TEMP_MAX)
        return self._report(COLOR_CLUSTER, [(0x0007, T_UINT16, self.color_temp),
                                             (0x0008, T_ENUM8, COLOR_MODE_TEMPERATURE)])
