"""The durable outbox: order, acknowledgement, rewind, overflow, restart, exclusive use."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowengine_nodes.mqtt.outbox import Entry, Outbox, OutboxBusyError


def entries(start: int, count: int, topic: str = "t") -> list[Entry]:
    return [(topic, str(i).encode(), 1, False) for i in range(start, start + count)]


def payloads(rows: list[tuple[int, str, bytes, int, bool]]) -> list[int]:
    return [int(row[2]) for row in rows]


def test_take_in_order_then_ack_deletes(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", limit=100)
    assert box.append(entries(0, 5)) == 0
    assert len(box) == 5
    first = box.take(3)
    assert payloads(first) == [0, 1, 2]
    assert payloads(box.take(10)) == [3, 4]
    assert box.take(10) == []
    assert box.ack([row[0] for row in first]) == 3
    assert len(box) == 2
    box.close()


def test_rows_survive_a_restart_and_come_back_first(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    box = Outbox(path, limit=100)
    box.append([("a/b", b'{"x":1}', 2, True), *entries(1, 3)])
    sent = box.take(2)
    box.ack([sent[0][0]])
    box.close()  # the second row was sent but never acknowledged

    again = Outbox(path, limit=100)
    assert len(again) == 3
    again.append(entries(10, 2))
    rows = again.take(10)
    assert payloads(rows) == [1, 2, 3, 10, 11]
    assert [row[0] for row in rows] == sorted(row[0] for row in rows)
    again.close()
    third = Outbox(path, limit=100)
    first = third.take(1)[0]
    assert first[1:] == ("t", b"1", 1, False)
    third.close()


def test_retain_and_qos_round_trip(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", limit=10, cache=0)  # cache 0: always read back from SQLite
    box.append([("x", b"\x00\xff", 2, True)])
    assert box.take(1)[0][1:] == ("x", b"\x00\xff", 2, True)
    box.close()


def test_rewind_sends_every_unacknowledged_row_again(tmp_path: Path) -> None:
    box = Outbox(None, limit=100)
    box.append(entries(0, 6))
    rows = box.take(4)
    box.ack([rows[1][0]])
    box.rewind()
    assert payloads(box.take(100)) == [0, 2, 3, 4, 5]


def test_drop_oldest_at_the_limit(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", limit=5, overflow="drop_oldest")
    assert box.append(entries(0, 4)) == 0
    assert box.append(entries(4, 3)) == 2
    assert len(box) == 5
    assert payloads(box.take(10)) == [2, 3, 4, 5, 6]
    # A batch larger than the limit keeps its newest messages.
    assert box.append(entries(10, 8)) == 8
    assert len(box) == 5
    box.rewind()
    assert payloads(box.take(10)) == [13, 14, 15, 16, 17]
    box.close()


def test_drop_newest_at_the_limit(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", limit=5, overflow="drop_newest")
    assert box.append(entries(0, 4)) == 0
    assert box.append(entries(4, 3)) == 2
    assert payloads(box.take(10)) == [0, 1, 2, 3, 4]
    assert box.append(entries(7, 1)) == 1
    box.close()


def test_drop_oldest_skips_rows_not_yet_taken_from_memory() -> None:
    box = Outbox(None, limit=3, overflow="drop_oldest")
    box.append(entries(0, 3))
    assert payloads(box.take(1)) == [0]
    box.append(entries(3, 2))  # drops 0 (in flight) and 1 (not taken yet)
    assert payloads(box.take(10)) == [2, 3, 4]


def test_a_backlog_larger_than_the_cache_is_read_from_the_database(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", limit=1000, cache=10)
    box.append(entries(0, 8))
    box.append(entries(8, 8))  # spills: the cache no longer holds every row after the cursor
    got: list[int] = []
    while rows := box.take(3):
        got += payloads(rows)
    assert got == list(range(16))
    box.append(entries(16, 2))  # caught up: served from memory again
    assert payloads(box.take(10)) == [16, 17]
    box.close()


def test_sequence_numbers_never_go_back_within_a_run(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", limit=100)
    box.append(entries(0, 3))
    rows = box.take(3)
    box.ack([row[0] for row in rows])
    assert len(box) == 0
    box.append(entries(3, 1))
    later = box.take(1)
    assert payloads(later) == [3]
    assert later[0][0] > rows[-1][0]
    box.close()


def test_a_second_process_cannot_open_the_same_outbox(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    box = Outbox(path, limit=10)
    with pytest.raises(OutboxBusyError, match="in use"):
        Outbox(path, limit=10)
    box.close()
    Outbox(path, limit=10).close()


operations = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(0, 7)),
        st.tuples(st.just("take"), st.integers(0, 7)),
        st.tuples(st.just("ack"), st.integers(0, 7)),
        st.tuples(st.just("rewind"), st.just(0)),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(operations, st.integers(1, 12), st.sampled_from(["drop_oldest", "drop_newest"]), st.integers(0, 6))
def test_outbox_matches_a_list_model(
    ops: list[tuple[str, int]], limit: int, overflow: str, cache: int
) -> None:
    box = Outbox(None, limit=limit, overflow=overflow, cache=cache)  # type: ignore[arg-type]
    stored: list[int] = []  # payload numbers in the store, oldest first
    cursor = -1  # the last payload number handed out
    taken: list[tuple[int, int]] = []  # (seq, number) handed out and not acknowledged
    counter = 0
    for op, n in ops:
        if op == "append":
            new = list(range(counter, counter + n))
            counter += n
            dropped = box.append(entries(new[0], n) if n else [])
            expected_dropped = 0
            room = limit - len(stored)
            if len(new) > room:
                excess = len(new) - room
                if overflow == "drop_newest":
                    kept = new[: max(room, 0)]
                    expected_dropped = len(new) - len(kept)
                    new = kept
                else:
                    from_store = min(excess, len(stored))
                    stored = stored[from_store:]
                    new = new[excess - from_store :]
                    expected_dropped = excess
            assert dropped == expected_dropped
            stored += new
        elif op == "take":
            rows = box.take(n)
            expected = [x for x in stored if x > cursor][:n]
            assert payloads(rows) == expected
            if rows:
                cursor = expected[-1]
            taken += [(row[0], int(row[2])) for row in rows]
        elif op == "ack":
            acked, taken = taken[:n], taken[n:]
            box.ack([seq for seq, _ in acked])
            gone = {number for _, number in acked}
            stored = [x for x in stored if x not in gone]
        else:
            box.rewind()
            cursor = -1
            taken = []
        assert len(box) == len(stored)
    box.close()


def test_an_outbox_the_storage_refuses_opens_on_a_later_append(tmp_path: Path) -> None:
    """A folder that cannot hold the file (here a plain file in its way) is a condition that passes:
    the outbox starts unopened, each append raises SQLite's OperationalError naming the file (the
    engine keeps the batch and retries), and once the folder is there the rows an earlier run left
    go out first."""
    earlier = Outbox(tmp_path / "o.db", limit=100)
    earlier.append(entries(0, 2))
    earlier.close()
    (tmp_path / "box").write_text("in the way")
    path = tmp_path / "box" / "o.db"
    box = Outbox(path, limit=100)
    assert box.unavailable is not None
    assert (len(box), box.take(10), box.ack([1])) == (0, [], 0)
    with pytest.raises(sqlite3.OperationalError, match=f"outbox {path}: "):
        box.append(entries(10, 1))
    (tmp_path / "box").unlink()
    (tmp_path / "box").mkdir()
    (tmp_path / "o.db").rename(path)
    assert box.append(entries(10, 1)) == 0
    assert box.unavailable is None
    assert payloads(box.take(10)) == [0, 1, 10]
    box.close()
