"""``flowengine decode`` and ``flowengine devices``."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from flowengine_nodes.devices.cli import devices_main, main
from tests.nodes.decode.conftest import VECTORS, load_cases


def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str], stdin: str
        ) -> tuple[int, list[dict[str, Any]], str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    status = main(argv)
    captured = capsys.readouterr()
    return status, [json.loads(line) for line in captured.out.splitlines()], captured.err


@pytest.mark.parametrize(
    ("stem", "argv"),
    [("znms_legacy_true", []), ("znms_legacy_false", ["--no-legacy"]), ("znms_z2m2", ["--compat", "2"])],
)
def test_decode_matches_the_vectors(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                    stem: str, argv: list[str]) -> None:
    cases = load_cases(stem)
    stdin = "".join(json.dumps(c["input"]) + "\n" for c in cases)
    status, out, err = run(monkeypatch, capsys, [*argv, "--no-cache-state"], stdin)
    assert status == 0
    assert [m["payload"] for m in out] == [c["expected"] for c in cases if c["expected"] not in (None, {"error": True})]
    assert out[0]["topic"] == "zigbee2mqtt/0x00158d08294b422c"
    assert out[0]["meta"] == {"ts": 1732435480.507, "ieee": "00:15:8d:08:29:4b:42:2c", "source": "decode",
                              "model": "ZNMS11LM", "friendly_name": "0x00158d08294b422c"}
    assert err.count("ZCL frame rejected") == 2


def test_bad_lines_are_reported_with_their_number(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    good = (VECTORS / "znms_z2m2.jsonl").read_text().splitlines()[0]
    record = json.dumps(json.loads(good)["input"])
    wrapped = json.dumps({"topic": "zigbee/x", "payload": json.loads(good)["input"], "meta": {}})
    status, out, err = run(monkeypatch, capsys, [], f"{record}\nnot json\n[1, 2]\n\n{wrapped}\n")
    assert status == 0
    assert len(out) == 2
    assert err.splitlines()[0].startswith("line 2: not JSON")
    assert err.splitlines()[1] == "line 3: not a JSON object"


def test_events_flag_writes_typed_events(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    stdin = "".join(json.dumps(c["input"]) + "\n" for c in load_cases("znms_legacy_true"))
    status, out, _ = run(monkeypatch, capsys, ["--events", "--model", "ZNMS11LM"], stdin)
    assert status == 0
    assert out[0]["topic"].endswith("/event")
    assert out[0]["payload"]["event"] == "password_open"
    assert {m["payload"]["event"] for m in out} <= {
        "finger_open", "password_open", "door_closed", "finger_not_match", "password_not_match", "ring_bell",
        "finger_add", "password_delete", "finger_delete", "lock_opened_inside", "locked", "reverse_lock",
        "reverse_lock_cancel", "change_language_to", "password_add",
    }


def test_compat_2_with_legacy_warns(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(monkeypatch, capsys, ["--compat", "2", "--legacy"], "")
    assert status == 0
    assert "ignored with --compat 2" in err


def test_devices_text_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert devices_main([]) == 0
    text = capsys.readouterr().out
    assert "ZNMS11LM  Xiaomi  Xiaomi Aqara smart lock" in text
    assert "legacy (binary, default true)" in text
    assert "linkquality (numeric; range: 0..255; unit: lqi; published)" in text
    assert devices_main(["--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert [d["model"] for d in listing] == [
        "LED1545G12", "MCCGQ11LM", "RTCGQ11LM", "SJCGQ11LM", "WSDCGQ11LM", "WXKG11LM", "ZNCZ02LM",
        "ZNMS11LM", "ZNMS12LM", "ZNMS13LM",
    ]
    lock = next(d for d in listing if d["model"] == "ZNMS11LM")
    action = next(e for e in lock["exposes"] if e["name"] == "action")
    assert len(action["values"]) == 17
    motion = next(d for d in listing if d["model"] == "RTCGQ11LM")
    assert {"name": "occupancy_timeout", "type": "numeric", "default": 90} .items() <= next(
        o for o in motion["options"] if o["name"] == "occupancy_timeout").items()
    light = next(d for d in listing if d["model"] == "LED1545G12")
    assert {e["name"] for e in light["exposes"] if e.get("group") == "light"} >= {"state", "brightness", "color_temp"}
