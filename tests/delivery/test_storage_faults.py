"""Storage faults under a real runner: a full disk (a file-size limit) and a read-only folder.

Nothing is lost, one clear error line says what is wrong, the sources wait, and delivery
resumes by itself, without a restart, once the condition is gone (docs/delivery.md).
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.delivery.harness import (
    FLOWENGINE,
    POLL,
    REPLAY_TO_FILE,
    file_lines,
    file_seqs,
    subscriber_seqs,
    write_capture,
)
from tests.mosquitto import Mosquitto, Subscriber

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


def start(folder: Path, prefix: list[str] | None = None, **options: object) -> subprocess.Popen[bytes]:
    """Start ``flowengine run flow.yaml`` in ``folder`` (under ``prefix``, a command such as setpriv)."""
    with (folder / "run.log").open("wb") as log:
        process: subprocess.Popen[bytes] = subprocess.Popen(  # type: ignore[call-overload]
            [*(prefix or []), *FLOWENGINE, "run", "flow.yaml"], cwd=folder, stdout=subprocess.DEVNULL,
            stderr=log, **options)
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


#: Runs a command without the capabilities that let root write into a read-only folder (util-linux's
#: ``setpriv``): the suite runs as root here and in CI, and a root runner would not see the fault.
WITHOUT_DAC_OVERRIDE = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]


@pytest.fixture
def unprivileged(tmp_path: Path) -> list[str]:
    """The command prefix under which a read-only folder refuses the runner (empty when not root).

    Skips only where neither holds: running as root and unable to drop the capabilities.
    """
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without util-linux's setpriv: root writes into read-only folders")
    probe = tmp_path / "probe"
    probe.mkdir()
    probe.chmod(0o555)
    try:
        refused = subprocess.run([*WITHOUT_DAC_OVERRIDE, "touch", str(probe / "x")], capture_output=True,
                                 check=False, timeout=10).returncode != 0
    finally:
        probe.chmod(0o755)
    if not refused:
        pytest.skip("root cannot give up CAP_DAC_OVERRIDE here: root writes into read-only folders")
    return WITHOUT_DAC_OVERRIDE


#: replay (resume) → a file and mqtt-out (QoS 1), the state file, the outbox and the file each in a folder
#: of its own, so each can be made read-only alone.
THREE_FOLDERS = (REPLAY_TO_FILE.replace("version: 1\n", "version: 1\nstate: st/state.db\n")
                 .replace("wires: [save]", "wires: [save, publish]")
                 .replace("path: out.jsonl\n", """path: out/out.jsonl
  - id: publish
    type: mqtt-out
    broker: {broker}
    client_id: storage-faults
    topic: "out/{{{{ payload.lane }}}}"
    qos: 1
    outbox: ob/publish.db
"""))

#: The error line each read-only folder causes: one per condition.
READ_ONLY_ERRORS = {
    "st": "flow 'flow' waits: state file {tmp}/st/state.db cannot be opened: unable to open database file "
          "(is its folder writable? is there space left?); trying again every 1 s",
    "ob": "sink 'publish' cannot write: OperationalError: outbox {tmp}/ob/publish.db: unable to open database "
          "file; keeping",
    "out": "sink 'save' cannot write: PermissionError: [Errno 13] Permission denied: '{tmp}/out/out.jsonl'",
}


def run_three_folders(tmp_path: Path, broker: Mosquitto, prefix: list[str],
                      read_only: Path | None = None) -> subprocess.Popen[bytes]:
    """Start the runner of :data:`THREE_FOLDERS` in ``tmp_path``, its folders made first (``read_only``: 0555)."""
    write_capture(tmp_path / "capture.jsonl", TOTAL)
    (tmp_path / "flow.yaml").write_text(THREE_FOLDERS.format(broker=broker.url))
    for name in READ_ONLY_ERRORS:
        (tmp_path / name).mkdir()
    if read_only is not None:
        read_only.chmod(0o555)
    return start(tmp_path, prefix=prefix)


def check_three_outputs(tmp_path: Path, subscriber: Subscriber) -> None:
    """Every record once in the file, every record at the subscriber (the outbox's duplicates allowed)."""
    (tmp_path / "out.jsonl").write_bytes((tmp_path / "out" / "out.jsonl").read_bytes())
    check_everything_once(tmp_path)
    assert subscriber.wait_for_distinct("seq", TOTAL, 30)
    assert set(subscriber_seqs(subscriber)) == set(range(TOTAL))


@pytest.mark.parametrize("folder", list(READ_ONLY_ERRORS))
def test_a_read_only_folder_keeps_everything_and_resumes_by_itself(
    folder: str, unprivileged: list[str], mosquitto: Mosquitto, mqtt_subscriber: Callable[..., Subscriber],
    tmp_path: Path,
) -> None:
    """The state file's, the outbox's or the file's folder read-only at start: one error line, the
    sources wait (nothing acknowledged: the replay's position is not committed), and once the
    folder is writable again the run goes on by itself and delivers everything."""
    subscriber = mqtt_subscriber(mosquitto, "out/#", client_id="storage-faults-check")
    read_only = tmp_path / folder
    process = run_three_folders(tmp_path, mosquitto, unprivileged, read_only)
    try:
        expected = READ_ONLY_ERRORS[folder].format(tmp=tmp_path.resolve())
        line = wait_for_line(tmp_path / "run.log", expected, process)
        assert "ERROR" in line
        if folder != "out":  # the file sink, not held up by this folder, may have everything already
            assert file_lines(tmp_path / "out" / "out.jsonl") < TOTAL
        assert len(subscriber.snapshot()) < TOTAL
        read_only.chmod(0o755)
        assert process.wait(120) == 0, (tmp_path / "run.log").read_text()
    finally:
        read_only.chmod(0o755)
        if process.poll() is None:
            process.kill()
    log = (tmp_path / "run.log").read_text()
    assert log.count("cannot") == 1, log  # one line for the condition, not one per retry
    assert "again" in log.split(expected, 1)[1], log  # and one when it has passed
    assert "Traceback" not in log
    check_three_outputs(tmp_path, subscriber)


def test_folders_made_read_only_while_running_lose_nothing(
    unprivileged: list[str], mosquitto: Mosquitto, mqtt_subscriber: Callable[..., Subscriber], tmp_path: Path,
) -> None:
    """All three folders read-only mid-run: the files are open (SQLite's journal too), so writing goes on,
    nothing is lost and nothing is logged as failing; the folders are made writable again at the end."""
    subscriber = mqtt_subscriber(mosquitto, "out/#", client_id="storage-faults-check")
    folders = [tmp_path / name for name in READ_ONLY_ERRORS]
    process = run_three_folders(tmp_path, mosquitto, unprivileged)
    try:
        out = tmp_path / "out" / "out.jsonl"
        deadline = time.monotonic() + 60
        while file_lines(out) < TOTAL // 4 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(POLL)
        for folder in folders:
            folder.chmod(0o555)
        assert process.wait(120) == 0, (tmp_path / "run.log").read_text()
    finally:
        for folder in folders:
            folder.chmod(0o755)
        if process.poll() is None:
            process.kill()
    log = (tmp_path / "run.log").read_text()
    assert "ERROR" not in log, log
    assert "Traceback" not in log, log
    check_three_outputs(tmp_path, subscriber)


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
