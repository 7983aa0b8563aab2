"""The progress bar of a finite replay: on a real pseudo-terminal, and absent from a pipe (issue 12).

The runner is a subprocess whose stderr is the slave side of a pty (``pty.openpty``), exactly
what a person at a terminal gives it; the test reads the master side.
"""

from __future__ import annotations

import io
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

from flowengine.progress import ProgressBar, duration, render
from flowengine.registry import Registry
from flowengine.runtime import FlowRun
from flowengine.testing import load_text
from tests.engine.test_runtime import make_capture, replay_flow

FLOWENGINE = [sys.executable, "-m", "flowengine.cli"]
FRAME = re.compile(r"\r\x1b\[K([^\r\n]*)")


def run_on_a_terminal(args: list[str]) -> tuple[int, str]:
    """Run the command line with stderr on a pseudo-terminal; return the exit code and what it drew."""
    master, slave = pty.openpty()
    process = subprocess.Popen([*FLOWENGINE, *args], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=slave)
    os.close(slave)
    chunks: list[bytes] = []
    try:
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed its side
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(master)
    return process.wait(timeout=60), b"".join(chunks).decode()


def flow_of(tmp_path: Path, records: int, speed: float) -> Path:
    make_capture(tmp_path / "capture.jsonl", records)
    flow = tmp_path / "replay.yaml"
    flow.write_text(replay_flow(f"    speed: {speed}\n    wires: [drop]\n  - id: drop\n    type: discard\n"))
    return flow


def test_a_finite_replay_on_a_terminal_shows_done_total_rate_and_eta(tmp_path: Path) -> None:
    # 5 records one event-second apart at speed 4: the replay takes about a second, several redraws.
    code, drawn = run_on_a_terminal(["run", str(flow_of(tmp_path, 5, 4))])
    assert code == 0, drawn
    frames = FRAME.findall(drawn)
    assert len(frames) >= 2, drawn
    assert any(re.search(r"\b[0-4]/5 records [\d,]+/s ETA \d+:\d\d", frame) for frame in frames), frames
    final = frames[-1]
    assert final.startswith("replay [")
    assert re.search(r"100% 5/5 records [\d,]+/s done in \d+:\d\d", final), final
    # The bar's last frame ends its line before the summary is logged.
    assert re.search(r"done in \d+:\d\d\r?\n.*finished after", drawn, re.DOTALL), drawn


def test_a_fast_replay_ends_with_its_full_count(tmp_path: Path) -> None:
    code, drawn = run_on_a_terminal(["run", str(flow_of(tmp_path, 20_000, 0))])
    assert code == 0, drawn
    assert "100% 20000/20000 records" in FRAME.findall(drawn)[-1]


def test_nothing_of_it_when_stderr_is_a_pipe(tmp_path: Path) -> None:
    result = subprocess.run([*FLOWENGINE, "run", str(flow_of(tmp_path, 5, 4))], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr
    assert "records" not in result.stderr
    assert "\x1b" not in result.stderr
    assert "finished after" in result.stderr


def test_an_endless_replay_draws_no_bar(tmp_path: Path) -> None:
    make_capture(tmp_path / "capture.jsonl", 3)
    loaded = load_text(tmp_path, replay_flow("    loop: true\n    wires: [drop]\n  - id: drop\n    type: discard\n"),
                       registry=Registry.from_entry_points())
    assert loaded.graph is not None
    screen = io.StringIO()
    bar = ProgressBar(FlowRun(loaded.graph), screen)
    assert bar.measure() is None  # a looping source knows no total
    bar.draw(final=True)
    assert screen.getvalue() == ""


def test_render_fits_the_width_and_says_eta_or_done() -> None:
    line = render("front", 50, 200, 2.0, width=80)
    assert line == "front [=======>                      ]  25% 50/200 records 25/s ETA 0:06"
    assert len(render("a-very-long-flow-name" * 5, 1, 2, 1.0, width=60)) <= 59
    assert render("f", 200, 200, 75.0).endswith("done in 1:15")
    assert duration(3725) == "1:02:05"
