"""toZigbee against Zigbee2MQTT: every command form of hall_light and kitchen_plug, frame by frame.

``tests/data/vectors/commands_z2m.jsonl`` was recorded by ``oracle/commands_oracle.js``: Zigbee2MQTT
2.x's converters and publish loop sending through a real zigbee-herdsman endpoint whose send is a
recorder. Each case starts from a cached state and a fresh converter store; the frames (cluster,
command, frame control, manufacturer code, payload bytes), the published state and the errors must
be identical.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from flowengine_nodes.devices.definitions import default_registry
from flowengine_nodes.devices.requests import parse_request, run_request
from flowengine_nodes.devices.to_zigbee import IKEA, LUMI_CODE, CommandError, ZclRequest

VECTORS = Path(__file__).parents[2] / "data" / "commands" / "z2m_commands.jsonl"
CASES = [json.loads(line) for line in VECTORS.read_text().splitlines() if line.strip()]

#: What the recording endpoint answers to reads (as the oracle's device does).
ATTRIBUTES: dict[int, dict[int, Any]] = {
    0x0006: {0x0000: 1},
    0x0008: {0x0000: 120, 0x0011: 255},
    0x0300: {0x0007: 300, 0x0008: 2},
    0x000C: {0x0055: 12.5},
}

def _converters(model: str) -> Any:
    definition = default_registry().find(model)
    assert definition is not None
    return definition.to_zigbee


#: The definitions' own toZigbee converters (as the zigbee node runs them) and the manufacturer codes.
MODELS = {"LED1545G12": (_converters("LED1545G12"), IKEA), "ZNCZ02LM": (_converters("ZNCZ02LM"), LUMI_CODE)}


class Recorder:
    """A Target that records every frame and answers reads from ATTRIBUTES (or fails every send)."""

    def __init__(self, manufacturer_code: int, fail: str | None = None) -> None:
        self.manufacturer_code: int | None = manufacturer_code
        self.fail = fail
        self.frames: list[dict[str, Any]] = []

    async def send(self, request: ZclRequest) -> Mapping[int, Any]:
        self.frames.append({"cluster": request.cluster, "command": request.command, "global": request.is_global,
                            "manufacturer_code": request.manufacturer_code,
                            "frame_control": request.frame_control, "payload": request.payload.hex()})
        if self.fail:
            raise CommandError(f"Error: {request.name} failed ({self.fail})")
        known = ATTRIBUTES.get(request.cluster, {})
        return {attribute: known[attribute] for attribute in request.read_attributes if attribute in known}

    async def sleep(self, seconds: float) -> None:
        return None


def _error_key(text: str) -> str:
    """Errors from zigbee-herdsman's send quote its internal options: compare up to the failure."""
    if "failed (" in text or "RangeError" in text:
        return text.split("failed: '", 1)[0]
    return text


@pytest.mark.parametrize("case", CASES, ids=[f"{n}-{c['input']['raw']}" for n, c in enumerate(CASES)])
def test_frames_and_state_match_zigbee2mqtt(case: dict[str, Any]) -> None:
    given, expected = case["input"], case["expected"]
    converters, manufacturer = MODELS[given["model"]]
    recorder = Recorder(manufacturer, given.get("fail"))
    message = parse_request(given["raw"], given.get("attribute"))
    if message is None:
        errors = ["Invalid message 'undefined', skipping..."]
        published = None
    else:
        outcome = asyncio.run(run_request(given["type"], message, name=given["name"], converters=converters,
                                    target=recorder, state=given["state"], options=given["options"],
                                    model=given["model"], store={}, homeassistant=given.get("homeassistant", False)))
        errors, published = outcome.errors, outcome.published
    frames = [{k: v for k, v in frame.items() if k != "name"} for frame in expected["frames"]]
    assert recorder.frames == frames
    assert published == expected["published"]
    assert [_error_key(e) for e in errors] == [_error_key(e) for e in expected["errors"]]


def test_vectors_cover_every_command_form() -> None:
    keys = {key for case in CASES
            for key in (parse_request(case["input"]["raw"], case["input"].get("attribute")) or {})}
    assert {"state", "brightness", "brightness_percent", "color_temp", "transition", "brightness_step",
            "color_temp_step", "power_outage_memory", "power", "on_time"} <= keys
    presets = {case["input"]["raw"] for case in CASES}
    assert all(f'{{"color_temp":"{name}"}}' in presets for name in ("coolest", "cool", "neutral", "warm", "warmest"))
