"""Durable per-node state kept by the engine in the flow's ``state`` file (SQLite).

Each node gets a :class:`NodeState`: a small key-value store of JSON values scoped to
the node id, in SQLite (WAL mode). ``state: memory`` in a flow keeps everything in memory.

Outside a running flow every change is committed at once. A running flow groups them
(docs/delivery.md): changes are staged in memory (reads see them), sealed into a group
every few milliseconds or when a source asks for an acknowledgement, and a group is
committed in one transaction once every message the flow had put into its sinks'
channels before the seal is durable. So a rule's state never runs ahead of the outputs
it produced, and a source's input is acknowledged only after the state it caused is
committed. A SIGKILL loses at most the uncommitted groups, whose inputs were not
acknowledged: they come again.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from flowengine.errors import StateFileError, StateFileUnavailableError

if TYPE_CHECKING:
    import sqlite3

logger = logging.getLogger("flowengine.state")


class StateStore:
    """The state file of one flow; hands out one :class:`NodeState` per node."""

    def __init__(self, path: Path | None) -> None:
        """Open (creating if needed) the store at ``path``; ``None`` keeps state in memory.

        Raises:
            StateFileError: ``path`` is not a usable SQLite database (corrupt): it is left as it is.
            StateFileUnavailableError: the storage refuses it for now (a read-only folder, a full
                disk, an I/O error: SQLite's ``OperationalError``, or ``OSError``): try again later.
        """
        self.path = path
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StateFileUnavailableError(path.resolve(), f"{type(exc).__name__}: {exc}") from None
        self._lock = threading.Lock()
        #: Changes made, and of those committed, in order: the store's acknowledgement watermarks.
        self.accepted = 0
        self.settled = 0
        #: Changes not yet sealed into a group (None: commit each change at once), and sealed groups.
        self._staging: dict[tuple[str, str], bytes | None] | None = None
        self._sealed: deque[tuple[int, dict[tuple[str, str], bytes | None]]] = deque()
        self._on_dirty: Callable[[], None] | None = None
        #: The database: a file is opened (and checked) now; ``:memory:`` on the first write,
        #: so a flow whose nodes keep no state never loads SQLite (a lighter start).
        self._db: sqlite3.Connection | None = None
        if path is not None:
            self._db = _open(path)

    def node(self, node_id: str) -> NodeState:
        """Return the state of node ``node_id``."""
        return NodeState(self, node_id)

    # Group commit (docs/delivery.md) --------------------------------------------------

    def defer_commits(self, on_dirty: Callable[[], None]) -> None:
        """Stage changes in memory from now on, committed by :meth:`commit_through` (the engine's acks).

        ``on_dirty`` is called on the first change after each :meth:`seal`, so the engine can
        schedule the next group commit. Without this call every change commits at once.
        """
        self._staging = {}
        self._on_dirty = on_dirty

    @property
    def staged(self) -> bool:
        """True when changes wait to be sealed into a group."""
        return bool(self._staging)

    def seal(self) -> int | None:
        """Close the changes staged so far into one group; return its mark (None: nothing staged)."""
        staging = self._staging
        if not staging:
            return None
        self._sealed.append((self.accepted, staging))
        self._staging = {}
        return self.accepted

    def commit_through(self, mark: int) -> None:
        """Commit every sealed group up to ``mark`` in one transaction; ``settled`` becomes ``mark``.

        On failure (disk full) the groups stay staged and the error is raised: call again later.
        """
        sealed = self._sealed
        merged: dict[tuple[str, str], bytes | None] = {}
        count = 0
        for group_mark, changes in sealed:
            if group_mark > mark:
                break
            merged.update(changes)
            count += 1
        if merged:
            self._write(merged)
        for _ in range(count):
            sealed.popleft()
        self.settled = max(self.settled, mark)

    def close(self) -> None:
        """Commit what is still staged (the sinks have drained), then close the database."""
        if self._staging is not None:
            mark = self.seal()
            if self._sealed:
                import sqlite3  # for its error type (the commit below loads it anyway)

                try:
                    self.commit_through(mark if mark is not None else self._sealed[-1][0])
                except sqlite3.Error as exc:
                    logger.error("state file %s: the last changes could not be committed: %s", self.path, exc)
        with self._lock:
            if self._db is not None:
                self._db.close()

    def _write(self, changes: dict[tuple[str, str], bytes | None]) -> None:
        """Apply ``changes`` (None deletes) in one committed transaction."""
        with self._lock:
            db = self._db
            if db is None:
                db = self._db = _open(None)
            db.execute("BEGIN")
            try:
                db.executemany("INSERT OR REPLACE INTO node_state (node, key, value) VALUES (?, ?, ?)",
                               [(node, key, value) for (node, key), value in changes.items() if value is not None])
                db.executemany("DELETE FROM node_state WHERE node = ? AND key = ?",
                               [(node, key) for (node, key), value in changes.items() if value is None])
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

    def _staged(self, name: tuple[str, str]) -> tuple[bool, bytes | None]:
        """(found, value) of ``name`` among the changes not yet committed, newest first."""
        staging = self._staging
        if staging and name in staging:
            return True, staging[name]
        for _, changes in reversed(self._sealed):
            if name in changes:
                return True, changes[name]
        return False, None

    # Internal API used by NodeState.
    def _get(self, node: str, key: str) -> bytes | None:
        if self._staging is not None:
            found, value = self._staged((node, key))
            if found:
                return value
        with self._lock:
            if self._db is None:  # nothing was ever written to the memory store
                return None
            row = self._db.execute(
                "SELECT value FROM node_state WHERE node = ? AND key = ?", (node, key)
            ).fetchone()
        return None if row is None else bytes(row[0])

    def _set_many(self, node: str, items: list[tuple[str, bytes]], deletes: list[str]) -> None:
        staging = self._staging
        if staging is None:
            self._write({**{(node, key): None for key in deletes}, **{(node, key): value for key, value in items}})
            return
        if not staging and self._on_dirty is not None:
            self._on_dirty()
        for key in deletes:
            staging[(node, key)] = None
        for key, value in items:
            staging[(node, key)] = value
        self.accepted += 1

    def _items(self, node: str, prefix: str) -> list[tuple[str, bytes]]:
        with self._lock:
            rows = [] if self._db is None else self._db.execute(
                "SELECT key, value FROM node_state WHERE node = ? AND substr(key, 1, ?) = ? ORDER BY key",
                (node, len(prefix), prefix),
            ).fetchall()
        found = [(str(key), bytes(value)) for key, value in rows]
        if not self._staging and not self._sealed:
            return found
        merged: dict[str, bytes | None] = dict(found)
        for changes in [*(changes for _, changes in self._sealed), self._staging or {}]:
            for (owner, key), value in changes.items():
                if owner == node and key.startswith(prefix):
                    merged[key] = value
        return sorted((key, value) for key, value in merged.items() if value is not None)

    def _clear(self, node: str) -> None:
        self._set_many(node, [], [key for key, _ in self._items(node, "")])


def _shown(path: Path | None) -> object:
    """How an error names the state file (the absolute path, or ``:memory:``)."""
    return path.resolve() if path is not None else ":memory:"


def _check(db: sqlite3.Connection) -> None:
    """Raise ``sqlite3.DatabaseError`` unless SQLite's quick check finds the file sound."""
    import sqlite3

    problem = db.execute("PRAGMA quick_check").fetchone()[0]
    if problem != "ok":
        raise sqlite3.DatabaseError(problem)


def _open(path: Path | None) -> sqlite3.Connection:
    """Open the state database at ``path`` (``None``: in memory) with its table.

    Raises:
        StateFileError: ``path`` is not a usable SQLite database (corrupt): it is left as it is.
        StateFileUnavailableError: the storage refuses it for now (a read-only folder, a full
            disk, an I/O error: SQLite's ``OperationalError``): try again later.
    """
    import sqlite3  # here, not at the top: a flow without state never needs it

    try:
        db = sqlite3.connect(":memory:" if path is None else str(path), check_same_thread=False,
                             isolation_level=None)
    except sqlite3.OperationalError as exc:  # "unable to open database file": the folder refuses it
        raise StateFileUnavailableError(_shown(path), str(exc)) from None
    try:
        if path is not None:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            _check(db)
        db.execute(
            "CREATE TABLE IF NOT EXISTS node_state ("
            " node TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,"
            " PRIMARY KEY (node, key)) WITHOUT ROWID"
        )
    except sqlite3.OperationalError as exc:  # read-only, disk full, I/O error: the storage, not the file
        db.close()
        raise StateFileUnavailableError(_shown(path), str(exc)) from None
    except sqlite3.DatabaseError as exc:  # "file is not a database", a damaged page
        db.close()
        raise StateFileError(_shown(path), str(exc)) from None
    return db


class NodeState:
    """Durable key-value state of one node: JSON-serialisable values under string keys."""

    def __init__(self, store: StateStore, node_id: str) -> None:
        self._store = store
        self._node = node_id

    @property
    def durable(self) -> bool:
        """True when the state survives a restart (the flow has a state file)."""
        return self._store.path is not None

    def get(self, key: str, default: Any = None) -> Any:
        """Return the value stored under ``key``, or ``default``."""
        raw = self._store._get(self._node, key)  # noqa: SLF001 - its per-node view
        return default if raw is None else orjson.loads(raw)

    def set(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key`` and commit."""
        self._store._set_many(self._node, [(key, orjson.dumps(value))], [])  # noqa: SLF001 - its per-node view

    def update(self, values: dict[str, Any], deletes: list[str] | None = None) -> None:
        """Store several values and delete several keys in one committed transaction."""
        self._store._set_many(  # noqa: SLF001 - its per-node view
            self._node, [(key, orjson.dumps(value)) for key, value in values.items()], deletes or []
        )

    def delete(self, key: str) -> None:
        """Remove ``key`` (no error when absent) and commit."""
        self._store._set_many(self._node, [], [key])  # noqa: SLF001 - its per-node view

    def items(self, prefix: str = "") -> Iterator[tuple[str, Any]]:
        """Yield ``(key, value)`` for every key starting with ``prefix``, in key order."""
        for key, raw in self._store._items(self._node, prefix):  # noqa: SLF001 - its per-node view
            yield key, orjson.loads(raw)

    def clear(self) -> None:
        """Remove everything this node stored."""
        self._store._clear(self._node)  # noqa: SLF001 - its per-node view
