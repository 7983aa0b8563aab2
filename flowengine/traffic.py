"""What went through each node: messages in, messages out per port, and a debug tap of the last few.

Counting is always on, so it must cost next to nothing: a :class:`Traffic` is a slotted
object whose integers the runtime increments in code that runs anyway (the transform call,
the sink's channel, the emitter of a port). Nothing is computed until somebody reads it
(``/metrics``, ``/api/stats``).

The debug tap records a node's messages only while somebody watches it (``/api/tap/<node>``
open): when the runner serves HTTP the hot path checks one attribute per message and node
(``recording``), and appends only when it is set. The last :data:`TAP_SIZE` messages stay
after the viewer leaves, so opening the tap again shows them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from flowengine.message import Message

#: How many of a node's latest messages the debug tap keeps.
TAP_SIZE = 20

Deliver = Callable[[Message], object]


class Traffic:
    """Messages into one node (``received``) and out of it, per output port (``sent``), and its tap.

    ``tappable`` says whether this run can tap at all (the runner serves HTTP). While a
    viewer watches (:meth:`open_tap`), ``recording`` is the ``recent`` deque of
    ``(port, message)`` pairs (``port`` is ``in`` for a sink's input); otherwise it is
    ``None``. ``taps`` counts every message ever recorded, so a reader can tell which it has
    not seen yet. A sink's input is counted by its channel (``channel.offered``).
    """

    __slots__ = ("channel", "derived", "received", "recent", "recording", "sent", "tappable", "taps", "viewers")

    def __init__(self, ports: tuple[str, ...], *, tap: bool) -> None:
        self.received = 0
        self.sent: dict[str, int] = dict.fromkeys(ports, 0)
        self.tappable = tap
        self.recent: deque[tuple[str, Message]] = deque(maxlen=TAP_SIZE)
        self.recording: deque[tuple[str, Message]] | None = None
        self.taps = 0
        self.viewers = 0
        self.channel: object | None = None
        #: When the node's only input is one edge that counts the upstream port: (upstream, port,
        #: that port's count when the run began). Its input is then not counted twice.
        self.derived: tuple[Traffic, str, int] | None = None

    def derive_from(self, upstream: Traffic, port: str) -> None:
        """Read ``received`` from the upstream port's count (the node's only input is that edge)."""
        self.derived = (upstream, port, upstream.sent[port])

    def counting(self, port: str, deliver: Deliver) -> Deliver:
        """Return ``deliver`` wrapped so that every message on ``port`` is counted (and tapped when watched)."""
        sent = self.sent
        if not self.tappable:
            def count(msg: Message) -> object:
                sent[port] += 1
                return deliver(msg)

            return count

        def count_and_tap(msg: Message) -> object:
            sent[port] += 1
            recording = self.recording
            if recording is not None:
                recording.append((port, msg))
                self.taps += 1
            return deliver(msg)

        return count_and_tap

    def record(self, port: str, msg: Message) -> None:
        """Record one message in the tap (the caller checked that ``recording`` is set)."""
        if self.recording is not None:
            self.recording.append((port, msg))
            self.taps += 1

    def open_tap(self) -> None:
        """A viewer starts watching: record from now on."""
        self.viewers += 1
        self.recording = self.recent

    def close_tap(self) -> None:
        """A viewer stops watching: once none is left, stop recording (what was recorded stays)."""
        self.viewers = max(0, self.viewers - 1)
        if not self.viewers:
            self.recording = None

    def carry(self, previous: Traffic) -> None:
        """Continue the counts and the tap of the same node from a previous run (a hot reload)."""
        self.received = previous.received_now()
        for port, count in previous.sent.items():
            self.sent[port] = self.sent.get(port, 0) + count
        self.recent.extend(previous.recent)
        self.taps = previous.taps
        self.viewers = previous.viewers
        if self.viewers and self.tappable:
            self.recording = self.recent

    def received_now(self) -> int:
        """Messages received so far (a sink's channel counts them while it runs)."""
        offered = int(getattr(self.channel, "offered", 0))
        if self.derived is not None:
            upstream, port, base = self.derived
            offered += upstream.sent[port] - base
        return self.received + offered
