"""Virtual Xiaomi / Aqara household devices: their interview data and the frames they send.

Every Lumi device here keeps a small state (battery voltage, device temperature, power
outage count, and what it senses) and sends two kinds of frames, as the real ones do:

* the reading itself on the standard cluster at once (a contact on On/Off, motion on
  Occupancy Sensing with the illuminance before it, temperature, humidity and pressure on
  their measurement clusters, a click on On/Off or Multistate Input, a leak as an IAS Zone
  Status Change Notification, the plug's power on Analog Input of endpoint 2);
* a *heartbeat*: Basic cluster (0x0000), manufacturer-specific (Lumi, 0x115F) report of
  attribute ``0xFF01``, type 0x42, whose bytes are a struct of ``tag, type, value``
  entries: 1 battery voltage (mV), 3 device temperature (°C), 4 an unknown constant,
  5 power outage count + 1, 6 trigger count + 1 (uint40), 10 parent NWK, then the
  model's own (11 illuminance, 0x64 contact/occupancy/leak/state, 0x64-0x66 temperature,
  humidity and pressure, 0x95-0x98 the plug's energy, voltage, current and power).

Parameters of an event update that state (a heartbeat then reports the new values), so a
scenario reads like what happens in the house: ``open``, ``motion``, ``heartbeat`` …
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any, ClassVar

from flowengine_nodes.emulator.devices import (
    BASE_EVENT_PARAMETERS,
    BASIC_CLUSTER,
    HA_PROFILE,
    IDENTIFY_CLUSTER,
    LUMI_MANUFACTURER_CODE,
    POWER_CONFIGURATION_CLUSTER,
    Endpoint,
    EventBuilder,
    Report,
    VirtualDevice,
    int_param,
    zcl_header,
)
from flowengine_nodes.emulator.encoding import (
    T_BITMAP8,
    T_BITMAP16,
    T_BOOL,
    T_ENUM8,
    T_ENUM16,
    T_INT8,
    T_INT16,
    T_INT32,
    T_SINGLE,
    T_UINT8,
    T_UINT16,
    T_UINT40,
    T_UINT64,
    Record,
    attribute_report,
    encode_value,
    lumi_struct_report,
)

ON_OFF_CLUSTER = 0x0006
ANALOG_INPUT_CLUSTER = 0x000C
MULTISTATE_INPUT_CLUSTER = 0x0012
ILLUMINANCE_CLUSTER = 0x0400
TEMPERATURE_CLUSTER = 0x0402
PRESSURE_CLUSTER = 0x0403
HUMIDITY_CLUSTER = 0x0405
OCCUPANCY_CLUSTER = 0x0406
IAS_ZONE_CLUSTER = 0x0500
OTA_CLUSTER = 0x0019
GROUPS_CLUSTER = 0x0004
SCENES_CLUSTER = 0x0005
TIME_CLUSTER = 0x000A
LUMI_CLUSTER = 0xFFFF
#: Xiaomi's own device type on its sensors' endpoint 1.
LUMI_DEVICE_TYPE = 0x5F01

#: Parameters of every Lumi heartbeat.
HEARTBEAT = frozenset({"voltage", "device_temperature", "power_outage_count"})


def float_param(params: Mapping[str, Any], name: str, default: float, low: float, high: float) -> float:
    """Return the number parameter ``name`` (``default`` when absent), checked against ``low..high``.

    Raises:
        ValueError: not a number, or out of range.
    """
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or not low <= value <= high:
        raise ValueError(f"{name} must be a number in {low}..{high}, not {value!r}")
    return float(value)


def bool_param(params: Mapping[str, Any], name: str, default: bool) -> bool:
    """Return the boolean parameter ``name`` (``default`` when absent).

    Raises:
        ValueError: not a boolean.
    """
    value = params.get(name, default)
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, not {value!r}")  # noqa: TRY004 - scenarios catch ValueError
    return value


class LumiDevice(VirtualDevice):
    """A Xiaomi / Aqara device: Lumi's manufacturer code, a heartbeat struct, a small state.

    Subclasses set ``zigbee_model``, ``endpoints_signature`` and add their readings to
    :meth:`struct_entries` and :meth:`events`.
    """

    zigbee_model: ClassVar[str]
    endpoints_signature: ClassVar[tuple[Endpoint, ...]]
    #: Heartbeat tags this model sends besides its own readings (the weather sensor has no 3).
    heartbeat_tags: ClassVar[tuple[int, ...]] = (1, 3, 4, 5, 6, 10)
    #: Events and their parameters (``raw`` and ``join`` are added).
    parameters: ClassVar[Mapping[str, frozenset[str]]] = {"heartbeat": HEARTBEAT}

    def __init__(
        self,
        name: str,
        *,
        ieee: str,
        nwk: int,
        manufacturer: str = "LUMI",
        lqi: int = 120,
        rssi: int = -60,
    ) -> None:
        super().__init__(
            name,
            ieee=ieee,
            nwk=nwk,
            model=self.zigbee_model,
            manufacturer=manufacturer,
            manufacturer_code=LUMI_MANUFACTURER_CODE,
            endpoints=self.endpoints_signature,
            lqi=lqi,
            rssi=rssi,
        )
        self.voltage = 3005
        self.device_temperature = 22
        self.power_outage_count = 0
        self.trigger_count = 0

    def event_parameters(self) -> Mapping[str, frozenset[str]]:
        """Return the parameters of this model's events."""
        return {**self.parameters, **BASE_EVENT_PARAMETERS}

    def events(self) -> dict[str, EventBuilder]:
        """The heartbeat; subclasses add their readings."""
        return {"heartbeat": self.heartbeat}

    # ---- the heartbeat ---------------------------------------------------------------------

    def heartbeat(self, params: Mapping[str, Any]) -> list[Report]:
        """The Basic-cluster ``0xFF01`` struct report with the device's current state."""
        self.voltage = int_param(params, "voltage", self.voltage, 0, 65535)
        self.device_temperature = int_param(params, "device_temperature", self.device_temperature, -128, 127)
        self.power_outage_count = int_param(params, "power_outage_count", self.power_outage_count, 0, 65534)
        self.update_state(params)
        common: dict[int, Record] = {
            1: (1, T_UINT16, self.voltage),
            3: (3, T_INT8, self.device_temperature),
            4: (4, T_UINT16, 0x13A8),
            5: (5, T_UINT16, self.power_outage_count + 1),
            6: (6, T_UINT40, self.trigger_count + 1),
            10: (10, T_UINT16, 0x0000),
        }
        entries = [common[tag] for tag in self.heartbeat_tags] + self.struct_entries()
        return [Report(lumi_struct_report(self.next_tsn(), LUMI_MANUFACTURER_CODE, entries), BASIC_CLUSTER)]

    def update_state(self, params: Mapping[str, Any]) -> None:
        """Apply a heartbeat's model-specific parameters to the state (none by default)."""

    def struct_entries(self) -> list[Record]:
        """Return the model's own heartbeat entries (its readings)."""
        return []

    def report(self, cluster: int, records: list[Record], endpoint: int | None = None) -> Report:
        """Return a standard (not manufacturer-specific) Report Attributes frame."""
        return Report(attribute_report(self.next_tsn(), records), cluster, endpoint)


