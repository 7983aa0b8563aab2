"""The test suite's own Mosquitto: fixtures that start a private broker per test.

Every broker runs from Debian's ``mosquitto`` binary on a free loopback port with a
config generated in the test's ``tmp_path``; nothing is shared between tests and no
client is mocked. Readiness is awaited by connecting (an MQTT CONNECT answered by a
CONNACK), never by sleeping, and teardown kills the process.

Fixtures (import them with ``from tests.mosquitto import *`` in a ``conftest.py``, or
list ``"tests.mosquitto"`` in a root ``pytest_plugins``):

* ``mosquitto``: a plain listener, no persistence.
* ``mosquitto_persistent``: persistence on; :meth:`Mosquitto.stop` / :meth:`Mosquitto.start`
  restart it on the same port with the same persistence file (restart tests).
* ``test_ca``: a throwaway CA with a server certificate (``localhost``, ``127.0.0.1``) and a
  client certificate, made with the ``cryptography`` package.
* ``mosquitto_tls``: a plain listener plus two TLS listeners (``tls_port``: server
  authentication only; ``mtls_port``: a client certificate from the test CA required).
* ``mosquitto_auth``: a password file (user ``flow``, password ``secret``), anonymous refused.
* ``mqtt_subscriber``: a factory of :class:`Subscriber` (paho-mqtt in its own thread, a
  persistent QoS 1 session with a fixed client id, reconnecting by itself) that collects
  messages; closed at teardown.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import getpass
import ipaddress
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "TEST_PASSWORD",
    "TEST_USER",
    "Certs",
    "Mosquitto",
    "ReceivedMessage",
    "Subscriber",
    "free_port",
    "make_certs",
    "mosquitto",
    "mosquitto_auth",
    "mosquitto_binary",
    "mosquitto_persistent",
    "mosquitto_tls",
    "mqtt_subscriber",
    "publish_messages",
    "test_ca",
    "tls_client_context",
]

HOST = "127.0.0.1"
TEST_USER = "flow"
TEST_PASSWORD = "secret"  # a throwaway password of the test broker
_STARTUP_TIMEOUT = 10.0
# MQTT 3.1.1 CONNECT: protocol "MQTT" level 4, clean session, keepalive 10 s, empty client id.
_PROBE_CONNECT = bytes.fromhex("100c00044d5154540402000a0000")
_DISCONNECT = bytes.fromhex("e000")


def mosquitto_binary() -> str | None:
    """Return the path of the ``mosquitto`` broker binary, or ``None`` when it is missing."""
    found = shutil.which("mosquitto")
    if found:
        return found
    return "/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None


def free_port() -> int:
    """Return a TCP port on the loopback interface that nothing listens on right now."""
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """Return ``count`` distinct free loopback TCP ports.

    The sockets are held open together while their ports are read: a port picked and released
    one at a time may be handed out again at once (a broker then failed to open its second
    listener on its first's port).
    """
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(count)]
        for sock in sockets:
            sock.bind((HOST, 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


# --------------------------------------------------------------------------------------
# Certificates
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Certs:
    """PEM files of a throwaway CA, a server certificate and a client certificate."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_certs(folder: Path) -> Certs:
    """Create a CA, a server certificate for ``localhost``/``127.0.0.1`` and a client certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    validity = (now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=1))

    def name(common_name: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    def write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name("flowengine test CA"))
        .issuer_name(name("flowengine test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(common_name: str, usage: x509.ObjectIdentifier, san: list[x509.GeneralName]) -> tuple[
        x509.Certificate, ec.EllipticCurvePrivateKey
    ]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(common_name))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(validity[0])
            .not_valid_after(validity[1])
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
            )
        )
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return builder.sign(ca_key, hashes.SHA256()), key

    server_cert, server_key = leaf(
        "localhost",
        ExtendedKeyUsageOID.SERVER_AUTH,
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.IPv4Address(HOST))],
    )
    client_cert, client_key = leaf("flowengine test client", ExtendedKeyUsageOID.CLIENT_AUTH, [])

    certs = Certs(
        ca=folder / "ca.pem",
        server_cert=folder / "server.pem",
        server_key=folder / "server.key",
        client_cert=folder / "client.pem",
        client_key=folder / "client.key",
    )
    certs.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    certs.server_cert.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    write_key(server_key, certs.server_key)
    certs.client_cert.write_bytes(client_cert.public_bytes(serialization.Encoding.PEM))
    write_key(client_key, certs.client_key)
    return certs


# --------------------------------------------------------------------------------------
# The broker
# --------------------------------------------------------------------------------------


class Mosquitto:
    """One private Mosquitto process with a generated config in ``workdir``.

    The ports are chosen once, so :meth:`stop` then :meth:`start` bring the broker back on
    the same address (with the same persistence file when ``persistence`` is on).
    """

    def __init__(
        self,
        workdir: Path,
        *,
        binary: str,
        persistence: bool = False,
        certs: Certs | None = None,
        passwords: dict[str, str] | None = None,
        tcp_nodelay: bool = False,
        host: str = HOST,
    ) -> None:
        self.workdir = workdir
        self.binary = binary
        self.persistence = persistence
        self.certs = certs
        #: The address every listener binds (a loopback address: ``127.0.0.1``, or ``::1``).
        self.host = host
        ports = free_ports(3 if certs else 1)
        self.port = ports[0]
        self.tls_port = ports[1] if certs else None
        self.mtls_port = ports[2] if certs else None
        self.log_path = workdir / "mosquitto.log"
        self.config_path = workdir / "mosquitto.conf"
        self._process: subprocess.Popen[bytes] | None = None
        workdir.mkdir(parents=True, exist_ok=True)
        password_file = self._write_passwords(passwords) if passwords else None
        self.config_path.write_text(self._config(password_file, tcp_nodelay))

    # ---- addresses -------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``mqtt://127.0.0.1:<port>`` of the plain listener (``mqtt://[::1]:<port>`` on IPv6)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"mqtt://{host}:{self.port}"

    @property
    def tls_url(self) -> str:
        """``mqtts://localhost:<port>`` of the TLS listener (server authentication only)."""
        assert self.tls_port is not None, "this broker has no TLS listener"
        return f"mqtts://localhost:{self.tls_port}"

    @property
    def mtls_url(self) -> str:
        """``mqtts://localhost:<port>`` of the TLS listener that requires a client certificate."""
        assert self.mtls_port is not None, "this broker has no TLS listener"
        return f"mqtts://localhost:{self.mtls_port}"

    # ---- lifecycle -------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True while the broker process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the broker and return once it answers an MQTT CONNECT."""
        assert not self.running, "mosquitto is already running"
        log = self.log_path.open("ab")
        try:
            self._process = subprocess.Popen(
                [self.binary, "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=self.workdir,
            )
        finally:
            log.close()
        self._wait_ready()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the broker gracefully (SIGTERM: it saves its persistence file), then reap it."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._process = None

    def kill(self) -> None:
        """Kill the broker at once (SIGKILL); what it did not save is lost."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        process.wait()
        self._process = None

    def log(self) -> str:
        """Return the broker's log so far (for assertion messages)."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # ---- internals -------------------------------------------------------------------

    def _write_passwords(self, passwords: dict[str, str]) -> Path:
        path = self.workdir / "passwords"
        path.write_text("")
        tool = shutil.which("mosquitto_passwd")
        if tool is None:
            pytest.skip("mosquitto_passwd is not installed")
        for user, password in passwords.items():
            subprocess.run([tool, "-b", str(path), user, password], check=True, capture_output=True)
        return path

    def _config(self, password_file: Path | None, tcp_nodelay: bool) -> str:
        lines = [
            f"user {getpass.getuser()}",  # as root, mosquitto would drop to a 'mosquitto' user
            "per_listener_settings false",
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            "log_timestamp_format %H:%M:%S",
            "max_queued_messages 0",  # unlimited: a slow test subscriber must not lose QoS 1 messages
            f"set_tcp_nodelay {'true' if tcp_nodelay else 'false'}",
        ]
        if password_file is not None:
            lines += ["allow_anonymous false", f"password_file {password_file}"]
        else:
            lines.append("allow_anonymous true")
        if self.persistence:
            lines += [
                "persistence true",
                f"persistence_location {self.workdir}/",
                "persistence_file mosquitto.db",
            ]
        lines.append(f"listener {self.port} {self.host}")
        if self.certs is not None:
            certs = self.certs
            for port, require in ((self.tls_port, "false"), (self.mtls_port, "true")):
                lines += [
                    f"listener {port} {self.host}",
                    f"cafile {certs.ca}",
                    f"certfile {certs.server_cert}",
                    f"keyfile {certs.server_key}",
                    f"require_certificate {require}",
                ]
        return "\n".join(lines) + "\n"

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + _STARTUP_TIMEOUT
        while True:
            process = self._process
            assert process is not None
            if process.poll() is not None:
                self._process = None
                raise RuntimeError(f"mosquitto exited with {process.returncode}:\n{self.log()}")
            if self._probe():
                return
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"mosquitto did not answer within {_STARTUP_TIMEOUT} s:\n{self.log()}")
            # Not a fixed sleep: a short pause between connection attempts, bounded by the deadline.
            time.sleep(0.01)

    def _probe(self) -> bool:
        """Return True when the plain listener answers a CONNECT with a CONNACK."""
        try:
            with socket.create_connection((self.host, self.port), timeout=1.0) as sock:
                sock.sendall(_PROBE_CONNECT)
                reply = b""
                while len(reply) < 4:
                    chunk = sock.recv(4 - len(reply))
                    if not chunk:
                        return False
                    reply += chunk
                with contextlib.suppress(OSError):
                    sock.sendall(_DISCONNECT)
                return reply[0] == 0x20
        except OSError:
            return False


def _broker(
    tmp_path: Path, name: str, **options: Any
) -> Iterator[Mosquitto]:
    binary = mosquitto_binary()
    if binary is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    broker = Mosquitto(tmp_path / name, binary=binary, **options)
    broker.start()
    try:
        yield broker
    finally:
        broker.kill()


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A private broker with a plain listener on a free loopback port."""
    yield from _broker(tmp_path, "mosquitto")


@pytest.fixture
def mosquitto_persistent(tmp_path: Path) -> Iterator[Mosquitto]:
    """A private broker with persistence on, for stop/start tests."""
    yield from _broker(tmp_path, "mosquitto-persistent", persistence=True)


@pytest.fixture
def test_ca(tmp_path: Path) -> Certs:
    """A throwaway CA, server certificate and client certificate (PEM files in ``tmp_path``)."""
    return make_certs(tmp_path / "certs")


@pytest.fixture
def mosquitto_tls(tmp_path: Path, test_ca: Certs) -> Iterator[Mosquitto]:
    """A private broker with a plain listener and two TLS listeners signed by ``test_ca``."""
    yield from _broker(tmp_path, "mosquitto-tls", certs=test_ca)


@pytest.fixture
def mosquitto_auth(tmp_path: Path) -> Iterator[Mosquitto]:
    """A private broker that only lets in user ``flow`` with password ``secret``."""
    yield from _broker(tmp_path, "mosquitto-auth", passwords={TEST_USER: TEST_PASSWORD})


# --------------------------------------------------------------------------------------
# Clients for tests: a collecting subscriber and a publisher
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedMessage:
    """One message a :class:`Subscriber` received."""

    topic: str
    payload: bytes
    qos: int
    retain: bool


class Subscriber:
    """A paho-mqtt subscriber in its own thread that collects every message it receives.

    By default the session is persistent (``clean_session`` false, a fixed client id), so
    the broker keeps QoS 1 messages for it across reconnects and, with persistence on,
    across broker restarts; paho reconnects by itself when the broker comes back.
    """

    def __init__(
        self,
        broker: Mosquitto,
        topics: Sequence[str],
        *,
        qos: int = 1,
        client_id: str = "test-subscriber",
        persistent: bool = True,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.broker = broker
        self.topics = list(topics)
        self.qos = qos
        self.messages: list[ReceivedMessage] = []
        self.connections = 0
        self._condition = threading.Condition()
        self._subscribed = threading.Event()
        self._client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv311,
            clean_session=not persistent,
        )
        if username is not None:
            self._client.username_pw_set(username, password)
        # paho accepts fractional delays; the annotation says int.
        self._client.reconnect_delay_set(min_delay=0.05, max_delay=0.5)  # type: ignore[arg-type]
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message

    def start(self, timeout: float = 10.0) -> Subscriber:
        """Connect, subscribe, and return once the broker has acknowledged the subscription."""
        self._client.connect(self.broker.host, self.broker.port, keepalive=10)
        self._client.loop_start()
        if not self._subscribed.wait(timeout):
            raise TimeoutError(f"subscriber not subscribed within {timeout} s:\n{self.broker.log()}")
        return self

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        with contextlib.suppress(Exception):
            self._client.disconnect()
        self._client.loop_stop()
        close_wake_up_sockets(self._client)

    # ---- reading what arrived ----------------------------------------------------------

    def snapshot(self) -> list[ReceivedMessage]:
        """Return a copy of the messages received so far, in arrival order."""
        with self._condition:
            return list(self.messages)

    def payloads(self, topic: str | None = None) -> list[bytes]:
        """Return the payloads received so far (on ``topic`` only, when given)."""
        return [m.payload for m in self.snapshot() if topic is None or m.topic == topic]

    def wait_until(self, predicate: Callable[[list[ReceivedMessage]], bool], timeout: float = 30.0) -> bool:
        """Block until ``predicate(messages)`` is true; return False when ``timeout`` passes first."""
        with self._condition:
            return self._condition.wait_for(lambda: predicate(self.messages), timeout)

    def wait_for_distinct(self, field: str, count: int, timeout: float = 30.0) -> bool:
        """Block until ``count`` distinct values of the JSON payloads' ``field`` have arrived (False on timeout).

        Duplicates (an outbox's redeliveries) count once. The predicate of :meth:`wait_until` runs
        under the lock the network thread takes for every arriving message, so each look reads
        only the messages that came since the last one: parsing every payload at every arrival is
        quadratic, and with thousands of messages it stalled delivery for tens of seconds.
        """
        seen: set[Any] = set()
        read = 0

        def enough(messages: list[ReceivedMessage]) -> bool:
            nonlocal read
            for message in messages[read:]:
                seen.add(json.loads(message.payload)[field])
            read = len(messages)
            return len(seen) >= count

        return self.wait_until(enough, timeout)

    def wait_for_count(self, count: int, timeout: float = 30.0) -> bool:
        """Block until at least ``count`` messages have arrived (False on timeout)."""
        return self.wait_until(lambda messages: len(messages) >= count, timeout)

    async def until(self, predicate: Callable[[list[ReceivedMessage]], bool], within: float = 30.0) -> bool:
        """Await :meth:`wait_until` (at most ``within`` seconds) without blocking the event loop."""
        return await asyncio.to_thread(self.wait_until, predicate, within)

    async def count(self, count: int, within: float = 30.0) -> bool:
        """Await :meth:`wait_for_count` (at most ``within`` seconds) without blocking the event loop."""
        return await asyncio.to_thread(self.wait_for_count, count, within)

    # ---- paho callbacks (network thread) -----------------------------------------------

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            return
        self.connections += 1
        client.subscribe([(topic, self.qos) for topic in self.topics])

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, reasons: Any, properties: Any) -> None:
        self._subscribed.set()

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        received = ReceivedMessage(message.topic, bytes(message.payload), message.qos, bool(message.retain))
        with self._condition:
            self.messages.append(received)
            self._condition.notify_all()


#: The type of the ``mqtt_subscriber`` fixture: ``subscribe(broker, topics, **options) -> Subscriber``.
Subscribe = Callable[..., Subscriber]


@pytest.fixture
def mqtt_subscriber() -> Iterator[Subscribe]:
    """Return ``subscribe(broker, topics, **options) -> Subscriber`` (started); all closed at teardown."""
    started: list[Subscriber] = []

    def subscribe(broker: Mosquitto, topics: Sequence[str] | str, **options: Any) -> Subscriber:
        subscriber = Subscriber(broker, [topics] if isinstance(topics, str) else topics, **options)
        started.append(subscriber)
        return subscriber.start()

    yield subscribe
    for subscriber in started:
        subscriber.close()
    # pytest keeps this fixture's value until after the leak guard looks: let go of the clients
    # now, so that paho closes their wake-up socket pairs.
    started.clear()


def publish_messages(
    broker: Mosquitto,
    messages: Sequence[tuple[str, bytes | str]],
    *,
    qos: int = 1,
    retain: bool = False,
    timeout: float = 30.0,
    username: str | None = None,
    password: str | None = None,
) -> None:
    """Publish ``(topic, payload)`` pairs with a plain paho client and wait until all are sent.

    Blocking; call it through ``asyncio.to_thread`` from a coroutine.
    """
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.max_inflight_messages_set(100)
    if username is not None:
        client.username_pw_set(username, password)
    client.connect(broker.host, broker.port, keepalive=10)
    client.loop_start()
    try:
        infos = [client.publish(topic, payload, qos=qos, retain=retain) for topic, payload in messages]
        deadline = time.monotonic() + timeout
        for info in infos:
            info.wait_for_publish(max(0.0, deadline - time.monotonic()))
            if not info.is_published():
                raise TimeoutError(f"publish not acknowledged within {timeout} s")
    finally:
        client.disconnect()
        client.loop_stop()
        close_wake_up_sockets(client)


def close_wake_up_sockets(client: Any) -> None:
    """Close the loopback socket pair a threaded paho client wakes its network thread with.

    paho creates the pair in ``loop_start`` and closes it only in ``__del__``; the client and its
    thread form a reference cycle, so the garbage collector may reach the sockets first, and each
    then warns that it was never closed (a ``ResourceWarning``, an error under this suite's
    warning filter, seen with paho-mqtt 2.1.0). ``_reset_sockets`` is paho's own clean-up, in
    2.1 and 2.2 alike.
    """
    reset = getattr(client, "_reset_sockets", None)
    if reset is not None:
        reset()


def tls_client_context(certs: Certs) -> ssl.SSLContext:
    """Return an SSL context that trusts the test CA (for test clients)."""
    return ssl.create_default_context(cafile=str(certs.ca))
