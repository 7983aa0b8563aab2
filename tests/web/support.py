"""Running ``flowengine run`` as a user would, and talking to its HTTP side with the standard library."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

FLOWENGINE = [sys.executable, "-m", "flowengine.cli"]
#: Most seconds a state change may take to show (broker lost, runner ready).
DEADLINE = 30.0


class Runner:
    """One ``flowengine run`` subprocess in ``folder``, with its log kept for assertion messages."""

    def __init__(self, folder: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.folder = folder
        self.log_path = folder / "runner.log"
        with self.log_path.open("wb") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen([*FLOWENGINE, "run", *args], cwd=folder, stdout=log,
                                            stderr=subprocess.STDOUT, env=env)

    def log(self) -> str:
        """The runner's output so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        """SIGTERM, then wait for the exit status (killed after 30 s)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                return self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait()


def get(url: str, token: str | None = None) -> tuple[int, bytes]:
    """GET ``url``; return (status, body) for any HTTP answer (errors included)."""
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def metrics(base: str, token: str | None = None) -> dict[str, float]:
    """Return ``/metrics`` as ``{'name{labels}': value}`` (labels as Prometheus writes them)."""
    status, body = get(f"{base}/metrics", token)
    assert status == 200, body
    values = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def wait_for(check: Callable[[], Any], within: float, what: str, runner: Runner | None = None) -> Any:
    """Return ``check()``'s first truthy result; fail naming ``what`` after ``within`` seconds.

    The runner is another process, so its state is read through HTTP: this asks again every
    50 ms until the deadline (never a fixed sleep before asserting).
    """
    deadline = time.monotonic() + within
    while True:
        try:
            result = check()
        except (OSError, urllib.error.URLError):
            result = None
        if result:
            return result
        if runner is not None and runner.process.poll() is not None:
            raise AssertionError(f"the runner exited ({runner.process.returncode}) while waiting for {what}:\n"
                                 + runner.log())
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {what}" + (f"\n{runner.log()}" if runner else ""))
        time.sleep(0.05)


def ready(base: str, token: str | None = None) -> bool:
    """True when ``/ready`` answers 200."""
    return get(f"{base}/ready", token)[0] == 200


def json_of(base: str, path: str, token: str | None = None) -> Any:
    """GET a JSON endpoint."""
    status, body = get(f"{base}{path}", token)
    assert status == 200, body
    return json.loads(body)
