"""systemd's notify protocol, spoken by the runner itself: ``READY=1``, ``WATCHDOG=1``, ``STATUS=``, ``STOPPING=1``.

A unit with ``Type=notify`` sets ``NOTIFY_SOCKET`` (a path, or an abstract name starting
with ``@``) and, with ``WatchdogSec=``, ``WATCHDOG_USEC``. The protocol is one datagram per
notification with ``KEY=value`` lines, so a few lines on a ``socket`` do it; no library.

The watchdog pings come from a task on the runner's event loop, at half the interval: a
loop that is blocked (a stuck node, a wedged read) stops pinging, and systemd restarts the
service. Outside systemd (no ``NOTIFY_SOCKET``) nothing here does anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Mapping

from flowengine.health import Health

logger = logging.getLogger("flowengine.sdnotify")


class Notifier:
    """Sends notifications to the socket systemd named; a send that fails is logged once, never raised."""

    def __init__(self, address: str) -> None:
        # An abstract socket name is written with a leading '@' and sent with a leading NUL.
        self.address = "\0" + address[1:] if address.startswith("@") else address
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self._socket.setblocking(False)
        self._failed = False

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Notifier | None:
        """Return a notifier for ``NOTIFY_SOCKET``, or None when the runner is not under systemd."""
        address = (os.environ if environ is None else environ).get("NOTIFY_SOCKET", "")
        return cls(address) if address else None

    def send(self, *lines: str) -> None:
        """Send one datagram holding ``lines`` (``KEY=value`` each)."""
        try:
            self._socket.sendto("\n".join(lines).encode(), self.address)
        except OSError as exc:
            if not self._failed:
                self._failed = True
                logger.warning("cannot notify systemd on %r: %s", self.address.replace("\0", "@"), exc)

    def close(self) -> None:
        """Close the socket."""
        self._socket.close()


def watchdog_interval(environ: Mapping[str, str] | None = None) -> float | None:
    """Seconds between two ``WATCHDOG=1`` (half of ``WATCHDOG_USEC``), or None when there is no watchdog.

    ``WATCHDOG_PID``, when set, must be this process (the watchdog is meant for the main process).
    """
    env = os.environ if environ is None else environ
    pid = env.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None
    try:
        usec = int(env.get("WATCHDOG_USEC", "0"))
    except ValueError:
        return None
    return usec / 2_000_000 if usec > 0 else None


class ServiceNotifier:
    """Tells systemd how the runner is: ready once :class:`Health` is, alive while the loop turns."""

    def __init__(self, notifier: Notifier, health: Health, *, watchdog: float | None) -> None:
        self.notifier = notifier
        self.health = health
        self.watchdog = watchdog
        self._status = ""
        self._ready_sent = False

    async def run(self, stop: asyncio.Event) -> None:
        """Notify until cancelled: STATUS on every change, READY=1 once, WATCHDOG=1 at its interval."""
        self.health.listen(self._on_change)
        self._on_change()
        pinger = asyncio.ensure_future(self._ping()) if self.watchdog else None
        stopping = False
        try:
            await stop.wait()
            stopping = True
            self.notifier.send("STOPPING=1", "STATUS=stopping: draining in-flight messages")
            await asyncio.Event().wait()  # keep pinging while the flows drain, until cancelled
        finally:
            if not stopping:  # the flows ended by themselves (a finite input): the runner exits
                self.notifier.send("STOPPING=1", "STATUS=stopping: the input has ended")
            if pinger is not None:
                pinger.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pinger

    def _on_change(self) -> None:
        status = self.health.summary()
        lines = []
        if self.health.ready and not self._ready_sent:
            self._ready_sent = True
            lines.append("READY=1")
        if status != self._status:
            self._status = status
            lines.append(f"STATUS={status}")
        if lines:
            self.notifier.send(*lines)

    async def _ping(self) -> None:
        assert self.watchdog is not None
        while True:
            self.notifier.send("WATCHDOG=1")
            await asyncio.sleep(self.watchdog)
