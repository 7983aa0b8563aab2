"""``last_seen`` and ``output`` of ``mqtt-out``'s Zigbee2MQTT mode, on a real Mosquitto.

The expected topics and payloads were produced by Zigbee2MQTT 2.14.1's own code (its
``utils.formatDate``, ``stringify`` and the controller's ``iteratePayloadAttributeOutput``, run
under Node.js with ``TZ=Europe/Amsterdam`` on the inputs below), not by flowengine.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from flowengine import Message
from flowengine.testing import run_flow, run_sync
from flowengine_nodes.zigbee2mqtt.output import attribute_payloads
from tests.mosquitto import Mosquitto, ReceivedMessage, Subscribe, publish_messages
from tests.nodes.mqtt.support import mqtt_out
from tests.nodes.mqtt.test_zigbee2mqtt import flow_text

REPO = Path(__file__).resolve().parents[3]
NAME = "lamp one"
TOPIC = f"zigbee2mqtt/{NAME}"
TS = 1700000000.123
META = {"ts": TS, "ieee": "00:15:8d:00:01:02:03:04", "model": "ZNMS11LM", "friendly_name": NAME}

#: formatDate(1700000000123, mode) in Zigbee2MQTT 2.14.1 (TZ=Europe/Amsterdam).
LAST_SEEN = {
    "ISO_8601": "2023-11-14T22:13:20.123Z",
    "ISO_8601_local": "2023-11-14T23:13:20+01:00",
    "epoch": 1700000000123,
}

#: A state with every kind of value, and what ``output: attribute`` publishes for it (with
#: ``last_seen: ISO_8601`` added last, as the controller adds it), in Zigbee2MQTT's order.
STATE: dict[str, Any] = {
    "state": "ON",
    "brightness": 254,
    "temperature": 21.5,
    "battery_low": False,
    "tamper": True,
    "power_on_behavior": None,
    "color": {"x": 0.3, "y": 0.4, "hue": 12},
    "rgb": {"r": 1, "g": 2, "b": 3},
    "list": [1, "a", None, True, 2.5, [3, None], {"k": 1}],
    "nested": {"inner": {"deep": 1}, "flag": False, "empty": None},
    "linkquality": 120,
}
ATTRIBUTES = [
    ("state", b"ON"),
    ("brightness", b"254"),
    ("temperature", b"21.5"),
    ("battery_low", b"false"),
    ("tamper", b"true"),
    ("power_on_behavior", b""),
    ("color-x", b"0.3"),
    ("color-y", b"0.4"),
    ("color-hue", b"12"),
    ("rgb-r", b"1"),
    ("rgb-g", b"2"),
    ("rgb-b", b"3"),
    ("list", b"1,a,null,true,2.5,3,,[object Object]"),
    ("nested-inner-deep", b"1"),
    ("nested-flag", b"false"),
    ("nested-empty", b""),
    ("linkquality", b"120"),
    ("last_seen", b"2023-11-14T22:13:20.123Z"),
]
#: stringify() of STATE with last_seen (sorted keys, compact).
STATE_JSON = (
    b'{"battery_low":false,"brightness":254,"color":{"hue":12,"x":0.3,"y":0.4},'
    b'"last_seen":"2023-11-14T22:13:20.123Z","linkquality":120,"list":[1,"a",null,true,2.5,[3,null],'
    b'{"k":1}],"nested":{"empty":null,"flag":false,"inner":{"deep":1}},"power_on_behavior":null,'
    b'"rgb":{"b":3,"g":2,"r":1},"state":"ON","tamper":true,"temperature":21.5}'
)


@pytest.fixture
def amsterdam(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time is Europe/Amsterdam for the test (ISO_8601_local), restored afterwards."""
    monkeypatch.setenv("TZ", "Europe/Amsterdam")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def copy_capture(tmp_path: Path) -> None:
    """The lock's capture beside the flow, where flow_text's replay reads it."""
    (tmp_path / "captures").mkdir()
    shutil.copy(REPO / "flows" / "captures" / "front_door.jsonl", tmp_path / "captures")


def device_messages(received: list[ReceivedMessage]) -> list[tuple[str, bytes]]:
    return [(m.topic, m.payload) for m in received if m.topic == TOPIC or m.topic.startswith(TOPIC + "/")]