def _sensor_endpoint(in_clusters: tuple[int, ...], out_clusters: tuple[int, ...] = (BASIC_CLUSTER, GROUPS_CLUSTER,
                                                                                     LUMI_CLUSTER),
                     device_type: int = LUMI_DEVICE_TYPE) -> tuple[Endpoint, ...]:
    return (Endpoint(endpoint=1, profile=HA_PROFILE, device_type=device_type, in_clusters=in_clusters,
                     out_clusters=out_clusters),)


class DoorContact(LumiDevice):
    """MCCGQ11LM (``lumi.sensor_magnet.aq2``): ``open`` / ``close`` on On/Off (1 = open), heartbeat 0x64."""

    zigbee_model = "lumi.sensor_magnet.aq2"
    endpoints_signature = _sensor_endpoint((BASIC_CLUSTER, IDENTIFY_CLUSTER, LUMI_CLUSTER, ON_OFF_CLUSTER))
    parameters = {"heartbeat": HEARTBEAT | {"contact"}, "open": frozenset(), "close": frozenset()}

    def __init__(self, name: str, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.open = False

    def events(self) -> dict[str, EventBuilder]:
        """``open``, ``close`` and the heartbeat."""
        return {**super().events(), "open": lambda params: self._contact(True),
                "close": lambda params: self._contact(False)}

    def _contact(self, opened: bool) -> list[Report]:
        self.open = opened
        self.trigger_count += 1
        return [self.report(ON_OFF_CLUSTER, [(0x0000, T_BOOL, opened)])]

    def update_state(self, params: Mapping[str, Any]) -> None:
        """``contact: open|closed`` on a heartbeat."""
        contact = params.get("contact")
        if contact is not None:
            if contact not in ("open", "closed"):
                raise ValueError(f"contact must be open or closed, not {contact!r}")
            self.open = contact == "open"

    def struct_entries(self) -> list[Record]:
        """0x64: the contact (0 closed, 1 open)."""
        return [(0x64, T_BOOL, self.open)]


class MotionSensor(LumiDevice):
    """RTCGQ11LM (``lumi.sensor_motion.aq2``): ``motion`` = illuminance then occupancy, as the real one.

    It never reports the end of motion: Zigbee2MQTT (and ``decode``) publish ``occupancy:
    false`` a timeout after the last report.
    """

    zigbee_model = "lumi.sensor_motion.aq2"
    endpoints_signature = _sensor_endpoint(
        (BASIC_CLUSTER, LUMI_CLUSTER, OCCUPANCY_CLUSTER, ILLUMINANCE_CLUSTER, POWER_CONFIGURATION_CLUSTER,
         IDENTIFY_CLUSTER),
        (BASIC_CLUSTER, OTA_CLUSTER), device_type=0x0107)
    parameters = {"heartbeat": HEARTBEAT | {"illuminance"}, "motion": frozenset({"illuminance"}),
                  "illuminance": frozenset({"illuminance"})}

    def __init__(self, name: str, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.illuminance = 120
        self.occupied = False

    def events(self) -> dict[str, EventBuilder]:
        """``motion``, ``illuminance`` and the heartbeat."""
        return {**super().events(), "motion": self._motion, "illuminance": self._illuminance}

    def update_state(self, params: Mapping[str, Any]) -> None:
        """``illuminance`` (lux) on any event."""
        self.illuminance = int_param(params, "illuminance", self.illuminance, 0, 65535)

    def _illuminance(self, params: Mapping[str, Any]) -> list[Report]:
        self.update_state(params)
        return [self.report(ILLUMINANCE_CLUSTER, [(0x0000, T_UINT16, self.illuminance)])]

    def _motion(self, params: Mapping[str, Any]) -> list[Report]:
        self.occupied = True
        return [*self._illuminance(params), self.report(OCCUPANCY_CLUSTER, [(0x0000, T_BITMAP8, 1)])]

    def struct_entries(self) -> list[Record]:
        """11: illuminance; 0x64: occupancy."""
        return [(11, T_UINT16, self.illuminance), (0x64, T_BOOL, self.occupied)]


class WeatherSensor(LumiDevice):
    """WSDCGQ11LM (``lumi.weather``): temperature, humidity and pressure (with its scaled value).

    ``weather`` sends the three reports in a row; each also has its own event. Pressure is
    one frame with ``measuredValue`` (hPa), ``scale`` (-1) and ``scaledValue`` (0.1 hPa).
    """

    zigbee_model = "lumi.weather"
    endpoints_signature = _sensor_endpoint(
        (BASIC_CLUSTER, IDENTIFY_CLUSTER, LUMI_CLUSTER, TEMPERATURE_CLUSTER, PRESSURE_CLUSTER, HUMIDITY_CLUSTER))
    heartbeat_tags = (1, 4, 5, 6, 10)
    parameters = {
        "heartbeat": HEARTBEAT | {"temperature", "humidity", "pressure"},
        "weather": frozenset({"temperature", "humidity", "pressure"}),
        "temperature": frozenset({"temperature"}),
        "humidity": frozenset({"humidity"}),
        "pressure": frozenset({"pressure"}),
    }

    def __init__(self, name: str, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.temperature = 21.5
        self.humidity = 45.0
        self.pressure = 1013.2

    def events(self) -> dict[str, EventBuilder]:
        """``weather``, ``temperature``, ``humidity``, ``pressure`` and the heartbeat."""
        return {
            **super().events(),
            "weather": lambda params: [*self._temperature(params), *self._humidity(params), *self._pressure(params)],
            "temperature": self._temperature,
            "humidity": self._humidity,
            "pressure": self._pressure,
        }

    def update_state(self, params: Mapping[str, Any]) -> None:
        """``temperature`` (°C), ``humidity`` (%), ``pressure`` (hPa)."""
        self.temperature = float_param(params, "temperature", self.temperature, -327.67, 327.67)
        self.humidity = float_param(params, "humidity", self.humidity, 0, 655.35)
        self.pressure = float_param(params, "pressure", self.pressure, 0, 3276.7)

    def _temperature(self, params: Mapping[str, Any]) -> list[Report]:
        self.update_state(params)
        return [self.report(TEMPERATURE_CLUSTER, [(0x0000, T_INT16, round(self.temperature * 100))])]

    def _humidity(self, params: Mapping[str, Any]) -> list[Report]:
        self.update_state(params)
        return [self.report(HUMIDITY_CLUSTER, [(0x0000, T_UINT16, round(self.humidity * 100))])]

    def _pressure(self, params: Mapping[str, Any]) -> list[Report]:
        self.update_state(params)
        records: list[Record] = [
            (0x0000, T_INT16, round(self.pressure)),
            (0x0014, T_INT8, -1),
            (0x0010, T_INT16, round(self.pressure * 10)),
        ]
        return [self.report(PRESSURE_CLUSTER, records)]

    def struct_entries(self) -> list[Record]:
        """0x64 temperature (0.01 °C), 0x65 humidity (0.01 %), 0x66 pressure (Pa)."""
        return [
            (0x64, T_INT16, round(self.temperature * 100)),
            (0x65, T_UINT16, round(self.humidity * 100)),
            (0x66, T_INT32, round(self.pressure * 100)),
        ]


#: WXKG11LM clicks on On/Off: 1 as ``onOff`` true, 2-4 as attribute 0x8000 (the click count).
BUTTON_CLICKS = {"single": 1, "double": 2, "triple": 3, "quadruple": 4}
#: Multistate Input ``presentValue`` of the newer firmware (``lumi.remote.b1acn01``) for hold / release.
BUTTON_MULTISTATE = {"hold": 0, "release": 255}


class Button(LumiDevice):
    """WXKG11LM (``lumi.sensor_switch.aq2``): ``single`` … ``quadruple`` on On/Off; ``hold``/``release`` multistate."""

    zigbee_model = "lumi.sensor_switch.aq2"
    endpoints_signature = _sensor_endpoint((BASIC_CLUSTER, LUMI_CLUSTER, ON_OFF_CLUSTER, MULTISTATE_INPUT_CLUSTER))
    parameters = {"heartbeat": HEARTBEAT, **{name: frozenset() for name in (*BUTTON_CLICKS, *BUTTON_MULTISTATE)}}

    def events(self) -> dict[str, EventBuilder]:
        """One event per action, and the heartbeat."""
        table = super().events()
        for name, clicks in BUTTON_CLICKS.items():
            table[name] = functools.partial(self._clicks, clicks)
        for name, value in BUTTON_MULTISTATE.items():
            table[name] = functools.partial(self._multistate, value)
        return table

    def _clicks(self, clicks: int, params: Mapping[str, Any]) -> list[Report]:
        record: Record = (0x0000, T_BOOL, True) if clicks == 1 else (0x8000, T_UINT8, clicks)
        return [self.report(ON_OFF_CLUSTER, [record])]

    def _multistate(self, value: int, params: Mapping[str, Any]) -> list[Report]:
        return [self.report(MULTISTATE_INPUT_CLUSTER, [(0x0055, T_UINT16, value)])]


class LeakSensor(LumiDevice):
    """SJCGQ11LM (``lumi.sensor_wleak.aq1``): ``wet`` / ``dry`` as IAS Zone Status Change Notifications."""

    zigbee_model = "lumi.sensor_wleak.aq1"
    endpoints_signature = _sensor_endpoint(
        (BASIC_CLUSTER, IDENTIFY_CLUSTER, POWER_CONFIGURATION_CLUSTER, IAS_ZONE_CLUSTER), (OTA_CLUSTER,),
        device_type=0x0402)
    parameters = {"heartbeat": HEARTBEAT, "wet": frozenset({"battery_low", "tamper"}),
                  "dry": frozenset({"battery_low", "tamper"})}

    def __init__(self, name: str, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.wet = False
        # IAS Zone attributes as the real one answers: zone state enrolled, type water sensor (0x002A).
        self.attributes[(1, IAS_ZONE_CLUSTER, 0x0000)] = (T_ENUM8, encode_value(T_ENUM8, 1))
        self.attributes[(1, IAS_ZONE_CLUSTER, 0x0001)] = (T_ENUM16, encode_value(T_ENUM16, 0x002A))
        self.attributes[(1, IAS_ZONE_CLUSTER, 0x0002)] = (T_BITMAP16, encode_value(T_BITMAP16, 0))

    def events(self) -> dict[str, EventBuilder]:
        """``wet``, ``dry`` and the heartbeat."""
        return {**super().events(), "wet": lambda params: self._zone(True, params),
                "dry": lambda params: self._zone(False, params)}

    def _zone(self, wet: bool, params: Mapping[str, Any]) -> list[Report]:
        self.wet = wet
        if wet:
            self.trigger_count += 1
        status = int(wet) | bool_param(params, "tamper", False) << 2 | bool_param(params, "battery_low", False) << 3
        self.attributes[(1, IAS_ZONE_CLUSTER, 0x0002)] = (T_BITMAP16, encode_value(T_BITMAP16, status))
        # Zone Status Change Notification: zone status, extended status, zone id, delay.
        header = zcl_header(tsn=self.next_tsn(), command=0x00, cluster_specific=True)
        body = status.to_bytes(2, "little") + bytes((0x00, 0x01)) + (0).to_bytes(2, "little")
        return [Report(header + body, IAS_ZONE_CLUSTER)]

    def struct_entries(self) -> list[Record]:
        """0x64: the leak (Zigbee2MQTT ignores it, as it is unreliable on the real device)."""
        return [(0x64, T_BOOL, self.wet)]


class SmartPlug(LumiDevice):
    """ZNCZ02LM (``lumi.plug``): a mains-powered router with power metering.

    ``on`` / ``off`` report On/Off (endpoint 1); ``power`` reports Analog Input
    ``presentValue`` (W, single float) on endpoint 2, as the plug does periodically and on
    every change; the heartbeat struct carries 3 device temperature, 5 power outages, 7-9,
    0x64 state, 0x95 energy (kWh), 0x96 voltage (0.1 V), 0x97 current (mA), 0x98 power (W), 0x9A.
    """

    zigbee_model = "lumi.plug"
    logical_type = 0x01  # router
    mac_capability = 0x8E  # full-function device, mains powered, receiver on when idle
    power_source = 0x01
    heartbeat_tags = (3, 5)
    endpoints_signature = (
        Endpoint(endpoint=1, profile=HA_PROFILE, device_type=0x0051,
                 in_clusters=(BASIC_CLUSTER, GROUPS_CLUSTER, IDENTIFY_CLUSTER, ON_OFF_CLUSTER, SCENES_CLUSTER,
                              TIME_CLUSTER, POWER_CONFIGURATION_CLUSTER, 0x0002),
                 out_clusters=(OTA_CLUSTER, TIME_CLUSTER)),
        Endpoint(endpoint=2, profile=HA_PROFILE, device_type=0x0009, in_clusters=(ANALOG_INPUT_CLUSTER,),
                 out_clusters=(ANALOG_INPUT_CLUSTER, GROUPS_CLUSTER)),
        Endpoint(endpoint=3, profile=HA_PROFILE, device_type=0x0053, in_clusters=(ANALOG_INPUT_CLUSTER,),
                 out_clusters=(ANALOG_INPUT_CLUSTER,)),
    )
    metering = frozenset({"power", "energy", "voltage", "current"})
    parameters = {"heartbeat": HEARTBEAT | metering | {"state"}, "on": frozenset(), "off": frozenset(),
                  "power": frozenset({"power"})}

    def __init__(self, name: str, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.on = True
        self.power = 0.0
        self.energy = 0.0
        self.volts = 230.0
        self.current = 0.0
        self.device_temperature = 30
        self.attributes[(1, ON_OFF_CLUSTER, 0x0000)] = (T_BOOL, b"\x01")

    def events(self) -> dict[str, EventBuilder]:
        """``on``, ``off``, ``power`` and the heartbeat."""
        return {**super().events(), "on": lambda params: self._switch(True),
                "off": lambda params: self._switch(False), "power": self._power}

    def _switch(self, on: bool) -> list[Report]:
        self.on = on
        self.attributes[(1, ON_OFF_CLUSTER, 0x0000)] = (T_BOOL, bytes((int(on),)))
        return [self.report(ON_OFF_CLUSTER, [(0x0000, T_BOOL, on)])]

    def _power(self, params: Mapping[str, Any]) -> list[Report]:
        self.power = float_param(params, "power", self.power, 0, 1e6)
        return [self.report(ANALOG_INPUT_CLUSTER, [(0x0055, T_SINGLE, self.power)], endpoint=2)]

    def update_state(self, params: Mapping[str, Any]) -> None:
        """``state`` (ON/OFF), ``power`` (W), ``energy`` (kWh), ``voltage`` (V), ``current`` (A)."""
        state = params.get("state")
        if state is not None:
            if state not in ("ON", "OFF"):
                raise ValueError(f"state must be ON or OFF, not {state!r}")
            self.on = state == "ON"
        self.power = float_param(params, "power", self.power, 0, 1e6)
        self.energy = float_param(params, "energy", self.energy, 0, 1e9)
        self.current = float_param(params, "current", self.current, 0, 1e3)

    def heartbeat(self, params: Mapping[str, Any]) -> list[Report]:
        """The struct; ``voltage`` is the mains voltage here (V), not a battery's."""
        self.volts = float_param(params, "voltage", self.volts, 0, 1000)
        return super().heartbeat({key: value for key, value in params.items() if key != "voltage"})

    def struct_entries(self) -> list[Record]:
        """The plug's own entries, in the real device's order.

        7-9 (counters nobody decodes), 0x64 state, 0x95 energy, 0x96 voltage (0.1 V), 0x97
        current (mA), 0x98 power, 0x9A (unknown).
        """
        return [
            (7, T_UINT64, 0),
            (8, T_UINT16, 0x102E),
            (9, T_UINT16, 0x0400),
            (0x64, T_BOOL, self.on),
            (0x95, T_SINGLE, self.energy),
            (0x96, T_SINGLE, round(self.volts * 10)),
            (0x97, T_SINGLE, round(self.current * 1000)),
            (0x98, T_SINGLE, self.power),
            (0x9A, T_UINT8, 0),
        ]
