"""One Zigbee2MQTT base topic per flow, on a real broker (issue 18).

A decoder that sets ``base_topic`` and an ``mqtt-out`` in Zigbee2MQTT mode that leaves it
unset used to publish device states under one base topic and the bridge under the default,
silently. The flow's value now reaches both: everything lands under one base topic.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from flowengine.testing import run_flow
from tests.mosquitto import Mosquitto, Subscriber

REPO = Path(__file__).resolve().parents[3]


def test_the_decoders_base_topic_is_the_bridges_too(
    mosquitto: Mosquitto, mqtt_subscriber: Callable[..., Subscriber], tmp_path: Path
) -> None:
    subscriber = mqtt_subscriber(mosquitto, "#", persistent=False)
    (tmp_path / "captures").mkdir()
    shutil.copy(REPO / "flows" / "captures" / "front_door.jsonl", tmp_path / "captures")
    result = run_flow(tmp_path, f"""
version: 1
state: memory
nodes:
  - id: capture
    type: zigbee-replay
    path: captures/front_door.jsonl
    wires: [decode]
  - id: decode
    type: decode
    base_topic: home
    friendly_names: {{"00:15:8d:08:29:4b:42:2c": front_door}}
    wires: [publish]
  - id: publish
    type: mqtt-out
    broker: {mosquitto.url}
    qos: 1
    zigbee2mqtt: {{availability: true}}
""")
    assert result.counters("publish").get("dropped", 0) == 0
    assert subscriber.wait_until(
        lambda m: [x.payload for x in m if x.topic == "home/bridge/state"][-1:] == [b'{"state":"offline"}'],
        timeout=20), sorted({m.topic for m in subscriber.snapshot()})
    topics = {m.topic for m in subscriber.snapshot()}
    assert {"home/bridge/state", "home/front_door", "home/front_door/availability"} <= topics
    assert not [topic for topic in topics if topic.startswith("zigbee2mqtt/")]
