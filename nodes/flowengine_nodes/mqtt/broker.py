"""Broker addresses and the connection settings shared by ``mqtt-in`` and ``mqtt-out``.

A broker is a URL (CONTRACT §4): ``mqtt://user:pass@host:1883`` or ``mqtts://…`` for TLS,
with ``ca``, ``cert`` and ``key`` beside it in the node's config. :class:`BrokerURL` is a
frozen value that validates itself on construction and never shows its password: its
``str`` is the redacted form used in every log line and error message.
"""

from __future__ import annotations

import re
import secrets
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, field_validator, model_validator

from flowengine import NodeConfig, NodeContext

Scheme = Literal["mqtt", "mqtts"]
Protocol = Literal["3.1.1", "5"]
DEFAULT_PORTS: dict[str, int] = {"mqtt": 1883, "mqtts": 8883}


@dataclass(frozen=True, slots=True)
class BrokerURL:
    """A parsed broker URL: scheme, host, port and optional credentials.

    ``str(url)`` is the URL with the password replaced by ``***``; the password itself is
    kept out of ``repr`` too.
    """

    scheme: Scheme
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, text: str) -> BrokerURL:
        """Parse ``mqtt[s]://[user[:password]@]host[:port]``.

        Raises:
            ValueError: the URL is not a broker URL; the message never contains the password.
        """
        try:
            parts = urlsplit(text.strip())
            port = parts.port
        except ValueError:
            # Not the error's text: urlsplit quotes the part it choked on, which may be a piece of the password.
            raise ValueError(f"not a broker URL ({_redact(text)}): its port or address cannot be read") from None
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS:
            raise ValueError(f"a broker URL starts with mqtt:// or mqtts://, not '{_redact(text)}'")
        if not parts.hostname:
            raise ValueError(f"the broker URL '{_redact(text)}' has no host")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError(
                f"the broker URL '{_redact(text)}' has a path, query or fragment; give only host and port"
            )
        username = unquote(parts.username) if parts.username is not None else None
        password = unquote(parts.password) if parts.password is not None else None
        return cls(
            scheme="mqtts" if scheme == "mqtts" else "mqtt",
            host=parts.hostname,
            port=port if port is not None else DEFAULT_PORTS[scheme],
            username=username or None,
            password=password,
        )

    @property
    def tls(self) -> bool:
        """True for ``mqtts://``."""
        return self.scheme == "mqtts"

    def __str__(self) -> str:
        credentials = ""
        if self.username is not None:
            credentials = self.username + (":***" if self.password is not None else "") + "@"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{credentials}{host}:{self.port}"


def _redact(text: str) -> str:
    """Hide the password of a URL that did not parse (``scheme://user:***@…``).

    The password runs to the last ``@``: it may itself hold ``/``, ``@`` or ``:``.
    """
    return re.sub(r"(//[^:/@]*:).*@", r"\1***@", text, flags=re.DOTALL)


class MqttClientConfig(NodeConfig):
    """The connection part of ``mqtt-in`` and ``mqtt-out``'s config."""

    broker: str = Field(
        description="Broker URL: mqtt://[user:password@]host[:port] or mqtts://… for TLS "
        "(ports default to 1883 and 8883)."
    )
    ca: str | None = Field(
        default=None,
        description="mqtts only: PEM file of the CA that signed the broker's certificate "
        "(default: the system's trusted CAs).",
    )
    cert: str | None = Field(default=None, description="mqtts only: PEM client certificate (mutual TLS).")
    key: str | None = Field(
        default=None, description="mqtts only: PEM private key of `cert` (omit when `cert` holds it)."
    )
    client_id: str | None = Field(
        default=None,
        description="MQTT client identifier (default: flowengine-<node id>-<random>, unique per run).",
    )
    keepalive: int = Field(default=60, ge=1, le=65535, description="Keepalive interval in seconds.")
    protocol: Protocol = Field(default="3.1.1", description="MQTT protocol version: '3.1.1' or '5'.")

    @field_validator("broker")
    @classmethod
    def _check_broker(cls, value: str) -> str:
        BrokerURL.parse(value)
        return value

    @field_validator("protocol", mode="before")
    @classmethod
    def _protocol_alias(cls, value: Any) -> Any:
        # YAML reads `protocol: 5` as an integer; MQTT 3.1.1 is protocol level 4.
        aliases = {5: "5", "5.0": "5", 4: "3.1.1", "4": "3.1.1", "v5": "5", "v311": "3.1.1"}
        return aliases.get(value, value) if isinstance(value, int | float | str) else value

    @model_validator(mode="after")
    def _check_tls(self) -> MqttClientConfig:
        url = BrokerURL.parse(self.broker)
        given = [name for name in ("ca", "cert", "key") if getattr(self, name) is not None]
        if given and not url.tls:
            raise ValueError(f"{', '.join(given)} need a mqtts:// broker URL")
        if self.key is not None and self.cert is None:
            raise ValueError("key needs cert")
        return self

    @property
    def url(self) -> BrokerURL:
        """The parsed broker URL."""
        return BrokerURL.parse(self.broker)


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    """Everything needed to open one connection; built once when a node starts."""

    url: BrokerURL
    client_id: str
    keepalive: int
    protocol: Protocol
    tls_context: ssl.SSLContext | None = None
    clean_session: bool = True
    #: MQTT 5, persistent session: seconds the broker keeps it after a disconnect (None: until resumed).
    session_expiry: int | None = None


def build_tls_context(ca: Path | None, cert: Path | None, key: Path | None) -> ssl.SSLContext:
    """Return a client TLS context verifying the broker (against ``ca`` or the system CAs).

    Raises:
        OSError: a file cannot be read.
        ssl.SSLError: a file is not a valid certificate or key.
    """
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca) if ca else None)
    if cert is not None:
        context.load_cert_chain(str(cert), str(key) if key is not None else None)
    return context


def connection_settings(
    config: MqttClientConfig, context: NodeContext, *, clean_session: bool = True, session_expiry: int | None = None
) -> ConnectionSettings:
    """Build the settings of a node's connection, reading the TLS files (relative to the flow).

    Raises:
        OSError, ssl.SSLError: a TLS file is missing or invalid.
    """
    url = config.url
    tls = None
    if url.tls:

        def resolve(value: str | None) -> Path | None:
            return context.resolve_path(value) if value is not None else None

        tls = build_tls_context(resolve(config.ca), resolve(config.cert), resolve(config.key))
    client_id = config.client_id or f"flowengine-{context.node_id}-{secrets.token_hex(4)}"
    return ConnectionSettings(
        url=url,
        client_id=client_id,
        keepalive=config.keepalive,
        protocol=config.protocol,
        tls_context=tls,
        clean_session=clean_session,
        session_expiry=session_expiry,
    )
