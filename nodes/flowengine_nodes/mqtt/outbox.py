"""The durable outbox of ``mqtt-out``: messages kept in SQLite until the broker acknowledges them.

CONTRACT §6: a QoS 1/2 message is written to the outbox before anything is sent, sent in
order, and deleted only once the broker has acknowledged it (PUBACK, PUBCOMP). What is left
at a disconnect, a SIGKILL or a restart is sent again, oldest first (at least once: a
message acknowledged just before a crash may be sent twice).

Design:

* One SQLite file per node in WAL mode with ``synchronous=NORMAL``: each batch is one
  committed transaction, which survives a crash of the process (not necessarily a power
  cut). The file is opened with an exclusive lock, so two runners cannot drain the same
  outbox (the second gets :class:`OutboxBusyError`).
* Rows carry a sequence number assigned here, strictly increasing within a run and above
  every stored row; the sender keeps a cursor (the last sequence number handed out) and
  :meth:`Outbox.rewind` puts it back to the start after a reconnect.
* The tail that was just written is also kept in memory (up to ``cache`` rows), so a
  sender that keeps up never reads back what was just inserted; a backlog (after a
  restart, a long outage, a rewind) is read from the database in pages.
* ``limit`` bounds the stored rows; at the limit ``drop_oldest`` deletes the oldest rows
  (sent or not) and ``drop_newest`` refuses the incoming ones. :meth:`Outbox.append`
  returns how many were dropped; the node counts and logs them.

All methods are synchronous and meant for the event loop's thread: each is one short
local transaction, never a network wait.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import sqlite3

Overflow = Literal["drop_oldest", "drop_newest"]
Entry = tuple[str, bytes, int, bool]
"""A message to deliver: ``(topic, payload, qos, retain)``."""
Row = tuple[int, str, bytes, int, bool]
"""A stored message: ``(seq, topic, payload, qos, retain)``."""

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS outbox ("
    " seq INTEGER PRIMARY KEY,"
    " topic TEXT NOT NULL,"
    " payload BLOB NOT NULL,"
    " qos INTEGER NOT NULL,"
    " retain INTEGER NOT NULL)"
)


class OutboxBusyError(RuntimeError):
    """The outbox file is held by another process (another runner of the same flow)."""


class Outbox:
    """A durable FIFO of messages awaiting acknowledgement (see the module docstring)."""

    def __init__(
        self,
        path: Path | None,
        *,
        limit: int,
        overflow: Overflow = "drop_oldest",
        cache: int = 10_000,
    ) -> None:
        """Open (creating if needed) the outbox at ``path``; ``None`` keeps it in memory.

        A file the storage refuses for now (a read-only folder, a full disk: SQLite's
        ``OperationalError``, or ``OSError``) does not fail: the outbox starts empty and
        unopened (:attr:`unavailable` says why), and :meth:`append` tries again, raising
        the storage error until it opens, so the engine keeps the batch and retries it
        (docs/delivery.md). Rows an earlier run left come first once it opens.

        Raises:
            OutboxBusyError: another process has the file open.
            sqlite3.DatabaseError: the file is not a usable SQLite database.
        """
        import sqlite3  # here, not at the top: mqtt-out at QoS 0 has no outbox and never loads SQLite

        if limit < 1:
            raise ValueError("an outbox limit is at least 1")
        self.path = path
        self.limit = limit
        self.overflow = overflow
        self._cache_size = cache
        self._count = 0
        self._next_seq = 1
        self._cursor = 0
        # The rows after the cursor, when they are all in memory (``_cached``); else read the DB.
        self._cache: deque[Row] = deque()
        self._cached = True
        self._db: sqlite3.Connection | None = None
        #: Why the file could not be opened yet (None: it is open).
        self.unavailable: str | None = None
        try:
            self._open()
        except (sqlite3.OperationalError, OSError) as exc:
            self.unavailable = str(exc)

    def _open(self) -> sqlite3.Connection:
        """Open the database once (see :meth:`__init__`); raise the storage's refusal, naming the file."""
        if self._db is not None:
            return self._db
        import sqlite3  # loaded by __init__ already; bound here too (kept off the module's imports)

        path = self.path
        target = ":memory:"
        try:
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                target = str(path)
            db = sqlite3.connect(target, isolation_level=None, timeout=0.0)
        except (sqlite3.OperationalError, OSError) as exc:
            raise sqlite3.OperationalError(f"outbox {path}: {exc}") from None
        try:
            if path is not None:
                # Exclusive before WAL: the lock is taken by the first transaction and kept,
                # and SQLite then needs no shared-memory file beside the database.
                db.execute("PRAGMA locking_mode=EXCLUSIVE")
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
            db.execute("BEGIN IMMEDIATE")
            db.execute(_SCHEMA)
            db.execute("COMMIT")
            count, last = db.execute("SELECT COUNT(*), MAX(seq) FROM outbox").fetchone()
        except sqlite3.OperationalError as exc:
            db.close()
            if "locked" in str(exc):
                raise OutboxBusyError(f"the outbox {path} is in use by another process") from exc
            raise sqlite3.OperationalError(f"outbox {path}: {exc}") from None
        except BaseException:
            db.close()
            raise
        self._db = db
        self.unavailable = None
        self._count = int(count)
        self._next_seq = int(last or 0) + 1
        self._cursor = 0
        self._cache.clear()
        self._cached = self._count == 0
        return db

    # ---- writing ------------------------------------------------------------------

    def __len__(self) -> int:
        """Return how many messages are stored (sent but unacknowledged ones included)."""
        return self._count

    def append(self, entries: Sequence[Entry]) -> int:
        """Store ``entries`` (in order) in one transaction; return how many messages overflow dropped."""
        if not entries:
            return 0
        db = self._open()
        dropped = 0
        room = self.limit - self._count
        if len(entries) > room:
            excess = len(entries) - room
            if self.overflow == "drop_newest":
                kept = entries[: max(room, 0)]
                dropped = len(entries) - len(kept)
                entries = kept
            else:
                dropped = excess
                from_store = min(excess, self._count)
                entries = entries[excess - from_store :]
                if from_store:
                    self._drop_oldest(from_store)
        if not entries:
            return dropped
        first = self._next_seq
        # sqlite3 stores the bool ``retain`` as 0/1; the same tuples serve as cache rows.
        rows: list[Row] = [
            (first + i, topic, payload, qos, retain)
            for i, (topic, payload, qos, retain) in enumerate(entries)
        ]
        db.execute("BEGIN")
        try:
            db.executemany(
                "INSERT INTO outbox (seq, topic, payload, qos, retain) VALUES (?, ?, ?, ?, ?)", rows
            )
            db.execute("COMMIT")  # inside: a commit refused (disk full) rolls back, the batch is retried
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        self._next_seq = first + len(rows)
        self._count += len(rows)
        if self._cached:
            if len(self._cache) + len(rows) <= self._cache_size:
                self._cache.extend(rows)
            else:
                self._cache.clear()
                self._cached = False
        return dropped

    def _drop_oldest(self, count: int) -> None:
        db = self._open()
        (last,) = db.execute("SELECT seq FROM outbox ORDER BY seq LIMIT 1 OFFSET ?", (count - 1,)).fetchone()
        db.execute("BEGIN")
        deleted = db.execute("DELETE FROM outbox WHERE seq <= ?", (last,)).rowcount
        db.execute("COMMIT")
        self._count -= deleted
        cache = self._cache
        while cache and cache[0][0] <= last:
            cache.popleft()

    # ---- sending ------------------------------------------------------------------

    def take(self, limit: int) -> list[Row]:
        """Return up to ``limit`` rows after the cursor, oldest first, and move the cursor past them."""
        if limit <= 0:
            return []
        cache = self._cache
        if self._cached:
            if not cache:
                return []
            if len(cache) <= limit:
                rows = list(cache)
                cache.clear()
            else:
                rows = [cache.popleft() for _ in range(limit)]
            self._cursor = rows[-1][0]
            return rows
        if self._db is None:
            return []
        fetched = self._db.execute(
            "SELECT seq, topic, payload, qos, retain FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
            (self._cursor, limit),
        ).fetchall()
        rows = [
            (int(seq), str(topic), bytes(payload), int(qos), bool(retain))
            for seq, topic, payload, qos, retain in fetched
        ]
        if rows:
            self._cursor = rows[-1][0]
        if len(rows) < limit:
            # Caught up with the database: from here on, new rows can be served from memory.
            self._cached = True
            cache.clear()
        return rows

    def rewind(self) -> None:
        """Send everything still stored again, from the oldest (after a reconnect)."""
        self._cursor = 0
        self._cache.clear()
        self._cached = self._count == 0

    def ack(self, seqs: Iterable[int]) -> int:
        """Delete acknowledged rows in one transaction; return how many were still stored."""
        ordered = sorted(seqs)
        db = self._db
        if not ordered or db is None:
            return 0
        db.execute("BEGIN")
        try:
            if ordered[-1] - ordered[0] + 1 == len(ordered):
                # A contiguous run (the usual case: the broker acknowledges in order).
                deleted = db.execute(
                    "DELETE FROM outbox WHERE seq BETWEEN ? AND ?", (ordered[0], ordered[-1])
                ).rowcount
            else:
                deleted = db.executemany(
                    "DELETE FROM outbox WHERE seq = ?", [(seq,) for seq in ordered]
                ).rowcount
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        self._count -= deleted
        return int(deleted)

    def close(self) -> None:
        """Close the database (releasing the lock)."""
        if self._db is not None:
            self._db.close()
