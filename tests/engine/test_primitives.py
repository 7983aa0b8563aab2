"""Channels, clocks, durable state and supervision: the engine's building blocks."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from flowengine.channel import Channel
from flowengine.clock import EventClock, WallClock
from flowengine.errors import StateFileUnavailableError
from flowengine.scheduling import Schedule
from flowengine.state import StateStore
from flowengine.supervision import Backoff, PermanentError, supervise
from flowengine.testing import run_sync


def test_channel_drop_newest_keeps_the_oldest_and_counts() -> None:
    async def scenario() -> tuple[list[int] | None, int]:
        channel: Channel[int] = Channel(3, "drop_newest")
        accepted = [channel.put(i) for i in range(5)]
        assert accepted == [True, True, True, False, False]
        return await channel.get_batch(), channel.dropped

    assert run_sync(scenario()) == ([0, 1, 2], 2)


def test_channel_drop_oldest_keeps_the_newest_and_counts() -> None:
    async def scenario() -> tuple[list[int] | None, int]:
        channel: Channel[int] = Channel(3, "drop_oldest")
        for i in range(5):
            channel.put(i)
        return await channel.get_batch(), channel.dropped

    assert run_sync(scenario()) == ([2, 3, 4], 2)


def test_closing_a_channel_ends_its_reader_after_the_rest() -> None:
    async def scenario() -> list[list[int] | None]:
        channel: Channel[int] = Channel(10)
        channel.put(1)
        channel.close()
        assert channel.put(2) is False
        return [await channel.get_batch(), await channel.get_batch()]

    assert run_sync(scenario()) == [[1], None]


def test_reader_wakes_when_a_message_arrives() -> None:
    async def scenario() -> list[int] | None:
        channel: Channel[int] = Channel(10)
        reader = asyncio.ensure_future(channel.get_batch())
        await asyncio.sleep(0)
        assert not reader.done()
        channel.put(7)
        return await asyncio.wait_for(reader, 5)

    assert run_sync(scenario()) == [7]


def test_wait_for_room_returns_once_the_reader_drained_half() -> None:
    async def scenario() -> int:
        channel: Channel[int] = Channel(4)
        for i in range(4):
            channel.put(i)
        assert channel.is_busy()
        waiter = asyncio.ensure_future(channel.wait_for_room())
        await asyncio.sleep(0)
        assert not waiter.done()
        await channel.get_batch(limit=3)
        await asyncio.wait_for(waiter, 5)
        return len(channel)

    assert run_sync(scenario()) == 1


def test_event_clock_fires_timers_in_deadline_order_as_time_passes() -> None:
    clock = EventClock(100.0)
    fired: list[tuple[str, float]] = []
    clock.call_at(110.0, lambda: fired.append(("b", clock.now())))
    clock.call_at(105.0, lambda: fired.append(("a", clock.now())))
    cancelled = clock.call_at(107.0, lambda: fired.append(("never", clock.now())))
    cancelled.cancel()
    clock.observe(106.0)
    assert fired == [("a", 105.0)]
    assert clock.now() == 106.0
    clock.observe(50.0)  # time never goes backwards
    assert clock.now() == 106.0
    clock.run_all()
    assert fired == [("a", 105.0), ("b", 110.0)]
    assert clock.pending() == 0


def test_wall_clock_timer_fires_without_any_message() -> None:
    async def scenario() -> float:
        clock = WallClock()
        fired = asyncio.Event()
        start = clock.now()
        clock.call_later(0.05, fired.set)
        await asyncio.wait_for(fired.wait(), 5)
        return clock.now() - start

    assert run_sync(scenario()) >= 0.04


def test_a_wall_clock_timer_lets_data_stamped_before_its_deadline_go_first() -> None:
    """A message stamped just before a deadline but handled just after it (still in transit
    when the deadline passed) comes before the timer's callback, as in a replay of the same data."""

    async def main() -> list[str]:
        clock = WallClock()
        schedule = Schedule(clock)
        order: list[str] = []
        fired = asyncio.Event()
        deadline = clock.now() + 0.02

        def timer_ran() -> None:
            order.append("timer")
            fired.set()

        def message_arrives() -> None:
            schedule.run_due(deadline - 0.001)  # what a node does with a message stamped then
            order.append("message")

        schedule.add(deadline, timer_ran)
        loop = asyncio.get_running_loop()
        # The message reaches the node 10 ms after the deadline (the loop runs due callbacks in
        # time order, so a busy machine cannot swap the two).
        loop.call_at(loop.time() + (deadline - clock.now()) + 0.01, message_arrives)
        await fired.wait()
        return order

    assert run_sync(main()) == ["message", "timer"]
    assert EventClock().lateness == 0.0  # replays: time follows the data, nothing comes later


