"""Zigbee2MQTT mode of ``mqtt-out``: a decoded lock flow puts on the broker what Zigbee2MQTT would."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
from pathlib import Path
from typing import Any

import pytest

from flowengine import Message, StateStore
from flowengine.testing import run_flow, run_sync
from flowengine_nodes.devices.definitions import default_registry
from flowengine_nodes.zigbee2mqtt.bridge import Zigbee2MqttConfig, zigbee2mqtt_ieee
from flowengine_nodes.zigbee2mqtt.discovery import definition_exposes, expose_configs, label
from tests.mosquitto import Mosquitto, ReceivedMessage, Subscribe, publish_messages
from tests.nodes.mqtt.support import mqtt_out

REPO = Path(__file__).resolve().parents[3]
IEEE = "0x00158d08294b422c"


def flow_text(broker: Mosquitto, qos: int = 1, z2m: str = "{availability: true, homeassistant: true}") -> str:
    return f"""
version: 1
state: memory
nodes:
  - id: capture
    type: zigbee-replay
    path: captures/front_door.jsonl
    wires: [decode]
  - id: decode
    type: decode
    friendly_names: {{"00:15:8d:08:29:4b:42:2c": front_door}}
    wires: [publish, seen]
  - id: publish
    type: mqtt-out
    broker: {broker.url}
    qos: {qos}
    zigbee2mqtt: {z2m}
  - id: seen
    type: capture
