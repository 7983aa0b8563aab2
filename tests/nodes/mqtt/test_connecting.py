"""How a connection reaches the broker: host names, addresses, IPv6, and paho's proxy lookup.

On the fast path the nodes connect with an ASCII host given as bytes (no ``idna`` codec) and
paho's proxy-only imports are deferred (``urllib.request`` loads at the first proxy lookup): a
broker is still reached by name, by IPv4 and IPv6 address, and through an ``mqtt_proxy`` when
PySocks is installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowengine.testing import run_sync
from flowengine_nodes.mqtt import paho_fast
from flowengine_nodes.mqtt.broker import BrokerURL, ConnectionSettings
from flowengine_nodes.mqtt.connection import ConnectionLostError, connect, make_client
from tests.mosquitto import Mosquitto, mosquitto_binary

REPO = Path(__file__).resolve().parents[3]


def settings(url: str) -> ConnectionSettings:
    return ConnectionSettings(url=BrokerURL.parse(url), client_id=f"connecting-{os.getpid()}", keepalive=30,
                              protocol="3.1.1")


async def settled() -> None:
    """Wait for the tasks aiomqtt cancels at a disconnect to end."""
    pending = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    await asyncio.gather(*pending, return_exceptions=True)


def connected_peer(url: str) -> tuple[str, int]:
    """Connect to ``url`` with the nodes' own :func:`connect`; the address the socket reached."""

    async def scenario() -> tuple[str, int]:
        async with connect(settings(url)) as connection:
            assert connection.paho.is_connected()
            sock = connection.paho.socket()
            assert isinstance(sock, socket.socket)
            peer = sock.getpeername()
        await settled()
        return str(peer[0]), int(peer[1])

    return run_sync(scenario())


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_broker_is_reached_by_address_and_by_name(mosquitto: Mosquitto, host: str) -> None:
    assert connected_peer(f"mqtt://{host}:{mosquitto.port}") == ("127.0.0.1", mosquitto.port)


def test_a_broker_is_reached_at_an_ipv6_literal(tmp_path: Path) -> None:
    binary = mosquitto_binary()
    if binary is None:
        pytest.skip("mosquitto is not installed")
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    broker = Mosquitto(tmp_path / "v6", binary=binary, host="::1")
    broker.start()
    try:
        assert broker.url == f"mqtt://[::1]:{broker.port}"
        assert connected_peer(broker.url) == ("::1", broker.port)
    finally:
        broker.kill()


def test_a_host_that_does_not_resolve_is_a_clear_connection_error() -> None:
    """A non-ASCII name goes to paho's own lookup (the idna codec); an unknown one fails in words."""

    async def scenario(host: str) -> str:
        with pytest.raises(ConnectionLostError) as caught:
            async with connect(settings(f"mqtt://{host}:1883")):
                pass
        await settled()
        return str(caught.value)

    for host in ("no-such-host.invalid", "bücher.invalid"):
        assert run_sync(scenario(host)).startswith("cannot connect: "), host


class ConnectProxy:
    """An HTTP CONNECT proxy on a free loopback port that records each request line and relays bytes."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return  # closed
            self._sockets.append(client)
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = client.recv(4096)
                if not chunk:
                    break
                request += chunk
            line = request.split(b"\r\n", 1)[0].decode()
            self.requests.append(line)
            host, _, port = line.split()[1].rpartition(":")
            upstream = socket.create_connection((host, int(port)))
            self._sockets.append(upstream)
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            for source, target in ((client, upstream), (upstream, client)):
                thread = threading.Thread(target=self._relay, args=(source, target), daemon=True)
                thread.start()
                self._threads.append(thread)

    @staticmethod
    def _relay(source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                target.sendall(chunk)
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._server.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread (Linux)
        self._server.close()
        self._accepting.join(5)
        for sock in self._sockets:
            sock.close()
        for thread in self._threads:
            thread.join(5)


@pytest.fixture
def connect_proxy() -> Iterator[ConnectProxy]:
    proxy = ConnectProxy()
    try:
        yield proxy
    finally:
        proxy.close()


#: In a fresh interpreter (urllib.request not yet imported by anything): connect through the proxy
#: named by ``mqtt_proxy``, reporting how urllib.request stood before and after.
PROXY_CHILD = """
import json, sys
from flowengine_nodes.mqtt.connection import import_clients

def state():
    module = sys.modules.get("urllib.request")
    return None if module is None else type(module).__name__

