"""The peer bench's ``flowengine_http`` target: ``flowengine run FLOW --http`` scraped once a second.

Starts a scraper that GETs ``/metrics`` every second (as Prometheus would), detached from this
process tree so that its own CPU is not counted as the runner's, then *becomes* the runner
(``exec``), so the bench measures the runner's process exactly as for the plain target.
The scraper stops when the runner is gone and writes how many scrapes succeeded to
``$HTTP_COST_LOG`` (default ``/tmp/flowengine-http-cost.log``).

    python benchmarks/mqtt/http_target.py FLOW.yaml [--every 1.0]
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
import urllib.request


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scrape(runner: int, url: str, every: float, log_path: str) -> None:
    done = failed = 0
    while True:
        time.sleep(every)
        try:
            os.kill(runner, 0)
        except OSError:
            break
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                response.read()
            done += 1
        except OSError:
            failed += 1
    with open(log_path, "a") as log:
        log.write(f"{time.strftime('%H:%M:%S')} runner {runner}: {done} scrapes of {url}, {failed} failed\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("flow")
    parser.add_argument("--every", type=float, default=1.0)
    args = parser.parse_args()
    port = free_port()
    runner = os.getpid()
    log_path = os.environ.get("HTTP_COST_LOG", "/tmp/flowengine-http-cost.log")
    if os.fork() == 0:  # double fork: the scraper leaves the runner's process tree and session
        os.setsid()
        if os.fork() == 0:
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            scrape(runner, f"http://127.0.0.1:{port}/metrics", args.every, log_path)
        os._exit(0)
    os.wait()
    os.execv(sys.executable, [sys.executable, "-m", "flowengine.cli", "run", args.flow,
                              "--http", f"127.0.0.1:{port}"])


if __name__ == "__main__":
    main()
