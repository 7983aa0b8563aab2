"""The YAML examples in the MQTT nodes' docstrings run against the suite's broker."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from flowengine.flow import load_flow
from flowengine.introspect import node_example
from flowengine.registry import Registry
from flowengine.runtime import FlowRun
from flowengine.testing import run_sync
from flowengine_nodes.mqtt.mqtt_in import MqttIn
from flowengine_nodes.mqtt.mqtt_out import MqttOut
from tests.mosquitto import Mosquitto, Subscriber, publish_messages

REPO = Path(__file__).resolve().parents[3]


def example_flow(node_class: type, broker: Mosquitto, tmp_path: Path) -> Path:
    example = node_example(node_class)
    assert example is not None
    text = example.replace("mqtt://127.0.0.1:1883", broker.url).replace("version: 1\n", "version: 1\nstate: memory\n")
    (tmp_path / "captures").mkdir(exist_ok=True)
    shutil.copy(REPO / "flows" / "captures" / "front_door.jsonl", tmp_path / "captures" / "front_door.jsonl")
    path = tmp_path / "example.yaml"
    path.write_text(text)
    return path


def test_mqtt_out_example_publishes_the_capture(mosquitto: Mosquitto, mqtt_subscriber: type[Subscriber],
                                                tmp_path: Path) -> None:
    subscriber = mqtt_subscriber(mosquitto, "raw/#")
    lines = (REPO / "flows" / "captures" / "front_door.jsonl").read_text().splitlines()
    loaded = load_flow(example_flow(MqttOut, mosquitto, tmp_path), Registry.from_entry_points())
    assert loaded.graph is not None, loaded.errors
    summary = run_sync(FlowRun(loaded.graph).run())
    assert summary.end_of_input
    assert summary.counters["publish"].get("published") == len(lines)
    assert subscriber.wait_for_count(len(lines), timeout=10)
    assert all(m.topic.startswith("raw/") and m.topic != "raw/" for m in subscriber.snapshot())


def test_mqtt_in_example_subscribes(mosquitto: Mosquitto, tmp_path: Path) -> None:
    loaded = load_flow(example_flow(MqttIn, mosquitto, tmp_path), Registry.from_entry_points())
    assert loaded.graph is not None, loaded.errors
    run = FlowRun(loaded.graph)

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(run.run(stop))
        node = run.nodes["lock"]
        assert isinstance(node, MqttIn)
        await node.status.wait_for(lambda s: s.connected)
        await asyncio.to_thread(publish_messages, mosquitto, [("zigbee2mqtt/front_door", b'{"action":"x"}')])
        stop.set()
        summary = await task
        assert not summary.counters["lock"].get("errors")

    run_sync(main())
