"""Release hygiene of the command line, driven as a user would (issue 18, acceptance 2).

The version and its one source, logging options on either side of the command, ISO 8601
timestamps, JSON logs with secrets redacted, a reader that closes the pipe, shell completion,
and the licence inside the wheel.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.engine.test_runtime import make_capture, replay_flow

ROOT = Path(__file__).resolve().parents[2]
FLOWENGINE = [sys.executable, "-m", "flowengine.cli"]
ISO_LINE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{2}:\d{2} (DEBUG|INFO|WARNING|ERROR) ")
SECRET = "hunter2-very-secret"


def flowengine(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FLOWENGINE, *args], capture_output=True, text=True, timeout=60, cwd=cwd, check=False)


@pytest.fixture
def logging_flow(tmp_path: Path) -> Path:
    """A finite flow whose log sink writes a secret at debug level (3 records)."""
    make_capture(tmp_path / "capture.jsonl", 3)
    (tmp_path / "secrets.yaml").write_text(f"token: {SECRET}\n")
    flow = tmp_path / "logs.yaml"
    flow.write_text(replay_flow("""\
    wires: [stamp]
  - id: stamp
    type: change
    set: {payload: !secret token}
    wires: [show]
  - id: show
    type: log
    level: debug
"""))
    return flow


def test_version_has_one_source_the_project_metadata() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert version("flowengine") == declared
    for option in ("--version", "-V"):
        result = flowengine(option)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"flowengine {declared}"


def test_an_unknown_command_lists_every_command_including_contributed_ones() -> None:
    result = flowengine("version")
    assert result.returncode == 2
    message = result.stderr.strip().splitlines()[-1]
    for command in ("run", "validate", "graph", "nodes", "schema", "completion", "decode", "devices",
                    "emulate", "test"):
        assert f"'{command}'" in message


@pytest.mark.parametrize("place", ["before", "after"])
def test_log_level_is_accepted_before_or_after_the_command(logging_flow: Path, place: str) -> None:
    options = ["--log-level", "debug"]
    args = [*options, "run", str(logging_flow)] if place == "before" else ["run", str(logging_flow), *options]
    result = flowengine(*args)
    assert result.returncode == 0, result.stderr
    shown = [line for line in result.stderr.splitlines() if "flowengine.log.show" in line]
    assert len(shown) == 3, result.stderr
    quiet = flowengine("run", str(logging_flow))
    assert "flowengine.log.show" not in quiet.stderr


def test_every_subcommand_help_shows_the_logging_options() -> None:
    for command in ("run", "validate", "graph", "nodes", "schema"):
        result = flowengine(command, "--help")
        assert "--log-level" in result.stdout, command
        assert "--log-format" in result.stdout, command


def test_text_lines_carry_an_iso_8601_date_time_and_zone_and_no_secret(logging_flow: Path) -> None:
    result = flowengine("run", str(logging_flow), "--log-level=debug")
    lines = result.stderr.splitlines()
    assert lines
    for line in lines:
        assert ISO_LINE.match(line), line
    assert SECRET not in result.stderr
    assert "***" in result.stderr


def test_json_format_is_one_object_per_line_with_secrets_redacted(logging_flow: Path) -> None:
    result = flowengine("--log-format", "json", "run", str(logging_flow), "--log-level", "debug")
    assert result.returncode == 0, result.stderr
    entries = [json.loads(line) for line in result.stderr.splitlines()]
    assert entries
    for entry in entries:
        assert set(entry) >= {"ts", "level", "logger", "message"}
        assert re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{2}:\d{2}$", entry["ts"])
    shown = [entry for entry in entries if entry["logger"] == "flowengine.log.show"]
    assert len(shown) == 3
    assert all(entry["level"] == "debug" and "***" in entry["message"] for entry in shown)
    assert SECRET not in result.stderr


def test_logging_options_reach_a_contributed_command() -> None:
    result = flowengine("test", "--log-level", "debug", str(ROOT / "examples"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert " DEBUG " in result.stderr
    assert "passed" in result.stdout


@pytest.mark.parametrize("command", [["nodes"], ["graph", "flows/demo.yaml"], ["test", "examples"],
                                     ["nodes", "--json"], ["schema"]])
def test_a_closed_pipe_ends_quietly_with_status_0(command: list[str]) -> None:
    # The reader is gone before the first byte: every write fails, as after `| head -1` on a long output.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run([*FLOWENGINE, *command], stdout=write_end, stderr=subprocess.PIPE,
                                text=True, timeout=60, cwd=ROOT, check=False)
    finally:
        os.close(write_end)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


@pytest.mark.parametrize("command", ["nodes", "graph flows/demo.yaml", "test examples"])
def test_head_minus_1_in_a_shell_pipeline(command: str) -> None:
    script = f"set -o pipefail; {sys.executable} -m flowengine.cli {command} | head -1"
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "BrokenPipe" not in result.stderr
    assert len(result.stdout.splitlines()) == 1


def test_bash_completion_completes_commands_and_flow_files(tmp_path: Path) -> None:
    script = flowengine("completion", "bash")
    assert script.returncode == 0
    (tmp_path / "completion.bash").write_text(script.stdout)
    (tmp_path / "front.yaml").write_text("version: 1\n")

    def complete(*words: str) -> list[str]:
        quoted = " ".join(f"'{word}'" for word in words)
        probe = (f"source completion.bash; COMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}; "
                 f"COMP_LINE=\"${{COMP_WORDS[*]}}\"; COMP_POINT=${{#COMP_LINE}}; "
                 "_shtab_flowengine; printf '%s\\n' \"${COMPREPLY[@]}\"")
        result = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, cwd=tmp_path,
                                timeout=30, check=False)
        assert result.returncode == 0, result.stderr
        return [word.strip() for word in result.stdout.splitlines() if word.strip()]

    assert set(complete("flowengine", "")) >= {"completion", "decode", "devices", "emulate", "graph", "nodes",
                                               "run", "schema", "test", "validate"}
    assert complete("flowengine", "va") == ["validate"]
    assert "--log-level" in complete("flowengine", "run", "--log")
    assert "front.yaml" in complete("flowengine", "run", "fr")


def test_zsh_completion_is_generated() -> None:
    result = flowengine("completion", "zsh")
    assert result.returncode == 0
    assert result.stdout.startswith("#compdef flowengine")
    assert "validate" in result.stdout
    assert "--log-format" in result.stdout
    zsh = shutil.which("zsh")
    if zsh is not None:
        checked = subprocess.run([zsh, "-n"], input=result.stdout, text=True, capture_output=True, check=False)
        assert checked.returncode == 0, checked.stderr


def test_the_repository_and_the_wheel_carry_the_licence_pyproject_names(tmp_path: Path) -> None:
    licence = (ROOT / "LICENSE").read_text()
    assert "Apache License" in licence
    assert "Version 2.0, January 2004" in licence
    assert "END OF TERMS AND CONDITIONS" in licence  # the full text, not a pointer to it
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"] == "Apache-2.0"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
                           capture_output=True, text=True, timeout=300, check=False)
    assert built.returncode == 0, built.stderr
    [wheel] = tmp_path.glob("flowengine-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        [packed] = [name for name in names if name.endswith(".dist-info/licenses/LICENSE")]
        assert archive.read(packed).decode() == licence
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: Apache-2.0" in metadata


def test_changelog_names_the_current_version() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"## [{version('flowengine')}]" in changelog


def test_a_wrong_log_level_is_refused_by_name() -> None:
    result = flowengine("validate", "flows/demo.yaml", "--log-level", "verbose", cwd=ROOT)
    assert result.returncode == 2
    assert "argument --log-level: invalid choice: 'verbose'" in result.stderr
