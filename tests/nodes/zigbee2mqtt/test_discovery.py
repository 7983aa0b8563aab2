"""Home Assistant discovery is Zigbee2MQTT 2.14.1's, message for message (tests/data/z2m_discovery.jsonl).

The expectations are what Zigbee2MQTT's own homeassistant extension published for the
household's eight devices (oracle/discovery_oracle.js, run on the npm package; see
oracle/README.md). Two checks: the port of the extension, fed Zigbee2MQTT's own exposes,
gives exactly those payloads; and the pipeline from the decoder's definitions gives the
same topics and payloads, except for the differences of the definitions listed below.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flowengine import Message, StateStore
from flowengine_nodes.zigbee2mqtt.bridge import Zigbee2Mqtt
from flowengine_nodes.zigbee2mqtt.discovery import discovery_payload, expose_configs
from flowengine_nodes.zigbee2mqtt.settings import Zigbee2MqttConfig

DATA = Path(__file__).resolve().parents[2] / "data" / "z2m_discovery.jsonl"
RECORDS = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]
DEVICES = {r["name"]: r for r in RECORDS if r["kind"] == "device"}
ORIGIN = {"name": "Zigbee2MQTT", "sw": "2.14.1", "url": "https://www.zigbee2mqtt.io"}


class _Definition:
    def __init__(self, record: dict[str, Any]) -> None:
        self.model, self.vendor, self.description = record["model"], record["vendor"], record["description"]


def expected(name: str) -> dict[str, dict[str, Any]]:
    """The oracle's messages of a device, by topic, without what mqtt-out cannot know (via_device)."""
    messages = {}
    for record in RECORDS:
        if record["kind"] == "discovery" and record["name"] == name:
            payload = dict(record["payload"])
            payload["device"] = {k: v for k, v in payload["device"].items() if k != "via_device"}
            assert record["retain"] is True
            assert record["qos"] == 1
            messages[record["topic"]] = payload
    return messages


def ported(name: str) -> dict[str, dict[str, Any]]:
    """The port fed with Zigbee2MQTT's own exposes of the device."""
    device = DEVICES[name]
    payloads = {}
    definition = _Definition(device)
    device_payload = {"identifiers": [f"zigbee2mqtt_{device['ieee']}"], "manufacturer": definition.vendor,
                      "model": definition.description, "model_id": definition.model, "name": name}
    for config in expose_configs(device["exposes"], ota=device["ota"], ieee=device["ieee"]):
        topic, payload = discovery_payload(config, name=name, ieee=device["ieee"], base_topic="zigbee2mqtt",
                                           device=device_payload, origin=ORIGIN, availability=False)
        payloads[f"homeassistant/{topic}"] = payload
    return payloads


@pytest.mark.parametrize("name", sorted(DEVICES))
def test_the_port_gives_zigbee2mqtts_payloads_from_its_exposes(name: str) -> None:
    want = {topic: payload for topic, payload in expected(name).items() if "/device_automation/" not in topic}
    assert ported(name) == want


def _pipeline(name: str) -> dict[str, dict[str, Any]]:
    """What mqtt-out's Zigbee2MQTT mode publishes for the device, from the decoder's definition."""
    device = DEVICES[name]
    mode = Zigbee2Mqtt(Zigbee2MqttConfig(homeassistant=True), StateStore(None).node("publish"))
    actions = [r["payload"]["subtype"] for r in RECORDS
               if r["kind"] == "discovery" and r["name"] == name and "/device_automation/" in r["topic"]]
    published: dict[str, dict[str, Any]] = {}
    for payload in [{"linkquality": 1}] + [{"action": action, "linkquality": 1} for action in actions]:
        msg = Message(f"zigbee2mqtt/{name}", payload, {"ieee": device["ieee"], "friendly_name": name,
                                                       "model": device["model"]})
        before, _ = mode.around(msg, msg.topic)
        for topic, body, qos, retain in before:
            assert (qos, retain) == (1, True)
            decoded = json.loads(body)
            decoded["origin"] = ORIGIN
            published[topic] = decoded
    return published


#: Where the decoder's definitions differ from zigbee-herdsman-converters 26.105 (Zigbee2MQTT
#: 2.14.1's), so discovery does too. The device library owns these; each is asserted exactly.
#: 2.x names the lock Aqara, "Smart door lock"; the definition says Xiaomi, "Xiaomi Aqara smart lock".
LOCK_DEVICE_2X = {"manufacturer": "Aqara", "model": "Smart door lock"}
COLOR_OPTIONS = "homeassistant/{}/0x000b57fffe000007/color_options/config"  # a settable text in the definition


@pytest.mark.parametrize("name", sorted(DEVICES))
def test_mqtt_out_announces_every_device_as_zigbee2mqtt_does(name: str) -> None:
    got, want = _pipeline(name), expected(name)
    if name == "front_door":
        for payload in got.values():
            assert payload["device"]["manufacturer"] == "Xiaomi"
            payload["device"].update(LOCK_DEVICE_2X)
    if name == "hall_light":
        assert got.pop(COLOR_OPTIONS.format("text"))["command_topic"] == "zigbee2mqtt/hall_light/set/color_options"
        assert want.pop(COLOR_OPTIONS.format("sensor"))["entity_category"] == "diagnostic"
    assert got == want


@pytest.mark.parametrize("name", sorted(DEVICES))
def test_states_carry_the_mock_properties_zigbee2mqtt_adds_with_discovery_on(name: str) -> None:
    (adjusted,) = [r for r in RECORDS if r["kind"] == "adjusted" and r["name"] == name]
    device = DEVICES[name]
    mode = Zigbee2Mqtt(Zigbee2MqttConfig(homeassistant=True), StateStore(None).node("publish"))
    msg = Message(f"zigbee2mqtt/{name}", adjusted["input"], {"ieee": device["ieee"], "friendly_name": name,
                                                              "model": device["model"]})
    mode.around(msg, msg.topic)
    assert mode.state_payload(msg, msg.topic) == adjusted["output"]
    assert msg.payload == adjusted["input"]  # the message itself is left alone
    # Known values are kept; without discovery nothing is added.
    known = msg._replace(payload={**adjusted["input"], **{key: 1 for key in adjusted["output"]}})
    assert mode.state_payload(known, msg.topic)["linkquality"] == 1
    plain = Zigbee2Mqtt(Zigbee2MqttConfig(), StateStore(None).node("publish"))
    plain.around(msg, msg.topic)
    assert plain.state_payload(msg, msg.topic) is msg.payload
