"""Mistakes a new user makes get one clear line at file:line:col (issue 18, acceptance 4).

Each case is run through ``flowengine validate`` (or ``run``) in a subprocess, and the whole
output is compared: exactly one line, where the mistake is, saying what to do.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.engine.test_runtime import replay_flow

ROOT = Path(__file__).resolve().parents[2]
FLOWENGINE = [sys.executable, "-m", "flowengine.cli"]
CAPTURE = ROOT / "flows" / "captures" / "front_door.jsonl"


def validate(flow: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FLOWENGINE, "validate", str(flow), *extra], capture_output=True, text=True,
                          timeout=60, check=False, env=env)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    shutil.copy(CAPTURE, tmp_path / "capture.jsonl")
    return tmp_path


def test_the_yaml_boolean_trap_in_wires_suggests_quotes(folder: Path) -> None:
    flow = folder / "yes.yaml"
    flow.write_text("""version: 1
nodes:
  - id: src
    type: zigbee-replay
    path: capture.jsonl
    wires: [pick]
  - id: pick
    type: switch
    property: payload.lqi
    rules:
      - {gt: 50, port: "yes"}
    wires: {yes: [out]}
  - id: out
    type: log
""")
    result = validate(flow)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{flow}:12:13: node 'pick': YAML reads the port name yes as the boolean true; quote it: \"yes\": [...]"]
    flow.write_text(flow.read_text().replace("wires: {yes: [out]}", 'wires: {"yes": [out]}'))
    assert validate(flow).stdout.strip() == f"{flow}: ok"


def test_an_unset_variable_is_one_error_not_two(folder: Path) -> None:
    flow = folder / "env.yaml"
    flow.write_text("""version: 1
nodes:
  - id: src
    type: mqtt-in
    broker: ${FLOWENGINE_TEST_UNSET_BROKER}
    topics: ["${FLOWENGINE_TEST_UNSET_TOPIC}"]
    qos: ${FLOWENGINE_TEST_UNSET_QOS}
    wires: [out]
  - id: out
    type: log
""")
    result = validate(flow)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{flow}:5:13: environment variable 'FLOWENGINE_TEST_UNSET_BROKER' is not set "
        "(set it, or give a default: ${FLOWENGINE_TEST_UNSET_BROKER:-value})",
        f"{flow}:6:14: environment variable 'FLOWENGINE_TEST_UNSET_TOPIC' is not set "
        "(set it, or give a default: ${FLOWENGINE_TEST_UNSET_TOPIC:-value})",
        f"{flow}:7:10: environment variable 'FLOWENGINE_TEST_UNSET_QOS' is not set "
        "(set it, or give a default: ${FLOWENGINE_TEST_UNSET_QOS:-value})",
    ]


def test_a_missing_capture_is_a_validate_error_naming_the_path(folder: Path) -> None:
    flow = folder / "replay.yaml"
    flow.write_text("""version: 1
nodes:
  - id: src
    type: zigbee-replay
    path: captures/gone.jsonl
    wires: [out]
  - id: out
    type: log
""")
    result = validate(flow)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{flow}:5:11: node 'src': path: capture file {folder / 'captures' / 'gone.jsonl'} does not exist"]
    (folder / "captures").mkdir()
    shutil.copy(CAPTURE, folder / "captures" / "gone.jsonl")
    assert validate(flow).stdout.strip() == f"{flow}: ok"


FILE_SINK = replay_flow("    wires: [save]\n  - id: save\n    type: file\n    path: {path}\n")


def test_a_file_sink_whose_folder_is_a_file_is_one_line(folder: Path) -> None:
    (folder / "out").write_text("I am a file\n")
    flow = folder / "sink.yaml"
    flow.write_text(FILE_SINK.format(path="out/deeper/locks.jsonl"))
    result = validate(flow)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{flow}:10:11: node 'save': path: {folder / 'out'} is a file, so it cannot be the folder of "
        f"{folder / 'out' / 'deeper' / 'locks.jsonl'}"]
    ran = subprocess.run([*FLOWENGINE, "run", str(flow)], capture_output=True, text=True, timeout=60, check=False)
    assert ran.returncode == 1
    assert ran.stdout == result.stdout  # nothing started
    assert "Errno" not in ran.stdout + ran.stderr


def test_a_file_sink_path_that_is_a_folder_is_one_line(folder: Path) -> None:
    (folder / "out").mkdir()
    flow = folder / "sink.yaml"
    flow.write_text(FILE_SINK.format(path="out"))
    assert validate(flow).stdout.splitlines() == [
        f"{flow}:10:11: node 'save': path: {folder / 'out'} is a folder; give the path of a file inside it"]


BASE_TOPICS = """version: 1
nodes:
  - id: src
    type: zigbee-replay
    path: capture.jsonl
    wires: [decode]
  - id: decode
    type: decode
    base_topic: home
    wires: [publish]
  - id: publish
    type: mqtt-out
    broker: mqtt://127.0.0.1:1883
    zigbee2mqtt: {mode}
"""


def test_two_base_topics_in_one_flow_are_an_error_with_both_positions(folder: Path) -> None:
    flow = folder / "z2m.yaml"
    flow.write_text(BASE_TOPICS.format(mode="{availability: true, base_topic: zigbee2mqtt}"))
    result = validate(flow)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{flow}:14:51: node 'publish': Zigbee2MQTT base topic 'zigbee2mqtt' differs from 'home' set on node "
        f"'decode' at {flow}:9:17; a flow has one Zigbee2MQTT base topic (set it once, or the same on both)"]


@pytest.mark.parametrize("mode", ["{}", "{base_topic: home}"])
def test_one_base_topic_set_once_or_alike_validates(folder: Path, mode: str) -> None:
    flow = folder / "z2m.yaml"
    flow.write_text(BASE_TOPICS.format(mode=mode))
    assert validate(flow).stdout.strip() == f"{flow}: ok"


def test_a_node_that_leaves_the_base_topic_unset_takes_the_flows(folder: Path) -> None:
    from flowengine.flow import load_flow
    from flowengine.registry import Registry

    flow = folder / "z2m.yaml"
    flow.write_text(BASE_TOPICS.format(mode="{}"))
    graph = load_flow(flow, Registry.from_entry_points()).graph
    assert graph is not None
    assert graph.nodes["publish"].config.zigbee2mqtt.base_topic == "home"  # type: ignore[attr-defined]
    # And the other way round: set on mqtt-out only, the decoder publishes under it.
    flow.write_text(BASE_TOPICS.format(mode="{base_topic: z2m}").replace("    base_topic: home\n", ""))
    graph = load_flow(flow, Registry.from_entry_points()).graph
    assert graph is not None
    assert graph.nodes["decode"].config.base_topic == "z2m"  # type: ignore[attr-defined]
