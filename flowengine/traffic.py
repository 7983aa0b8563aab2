"""What went through each node: messages in, messages out per port, and the last few of them.

Counting is always on, so it must cost next to nothing: a :class:`Traffic` is a slotted
object whose integers the runtime increments in code that runs anyway (the transform call,
the sink's channel, the emitter of a port). Nothing is computed until somebody reads it
(``/metrics``, ``/api/stats``), and the debug tap (the last :data:`TAP_SIZE` messages of
each node) is recorded only when the runner serves HTTP.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from flowengine.message import Message

#: How many of a node's latest messages the debug tap keeps.
TAP_SIZE = 20

Deliver = Callable[[Message], object]


class Traffic:
    """Messages into one node (``received``) and out of it, per output port (``sent``).

    ``recent`` holds the latest ``(port, message)`` pairs when the tap is on (``None``
    otherwise); ``taps`` counts every message ever appended, so a reader can tell which
    ones it has not seen yet. A sink's input is its channel's ``offered`` count, read
    through ``channel``.
    """

    __slots__ = ("channel", "received", "recent", "sent", "taps")

    def __init__(self, ports: tuple[str, ...], *, tap: bool) -> None:
        self.received = 0
        self.sent: dict[str, int] = dict.fromkeys(ports, 0)
        self.recent: deque[tuple[str, Message]] | None = deque(maxlen=TAP_SIZE) if tap else None
        self.taps = 0
        self.channel: object | None = None

    def counting(self, port: str, deliver: Deliver) -> Deliver:
        """Return ``deliver`` wrapped so that every message on ``port`` is counted (and tapped)."""
        sent = self.sent
        recent = self.recent
        if recent is None:
            def count(msg: Message) -> object:
                sent[port] += 1
                return deliver(msg)

            return count
        append = recent.append

        def count_and_tap(msg: Message) -> object:
            sent[port] += 1
            append((port, msg))
            self.taps += 1
            return deliver(msg)

        return count_and_tap

    def tap_in(self, msg: Message) -> None:
        """Record a message a sink received (only called when the tap is on)."""
        assert self.recent is not None
        self.recent.append(("in", msg))
        self.taps += 1

    def carry(self, previous: Traffic) -> None:
        """Continue the counts of the same node from a previous run (a hot reload)."""
        self.received = previous.received_now()
        for port, count in previous.sent.items():
            self.sent[port] = self.sent.get(port, 0) + count
        if self.recent is not None and previous.recent is not None:
            self.recent.extend(previous.recent)
            self.taps = previous.taps

    def received_now(self) -> int:
        """Messages received so far (a sink's channel counts them while it runs)."""
        offered = getattr(self.channel, "offered", 0)
        return self.received + int(offered)