def publish(
    tmp_path: Path, broker: Mosquitto, subscriber: Any, messages: list[Message], count: int, **mode: Any
) -> list[tuple[str, bytes]]:
    """Publish ``messages`` through an mqtt-out in Zigbee2MQTT mode; return the first ``count`` device messages."""
    retain = mode.pop("retain", False)

    async def main() -> None:
        node = mqtt_out(tmp_path, broker=broker.url, outbox="memory", retain=retain, zigbee2mqtt=mode)
        await node.start()
        await node.status.wait_for(lambda s: s.connected)
        await node.write(messages)
        assert await subscriber.until(lambda m: len(device_messages(m)) >= count), subscriber.snapshot()
        await node.aclose()

    run_sync(main())
    return device_messages(subscriber.snapshot())


@pytest.mark.parametrize("mode", ["disable", "ISO_8601", "ISO_8601_local", "epoch"])
@pytest.mark.usefixtures("amsterdam")
def test_last_seen_in_each_format(mosquitto: Mosquitto, mqtt_subscriber: Subscribe, tmp_path: Path, mode: str) -> None:
    """last_seen is the event time of the device's last message; a cached state at start does not move it."""
    subscriber = mqtt_subscriber(mosquitto, "#", persistent=False)
    first = Message(TOPIC, {"state": "ON", "linkquality": 120}, META)
    cached = Message(TOPIC, {"state": "ON", "linkquality": 120}, {**META, "ts": TS + 60, "cached": True})
    got = publish(tmp_path, mosquitto, subscriber, [first, cached], 2, last_seen=mode)
    if mode == "disable":
        expected = b'{"linkquality":120,"state":"ON"}'
    else:
        expected = json.dumps(
            {"last_seen": LAST_SEEN[mode], "linkquality": 120, "state": "ON"}, separators=(",", ":")
        ).encode()
    assert got == [(TOPIC, expected), (TOPIC, expected)]


def test_a_device_never_heard_from_has_no_last_seen(
    mosquitto: Mosquitto, mqtt_subscriber: Subscribe, tmp_path: Path
) -> None:
    subscriber = mqtt_subscriber(mosquitto, "#", persistent=False)
    cached = Message(TOPIC, {"state": "ON"}, {**META, "cached": True})
    assert publish(tmp_path, mosquitto, subscriber, [cached], 1, last_seen="epoch") == [(TOPIC, b'{"state":"ON"}')]


@pytest.mark.parametrize("output", ["json", "attribute", "attribute_and_json"])
def test_output_modes(mosquitto: Mosquitto, mqtt_subscriber: Subscribe, tmp_path: Path, output: str) -> None:
    subscriber = mqtt_subscriber(mosquitto, "#", persistent=False)
    json_part = [(TOPIC, STATE_JSON)] if output != "attribute" else []
    attribute_part = [(f"{TOPIC}/{key}", value) for key, value in ATTRIBUTES] if output != "json" else []
    expected = json_part + attribute_part
    got = publish(
        tmp_path,
        mosquitto,
        subscriber,
        [Message(TOPIC, STATE, META)],
        len(expected),
        last_seen="ISO_8601",
        output=output,
    )
    assert got == expected


def test_attribute_output_is_retained_like_the_state(
    mosquitto: Mosquitto, mqtt_subscriber: Subscribe, tmp_path: Path
) -> None:
    """Each attribute goes out with the state's retain flag; a null one clears what was retained."""
    subscriber = mqtt_subscriber(mosquitto, "#", persistent=False)
    publish_messages(mosquitto, [(f"{TOPIC}/power_on_behavior", b"previous")], retain=True)
    # 'previous', then the attributes without last_seen (off here).
    publish(
        tmp_path,
        mosquitto,
        subscriber,
        [Message(TOPIC, STATE, META)],
        1 + len(ATTRIBUTES) - 1,
        output="attribute",
        retain=True,
    )
    late = mqtt_subscriber(mosquitto, f"{TOPIC}/#", client_id="late", persistent=False)
    publish_messages(mosquitto, [(f"{TOPIC}/zz-end", b"x")])
    assert late.wait_until(lambda m: any(x.topic == f"{TOPIC}/zz-end" for x in m), timeout=10)
    kept = {m.topic: m.payload for m in late.snapshot() if m.retain}
    assert kept == {f"{TOPIC}/{key}": value for key, value in ATTRIBUTES[:-1] if value}


def test_color_with_rgb_is_one_list() -> None:
    """A color carrying r, g and b is published as ``r,g,b`` (Zigbee2MQTT's special case)."""
    state = {"color": {"r": 10, "g": 20, "b": 30, "x": 0.1}}
    assert list(attribute_payloads(f"{TOPIC}/", state)) == [(f"{TOPIC}/color", b"10,20,30")]


