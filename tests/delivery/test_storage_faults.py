"""Storage faults under a real runner: a full disk (a file-size limit) and a read-only folder.

Nothing is lost, one clear error line says what is wrong, the sources wait, and delivery
resumes by itself, without a restart, once the condition is gone (docs/delivery.md).
"""

from __future__ import annotations

import os
import resource
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.delivery.harness import FLOWENGINE, POLL, REPLAY_TO_FILE, file_seqs, write_capture

TOTAL = 5_000
LIMIT = 256 * 1024  # bytes: the output (about 1 MB in all) outgrows it, the state file does not


def wait_for_line(log: Path, text: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> str:
    """Return the log's first line containing ``text`` once it is there (the runner must still run)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if text in line:
                return line
        assert process.poll() is None, log.read_text()
        time.sleep(POLL)
    raise AssertionError(f"no line with {text!r} within {timeout} s:\n{log.read_text()}")


def start(folder: Path, **options: object) -> subprocess.Popen[bytes]:
    with (folder / "run.log").open("wb") as log:
        process: subprocess.Popen[bytes] = subprocess.Popen(  # type: ignore[call-overload]
            [*FLOWENGINE, "run", "flow.yaml"], cwd=folder, stdout=subprocess.DEVNULL, stderr=log, **options)
        return process


def check_everything_once(folder: Path) -> None:
    seqs = Counter(file_seqs(folder / "out.jsonl"))  # every line complete JSON
    assert set(seqs) == set(range(TOTAL))
    assert max(seqs.values()) == 1, "a failed batch was written twice"


def test_disk_full_keeps_everything_and_resumes_by_itself(tmp_path: Path) -> None:
    write_capture(tmp_path / "capture.jsonl", TOTAL)
    (tmp_path / "flow.yaml").write_text(REPLAY_TO_FILE)

    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, resource.RLIM_INFINITY))  # soft: the parent lifts it

    process = start(tmp_path, preexec_fn=limit_file_size)
    try:
        line = wait_for_line(tmp_path / "run.log", "cannot write", process)
        assert "sink 'save' cannot write: OSError: [Errno 27] File too large" in line
        assert (tmp_path / "out.jsonl").stat().st_size <= LIMIT
        # Space comes back: the runner goes on by itself and finishes.
        resource.prlimit(process.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        assert process.wait(120) == 0, (tmp_path / "run.log").read_text()
    finally:
        if process.poll() is None:
            process.kill()
    log = (tmp_path / "run.log").read_text()
    assert log.count("cannot write") == 1, log  # one line for the condition, not one per retry
    assert "sink 'save' writes again" in log
    assert "Traceback" not in log
    check_everything_once(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder_keeps_everything_and_resumes_by_itself(tmp_path: Path) -> None:
    write_capture(tmp_path / "capture.jsonl", TOTAL)
    (tmp_path / "flow.yaml").write_text(REPLAY_TO_FILE.replace("path: out.jsonl", "path: out/out.jsonl"))
    folder = tmp_path / "out"
    folder.mkdir()
    folder.chmod(0o555)
    process = start(tmp_path)
    try:
        line = wait_for_line(tmp_path / "run.log", "cannot write", process)
        assert "sink 'save' cannot write: PermissionError: [Errno 13] Permission denied" in line
        folder.chmod(0o755)
        assert process.wait(120) == 0, (tmp_path / "run.log").read_text()
    finally:
        folder.chmod(0o755)
        if process.poll() is None:
            process.kill()
    log = (tmp_path / "run.log").read_text()
    assert log.count("cannot write") == 1, log
    assert "Traceback" not in log
    (tmp_path / "out.jsonl").write_bytes((folder / "out.jsonl").read_bytes())
    check_everything_once(tmp_path)


def test_a_corrupt_state_file_stops_the_start_with_a_clear_error(tmp_path: Path) -> None:
    """A damaged state file is never reset silently: one error naming it and how to move it aside, exit 1."""
    write_capture(tmp_path / "capture.jsonl", 10)
    (tmp_path / "flow.yaml").write_text(REPLAY_TO_FILE.replace("version: 1\n", "version: 1\nstate: state.db\n"))
    garbage = b"this is not a database, it was damaged" * 200
    (tmp_path / "state.db").write_bytes(garbage)
    result = subprocess.run([*FLOWENGINE, "run", "flow.yaml"], cwd=tmp_path, capture_output=True, timeout=60,
                            check=False)
    assert result.returncode == 1
    error = result.stderr.decode()
    assert "Traceback" not in error
    assert f"state file {tmp_path / 'state.db'} cannot be used (file is not a database)" in error
    assert "state.db.corrupt" in error
    assert (tmp_path / "state.db").read_bytes() == garbage  # left as it was
    assert not (tmp_path / "out.jsonl").exists()


def test_a_line_a_killed_run_left_half_written_is_cut_before_appending(tmp_path: Path) -> None:
    """A SIGKILL can stop a large write midway: the next run cuts the fragment, so every line is whole."""
    write_capture(tmp_path / "capture.jsonl", 10)
    (tmp_path / "flow.yaml").write_text(REPLAY_TO_FILE.replace("resume: true", "resume: false"))
    (tmp_path / "out.jsonl").write_bytes(b'{"topic":"whole","payload":{"seq":-1}}\n{"topic":"torn","payl')
    result = subprocess.run([*FLOWENGINE, "run", "flow.yaml"], cwd=tmp_path, capture_output=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr.decode()
    assert "cut 21 bytes of a line an earlier run did not finish" in result.stderr.decode()
    assert file_seqs(tmp_path / "out.jsonl") == [-1, *range(10)]
