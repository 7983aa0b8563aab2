"""A secret (from !secret or a secret environment variable) never appears in validate, graph, run or test output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from flowengine.cli import main

TOKEN = "hunter2"  # part of every secret below: it must never be printed
SECRETS = {
    "model": f"lumi.{TOKEN}.lock",
    "duration": f"5 {TOKEN}s",
    "topic": f"alerts/#/{TOKEN}",
    "version": f"v-{TOKEN}",
    "url": f"mqtt://flow:{TOKEN}/pa@ss:wd@broker.invalid:99999",
    "name": f"door {TOKEN}",
    "path": f"out/{TOKEN}.jsonl",
}
FIELDS = {
    "model": "  - id: dec\n    type: decode\n    model: !secret model\n",
    "duration": "  - id: dec\n    type: delay\n    for: !secret duration\n",
    "topic": "  - id: dec\n    type: mqtt-in\n    broker: mqtt://127.0.0.1:1883\n    topics: [!secret topic]\n",
    "url": "  - id: dec\n    type: mqtt-out\n    broker: !secret url\n",
}


def flow(node: str, *, version: str = "1") -> str:
    return (f"version: {version}\nstate: memory\nnodes:\n  - id: src\n    type: zigbee-replay\n"
            f"    path: capture.jsonl\n    wires: [dec]\n{node}")


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "secrets.yaml").write_text("".join(f"{key}: {json.dumps(value)}\n" for key, value in SECRETS.items()))
    capture = tmp_path / "capture.jsonl"
    if not capture.exists():  # the replay's capture: a missing one would be an error of its own
        capture.write_text("")
    path = tmp_path / "flow.yaml"
    path.write_text(text)
    return path


def assert_hidden(output: str) -> None:
    assert TOKEN not in output, output
    assert "pa@ss" not in output, output
    assert "ss:wd" not in output, output


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flowengine.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False, env={**os.environ, **(env or {})})


@pytest.mark.parametrize("field", [*FIELDS, "version"])
def test_a_secret_in_a_bad_field_is_redacted_by_validate_and_graph(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str
) -> None:
    log = "  - id: dec\n    type: log\n"
    text = flow(log, version="!secret version") if field == "version" else flow(FIELDS[field])
    path = write(tmp_path, text)
    assert main(["validate", str(path)]) == 1
    assert main(["graph", str(path)]) == 1
    output = capsys.readouterr()
    assert "***" in output.out
    assert_hidden(output.out + output.err)


def test_a_secret_environment_variable_is_redacted_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BROKER_PASSWORD", f"{TOKEN}/pa@ss:wd")
    path = write(tmp_path, flow("  - id: dec\n    type: mqtt-out\n"
                                "    broker: mqtt://flow:${BROKER_PASSWORD}@broker.invalid:99999\n"))
    assert main(["validate", str(path)]) == 1
    output = capsys.readouterr()
    assert_hidden(output.out + output.err)


def test_graph_output_of_a_valid_flow_hides_a_secret_label(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, flow("  - id: dec\n    type: log\n    name: !secret name\n"))
    for fmt in ("mermaid", "dot"):
        assert main(["graph", str(path), "--format", fmt]) == 0
    assert_hidden(capsys.readouterr().out)


@pytest.mark.parametrize("secrets_text", [
    f"model: [unclosed {TOKEN}\n",
    f"a: b\n  bad indent {TOKEN}: x\n",
    f"model: !!python/object {TOKEN}\n",
    f"model: {TOKEN}\xff\n",
])
def test_a_malformed_secrets_file_is_reported_by_line_and_column_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], secrets_text: str
) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(flow(FIELDS["model"]))
    (tmp_path / "secrets.yaml").write_bytes(secrets_text.encode("latin-1"))
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert_hidden(out)
    assert "secrets.yaml:" in out
    assert "cannot be read" in out


def test_run_hides_a_secret_in_its_errors_and_in_the_log_of_a_running_flow(tmp_path: Path) -> None:
    path = write(tmp_path, flow(FIELDS["duration"]))
    failed = cli("run", str(path), cwd=tmp_path)
    assert failed.returncode == 1
    assert "***" in failed.stdout
    assert_hidden(failed.stdout + failed.stderr)
    record = {"ts": 1.0, "ieee": "00:15:8d:00:01:02:03:04", "endpoint": 1, "profile": 260, "cluster": 6,
              "frame": "18010a0000100100"}
    (tmp_path / "capture.jsonl").write_text(json.dumps(record) + "\n")
    path = write(tmp_path, flow("  - id: dec\n    type: change\n    set: {topic: !secret path}\n    wires: [out]\n"
                                "  - id: out\n    type: log\n"))
    ran = cli("run", str(path), cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert "***" in ran.stderr
    assert_hidden(ran.stdout + ran.stderr)


def test_flowengine_test_hides_a_secret_in_its_report(tmp_path: Path) -> None:
    write(tmp_path, flow("  - id: dec\n    type: change\n    set: {topic: !secret path}\n"))
    (tmp_path / "flow.test.yaml").write_text(
        "flow: flow.yaml\ntests:\n  - name: secret topic\n    at: dec\n"
        "    input:\n      - {ts: 1, payload: {a: 1}}\n    expect:\n      dec:\n        - topic: something/else\n")
    result = cli("test", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 1
    assert "***" in result.stdout
    assert_hidden(result.stdout + result.stderr)
