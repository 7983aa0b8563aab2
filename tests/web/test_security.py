"""Issue 12, acceptance 3: a token outside loopback, 401 without it, and no secret on the HTTP side."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from http.client import HTTPResponse
from pathlib import Path

from flowengine.redaction import expand
from flowengine.web import api
from tests.mosquitto import TEST_PASSWORD, TEST_USER, Mosquitto, free_port, publish_messages
from tests.web.support import DEADLINE, FLOWENGINE, Runner, get, ready, wait_for

TOKEN = "tok-3f9a7c1e"


def write_flow(folder: Path, broker: Mosquitto) -> None:
    (folder / "secrets.yaml").write_text(
        f"broker_url: mqtt://{TEST_USER}:{TEST_PASSWORD}@{broker.host}:{broker.port}\n")
    (folder / "flow.yaml").write_text("""
version: 1
name: guarded
state: memory
nodes:
  - id: in
    type: mqtt-in
    broker: !secret broker_url
    topics: [notes]
    wires: [show]
  - id: show
    type: log
""")


def test_a_public_address_without_a_token_refuses_to_start(tmp_path: Path, mosquitto: Mosquitto) -> None:
    write_flow(tmp_path, mosquitto)
    env = {key: value for key, value in os.environ.items() if key != "FLOWENGINE_HTTP_TOKEN"}
    done = subprocess.run([*FLOWENGINE, "run", "flow.yaml", "--http", f"0.0.0.0:{free_port()}"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode != 0
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert len(lines) == 1, lines
    assert "--http-token" in lines[0]
    assert "FLOWENGINE_HTTP_TOKEN" in lines[0]
    assert "Traceback" not in done.stderr


def test_with_a_token_every_endpoint_but_health_wants_it(tmp_path: Path, mosquitto_auth: Mosquitto) -> None:
    write_flow(tmp_path, mosquitto_auth)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "FLOWENGINE_HTTP_TOKEN": TOKEN}
    runner = Runner(tmp_path, "flow.yaml", "--http", f"0.0.0.0:{port}", env=env)
    try:
        wait_for(lambda: ready(base, TOKEN), DEADLINE, "/ready with the token", runner)
        assert get(f"{base}/health")[0] == 200
        for path in ("/ready", "/metrics", "/", "/api/flow", "/api/stats", "/api/tap/in"):
            status, _body = get(base + path)
            assert status == 401, (path, status)
            assert get(base + path, "wrong")[0] == 401, path
        # A browser opens the page once with ?token=; the cookie it sets carries the rest.
        with urllib.request.urlopen(f"{base}/?token={TOKEN}", timeout=5) as response:
            assert response.status == 200
            cookie = response.headers["Set-Cookie"].split(";")[0]
            assert "HttpOnly" in response.headers["Set-Cookie"]
        request = urllib.request.Request(f"{base}/api/stats", headers={"Cookie": cookie})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert json.loads(response.read())["ready"] is True

        # The broker URL is a secret: neither the API nor the tap shows it.
        request = urllib.request.Request(f"{base}/api/tap/show", headers={"Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(request, timeout=10) as tap_stream:  # watching from now on
            publish_messages(mosquitto_auth, [("notes", json.dumps({"note": "hello",
                                                                     "url": secret_url(mosquitto_auth)}))],
                             username=TEST_USER, password=TEST_PASSWORD)
            tap = first_event(tap_stream)
        assert '"url":"***"' in tap.replace(" ", "")
        assert '"note":"hello"' in tap.replace(" ", "")
        texts = [get(base + path, TOKEN)[1].decode() for path in ("/api/flow", "/api/stats", "/ready", "/")]
        for text in [*texts, tap]:
            assert secret_url(mosquitto_auth) not in text
            assert TOKEN not in text
    finally:
        status = runner.stop()
    assert status == 0, runner.log()
    assert TOKEN not in runner.log()
    assert secret_url(mosquitto_auth) not in runner.log()


def secret_url(broker: Mosquitto) -> str:
    return f"mqtt://{TEST_USER}:{TEST_PASSWORD}@{broker.host}:{broker.port}"


def first_event(stream: HTTPResponse) -> str:
    """Read a tap stream until its first event."""
    while True:
        line = stream.readline().decode()
        if line.startswith("data: "):
            return line


def test_a_secret_url_is_hidden_whole_whatever_order_its_forms_come_in() -> None:
    # The redactor holds every form of a secret, the URL's password among them; hiding the
    # password first would leave 'mqtt://flow:***@host' and the URL around it in view.
    url = "mqtt://flow:s3cret-pass@broker.example:1883"
    forms = expand([url])
    for order in (sorted(forms, key=len), sorted(forms, key=len, reverse=True)):
        assert api.redact({"url": url, "list": [f"at {url}"]}, order) == {"url": "***", "list": ["at ***"]}