def test_a_decoded_flow_carries_the_reports_time(
    mosquitto: Mosquitto, mqtt_subscriber: Subscribe, tmp_path: Path
) -> None:
    """decode -> mqtt-out: last_seen (epoch) is each report's time in milliseconds, as Date.now() at receipt."""
    subscriber = mqtt_subscriber(mosquitto, "zigbee2mqtt/front_door", persistent=False)
    copy_capture(tmp_path)
    flow = flow_text(mosquitto, z2m="{last_seen: epoch}")
    result = run_flow(tmp_path, flow)
    decoded = [m for m in result.captured("seen") if m.topic == "zigbee2mqtt/front_door"]
    assert decoded
    expected = [{**m.payload, "last_seen": int(Decimal(str(m.meta["ts"])) * 1000)} for m in decoded]
    assert subscriber.wait_until(lambda m: len(m) >= len(expected), timeout=20)
    assert [json.loads(m.payload) for m in subscriber.snapshot()] == expected


def test_per_device_retain_qos_and_filtered_attributes(
    mosquitto: Mosquitto, mqtt_subscriber: Subscribe, tmp_path: Path
) -> None:
    """devices.<ieee> over device_options; filtered keys leave the state; an empty state is not published.

    The expected states are Zigbee2MQTT's utils.filterProperties and stringify run on the same inputs.
    """
    subscriber = mqtt_subscriber(mosquitto, "zigbee2mqtt/#", persistent=False, qos=2)
    other = {**META, "ieee": "00:15:8d:00:0a:0b:0c:0d", "friendly_name": "hall"}
    messages = [
        Message(TOPIC, {"state": "ON", "battery_low": False, "battery": 90, "tamper": True, "linkquality": 120}, META),
        Message(TOPIC, {"tamper": True, "battery": 80}, META),  # nothing left after the filter
        Message("zigbee2mqtt/hall", {"state": "OFF", "tamper": True, "linkquality": 5}, other),
    ]

    async def main() -> None:
        node = mqtt_out(
            tmp_path,
            broker=mosquitto.url,
            outbox="memory",
            qos=1,
            zigbee2mqtt={
                "device_options": {"filtered_attributes": ["tamper"]},
                "devices": {
                    "0x00158d0001020304": {"retain": True, "qos": 0, "filtered_attributes": ["linkquality", "bat.*"]}
                },
            },
        )
        await node.start()
        await node.status.wait_for(lambda s: s.connected)
        await node.write(messages)
        assert await subscriber.until(lambda m: any(x.topic == "zigbee2mqtt/hall" for x in m))
        await node.aclose()

    run_sync(main())
    got = [(m.topic, m.payload, m.qos) for m in subscriber.snapshot() if m.topic in (TOPIC, "zigbee2mqtt/hall")]
    assert got == [(TOPIC, b'{"state":"ON"}', 0), ("zigbee2mqtt/hall", b'{"linkquality":5,"state":"OFF"}', 1)]
    late = mqtt_subscriber(
        mosquitto, ["zigbee2mqtt/lamp one", "zigbee2mqtt/hall", "zz/end"], client_id="late", persistent=False
    )
    publish_messages(mosquitto, [("zz/end", b"x")])
    assert late.wait_until(lambda m: any(x.topic == "zz/end" for x in m), timeout=10)
    assert {m.topic: m.payload for m in late.snapshot() if m.retain} == {TOPIC: b'{"state":"ON"}'}


def test_elapsed_is_the_time_since_the_devices_previous_state(
    mosquitto: Mosquitto, mqtt_subscriber: Subscribe, tmp_path: Path
) -> None:
    """decode with elapsed: ms between the device's states (event time); the first has none (receive.ts)."""
    subscriber = mqtt_subscriber(mosquitto, "zigbee2mqtt/front_door", persistent=False)
    copy_capture(tmp_path)
    flow = flow_text(mosquitto, z2m="{}").replace("    type: decode\n", "    type: decode\n    elapsed: true\n")
    result = run_flow(tmp_path, flow)
    decoded = [m for m in result.captured("seen") if m.topic == "zigbee2mqtt/front_door"]
    assert len(decoded) > 2
    times = [Decimal(str(m.meta["ts"])) * 1000 for m in decoded]
    plain = [{k: v for k, v in m.payload.items() if k != "elapsed"} for m in decoded]
    expected = [plain[0]] + [{**p, "elapsed": int(t - s)} for p, t, s in zip(plain[1:], times[1:], times, strict=False)]
    assert subscriber.wait_until(lambda m: len(m) >= len(expected), timeout=20)
    assert [json.loads(m.payload) for m in subscriber.snapshot()] == expected
