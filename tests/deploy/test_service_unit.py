"""deploy/flowengine.service: systemd accepts it, it is hardened, and its command line runs (issue 18, acceptance 1).

``systemd-analyze verify`` checks that the executable of ``ExecStart`` exists, so the unit is
verified with its install prefix ``/opt/flowengine`` pointed at this virtualenv (the same
layout: ``bin/flowengine``); nothing else of the unit is changed.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.engine.test_runtime import make_capture, replay_flow

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy" / "flowengine.service"
PREFIX = "/opt/flowengine"
ANALYZE = shutil.which("systemd-analyze")
needs_systemd = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed (tests/bootstrap.sh "
                                                          "installs Debian's systemd package)")


def directives() -> list[tuple[str, str, str]]:
    """(section, key, value) of every directive, in order (a key may repeat, as systemd allows)."""
    found: list[tuple[str, str, str]] = []
    section = ""
    for raw in UNIT.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        found.append((section, key.strip(), value.strip()))
    return found


def values(key: str, section: str = "Service") -> list[str]:
    return [value for where, name, value in directives() if where == section and name == key]


def installed_copy(folder: Path) -> Path:
    """The unit with its install prefix pointed at this virtualenv, as it would be installed."""
    copy = folder / "flowengine.service"
    copy.write_text(UNIT.read_text().replace(PREFIX, sys.prefix))
    return copy


@needs_systemd
def test_systemd_analyze_verify_passes(tmp_path: Path) -> None:
    assert ANALYZE is not None
    assert (Path(sys.prefix) / "bin" / "flowengine").exists()
    result = subprocess.run([ANALYZE, "verify", str(installed_copy(tmp_path))], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr.strip() == "", result.stderr


@needs_systemd
def test_systemd_analyze_verify_can_fail(tmp_path: Path) -> None:
    # The check is real: a typo in a directive or a missing executable is refused.
    assert ANALYZE is not None
    broken = installed_copy(tmp_path)
    broken.write_text(broken.read_text().replace("bin/flowengine run", "bin/flowengin run"))
    result = subprocess.run([ANALYZE, "verify", str(broken)], capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode != 0
    assert "flowengin " in result.stderr or "not executable" in result.stderr


@needs_systemd
def test_the_exposure_systemd_scores_is_low(tmp_path: Path) -> None:
    assert ANALYZE is not None
    result = subprocess.run([ANALYZE, "security", "--offline=yes", str(installed_copy(tmp_path))],
                            capture_output=True, text=True, timeout=120, check=False)
    match = re.search(r"Overall exposure level for flowengine\.service: (\d+\.\d+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match[1]) <= 2.0, result.stdout  # systemd rates <= 2.0 "OK"; 1.7 when written


def test_a_supervised_notify_service_of_its_own_user() -> None:
    assert values("Type") == ["notify"]
    assert values("NotifyAccess") == ["main"]
    [watchdog] = values("WatchdogSec")
    assert re.fullmatch(r"\d+s", watchdog)
    assert values("Restart") == ["on-failure"]
    assert values("User") == ["flowengine"]
    assert values("SupplementaryGroups") == ["dialout"]
    assert values("WantedBy", "Install") == ["multi-user.target"]


def test_hardened_with_state_the_only_writable_place() -> None:
    for key, expected in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
                          "PrivateTmp": "yes", "DevicePolicy": "closed", "StateDirectory": "flowengine",
                          "ReadWritePaths": "/var/lib/flowengine", "WorkingDirectory": "/var/lib/flowengine",
                          "CapabilityBoundingSet": ""}.items():
        assert values(key) == [expected], key
    # Devices: serial ports only.
    allowed = values("DeviceAllow")
    assert allowed
    assert all(re.fullmatch(r"char-tty(ACM|USB|AMA|S) rw", entry) for entry in allowed), allowed


def test_the_command_line_of_the_unit_runs_a_flow(tmp_path: Path) -> None:
    # ExecStart as systemd would run it: $FLOWENGINE_FLOWS split into words, from the working directory.
    [command] = values("ExecStart")
    flows = [tmp_path / "a.yaml", tmp_path / "b.yaml"]
    make_capture(tmp_path / "capture.jsonl", 10)
    for flow in flows:
        flow.write_text(replay_flow(f"    wires: [save]\n  - id: save\n    type: file\n    path: {flow.stem}.jsonl\n"))
    argv = [word.replace(PREFIX, sys.prefix) for word in shlex.split(command)]
    assert argv[-1] == "$FLOWENGINE_FLOWS"
    argv = [*argv[:-1], *map(str, flows)]
    result = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    for flow in flows:
        assert len((tmp_path / f"{flow.stem}.jsonl").read_text().splitlines()) == 10