"""


def retained(broker: Mosquitto, mqtt_subscriber: Subscribe) -> dict[str, bytes]:
    """What a subscriber that comes now gets as retained messages, by topic."""
    late = mqtt_subscriber(broker, "#", client_id="late", persistent=False, qos=1)
    # Retained messages are sent with the SUBACK; a marker published afterwards comes after them.
    publish_messages(broker, [("zz/end-of-retained", b"x")])
    assert late.wait_until(lambda m: any(x.topic == "zz/end-of-retained" for x in m), timeout=10)
    return {m.topic: m.payload for m in late.snapshot() if m.retain}


def live_only(messages: list[ReceivedMessage]) -> list[ReceivedMessage]:
    return [m for m in messages if not m.retain]


def by_topic(messages: list[ReceivedMessage], topic: str) -> list[bytes]:
    return [m.payload for m in messages if m.topic == topic]


def test_decoded_lock_flow_publishes_what_zigbee2mqtt_would(
    mosquitto: Mosquitto, mqtt_subscriber: Subscribe, tmp_path: Path
) -> None:
    """Acceptance 3: bridge/state, availability, device state and discovery configs."""
    subscriber = mqtt_subscriber(mosquitto, "#", persistent=False)
    (tmp_path / "captures").mkdir()
    shutil.copy(REPO / "flows" / "captures" / "front_door.jsonl", tmp_path / "captures")
    result = run_flow(tmp_path, flow_text(mosquitto))
    decoded = [m for m in result.captured("seen") if m.topic == "zigbee2mqtt/front_door"]
    assert decoded, "the decoder produced states"
    assert result.counters("publish").get("dropped", 0) == 0

    # With discovery on, Zigbee2MQTT 2.x adds the discovered properties it lacks as null, and the
    # OTA update member (tests/nodes/zigbee2mqtt/test_discovery.py checks them against Zigbee2MQTT).
    mocks = {"state": None, "reverse": None, "update": {"state": None, "installed_version": -1, "latest_version": -1}}
    expected_states = [json.dumps({**mocks, **m.payload}, sort_keys=True, separators=(",", ":")).encode()
                       for m in decoded]
    assert subscriber.wait_until(
        lambda m: by_topic(m, "zigbee2mqtt/bridge/state")[-1:] == [b'{"state":"offline"}'], timeout=20
    ), [m.topic for m in subscriber.snapshot()]
    live = subscriber.snapshot()
    topics = [m.topic for m in live]

    # The bridge: online first, offline when the run ends.
    assert by_topic(live, "zigbee2mqtt/bridge/state") == [b'{"state":"online"}', b'{"state":"offline"}']
    assert topics[0] == "zigbee2mqtt/bridge/state"
    # Device states as decoded plus those mock properties (compact JSON, sorted keys), in order.
    assert by_topic(live, "zigbee2mqtt/front_door") == expected_states
    first_state = topics.index("zigbee2mqtt/front_door")
    # Availability online before the first state (and again with the re-announcement at connect).
    assert set(by_topic(live, "zigbee2mqtt/front_door/availability")) == {b'{"state":"online"}'}
    assert topics.index("zigbee2mqtt/front_door/availability") < first_state
    # Discovery before the first state: binary_sensor state and reverse, sensor linkquality, the OTA
    # update entity (the lock has OTA); no action entity.
    discovery = [t for t in topics[:first_state]
                 if t.startswith("homeassistant/") and IEEE in t and "device_automation" not in t]
    assert sorted(discovery) == [
        f"homeassistant/binary_sensor/{IEEE}/reverse/config",
        f"homeassistant/binary_sensor/{IEEE}/state/config",
        f"homeassistant/sensor/{IEEE}/linkquality/config",
        f"homeassistant/update/{IEEE}/update/config",
    ]
    state_config = json.loads(by_topic(live, f"homeassistant/binary_sensor/{IEEE}/state/config")[0])
    assert state_config["payload_on"] == "UNLOCK"
    assert state_config["payload_off"] == "LOCK"
    assert state_config["state_topic"] == "zigbee2mqtt/front_door"
    assert state_config["value_template"] == '{{ value_json["state"] }}'
    assert state_config["unique_id"] == f"{IEEE}_state_zigbee2mqtt"
    assert state_config["device"] == {
        "identifiers": [f"zigbee2mqtt_{IEEE}"], "name": "front_door", "manufacturer": "Xiaomi",
        "model": "Xiaomi Aqara smart lock", "model_id": "ZNMS11LM",
    }
    assert state_config["availability_mode"] == "all"
    assert [a["topic"] for a in state_config["availability"]] == [
        "zigbee2mqtt/bridge/state", "zigbee2mqtt/front_door/availability"]
    lqi = json.loads(by_topic(live, f"homeassistant/sensor/{IEEE}/linkquality/config")[0])
    assert lqi["unit_of_measurement"] == "lqi"
    assert lqi["enabled_by_default"] is False
    assert lqi["entity_category"] == "diagnostic"

    # Actions: a device trigger per new value, announced before the value is published to .../action.
    actions = [m.payload["action"] for m in decoded if isinstance(m.payload.get("action"), str) and m.payload["action"]]
    assert [p.decode() for p in by_topic(live, "zigbee2mqtt/front_door/action")] == actions
    for action in dict.fromkeys(actions):
        trigger_topic = f"homeassistant/device_automation/{IEEE}/action_{action}/config"
        trigger = json.loads(by_topic(live, trigger_topic)[0])
        assert trigger["automation_type"] == "trigger"
        assert (trigger["type"], trigger["subtype"], trigger["payload"]) == ("action", action, action)
        assert trigger["topic"] == "zigbee2mqtt/front_door/action"
        first_use = next(i for i, m in enumerate(live)
                         if m.topic == "zigbee2mqtt/front_door/action" and m.payload == action.encode())
        assert topics.index(trigger_topic) < first_use

    # What stays on the broker (retained), as Zigbee2MQTT leaves it.
    kept = retained(mosquitto, mqtt_subscriber)
    assert kept["zigbee2mqtt/bridge/state"] == b'{"state":"offline"}'
    assert kept["zigbee2mqtt/front_door/availability"] == b'{"state":"online"}'
    assert f"homeassistant/binary_sensor/{IEEE}/state/config" in kept
    assert "zigbee2mqtt/front_door" not in kept  # device states are not retained by default
    assert "zigbee2mqtt/front_door/action" not in kept


def lock_message(action: str | None = "finger_open_user_id1", lqi: int = 100, ts: float = 1.0) -> Message:
    payload: dict[str, Any] = {"linkquality": lqi}
    if action is not None:
        payload["action"] = action
    return Message("zigbee2mqtt/front_door", payload,
                   {"ts": ts, "ieee": "00:15:8d:08:29:4b:42:2c", "model": "ZNMS11LM", "friendly_name": "front_door"})


def take_over(broker: Mosquitto, client_id: str) -> None:
    """Connect once with ``client_id`` (the broker drops the client holding it), then leave."""
    identifier = client_id.encode()
    body = b"\x00\x04MQTT\x04\x02\x00\x0a" + len(identifier).to_bytes(2, "big") + identifier
    with socket.create_connection((broker.host, broker.port)) as sock:
        sock.sendall(bytes([0x10, len(body)]) + body)
        assert sock.recv(4)[:1] == b"\x20"  # CONNACK
        sock.sendall(b"\xe0\x00")  # DISCONNECT


def test_last_will_and_reannounce_after_the_connection_comes_back(
    mosquitto: Mosquitto, mqtt_subscriber: Subscribe, tmp_path: Path
) -> None:
    subscriber = mqtt_subscriber(mosquitto, "#", persistent=False)

    async def main() -> None:
        node = mqtt_out(tmp_path, broker=mosquitto.url, client_id="z2m-bridge", outbox="memory",
                        zigbee2mqtt={"availability": True, "homeassistant": True})
        await node.start()
        await node.status.wait_for(lambda s: s.connected)
        await node.write([lock_message()])
        assert await subscriber.until(lambda m: any(x.topic == "zigbee2mqtt/front_door" for x in m))
        # Someone takes over our client id: the broker drops us without a DISCONNECT -> last will.
        await asyncio.to_thread(take_over, mosquitto, "z2m-bridge")
        assert await subscriber.until(lambda m: b'{"state":"offline"}' in by_topic(m, "zigbee2mqtt/bridge/state"))
        # We come back: bridge online again, then availability and discovery again.
        await node.status.wait_for(lambda s: s.connects >= 2 and s.connected)
        assert await subscriber.until(
            lambda m: by_topic(m, "zigbee2mqtt/bridge/state")[-1:] == [b'{"state":"online"}']
            and len(by_topic(m, f"homeassistant/binary_sensor/{IEEE}/state/config")) >= 2
            and len(by_topic(m, "zigbee2mqtt/front_door/availability")) >= 2
            and len(by_topic(m, f"homeassistant/device_automation/{IEEE}/action_finger_open_user_id1/config")) >= 2)
        await node.aclose()

    run_sync(main())


# The broker is restarted under a connected client: paho's wake-up socket pair of the dropped
# connection can outlive the test (the same third-party race as in test_mqtt_out.py's restarts).
@pytest.mark.allow_leaks("fds")
def test_broker_restart_without_persistence_gets_everything_again(
    mosquitto: Mosquitto, mqtt_subscriber: Subscribe, tmp_path: Path
) -> None:
    async def main() -> None:
        node = mqtt_out(tmp_path, broker=mosquitto.url, outbox="memory",
                        zigbee2mqtt={"availability": True, "homeassistant": True})
        await node.start()
        await node.write([lock_message()])
        await node.status.wait_for(lambda s: s.connected)
        await asyncio.to_thread(mosquitto.stop)  # the broker forgets every retained message
        await node.status.wait_for(lambda s: not s.connected)
        await asyncio.to_thread(mosquitto.start)
        await node.status.wait_for(lambda s: s.connected and s.connects >= 2)
        # Whether it comes retained or live, the re-announcement reaches a subscriber that comes now.
        after = await asyncio.to_thread(mqtt_subscriber, mosquitto, "#", client_id="after", persistent=False)
        wanted = {
            ("zigbee2mqtt/bridge/state", b'{"state":"online"}'),
            ("zigbee2mqtt/front_door/availability", b'{"state":"online"}'),
        }
        assert await after.until(lambda m: wanted <= {(x.topic, x.payload) for x in m} and {
            f"homeassistant/sensor/{IEEE}/linkquality/config",
            f"homeassistant/device_automation/{IEEE}/action_finger_open_user_id1/config",
        } <= {x.topic for x in m})
        await node.aclose()

    run_sync(main())


def test_home_assistant_online_status_triggers_discovery_again(
    mosquitto: Mosquitto, mqtt_subscriber: Subscribe, tmp_path: Path
) -> None:
    subscriber = mqtt_subscriber(mosquitto, "homeassistant/#", persistent=False)

    async def main() -> None:
        node = mqtt_out(tmp_path, broker=mosquitto.url, outbox="memory", zigbee2mqtt={"homeassistant": True})
        await node.start()
        await node.status.wait_for(lambda s: s.connected)
        await node.write([lock_message(action=None)])
        topic = f"homeassistant/sensor/{IEEE}/linkquality/config"
        assert await subscriber.until(lambda m: len(by_topic(m, topic)) == 1)
        await asyncio.to_thread(publish_messages, mosquitto, [("homeassistant/status", b"online")])
        assert await subscriber.until(lambda m: len(by_topic(m, topic)) == 2)
        await node.aclose()

    run_sync(main())


def test_devices_are_remembered_across_runs(mosquitto: Mosquitto, mqtt_subscriber: Subscribe,
                                            tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")

    async def first() -> None:
        node = mqtt_out(tmp_path, broker=mosquitto.url, store=store,
                        zigbee2mqtt={"availability": True, "homeassistant": True})
        await node.start()
        await node.write([lock_message(action="ring_bell")])
        await node.aclose()

    async def second() -> None:
        node = mqtt_out(tmp_path, broker=mosquitto.url, store=store,
                        zigbee2mqtt={"availability": True, "homeassistant": True})
        await node.start()
        await node.status.wait_for(lambda s: s.connected)
        # Live (not retained) messages: what this run published without hearing from the device.
        assert await subscriber.until(lambda m: bool(
            by_topic(live_only(m), f"homeassistant/device_automation/{IEEE}/action_ring_bell/config"))
            and by_topic(live_only(m), "zigbee2mqtt/front_door/availability") == [b'{"state":"online"}'])
        await node.aclose()

    run_sync(first())
    subscriber = mqtt_subscriber(mosquitto, ["homeassistant/#", "zigbee2mqtt/+/availability"], persistent=False)
    run_sync(second())
    store.close()


def test_availability_goes_offline_after_the_timeout(tmp_path: Path) -> None:
    from flowengine import EventClock
    from flowengine_nodes.zigbee2mqtt.bridge import Zigbee2Mqtt

    clock = EventClock(1000.0)
    mode = Zigbee2Mqtt(Zigbee2MqttConfig(availability={"timeout": "10m"}), StateStore(None).node("x"),
                       now=clock.now)
    before, _ = mode.around(lock_message(), "zigbee2mqtt/front_door")
    assert before == [("zigbee2mqtt/front_door/availability", b'{"state":"online"}', 1, True)]
    clock.advance(1100.0)
    assert mode.around(lock_message(action=None), "zigbee2mqtt/front_door") == ([], [])
    clock.advance(1100.0 + 599)
    assert mode.expire() == []
    clock.advance(1100.0 + 601)
    assert mode.expire() == [("zigbee2mqtt/front_door/availability", b'{"state":"offline"}', 1, True)]
    back, _ = mode.around(lock_message(action=None), "zigbee2mqtt/front_door")
    assert back == [("zigbee2mqtt/front_door/availability", b'{"state":"online"}', 1, True)]


def test_messages_that_are_not_device_states_pass_unchanged() -> None:
    from flowengine_nodes.zigbee2mqtt.bridge import Zigbee2Mqtt

    mode = Zigbee2Mqtt(Zigbee2MqttConfig(availability=True, homeassistant=True), StateStore(None).node("x"))
    event = lock_message()._replace(topic="zigbee2mqtt/front_door/event")
    assert mode.around(event, "zigbee2mqtt/front_door/event") == ([], [])
    assert mode.around(lock_message(), "alerts/front_door") == ([], [])
    no_device = Message("zigbee2mqtt/x", {"a": 1}, {})
    assert mode.around(no_device, "zigbee2mqtt/x") == ([], [])


def test_entity_mapping_of_the_lock_definitions() -> None:
    definition = default_registry().find("ZNMS12LM")
    assert definition is not None
    entities = expose_configs(definition_exposes(definition.exposes))
    configs = {(c.type, c.object_id): c.discovery_payload for c in entities}
    assert set(configs) == {
        ("sensor", "battery"), ("sensor", "voltage"), ("binary_sensor", "battery_low"),
        ("binary_sensor", "state"), ("binary_sensor", "reverse"), ("sensor", "linkquality"),
    }
    assert configs[("sensor", "battery")]["device_class"] == "battery"
    assert "name" not in configs[("sensor", "battery")]  # named by Home Assistant from the class
    assert configs[("binary_sensor", "battery_low")]["payload_on"] is True
    assert configs[("binary_sensor", "reverse")]["name"] == "Reverse"


@pytest.mark.parametrize(("given", "expected"), [
    ("00:15:8d:08:29:4b:42:2c", IEEE), ("00-15-8D-08-29-4B-42-2C", IEEE), (IEEE, IEEE), ("0x00158D08294B422C", IEEE),
])
def test_ieee_forms(given: str, expected: str) -> None:
    assert zigbee2mqtt_ieee(given) == expected


def test_labels() -> None:
    assert label("battery_low") == "Battery low"
    assert label("linkquality") == "Linkquality"
    assert label("power_on_behavior") == "Power-on behavior"
