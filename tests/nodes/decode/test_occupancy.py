"""``decode`` clears RTCGQ11LM occupancy a timeout after the last detection, in event time, across restarts.

The reports are the emulator's (the frames a real RTCGQ11LM sends: an illuminance report, then
an occupancy report), so this also checks that the emulator and the decoder agree.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from flowengine import EventClock, Message, StateStore, WallClock
from flowengine.testing import capture_context
from flowengine_nodes.devices.decode import Decode, DecodeConfig
from flowengine_nodes.emulator.catalog import make_device

MOTION_IEEE = "00:15:8d:00:07:00:01:02"
T0 = 1_732_435_200.0


def _motion() -> Any:
    return make_device("hall_motion", {"model": "RTCGQ11LM", "ieee": MOTION_IEEE, "nwk": 0x3102})


def _records(device: Any, event: str, ts: float, **params: Any) -> list[Message]:
    messages = []
    for frame in device.event_frames(event, params):
        record = {"ts": ts, "ieee": device.ieee, "nwk": f"0x{device.nwk:04x}", "model": device.model,
                  "manufacturer": device.manufacturer, "endpoint": frame.src_endpoint, "profile": frame.profile,
                  "cluster": frame.cluster, "lqi": frame.lqi, "rssi": frame.rssi, "frame": frame.payload.hex()}
        messages.append(Message(f"zigbee/{device.ieee}/1/{frame.cluster}", record,
                                {"ts": ts, "ieee": device.ieee, "source": "radio"}))
    return messages


class Harness:
    """A decode node on an event clock, its ports collected."""

    def __init__(self, directory: Path, store: StateStore | None = None, clock: EventClock | None = None,
                 **config: Any) -> None:
        self.clock = clock or EventClock(T0)
        self.store = store or StateStore(None)
        config.setdefault("compat", 2)
        config.setdefault("friendly_names", {MOTION_IEEE: "hall_motion"})
        self.node = Decode(DecodeConfig.model_validate(config),
                           capture_context(directory, "decode", clock=self.clock, state=self.store))
        self.out: list[Message] = []
        self.events: list[Message] = []
        self.node.bind_output("out", self.out.append)
        self.node.bind_output("events", self.events.append)

    def feed(self, messages: list[Message]) -> None:
        for msg in messages:
            self.clock.observe(msg.meta["ts"])  # what a replay source does
            result = self.node.process(msg)
            if result is not None:
                self.out.append(result)


def test_occupancy_clears_at_the_deadline_of_the_last_detection(tmp_path: Path) -> None:
    harness = Harness(tmp_path, cache_state=False)
    device = _motion()
    harness.feed(_records(device, "motion", T0, illuminance=40))
    assert [m.payload for m in harness.out] == [
        {"illuminance": 40, "linkquality": 120, "occupancy": True},
        {"linkquality": 120, "occupancy": True},
    ]
    harness.feed(_records(device, "motion", T0 + 60, illuminance=41))  # restarts the 90 s timer
    harness.feed(_records(device, "heartbeat", T0 + 149))  # before the new deadline: nothing yet
    assert not [m for m in harness.out if m.payload.get("occupancy") is False]
    harness.feed(_records(device, "heartbeat", T0 + 200))
    cleared = [m for m in harness.out if m.payload.get("occupancy") is False]
    assert [(m.topic, m.payload, m.meta["ts"]) for m in cleared] == [
        ("zigbee2mqtt/hall_motion", {"occupancy": False}, T0 + 150)]
    # It left before the report that carried time past it, and so did its typed event.
    assert harness.out.index(cleared[0]) == len(harness.out) - 2
    assert [(e.payload["event"], e.meta["ts"]) for e in harness.events if e.payload["family"] == "motion"] == [
        ("motion_detected", T0), ("motion_detected", T0), ("motion_detected", T0 + 60),
        ("motion_detected", T0 + 60), ("motion_cleared", T0 + 150)]


def test_the_clearing_merges_into_the_cached_state_and_honours_the_option(tmp_path: Path) -> None:
    harness = Harness(tmp_path, options={"occupancy_timeout": 30})
    harness.feed(_records(_motion(), "motion", T0, illuminance=12))
    harness.node.flush()  # the input ended: the pending timer runs out at its deadline
    last = harness.out[-1]
    assert last.payload == {"illuminance": 12, "linkquality": 120, "occupancy": False}
    assert last.meta["ts"] == T0 + 30
    assert last.meta["model"] == "RTCGQ11LM"
    assert last.meta["friendly_name"] == "hall_motion"


def test_a_zero_timeout_never_clears(tmp_path: Path) -> None:
    harness = Harness(tmp_path, options={"occupancy_timeout": 0})
    harness.feed(_records(_motion(), "motion", T0))
    harness.node.flush()
    assert all(m.payload["occupancy"] is True for m in harness.out)


def test_a_pending_timer_survives_a_restart_on_the_event_clock(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    first = Harness(tmp_path, store=store, cache_state=False)
    first.feed(_records(_motion(), "motion", T0))
    store.close()  # the runner dies here: nothing of the node survives but its state

    store = StateStore(tmp_path / "state.db")
    second = Harness(tmp_path, store=store, cache_state=False)
    asyncio.run(second.node.start())
    assert len(second.node._occupancy) == 1
    second.feed(_records(_motion(), "heartbeat", T0 + 100))
    cleared = [m for m in second.out if m.payload.get("occupancy") is False]
    assert [(m.payload, m.meta["ts"], m.meta["source"]) for m in cleared] == [({"occupancy": False}, T0 + 90, "radio")]
    store.close()
    store = StateStore(tmp_path / "state.db")
    assert list(store.node("decode").items()) == []  # done: a third run clears nothing again
    store.close()


def test_an_overdue_timer_fires_at_once_on_the_wall_clock_with_its_deadline(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    first = Harness(tmp_path, store=store, cache_state=False)
    first.feed(_records(_motion(), "motion", T0))  # 2024: long overdue today
    store.close()

    async def restart() -> list[Message]:
        state = StateStore(tmp_path / "state.db")
        node = Decode(DecodeConfig(compat=2, cache_state=False, friendly_names={MOTION_IEEE: "hall_motion"}),
                      capture_context(tmp_path, "decode", clock=WallClock(), state=state))
        out: list[Message] = []
        done = asyncio.Event()
        node.bind_output("out", lambda msg: (out.append(msg), done.set()))
        await node.start()
        async with asyncio.timeout(5):
            await done.wait()
        state.close()
        return out

    (cleared,) = asyncio.run(restart())
    assert cleared.payload == {"occupancy": False}
    assert cleared.meta["ts"] == T0 + 90
