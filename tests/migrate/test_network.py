"""The network stays as it is: a stick holding another network (or none) stops the run in one line with
nothing written to it; ``--restore-network`` writes coordinator_backup.json to a new stick through zigpy
and refuses a stick holding another network unless ``--force``.

The stick is the project's deCONZ emulator; its whole non-volatile state is compared before and after.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from flowengine_nodes.emulator.server import Emulator
from flowengine_nodes.emulator.stick import StickState
from flowengine_nodes.migrate.cli import import_main
from tests.migrate.household import CHANNEL, EXT_PAN_ID, NETWORK_KEY, PAN_ID, formed_stick, write_data_folder


async def run_flow(tmp_path: Path, stick: StickState) -> tuple[int, str, dict[str, object], dict[str, object]]:
    """Import the household for ``stick`` and run it; return (status, log, stick before, stick after)."""
    emulator = Emulator(stick=stick)
    await emulator.start()
    try:
        data = write_data_folder(tmp_path / "z2m", serial_port=f"tcp://127.0.0.1:{emulator.port}")
        assert await asyncio.to_thread(import_main, ["zigbee2mqtt", str(data), "--to", str(tmp_path / "flow")]) == 0
        before = stick.to_json_obj()
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "flowengine.cli", "run", str(tmp_path / "flow" / "flow.yaml"),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        async with asyncio.timeout(60):
            output, _ = await process.communicate()
        return process.returncode or 0, output.decode(), before, stick.to_json_obj()
    finally:
        await emulator.aclose()


def test_a_stick_with_another_network_stops_the_run_in_one_line_and_is_not_written(tmp_path: Path) -> None:
    stick = StickState()
    stick.form(channel=CHANNEL, pan_id=0x2222, extended_pan_id="dd:dd:dd:dd:01:02:03:04",
               network_key=":".join(f"{b:02x}" for b in NETWORK_KEY))
    status, log, before, after = asyncio.run(run_flow(tmp_path, stick))
    assert status == 1
    errors = [line for line in log.splitlines() if "ERROR" in line]
    assert len(errors) == 1, log
    assert "holds another network than the flow's: PAN id 0x2222 (expected 0x1a62); nothing was written" in errors[0]
    assert "Traceback" not in log
    assert after == before


def test_a_stick_without_a_network_stops_the_run_and_is_not_formed(tmp_path: Path) -> None:
    stick = StickState()
    status, log, before, after = asyncio.run(run_flow(tmp_path, stick))
    assert status == 1
    assert "holds no network and network.form is false: nothing was written" in log
    assert after == before
    assert not StickState().formed


async def restore(tmp_path: Path, stick: StickState, *extra: str) -> tuple[int, StickState]:
    emulator = Emulator(stick=stick)
    await emulator.start()
    try:
        data = write_data_folder(tmp_path / "z2m", serial_port=f"tcp://127.0.0.1:{emulator.port}")
        status = await asyncio.to_thread(
            import_main, ["zigbee2mqtt", str(data), "--to", str(tmp_path / "flow"), "--restore-network", *extra])
        return status, emulator.stick
    finally:
        await emulator.aclose()


def test_restore_network_writes_the_backup_to_a_new_stick(tmp_path: Path) -> None:
    status, stick = asyncio.run(restore(tmp_path, StickState()))
    assert status == 0
    assert stick.formed
    assert (stick.current_channel, stick.pan_id) == (CHANNEL, PAN_ID)
    assert stick.aps_extended_panid[::-1] == bytes(EXT_PAN_ID) or stick.nwk_extended_panid[::-1] == bytes(EXT_PAN_ID)
    assert stick.network_key == bytes(NETWORK_KEY)
    # The stick now holds the expected network: the imported flow would take it.
    assert (tmp_path / "flow" / "flow.yaml").exists()


def test_restore_network_refuses_a_stick_with_another_network_unless_forced(tmp_path: Path, capsys: object) -> None:
    other = StickState()
    other.form(channel=11, pan_id=0x3333)
    before = other.to_json_obj()
    status, stick = asyncio.run(restore(tmp_path, other))
    assert status == 1
    assert stick.to_json_obj() == before
    assert not (tmp_path / "flow").exists()
    status, stick = asyncio.run(restore(tmp_path, other, "--force"))
    assert status == 0
    assert (stick.current_channel, stick.pan_id) == (CHANNEL, PAN_ID)


def test_restore_network_leaves_a_stick_that_already_holds_the_network(tmp_path: Path) -> None:
    stick = formed_stick()
    before = stick.to_json_obj()
    status, after = asyncio.run(restore(tmp_path, stick))
    assert status == 0
    assert after.to_json_obj() == before
