"""Commands through the real zigpy stack to the emulated household: set, get, failures, bad input.

A ``zigbee`` node on the emulator (flows/scenarios/household.yaml's bulb, plug and door contact)
takes command messages as a flow wire would hand them over (``receive``), sends the definitions'
toZigbee frames through zigpy, and publishes the optimistic state on ``state``; the emulated devices
act and report. Failures and bad input end on ``errors`` (or are refused at once) with nothing sent,
and the node still switches the light afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from flowengine import Message
from flowengine.testing import run_sync
from flowengine_nodes.emulator.ikea import TradfriBulb
from flowengine_nodes.emulator.scenario import load_scenario
from flowengine_nodes.emulator.xiaomi import SmartPlug
from flowengine_nodes.zigbee.commands import CommandRefused
from tests.mosquitto import free_port
from tests.nodes.zigbee.harness import Running, Watcher, formed_emulator

SCENARIO = Path(__file__).resolve().parents[3] / "flows" / "scenarios" / "household.yaml"
NAMES = ("hall_light", "kitchen_plug", "door_contact")


async def _interviewed(running: Running, count: int) -> None:
    index, seen = 0, 0
    while seen < count:
        message = await running.events.wait_for(lambda m: m.payload["event"] == "device_interviewed", start=index)
        index = running.events.messages.index(message) + 1
        seen += 1


def _command(topic: str, payload: Any, **meta: Any) -> Message:
    return Message(topic, payload, dict(meta))


@contextlib.asynccontextmanager
async def _paired(tmp_path: Path, devices: list[Any], **config: Any) -> AsyncIterator[tuple[Running, Watcher]]:
    """A ``zigbee`` node on a formed emulator with ``devices`` joined and interviewed; its ``state`` watched."""
    emulator = formed_emulator(tmp_path, *devices)
    await emulator.start()
    try:
        async with Running(tmp_path, device=emulator.device_path, database="zigbee.db", **config) as running:
            state = Watcher()
            running.node.bind_output("state", state)
            await running.wait_connected()
            await emulator.wait_host_ready()
            for device in devices:
                emulator.join(device)
            await _interviewed(running, len(devices))
            yield running, state
    finally:
        await emulator.aclose()


def test_commands_switch_read_fail_and_refuse(tmp_path: Path) -> None:
    devices = [d for d in load_scenario(SCENARIO).build_devices() if d.name in NAMES]
    by_name = {d.name: d for d in devices}
    bulb, plug = by_name["hall_light"], by_name["kitchen_plug"]
    assert isinstance(bulb, TradfriBulb)
    assert isinstance(plug, SmartPlug)

    async def run() -> None:
        async with _paired(tmp_path, devices, command_timeout=1.0,
                           friendly_names={d.ieee: d.name for d in devices}) as (running, state):
            errors = Watcher()
            running.node.bind_output("errors", errors)
            node = running.node

            # /set by friendly name: the bulb switches, the state leaves on `state`, its reports on `out`
            node.receive(_command("zigbee2mqtt/hall_light/set", {"state": "ON", "brightness": 200}))
            message = await state.wait_for(lambda m: m.topic == "zigbee2mqtt/hall_light")
            assert message.payload == {"state": "ON", "brightness": 200}
            assert message.meta["friendly_name"] == "hall_light"
            assert message.meta["model"] == "LED1545G12"
            assert bulb.on
            assert bulb.level == 200
            await running.out.wait_for(lambda m: m.payload["cluster"] == 8 and m.payload["frame"][4:6] == "0a")

            # /get: a read, answered by a read response on `out` (the decode node publishes it)
            start = len(running.out.messages)
            node.receive(_command("zigbee2mqtt/hall_light/get", '{"state":""}'))
            answer = await running.out.wait_for(lambda m: m.payload["cluster"] == 6
                                                and m.payload["frame"][4:6] == "01", start=start)
            assert answer.payload["frame"].endswith("0000001001")  # onOff = 1

            # by ieee in meta, bare payload; /set/<attribute>
            node.receive(_command("anything", "OFF", ieee=plug.ieee))
            await state.wait_for(lambda m: m.topic == "zigbee2mqtt/kitchen_plug" and m.payload["state"] == "OFF")
            assert not plug.on
            node.receive(_command("zigbee2mqtt/hall_light/set/color_temp", "warm"))
            await state.wait_for(lambda m: m.payload.get("color_temp") == 454)
            assert bulb.color_temp == 454

            # no answer: an error naming device and command, no state
            bulb.answering = False
            before = len(state.messages)
            node.receive(_command("zigbee2mqtt/hall_light/set", {"state": "OFF"}))
            failed = await errors.wait_for(lambda m: "hall_light" in m.meta["error"]["message"])
            assert failed.meta["error"]["device"] == "hall_light"
            assert "no answer" in failed.meta["error"]["message"]
            assert len(state.messages) == before
            bulb.answering = True

            # an error status: the same, with zigpy's status name
            bulb.command_status = 0x01
            node.receive(_command("zigbee2mqtt/hall_light/set", {"state": "OFF"}))
            failed = await errors.wait_for(lambda m: "Status 'FAILURE'" in m.meta["error"]["message"])
            assert failed.meta["error"]["command"] == {"state": "OFF"}
            assert len(state.messages) == before
            assert bulb.on
            bulb.command_status = 0x00

            # an out-of-range value: Zigbee2MQTT's error, nothing sent
            sent = len(bulb.requests)
            node.receive(_command("zigbee2mqtt/hall_light/set", {"brightness": 300}))
            await errors.wait_for(lambda m: "Brightness value" in m.meta["error"]["message"])
            assert len(bulb.requests) == sent

            # refused at once, nothing queued
            for bad, reason in ((_command("zigbee2mqtt/hall_light/set", "not json"), "not a Zigbee2MQTT"),
                                (_command("zigbee2mqtt/nobody/set", {"state": "ON"}), "unknown device"),
                                (_command("zigbee2mqtt/door_contact/set", {"state": "ON"}), "takes no commands")):
                with pytest.raises(CommandRefused, match=reason):
                    node.receive(bad)
            assert len(bulb.requests) == sent

            # the same node still switches the light
            node.receive(_command("zigbee2mqtt/hall_light/set", {"state": "OFF"}))
            await state.wait_for(lambda m: m.payload.get("state") == "OFF" and m.topic.endswith("hall_light"))
            assert not bulb.on

    run_sync(run())


def test_a_command_before_the_first_connection_waits_for_it_one_after_a_loss_is_refused_at_once(
    tmp_path: Path,
) -> None:
    """At the start a command waits (held: its upstream acknowledgement waits too); later a lost stick refuses."""
    devices = [d for d in load_scenario(SCENARIO).build_devices() if d.name == "hall_light"]
    bulb = devices[0]
    assert isinstance(bulb, TradfriBulb)

    async def run() -> None:
        async with _paired(tmp_path, devices):
            pass  # zigpy's database and the stick now know the bulb, as after any earlier run
        emulator = formed_emulator(tmp_path, *devices)
        await emulator.start()
        try:
            running = Running(tmp_path, device=emulator.device_path, database="zigbee.db")
            state = Watcher()
            running.node.bind_output("state", state)
            running.node.receive(_command(bulb.ieee, {"state": "ON", "brightness": 77}))
            assert len(running.node.commands.holding) == 1  # held: neither taken nor refused
            assert running.node.counters["commands_taken"] == 0
            async with running:
                await running.wait_connected()
                await running.node.commands.join()
                assert len(running.node.commands.holding) == 0
                assert running.node.counters["commands_taken"] == 1
                assert [m.payload for m in state.messages] == [{"state": "ON", "brightness": 77}]
                assert (bulb.on, bulb.level) == (True, 77)

                mark = len(running.events.messages)
                await emulator.aclose()  # the stick unplugged
                await running.events.wait_for(
                    lambda m: m.payload["event"] == "coordinator" and m.payload["state"] == "disconnected", start=mark)
                with pytest.raises(CommandRefused, match="coordinator is not connected"):
                    running.node.receive(_command(bulb.ieee, {"state": "OFF"}))
                assert len(running.node.commands.holding) == 0
        finally:
            await emulator.aclose()

    run_sync(run())


def test_a_command_held_for_a_coordinator_that_never_connects_expires(tmp_path: Path) -> None:
    async def run() -> None:
        nothing_listens = f"socket://127.0.0.1:{free_port()}"
        running = Running(tmp_path, device=nothing_listens, database="zigbee.db", command_expiry=0.2)
        running.node.receive(_command("zigbee2mqtt/hall_light/set", {"state": "ON"}))
        assert len(running.node.commands.holding) == 1
        async with running:
            await running.node.commands.join()
            assert running.node.counters["commands_expired"] == 1
            assert len(running.node.commands.holding) == 0
            assert running.node.commands.holding.settled == 1

    run_sync(run())


def test_an_expired_command_is_dropped_and_counted_never_sent(tmp_path: Path) -> None:
    devices = [d for d in load_scenario(SCENARIO).build_devices() if d.name == "hall_light"]
    bulb = devices[0]
    assert isinstance(bulb, TradfriBulb)

    async def run() -> None:
        emulator = formed_emulator(tmp_path, *devices)
        await emulator.start()
        try:
            async with Running(tmp_path, device=emulator.device_path, database="zigbee.db",
                               command_expiry=0.05) as running:
                await running.wait_connected()
                await emulator.wait_host_ready()
                emulator.join(bulb)
                await _interviewed(running, 1)
                commander = running.node.commands
                serving = asyncio.Event()
                # Hold the worker: a command queued behind a slow one waits past its expiry.
                original = commander._run

                async def slow(command: Any) -> None:
                    serving.set()
                    await asyncio.sleep(0.2)
                    await original(command)

                commander._run = slow  # type: ignore[method-assign]
                running.node.receive(_command(bulb.ieee, {"state": "ON"}))
                await serving.wait()
                running.node.receive(_command(bulb.ieee, {"state": "OFF"}))
                await commander.join()
                assert running.node.counters["commands_expired"] == 1
                switched = [r.payload for r in bulb.requests if r.cluster == 6]
                assert len(switched) == 1  # only the first went out (on)
                assert switched[0][2] == 0x01
                assert bulb.on
        finally:
            await emulator.aclose()

    run_sync(run())


def test_a_burst_of_1000_commands_is_paced_with_none_lost_or_reordered(tmp_path: Path) -> None:
    devices = [d for d in load_scenario(SCENARIO).build_devices() if d.name in ("hall_light", "kitchen_plug")]
    bulb, plug = devices if devices[0].name == "hall_light" else devices[::-1]

    async def run() -> None:
        async with _paired(tmp_path, devices) as (running, state):
            levels = [1 + (i * 37) % 254 for i in range(500)]
            for index, level in enumerate(levels):  # interleaved: 500 for the bulb, 500 for the plug
                running.node.receive(_command(bulb.ieee, {"brightness": level}))
                running.node.receive(_command(plug.ieee, {"state": "ON" if index % 2 else "OFF"}))
            await running.node.commands.join()
            light = [m.payload["brightness"] for m in state.messages if m.meta["ieee"] == bulb.ieee]
            switched = [m.payload["state"] for m in state.messages if m.meta["ieee"] == plug.ieee]
            assert light == levels
            assert switched == ["ON" if i % 2 else "OFF" for i in range(500)]
            sent = [r.payload[3] for r in bulb.requests if r.cluster == 8]
            assert sent == levels  # the frames reached the device in order
            assert running.node.counters["commands_done"] == 1000
            assert running.node.counters["command_errors"] == 0
            assert running.node.counters["commands_expired"] == 0  # under the default 10 s expiry

    run_sync(run())


def test_300_identical_commands_to_one_device_all_answered_under_the_default_expiry(tmp_path: Path) -> None:
    """The 8-bit sequence number wraps: answers repeat byte for byte and must still reach their request.

    zigpy drops a frame identical to one the same device sent within 10 s; the bulb's default
    response to the 257th ``{"state": "ON"}`` is identical to its answer to the 1st. Each answer must
    still end its own request: all 300 go out, in order, none expires, none fails.
    """
    devices = [d for d in load_scenario(SCENARIO).build_devices() if d.name == "hall_light"]
    bulb = devices[0]

    async def run() -> None:
        async with _paired(tmp_path, devices) as (running, state):
            assert running.node.config.command_expiry == 10.0  # the default
            for _ in range(300):
                running.node.receive(_command(bulb.ieee, {"state": "ON"}))
            await running.node.commands.join()
            counters = running.node.counters
            assert (counters["commands_done"], counters["commands_expired"], counters["command_errors"]) == (
                300, 0, 0)
            switched = [r for r in bulb.requests if r.cluster == 6]
            assert len(switched) == 300
            sequences = [r.payload[1] for r in switched]
            assert len(set(sequences)) < len(sequences)  # the sequence number wrapped: answers repeated
            assert len(state.messages) == 300

    run_sync(run())
