"""Where the runner serves HTTP: --http, the flow's http: key, and the token rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowengine.cli import _http_settings
from flowengine.registry import Registry
from flowengine.testing import load_text
from flowengine.web.settings import HttpSettings, is_loopback, parse_listen

NODES = "nodes:\n  - {id: a, type: mqtt-in, broker: 'mqtt://127.0.0.1', topics: [t]}\n"


@pytest.mark.parametrize(("text", "expected"), [
    ("8080", ("127.0.0.1", 8080)),
    (":8080", ("127.0.0.1", 8080)),
    ("0.0.0.0:80", ("0.0.0.0", 80)),
    ("[::1]:9000", ("::1", 9000)),
    ("pi.local:8080", ("pi.local", 8080)),
])
def test_listen_addresses(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["a:b", "1:99999", "[::1]9000", ""])
def test_bad_listen_addresses(text: str) -> None:
    with pytest.raises(ValueError, match="'"):
        parse_listen(text)


def test_loopback_and_the_token_rule() -> None:
    assert is_loopback("127.0.0.1")
    assert is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("0.0.0.0")
    assert not is_loopback("pi.local")
    assert HttpSettings("127.0.0.1", 1).check() is None
    assert HttpSettings("0.0.0.0", 1, "t").check() is None
    refusal = HttpSettings("0.0.0.0", 8080).check()
    assert refusal is not None
    assert "--http-token" in refusal


def test_the_http_key_of_a_flow(tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLOWENGINE_HTTP_TOKEN", raising=False)
    loaded = load_text(tmp_path, "version: 1\nhttp: {listen: '0.0.0.0:8080', token: abc}\n" + NODES,
                       registry=registry)
    assert loaded.graph is not None
    assert loaded.graph.http == HttpSettings("0.0.0.0", 8080, "abc")
    assert _http_settings([loaded.graph], None, None) == HttpSettings("0.0.0.0", 8080, "abc")
    # The command line wins over the file; a public address then needs its own token.
    assert _http_settings([loaded.graph], "127.0.0.1:9000", None) == HttpSettings("127.0.0.1", 9000)
    refused = _http_settings([loaded.graph], "0.0.0.0:9000", None)
    assert isinstance(refused, str)
    assert "--http-token" in refused
    monkeypatch.setenv("FLOWENGINE_HTTP_TOKEN", "from-env")
    assert _http_settings([loaded.graph], "0.0.0.0:9000", None) == HttpSettings("0.0.0.0", 9000, "from-env")


@pytest.mark.parametrize(("value", "message"), [
    ("'a:b'", "3:7: http: 'a:b': expected HOST:PORT"),
    ("{port: 1}", "3:7: http: missing 'listen'"),
    ("{listen: 8080, tokn: x}", "3:22: http: unknown key 'tokn' (did you mean 'token'?)"),
    ("[1]", "3:7: http: expected HOST:PORT"),
])
def test_a_bad_http_key_is_one_line_with_its_position(tmp_path: Path, registry: Registry, value: str,
                                                      message: str) -> None:
    loaded = load_text(tmp_path, f"version: 1\nname: x\nhttp: {value}\n" + NODES, registry=registry)
    assert not loaded.ok
    assert len(loaded.errors) == 1, loaded.errors
    assert message in str(loaded.errors[0])