def test_node_state_survives_reopening_and_is_scoped_per_node(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    a, b = store.node("a"), store.node("b")
    a.set("window:1", {"count": 2, "first": 10.5})
    a.update({"window:2": [1, 2]}, deletes=[])
    b.set("window:1", "other")
    a.delete("missing")
    store.close()
    again = StateStore(tmp_path / "state.db")
    assert again.node("a").get("window:1") == {"count": 2, "first": 10.5}
    assert dict(again.node("a").items("window:")) == {"window:1": {"count": 2, "first": 10.5}, "window:2": [1, 2]}
    assert again.node("b").get("window:1") == "other"
    assert again.node("c").get("x", "default") == "default"
    assert again.node("a").durable
    again.node("a").clear()
    assert list(again.node("a").items()) == []
    again.close()


def test_a_state_file_the_storage_refuses_is_unavailable_not_corrupt(tmp_path: Path) -> None:
    """A folder that cannot hold the file is a passing condition (the runner waits), never 'move it aside'."""
    (tmp_path / "st").write_text("in the way")
    with pytest.raises(StateFileUnavailableError) as refused:
        StateStore(tmp_path / "st" / "state.db")
    assert str(refused.value).startswith(f"state file {tmp_path / 'st' / 'state.db'} cannot be opened: ")
    assert ".corrupt" not in str(refused.value)
    (tmp_path / "st").unlink()
    StateStore(tmp_path / "st" / "state.db").close()


def test_memory_state_is_not_durable() -> None:
    store = StateStore(None)
    state = store.node("a")
    state.set("k", 1)
    assert state.get("k") == 1
    assert not state.durable
    store.close()


def test_memory_state_reads_before_its_first_write_and_commits_in_groups() -> None:
    # The in-memory database opens on the first write: reads before it see an empty store.
    store = StateStore(None)
    state = store.node("a")
    assert state.get("k", "default") == "default"
    assert list(state.items()) == []
    dirty: list[bool] = []
    store.defer_commits(lambda: dirty.append(True))
    state.update({"k": 1, "j": 2})
    assert dirty == [True]
    assert dict(state.items()) == {"j": 2, "k": 1}
    mark = store.seal()
    assert mark is not None
    store.commit_through(mark)
    assert store.settled == mark
    assert dict(state.items()) == {"j": 2, "k": 1}
    state.delete("j")
    assert dict(state.items()) == {"k": 1}
    store.close()


def test_backoff_grows_and_is_capped() -> None:
    policy = Backoff(base=1.0, cap=8.0)
    for attempt in range(10):
        ceiling = min(8.0, 2.0**attempt)
        assert ceiling / 2 <= policy.delay(attempt) <= ceiling


def test_supervise_reconnects_after_a_loss_and_reports_states(caplog: pytest.LogCaptureFixture) -> None:
    states: list[str] = []
    attempts = 0

    async def connect_and_serve(connected: object) -> None:
        nonlocal attempts
        attempts += 1
        assert callable(connected)
        if attempts < 3:
            raise ConnectionError(f"refused #{attempts}")
        connected()

    async def scenario() -> None:
        await supervise(connect_and_serve, name="broker", logger=logging.getLogger("test.supervise"),
                        backoff=Backoff(base=0.001, cap=0.002), on_state=lambda s, d: states.append(s))

    run_sync(scenario())
    assert attempts == 3
    assert states == ["connecting", "disconnected", "connecting", "disconnected", "connecting", "connected",
                      "disconnected"]
    assert any("refused #1" in r.getMessage() for r in caplog.records)


def test_supervise_logs_a_permanent_error_once(caplog: pytest.LogCaptureFixture) -> None:
    attempts = 0

    async def connect_and_serve(connected: object) -> None:
        nonlocal attempts
        attempts += 1
        if attempts <= 3:
            raise PermanentError("not authorised: check the user name and password")

    async def scenario() -> None:
        await supervise(connect_and_serve, name="broker", logger=logging.getLogger("test.supervise"),
                        backoff=Backoff(permanent=0.001))

    with caplog.at_level(logging.INFO):
        run_sync(scenario())
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "not authorised" in errors[0].getMessage()
    assert errors[0].exc_info is None
