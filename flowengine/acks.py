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

import logging
from collections import deque
from collections.abc import Callable, Sequence
from typing import Protocol

logger = logging.getLogger("flowengine.acks")

Callback = Callable[[], object]


class Watermark(Protocol):
    """A durable place messages enter in order: a sink's channel, the state store."""

    #: Messages (or changes) put into the place so far.
    accepted: int
    #: Of those, how many are durable (or definitely given up), counted in the order they came.
    settled: int


class Acknowledgements:
    """The checkpoints of every source of one flow, acknowledged in the order they were taken.

    Checkpoints taken later have a vector at least as large in every entry, so they are
    acknowledged in order: only the oldest waiting one needs checking.
    """

    def __init__(self, places: Sequence[Watermark]) -> None:
        """Track ``places`` (every sink channel, and the state store when it defers commits)."""
        self._places = tuple(places)
        self._pending: deque[tuple[tuple[int, ...], Callback]] = deque()
        #: Called when a checkpoint waits on a place that can settle on request (the state store).
        self.on_wait: Callback | None = None

    def __len__(self) -> int:
        """Checkpoints taken and not yet acknowledged."""
        return len(self._pending)

    def checkpoint(self, callback: Callback) -> None:
        """Run ``callback`` once everything put into every place so far is settled (at once if it is)."""
        places = self._places
        vector = tuple(place.accepted for place in places)
        if not self._pending and all(place.settled >= mark for place, mark in zip(places, vector, strict=True)):
            _call(callback)
            return
        self._pending.append((vector, callback))
        if self.on_wait is not None:
            self.on_wait()

    def advance(self) -> None:
        """A place has settled more: run the callbacks of every checkpoint now acknowledged, in order."""
        pending = self._pending
        places = self._places
        while pending:
            vector, callback = pending[0]
            for place, mark in zip(places, vector, strict=True):
                if place.settled < mark:
                    return
            pending.popleft()
            _call(callback)


def _call(callback: Callback) -> None:
    """Run a source's acknowledgement callback; its failure is logged, never fatal to the sinks."""
    try:
        callback()
    except Exception:
        logger.exception("an acknowledgement callback failed")
