"""Issue 18, sd_notify: the runner tells systemd when it is ready, that its loop is alive, and that it stops.

The test plays systemd: it binds the datagram socket, names it in ``NOTIFY_SOCKET`` and sets
``WATCHDOG_USEC`` for a real ``flowengine run`` subprocess, and reads what arrives.
"""

from __future__ import annotations

import os
import socket
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from flowengine.sdnotify import Notifier, watchdog_interval
from tests.mosquitto import Mosquitto
from tests.web.support import FLOWENGINE

#: WATCHDOG_USEC of the tests: a ping every 0.1 s.
WATCHDOG_USEC = 200_000
DEADLINE = 30.0


class FakeSystemd:
    """The notify socket (an abstract name, as systemd uses) and every datagram it received, in order."""

    def __init__(self) -> None:
        self.name = f"@flowengine-test-{uuid.uuid4().hex}"
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind("\0" + self.name[1:])
        self.received: list[str] = []

    def until(self, predicate: Callable[[list[str]], bool], what: str, within: float = DEADLINE) -> list[str]:
        """Receive datagrams until ``predicate(all received)`` holds; fail naming ``what`` after ``within`` s."""
        self.socket.settimeout(within)
        while not predicate(self.received):
            try:
                self.received.append(self.socket.recv(4096).decode())
            except TimeoutError:
                raise AssertionError(f"no {what} within {within} s; received: {self.received[-20:]}") from None
        return self.received

    def close(self) -> None:
        self.socket.close()


@pytest.fixture
def systemd() -> Iterator[FakeSystemd]:
    fake = FakeSystemd()
    try:
        yield fake
    finally:
        fake.close()


def start(folder: Path, systemd: FakeSystemd, *, pythonpath: str | None = None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "NOTIFY_SOCKET": systemd.name, "WATCHDOG_USEC": str(WATCHDOG_USEC)}
    env.pop("WATCHDOG_PID", None)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [pythonpath, env.get("PYTHONPATH")]))
    with (folder / "runner.log").open("wb") as log:
        return subprocess.Popen([*FLOWENGINE, "run", "flow.yaml"], cwd=folder, stdout=log, stderr=subprocess.STDOUT,
                                env=env)


def has(line: str) -> Callable[[list[str]], bool]:
    return lambda received: any(line in datagram.splitlines() for datagram in received)


def count(received: list[str], line: str) -> int:
    return sum(line in datagram.splitlines() for datagram in received)


def test_ready_after_the_broker_watchdog_while_running_stopping_on_sigterm(
    systemd: FakeSystemd, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    (tmp_path / "flow.yaml").write_text(f"""
version: 1
state: memory
nodes:
  - id: in
    type: mqtt-in
    broker: {mosquitto.url}
    topics: [anything]
    wires: [show]
  - id: show
    type: log
""")
    mosquitto.stop()  # the flow cannot be ready until its broker is there
    runner = start(tmp_path, systemd)
    try:
        systemd.until(lambda r: any("STATUS=not ready" in d and "node 'in'" in d for d in r), "STATUS naming 'in'")
        systemd.until(lambda r: count(r, "WATCHDOG=1") >= 3, "watchdog pings while not ready")
        assert not has("READY=1")(systemd.received), "READY=1 before the broker was there"
        mosquitto.start()
        received = systemd.until(has("READY=1"), "READY=1 once the broker is up")
        ready_datagram = next(d for d in received if "READY=1" in d.splitlines())
        assert "STATUS=ready" in ready_datagram
        at_ready = len(received)
        systemd.until(lambda r: count(r[at_ready:], "WATCHDOG=1") >= 5, "watchdog pings after READY=1")
        runner.terminate()
        systemd.until(has("STOPPING=1"), "STOPPING=1 on SIGTERM")
        assert runner.wait(30) == 0, (tmp_path / "runner.log").read_text()
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
    assert count(systemd.received, "READY=1") == 1


BLOCKER = '''
"""A test-only source that blocks the event loop once, saying so on the notify socket."""

import asyncio
import os
import socket
import time
from typing import ClassVar

from flowengine import NodeConfig, Source


class LoopBlockerConfig(NodeConfig):
    seconds: float = 1.0


class LoopBlocker(Source[LoopBlockerConfig]):
    """Waits for the runner's watchdog to ping, then blocks the loop for ``seconds`` (time.sleep).

    Example:
        ```yaml
        version: 1
        nodes:
          - id: stuck
            type: loop-blocker
        ```
    """

    config_model: ClassVar[type[NodeConfig]] = LoopBlockerConfig

    async def run(self) -> None:
        name = os.environ["NOTIFY_SOCKET"]
        address = "\\0" + name[1:]
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            await asyncio.sleep(0.5)  # a few pings first
            sock.sendto(b"X_BLOCK=begin", address)
            time.sleep(self.config.seconds)  # the bug this watchdog is for: blocking the loop
            sock.sendto(b"X_BLOCK=end", address)
        await asyncio.Event().wait()
'''


def install_blocker(folder: Path) -> Path:
    """A plugin package on PYTHONPATH, registered through its entry point like any other."""
    plugin = folder / "plugin"
    info = plugin / "loop_blocker-1.0.dist-info"
    info.mkdir(parents=True)
    (plugin / "loop_blocker.py").write_text(BLOCKER)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: loop-blocker\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[flowengine.nodes]\nloop-blocker = loop_blocker:LoopBlocker\n")
    return plugin


def test_the_pings_stop_while_the_event_loop_is_blocked(systemd: FakeSystemd, tmp_path: Path) -> None:
    plugin = install_blocker(tmp_path)
    (tmp_path / "flow.yaml").write_text("""
version: 1
state: memory
nodes:
  - id: stuck
    type: loop-blocker
    seconds: 1.5
""")
    runner = start(tmp_path, systemd, pythonpath=str(plugin))
    try:
        received = systemd.until(has("X_BLOCK=end"), "the blocker's end marker")
        systemd.until(lambda r: count(r[r.index("X_BLOCK=end"):], "WATCHDOG=1") >= 2, "pings after the block")
        received = systemd.received
        begin, end = received.index("X_BLOCK=begin"), received.index("X_BLOCK=end")
        assert has("READY=1")(received[:begin])
        assert count(received[:begin], "WATCHDOG=1") >= 2, received[:begin]
        # 1.5 s blocked with a ping due every 0.1 s: not one ping while the loop was stuck.
        assert count(received[begin:end], "WATCHDOG=1") == 0, received[begin:end]
    finally:
        runner.terminate()
        status = runner.wait(30)
    assert status == 0, (tmp_path / "runner.log").read_text()


def test_notifier_reaches_a_socket_path_and_reads_the_watchdog_interval(tmp_path: Path) -> None:
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))
        notifier = Notifier.from_environment({"NOTIFY_SOCKET": str(path)})
        assert notifier is not None
        notifier.send("STATUS=hello", "READY=1")
        assert server.recv(100) == b"STATUS=hello\nREADY=1"
        notifier.close()
    assert Notifier.from_environment({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval({}) is None
