"""End-to-end acknowledgement by watermarks: a source learns when what it emitted is durable.

A message's path from a source's ``emit`` through transforms into the sinks' channels is
synchronous, so no per-message token is needed. Every durable place a message can reach
counts two numbers (a :class:`Watermark`): ``accepted`` (messages put into it) and
``settled`` (messages it has durably taken, or definitely given up, in the same order).
When a source asks (:meth:`Acknowledgements.checkpoint`), the vector of every place's
``accepted`` is taken; once every ``settled`` has reached its entry, everything the
source emitted before the checkpoint, and everything derived from it synchronously, is
durable, and the source's callback runs (it commits a replay position, sends a PUBACK).

Cost: O(places) per checkpoint and per advance, nothing per message. See docs/delivery.md.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from flowengine.state import StateStore

logger = logging.getLogger("flowengine.acks")

Callback = Callable[[], object]
#: What a checkpoint waits for: each place with the ``settled`` count it must reach.
Vector = tuple[tuple["Watermark", int], ...]
#: Seconds between the first staged state change and the seal of its group (group commit).
GROUP_COMMIT_DELAY = 0.005
#: Seconds before a group commit that failed (disk full) is tried again.
COMMIT_RETRY = 1.0


class Watermark(Protocol):
    """A durable place messages enter in order: a sink's channel, the state store."""

    #: Messages (or changes) put into the place so far.
    accepted: int
    #: Of those, how many are durable (or definitely given up), counted in the order they came.
    settled: int


class Holding:
    """Inputs a source received through a wire and has not taken yet: one more place of every checkpoint.

    A source that takes messages wired into it (``receive``) and must sometimes keep one before it
    can take it (the ``zigbee`` node, until its coordinator's first connection) calls :meth:`hold`
    for each such message and, in the same order, :meth:`release` once it is taken or given up
    (refused, expired). A checkpoint taken meanwhile (``mqtt-in``'s PUBACK of the message that
    brought it) waits for the release. A message taken at once is never held: it costs nothing.
    """

    def __init__(self) -> None:
        """Start with nothing held."""
        self.accepted = 0
        self.settled = 0
        #: Set by the engine: tell the acknowledgements that more is settled.
        self.on_settled: Callback | None = None

    def __len__(self) -> int:
        """Messages held now."""
        return self.accepted - self.settled

    def hold(self) -> None:
        """One more message kept, not yet taken."""
        self.accepted += 1

    def release(self, count: int = 1) -> None:
        """The ``count`` oldest held messages were taken or given up."""
        self.settled += count
        if self.on_settled is not None:
            self.on_settled()


class Acknowledgements:
    """The checkpoints of every source of one flow, acknowledged in the order they were taken.

    Checkpoints taken later have a vector at least as large in every entry, so they are
    acknowledged in order: only the oldest waiting one needs checking. Each checkpoint names
    its places, so a reload may change the tracked set (:meth:`track`): older checkpoints
    still wait for the places they were taken over.
    """

    def __init__(self, places: Iterable[Watermark]) -> None:
        """Track ``places`` (every sink channel, and the state store when it defers commits)."""
        self._channels: tuple[Watermark, ...] = tuple(places)
        self._places: tuple[Watermark, ...] = self._channels
        self._pending: deque[tuple[Vector, Callback]] = deque()

    def track(self, channels: Iterable[Watermark]) -> None:
        """Take later checkpoints over ``channels`` (a node-by-node reload replaced sinks).

        A channel dropped from the set must be settled by whoever retires it (drained, or
        its rest counted as dropped), else the checkpoints taken over it never pass.
        """
        self._channels = tuple(channels)
        self._places = (*self._channels, self._store) if self._store is not None else self._channels

    def __len__(self) -> int:
        """Checkpoints taken and not yet acknowledged."""
        return len(self._pending)

    def attach_store(self, store: StateStore, loop: asyncio.AbstractEventLoop) -> None:
        """Group the state store's commits under the acknowledgements (docs/delivery.md).

        The store becomes one more place of every checkpoint: a source is acknowledged once the
        state changes made before its checkpoint are committed. A group of changes is sealed
        ``GROUP_COMMIT_DELAY`` after its first change (or when a source takes a checkpoint) and
        committed once every channel has settled what was put into it before the seal.
        """
        self._store = store
        self._loop = loop
        self._places = (*self._channels, store)
        store.defer_commits(self._store_dirty)

    _store: StateStore | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _seal_pending = False
    _failing: str | None = None

    def checkpoint(self, callback: Callback) -> None:
        """Run ``callback`` once everything put into every place so far is settled (at once if it is)."""
        if self._store is not None:
            self._seal()  # the store's group goes first: this checkpoint waits for its commit
        self._pending.append((tuple((place, place.accepted) for place in self._places), callback))
        self.advance()

    def advance(self) -> None:
        """A place has settled more: run the callbacks of every checkpoint now acknowledged, in order."""
        pending = self._pending
        ran = False
        while pending:
            vector, callback = pending[0]
            if any(place.settled < mark for place, mark in vector):
                break
            pending.popleft()
            _call(callback)
            ran = True
        if ran and self._store is not None and self._store.staged:
            self._seal()  # what the callbacks stored (a replay position) is committed without delay

    def _store_dirty(self) -> None:
        """The store has its first change since the last seal: seal it soon (from any thread)."""
        loop = self._loop
        if loop is not None and not self._seal_pending:
            self._seal_pending = True
            loop.call_soon_threadsafe(loop.call_later, GROUP_COMMIT_DELAY, self._seal)

    def _seal(self) -> None:
        """Seal the staged state changes; commit them once the channels have what came before."""
        self._seal_pending = False
        store = self._store
        assert store is not None
        mark = store.seal()
        if mark is None:
            return
        # The store's own entry is already met: a group does not wait for itself.
        vector = tuple((place, place.settled if place is store else place.accepted) for place in self._places)
        self._pending.append((vector, lambda: self._commit(mark)))
        self.advance()

    def _commit(self, mark: int) -> None:
        store = self._store
        assert store is not None
        try:
            store.commit_through(mark)
        except sqlite3.Error as exc:
            condition = f"{type(exc).__name__}: {exc}"
            if condition != self._failing:
                self._failing = condition
                logger.error("state file %s: cannot commit: %s; the changes are kept, retrying, "
                             "sources wait", store.path, condition)
            if self._loop is not None:
                self._loop.call_later(COMMIT_RETRY, self._retry, mark)
            return
        if self._failing is not None:
            logger.warning("state file %s: commits again (it had failed: %s)", store.path, self._failing)
            self._failing = None

    def _retry(self, mark: int) -> None:
        self._commit(mark)
        self.advance()


def _call(callback: Callback) -> None:
    """Run a source's acknowledgement callback; its failure is logged, never fatal to the sinks."""
    try:
        callback()
    except Exception:
        logger.exception("an acknowledgement callback failed")
