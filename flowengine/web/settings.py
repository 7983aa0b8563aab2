"""Where the runner serves HTTP and with which token: ``--http``, ``--http-token``, the ``http:`` key.

Cheap to import (no HTTP library): the command line and the flow loader use it to check
the address before anything starts.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

#: The environment variable that holds the token when ``--http-token`` is not given.
TOKEN_VARIABLE = "FLOWENGINE_HTTP_TOKEN"
DEFAULT_HOST = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """An address to serve on, and the token every endpoint but ``/health`` needs (None: none)."""

    host: str
    port: int
    token: str | None = None

    @property
    def loopback(self) -> bool:
        """True when only this machine can reach the address."""
        return is_loopback(self.host)

    @property
    def url(self) -> str:
        """``http://host:port`` (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def check(self) -> str | None:
        """Return why the runner must not serve with these settings (None when it may)."""
        if not self.loopback and not self.token:
            return (f"--http {self.host}:{self.port} is reachable from other machines: give a token with "
                    f"--http-token or {TOKEN_VARIABLE} (or bind 127.0.0.1)")
        return None


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_listen(text: str) -> tuple[str, int]:
    """Read ``HOST:PORT``, ``:PORT`` or ``PORT`` (host 127.0.0.1), ``[::1]:PORT`` for IPv6.

    Raises:
        ValueError: with a one-line reason.
    """
    text = text.strip()
    host, port_text = DEFAULT_HOST, text
    if text.startswith("["):
        closing = text.find("]")
        if closing < 0 or text[closing + 1:closing + 2] != ":":
            raise ValueError(f"'{text}': an IPv6 address is written [ADDRESS]:PORT")
        host, port_text = text[1:closing], text[closing + 2:]
    elif ":" in text:
        host, _, port_text = text.rpartition(":")
        host = host or DEFAULT_HOST
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"'{text}': expected HOST:PORT, for example 127.0.0.1:8080") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"'{text}': the port must be between 0 and 65535")
    return host, port
