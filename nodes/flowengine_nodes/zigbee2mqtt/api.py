"""``zigbee2mqtt-api``: Zigbee2MQTT 2.x's MQTT API in front of a ``zigbee`` node (docs/zigbee2mqtt.md).

Fed by an ``mqtt-in`` subscribed to ``<base>/+/set``, ``<base>/+/set/+``, ``<base>/+/get`` and
``<base>/bridge/request/#``, and by the ``zigbee`` node's ``events``:

* device requests (``<base>/<name>/set…``, ``…/get``) leave unchanged on ``commands`` (wire it into
  the ``zigbee`` node, which checks and runs them);
* bridge requests are answered on ``out`` with ``<base>/bridge/response/<request>``
  (``{"data", "status", "error"?, "transaction"?}`` as Zigbee2MQTT 2.x): ``permit_join``
  (``{"time": N}``, forwarded to the radio on ``commands``) and ``health_check`` are served; the
  requests that change what the YAML declares (renames, removal, options, groups, binds, …) answer
  an error saying so;
* ``<base>/bridge/info``, ``<base>/bridge/devices`` and ``<base>/bridge/groups`` leave on ``out``
  retained (``meta.mqtt_retain``) at start, and ``bridge/devices`` again whenever a device joins, is
  interviewed, is restored at connect or leaves.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from pydantic import Field

from flowengine import Message, NodeConfig, NodeContext, Transform
from flowengine_nodes.zigbee2mqtt.bridge import zigbee2mqtt_ieee

COMMANDS_PORT = "commands"
SERVED = ("permit_join", "health_check")
#: Zigbee2MQTT 2.x cluster names of the household's clusters (bridge/devices' endpoints).
CLUSTER_NAMES = {
    0x0000: "genBasic", 0x0001: "genPowerCfg", 0x0002: "genDeviceTempCfg", 0x0003: "genIdentify",
    0x0004: "genGroups", 0x0005: "genScenes", 0x0006: "genOnOff", 0x0008: "genLevelCtrl", 0x000A: "genTime",
    0x000C: "genAnalogInput", 0x0010: "genBinaryOutput", 0x0012: "genMultistateInput", 0x0019: "genOta",
    0x0020: "genPollCtrl", 0x0101: "closuresDoorLock", 0x0300: "lightingColorCtrl",
    0x0400: "msIlluminanceMeasurement", 0x0402: "msTemperatureMeasurement", 0x0403: "msPressureMeasurement",
    0x0405: "msRelativeHumidity", 0x0406: "msOccupancySensing", 0x0500: "ssIasZone", 0x0B05: "haDiagnostic",
    0x1000: "touchlink", 0xFCC0: "manuSpecificLumi",
}
_ROUTER_MODELS = frozenset({"LED1545G12", "ZNCZ02LM"})


class Zigbee2MqttApiConfig(NodeConfig):
    """Config of ``zigbee2mqtt-api``."""

    base_topic: str = Field("zigbee2mqtt", description="Zigbee2MQTT's base topic.")
    friendly_names: dict[str, str] = Field(
        default_factory=dict, description="ieee (any usual form) -> friendly name: the devices the bridge lists.")
    version: str = Field("2.14.1", description="The Zigbee2MQTT version bridge/info claims compatibility with.")


class Zigbee2MqttApi(Transform[Zigbee2MqttApiConfig]):
    """Zigbee2MQTT's MQTT API: device requests to the radio, bridge requests answered, bridge topics.

    Example:
        ```yaml
        version: 1
        nodes:
          - id: requests
            type: mqtt-in
            broker: mqtt://127.0.0.1:1883
            topics: [zigbee2mqtt/+/set, zigbee2mqtt/+/set/+, zigbee2mqtt/+/get, zigbee2mqtt/bridge/request/#]
            qos: 1
            format: text
            wires: [api]
          - id: api
            type: zigbee2mqtt-api
            friendly_names: {"00:0b:57:ff:fe:00:00:07": hall_light}
            wires: {out: [publish], commands: [radio]}
          - id: radio
            type: zigbee
            device: emulated
            friendly_names: {"00:0b:57:ff:fe:00:00:07": hall_light}
            wires: {events: [api], state: [publish]}
          - id: publish
            type: mqtt-out
            broker: mqtt://127.0.0.1:1883
            zigbee2mqtt: {}
        ```
    """

    config_model: ClassVar[type[NodeConfig]] = Zigbee2MqttApiConfig
    outputs: ClassVar[tuple[str, ...]] = ("out", COMMANDS_PORT)
    allows_cycles: ClassVar[bool] = True

    def __init__(self, config: Zigbee2MqttApiConfig, context: NodeContext) -> None:
        super().__init__(config, context)
        self.base = config.base_topic
        self.request_prefix = f"{self.base}/bridge/request/"
        #: ieee (colon form) -> what the radio said about it (model, manufacturer, nwk, endpoints, state).
        self.devices: dict[str, dict[str, Any]] = {
            _colon(ieee): {"name": name} for ieee, name in config.friendly_names.items()}
        self.coordinator: str | None = None

    async def start(self) -> None:
        """Publish bridge/info, bridge/devices and bridge/groups (retained)."""
        for message in (self._info(), self._device_list(), self._retained("groups", [])):
            self.emit(message)

    def process(self, msg: Message) -> Message | None:
        """Route one message: a device request, a bridge request or a radio event."""
        topic = msg.topic
        if topic.startswith("zigbee/event/"):
            return self._event(msg)
        if topic.startswith(self.request_prefix):
            return self._request(topic.removeprefix(self.request_prefix), msg)
        if topic.startswith(self.base + "/") and "/bridge/" not in topic:
            self.emit(msg, COMMANDS_PORT)
        return None

    # ---- bridge requests -------------------------------------------------------------------

    def _request(self, request: str, msg: Message) -> Message:
        payload: Any = msg.payload
        if isinstance(payload, bytes | str):
            try:
                payload = json.loads(payload) if payload else {}
            except ValueError:
                return self._response(request, None, error="Invalid JSON payload")
        transaction = payload.get("transaction") if isinstance(payload, dict) else None
        if request == "health_check":
            return self._response(request, transaction, data={"healthy": True})
        if request == "permit_join":
            time = payload.get("time") if isinstance(payload, dict) else None
            if not isinstance(time, int) or isinstance(time, bool) or not 0 <= time <= 254:
                return self._response(request, transaction, error="permit_join needs {\"time\": 0-254} (seconds)")
            self.emit(Message(f"{self.base}/bridge/request/permit_join", {"time": time},
                              {**msg.meta, "command": "permit_join"}), COMMANDS_PORT)
            return self._response(request, transaction, data={"time": time})
        return self._response(request, transaction, error=(
            f"'{request}' is not served by flowengine: devices, names, options and groups come from the "
            "flow's YAML (served: permit_join, health_check)"))

    def _response(self, request: str, transaction: Any, *, data: Any = None, error: str | None = None
                  ) -> Message:
        payload: dict[str, Any] = {"data": data if data is not None else {}, "status": "error" if error else "ok"}
        if error:
            payload["error"] = error
            self.logger.warning("zigbee2mqtt-api %s: request '%s' refused: %s", self.id, request, error)
        if transaction is not None:
            payload["transaction"] = transaction
        return Message(f"{self.base}/bridge/response/{request}", payload, {"mqtt_retain": False})

    # ---- radio events --------------------------------------------------------------------------

    def _event(self, msg: Message) -> Message | None:
        event = msg.payload if isinstance(msg.payload, dict) else {}
        kind = event.get("event")
        ieee = event.get("ieee")
        if kind == "coordinator":
            return None
        if not isinstance(ieee, str) or kind not in (
                "device_joined", "device_interviewed", "device_restored", "device_interview_failed", "device_left",
                "device_removed"):
            return None
        ieee = _colon(ieee)
        if kind in ("device_left", "device_removed"):
            if self.devices.pop(ieee, None) is None:
                return None
            return self._device_list()
        known = self.devices.setdefault(ieee, {"name": ieee})
        before = dict(known)
        known.update({key: event[key] for key in ("nwk", "model", "manufacturer", "endpoints") if key in event})
        known["interview"] = {"device_joined": known.get("interview", "PENDING"), "device_interview_failed": "FAILED"
                              }.get(kind, "SUCCESSFUL")
        return None if known == before else self._device_list()

    # ---- bridge topics -----------------------------------------------------------------------------

    def _retained(self, name: str, payload: Any) -> Message:
        return Message(f"{self.base}/bridge/{name}", payload, {"mqtt_retain": True})

    def _info(self) -> Message:
        return self._retained("info", {
            "version": self.config.version, "commit": "flowengine", "coordinator": {"type": "deCONZ", "meta": {}},
            "network": {}, "log_level": "info", "permit_join": False, "permit_join_end": None,
            "restart_required": False, "config": {"mqtt": {"base_topic": self.base}, "advanced": {}},
            "config_schema": {},
        })

    def _device_list(self) -> Message:
        return self._retained("devices", [_device_entry(ieee, known) for ieee, known in sorted(
            self.devices.items(), key=lambda item: str(item[1].get("name")))])


def _colon(ieee: str) -> str:
    digits = ieee.lower().removeprefix("0x").replace(":", "")
    return ":".join(digits[i:i + 2] for i in range(0, len(digits), 2))


def _device_entry(ieee: str, known: dict[str, Any]) -> dict[str, Any]:
    """One device of ``bridge/devices``, in Zigbee2MQTT 2.x's shape."""
    from flowengine_nodes.devices.definitions import default_registry

    model_id = known.get("model")
    definition = default_registry().find(model_id) if model_id else None
    router = definition is not None and definition.model in _ROUTER_MODELS
    nwk = known.get("nwk")
    endpoints = {
        str(endpoint["endpoint"]): {
            "bindings": [], "configured_reportings": [], "scenes": [],
            "clusters": {"input": [CLUSTER_NAMES.get(c, str(c)) for c in endpoint.get("in_clusters", [])],
                         "output": [CLUSTER_NAMES.get(c, str(c)) for c in endpoint.get("out_clusters", [])]},
        }
        for endpoint in known.get("endpoints") or []
    }
    described = None
    if definition is not None:
        as_json = definition.to_json()
        described = {"model": definition.model, "vendor": definition.vendor, "description": definition.description,
                     "exposes": as_json["exposes"], "options": as_json["options"], "source": "native",
                     "supports_ota": definition.ota}
    interview = known.get("interview", "PENDING")
    return {
        "ieee_address": zigbee2mqtt_ieee(ieee),
        "friendly_name": known.get("name", ieee),
        "type": "Router" if router else "EndDevice",
        "network_address": int(nwk, 16) if isinstance(nwk, str) else nwk,
        "supported": definition is not None,
        "disabled": False,
        "definition": described,
        "power_source": "Mains (single phase)" if router else "Battery",
        "model_id": model_id,
        "manufacturer": known.get("manufacturer"),
        "interview_completed": interview == "SUCCESSFUL",
        "interviewing": interview == "PENDING",
        "interview_state": interview,
        "endpoints": endpoints,
    }
