"""Durable per-node state kept by the engine in the flow's ``state`` file (SQLite).

Each node gets a :class:`NodeState`: a small key-value store of JSON values scoped to
the node id. Writes go to SQLite in WAL mode and are committed at once, so what a node
stored survives a SIGKILL. ``state: memory`` in a flow keeps everything in memory.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from flowengine.errors import StateFileError


class StateStore:
    """The state file of one flow; hands out one :class:`NodeState` per node."""

    def __init__(self, path: Path | None) -> None:
        """Open (creating if needed) the store at ``path``; ``None`` keeps state in memory.

        Raises:
            StateFileError: ``path`` is not a usable SQLite database (corrupt): it is left as it is.
        """
        self.path = path
        target = ":memory:"
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            target = str(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        try:
            if path is not None:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                _check(self._db)
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS node_state ("
                " node TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,"
                " PRIMARY KEY (node, key)) WITHOUT ROWID"
            )
        except sqlite3.DatabaseError as exc:  # "file is not a database", a damaged page
            self._db.close()
            raise StateFileError(path.resolve() if path is not None else ":memory:", str(exc)) from None

    def node(self, node_id: str) -> NodeState:
        """Return the state of node ``node_id``."""
        return NodeState(self, node_id)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    # Internal API used by NodeState.
    def _get(self, node: str, key: str) -> bytes | None:
        with self._lock:
            row = self._db.execute(
                "SELECT value FROM node_state WHERE node = ? AND key = ?", (node, key)
            ).fetchone()
        return None if row is None else bytes(row[0])

    def _set_many(self, node: str, items: list[tuple[str, bytes]], deletes: list[str]) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    "INSERT OR REPLACE INTO node_state (node, key, value) VALUES (?, ?, ?)",
                    [(node, key, value) for key, value in items],
                )
                self._db.executemany(
                    "DELETE FROM node_state WHERE node = ? AND key = ?", [(node, key) for key in deletes]
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _items(self, node: str, prefix: str) -> list[tuple[str, bytes]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT key, value FROM node_state WHERE node = ? AND substr(key, 1, ?) = ? ORDER BY key",
                (node, len(prefix), prefix),
            ).fetchall()
        return [(str(key), bytes(value)) for key, value in rows]

    def _clear(self, node: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM node_state WHERE node = ?", (node,))


def _check(db: sqlite3.Connection) -> None:
    """Raise ``sqlite3.DatabaseError`` unless SQLite's quick check finds the file sound."""
    problem = db.execute("PRAGMA quick_check").fetchone()[0]
    if problem != "ok":
        raise sqlite3.DatabaseError(problem)


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