import_clients()
seen = {"after import": state()}
from tests.nodes.mqtt.test_connecting import connected_peer
import paho.mqtt.client
proxies = paho.mqtt.client.urllib.request.getproxies()
seen["getproxies"] = proxies.get("mqtt") if isinstance(proxies, dict) else repr(proxies)
seen["after a lookup"] = state()
seen["peer"] = connected_peer(sys.argv[1])
print(json.dumps(seen))
"""


def test_paho_finds_an_mqtt_proxy_though_its_proxy_imports_were_deferred(
    mosquitto: Mosquitto, connect_proxy: ConnectProxy
) -> None:
    """paho's proxy lookup (PySocks installed, ``mqtt_proxy`` set) loads urllib.request on use and goes through it."""
    pytest.importorskip("socks", reason="paho looks for a proxy only when PySocks is installed")
    proxy_url = f"http://127.0.0.1:{connect_proxy.port}"
    done = subprocess.run([sys.executable, "-c", PROXY_CHILD, mosquitto.url], capture_output=True, timeout=60,
                          check=False, cwd=REPO, env={**os.environ, "mqtt_proxy": proxy_url})
    assert done.returncode == 0, done.stderr.decode()
    seen = json.loads(done.stdout)
    assert seen["after import"] == "_LazyModule"  # paho holds it; its code has not run
    assert seen["getproxies"] == proxy_url
    assert seen["after a lookup"] == "module"
    assert seen["peer"] == ["127.0.0.1", mosquitto.port]  # connected (PySocks reports the proxied peer)
    assert connect_proxy.requests == [f"CONNECT 127.0.0.1:{mosquitto.port} HTTP/1.1"]  # through the proxy


def test_a_proxy_set_on_the_paho_client_is_used(mosquitto: Mosquitto, connect_proxy: ConnectProxy) -> None:
    """paho's own connect (and its proxy) runs whenever a proxy is set, fast path or not."""
    socks = pytest.importorskip("socks", reason="paho's proxy_set needs PySocks")

    async def scenario() -> bool:
        client = make_client(settings(mosquitto.url))
        paho_instance = paho_fast.paho_client(client)
        paho_instance.proxy_set(proxy_type=socks.HTTP, proxy_addr="127.0.0.1", proxy_port=connect_proxy.port)
        async with client:
            connected = paho_instance.is_connected()
        await settled()
        return connected

    assert run_sync(scenario())
    assert connect_proxy.requests == [f"CONNECT 127.0.0.1:{mosquitto.port} HTTP/1.1"]


#: A client made (not connected) in a fresh interpreter: how urllib.request stands before paho's connect thread runs.
PREPARED_CHILD = """
import asyncio, sys
from flowengine_nodes.mqtt.broker import BrokerURL, ConnectionSettings
from flowengine_nodes.mqtt.connection import make_client

async def made() -> None:
    make_client(ConnectionSettings(url=BrokerURL.parse(sys.argv[1]), client_id="prepared", keepalive=30,
                                   protocol="3.1.1"))

asyncio.run(made())
print(type(sys.modules["urllib.request"]).__name__)
"""


@pytest.mark.parametrize(("fast", "proxy", "expected"), [
    ("1", None, "_LazyModule"),  # the fast path's connect makes no proxy lookup
    ("1", "http://127.0.0.1:9", "module"),
    ("0", None, "module"),  # paho's own connect looks a proxy up
])
def test_paho_proxy_imports_are_loaded_before_a_connect_thread_can_race_to_load_them(
    fast: str, proxy: str | None, expected: str
) -> None:
    """Python 3.11's LazyLoader is not thread-safe: two connect threads must not load urllib.request at once."""
    pytest.importorskip("socks", reason="paho looks for a proxy only when PySocks is installed")
    if fast == "1" and not paho_fast.FAST:
        pytest.skip(f"MQTT fast paths off: {paho_fast.UNAVAILABLE}")
    env = {name: value for name, value in os.environ.items() if name.lower() != "mqtt_proxy"}
    env["FLOWENGINE_MQTT_FAST"] = fast
    if proxy is not None:
        env["mqtt_proxy"] = proxy
    done = subprocess.run([sys.executable, "-c", PREPARED_CHILD, "mqtt://127.0.0.1:9"], capture_output=True,
                          text=True, timeout=60, check=False, cwd=REPO, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected
