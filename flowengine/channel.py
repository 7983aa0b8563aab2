"""Bounded channels: the edges in front of sinks and other I/O.

A :class:`Channel` is written synchronously from the hot path (``put``) and read in
batches by one task (``get_batch``). When it is full, its overflow policy decides which
message is lost, and every loss is counted. Closing a channel ends its reader once the
messages already in it have been read: that is how a flow drains.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, Literal, TypeVar

T = TypeVar("T")
Overflow = Literal["drop_newest", "drop_oldest"]


class Channel(Generic[T]):
    """A bounded FIFO between synchronous writers and one asynchronous batch reader."""

    def __init__(self, capacity: int, overflow: Overflow = "drop_newest") -> None:
        if capacity < 1:
            raise ValueError("a channel needs a capacity of at least 1")
        self.capacity = capacity
        self.overflow = overflow
        self.dropped = 0
        #: Every item ever put (taken or dropped): the sink's ``received`` count.
        self.offered = 0
        #: Items that entered the queue, and of those, how many the sink has durably written
        #: (or that were pushed out by ``drop_oldest``), in order: the acknowledgement
        #: watermarks of :mod:`flowengine.acks`. The reader advances ``settled``.
        self.accepted = 0
        self.settled = 0
        self._items: deque[T] = deque()
        self._readable = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._low_water = max(1, capacity // 2)
        self._closed = False

    def __len__(self) -> int:
        return len(self._items)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    def put(self, item: T) -> bool:
        """Add ``item``; returns False when a message was dropped (counted in ``dropped``)."""
        self.offered += 1
        items = self._items
        if len(items) >= self.capacity:
            self.dropped += 1
            if self.overflow == "drop_newest" or self._closed:
                return False
            items.popleft()
            self.settled += 1  # the oldest is given up (counted): its checkpoint may pass
            items.append(item)
            self.accepted += 1
            return False
        if self._closed:
            self.dropped += 1
            return False
        items.append(item)
        self.accepted += 1
        if not self._readable.is_set():
            self._readable.set()
        if len(items) >= self.capacity and self._room.is_set():
            self._room.clear()
        return True

    def is_busy(self) -> bool:
        """True when the channel is above half full: producers that can wait should."""
        return len(self._items) > self._low_water

    async def wait_for_room(self) -> None:
        """Wait until the channel is at most half full (returns at once when it is)."""
        while len(self._items) > self._low_water and not self._closed:
            self._room.clear()
            await self._room.wait()

    async def get_batch(self, limit: int = 512) -> list[T] | None:
        """Wait for messages and return up to ``limit`` of them, oldest first.

        Returns ``None`` once the channel is closed and empty.
        """
        items = self._items
        while not items:
            if self._closed:
                return None
            self._readable.clear()
            await self._readable.wait()
        count = min(limit, len(items))
        batch = [items.popleft() for _ in range(count)]
        if len(items) <= self._low_water:
            self._room.set()
        return batch

    def close(self) -> None:
        """Refuse further writes; the reader gets what is left, then ``None``."""
        self._closed = True
        self._readable.set()
        self._room.set()
