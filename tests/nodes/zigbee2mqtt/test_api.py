"""zigbee2mqtt-api: bridge requests answered as Zigbee2MQTT 2.x does, device requests passed on, bridge/devices kept."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from flowengine import Message, NodeContext, StateStore, WallClock
from flowengine_nodes.zigbee2mqtt.api import Zigbee2MqttApi, Zigbee2MqttApiConfig

LIGHT = "00:0b:57:ff:fe:00:00:07"


def _node(tmp_path: Path) -> tuple[Zigbee2MqttApi, list[Message], list[Message], StateStore]:
    store = StateStore(None)
    context = NodeContext(node_id="api", flow_name="test", flow_dir=tmp_path, clock=WallClock(),
                          state=store.node("api"))
    node = Zigbee2MqttApi(Zigbee2MqttApiConfig.model_validate({"friendly_names": {LIGHT: "hall_light"}}), context)
    out: list[Message] = []
    commands: list[Message] = []
    node.bind_output("out", out.append)
    node.bind_output("commands", commands.append)
    return node, out, commands, store


def _request(node: Zigbee2MqttApi, request: str, payload: Any) -> Any:
    answer = node.process(Message(f"zigbee2mqtt/bridge/request/{request}", payload, {}))
    assert answer is not None
    assert answer.topic == f"zigbee2mqtt/bridge/response/{request}"
    return answer.payload


def test_bridge_requests_are_answered_with_the_transaction(tmp_path: Path) -> None:
    node, _, commands, store = _node(tmp_path)
    assert _request(node, "health_check", '{"transaction": 3}') == {
        "data": {"healthy": True}, "status": "ok", "transaction": 3}
    assert _request(node, "permit_join", '{"time": 30}') == {"data": {"time": 30}, "status": "ok"}
    assert commands[-1].payload == {"time": 30}
    assert commands[-1].meta["command"] == "permit_join"
    refused = _request(node, "permit_join", '{"time": 300, "transaction": "x"}')
    assert refused["status"] == "error"
    assert refused["transaction"] == "x"
    assert _request(node, "options", "not json") == {"data": {}, "status": "error", "error": "Invalid JSON payload"}
    rename = _request(node, "device/rename", {"from": "a", "to": "b"})
    assert rename["status"] == "error"
    assert "not served by flowengine" in rename["error"]
    store.close()


def test_device_requests_go_to_the_radio_and_bridge_devices_follows_its_events(tmp_path: Path) -> None:
    node, out, commands, store = _node(tmp_path)
    asyncio.run(node.start())
    assert [m.topic for m in out] == ["zigbee2mqtt/bridge/info", "zigbee2mqtt/bridge/devices",
                                      "zigbee2mqtt/bridge/groups"]
    assert all(m.meta["mqtt_retain"] for m in out)
    assert out[1].payload[0]["interview_state"] == "PENDING"
    assert node.process(Message("zigbee2mqtt/hall_light/set", '{"state":"ON"}', {})) is None
    assert commands[-1].topic == "zigbee2mqtt/hall_light/set"
    event = {"event": "device_interviewed", "ieee": LIGHT, "nwk": "0x0007", "model": "TRADFRI bulb E27 WS opal 980lm",
             "manufacturer": "IKEA of Sweden",
             "endpoints": [{"endpoint": 1, "in_clusters": [0, 6, 8, 768], "out_clusters": [25]}]}
    devices = node.process(Message("zigbee/event/device_interviewed", event, {}))
    assert devices is not None
    assert devices.meta["mqtt_retain"] is True
    light = devices.payload[0]
    assert light["ieee_address"] == "0x000b57fffe000007"
    assert light["friendly_name"] == "hall_light"
    assert light["network_address"] == 7
    assert light["definition"]["model"] == "LED1545G12"
    assert light["interview_state"] == "SUCCESSFUL"
    assert light["endpoints"]["1"]["clusters"] == {"input": ["genBasic", "genOnOff", "genLevelCtrl",
                                                             "lightingColorCtrl"], "output": ["genOta"]}
    assert node.process(Message("zigbee/event/device_interviewed", event, {})) is None  # nothing changed
    store.close()
