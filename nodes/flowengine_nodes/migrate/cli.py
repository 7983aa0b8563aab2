"""``flowengine import zigbee2mqtt`` and ``flowengine export zigbee2mqtt`` (docs/migrate.md).

Exit status: 0 done; 1 bad input or a refused move (one line on stderr naming the file and
line); 2 a usage error.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from flowengine_nodes.migrate.folder import MigrateError


def _import_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flowengine import",
        description="Import a household from another program, keeping the network and every device.")
    sub = parser.add_subparsers(dest="source", required=True, metavar="SOURCE")
    z2m = sub.add_parser(
        "zigbee2mqtt", help="a Zigbee2MQTT data folder -> a flow (docs/migrate.md)",
        description="Write DIR/flow.yaml (runnable), DIR/secrets.yaml (0600), zigpy's device database and the "
        "decoder's cached states from a Zigbee2MQTT data folder, and print what is carried over and what is "
        "not. The data folder is only read; DIR is written atomically.")
    z2m.add_argument("data_dir", type=Path, metavar="DATA_DIR", help="Zigbee2MQTT's data folder (stop it first)")
    z2m.add_argument("--to", type=Path, required=True, metavar="DIR", help="folder to create for the flow")
    z2m.add_argument("--check", action="store_true", help="print the summary only; write nothing")
    z2m.add_argument("--force", action="store_true",
                     help="replace an existing DIR; with --restore-network, overwrite a stick holding another network")
    z2m.add_argument("--restore-network", action="store_true",
                     help="write coordinator_backup.json's network to the stick (a new stick) through zigpy")
    z2m.add_argument("--device", metavar="PATH",
                     help="with --restore-network: the stick (default: serial.port of configuration.yaml)")
    return parser


def _export_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flowengine export", description="Export a flow's household to another program, keeping every device.")
    sub = parser.add_subparsers(dest="target", required=True, metavar="TARGET")
    z2m = sub.add_parser(
        "zigbee2mqtt", help="a flow -> a Zigbee2MQTT 2.x data folder (docs/migrate.md)",
        description="Write a Zigbee2MQTT 2.x data folder (configuration.yaml, secret.yaml, database.db with every "
        "device interviewed, state.json, coordinator_backup.json) from a flow and zigpy's database.")
    z2m.add_argument("flow", type=Path, metavar="FLOW", help="the flow file (its zigbee, decode and mqtt-out nodes)")
    z2m.add_argument("--to", type=Path, required=True, metavar="DATA_DIR", help="the data folder to write")
    z2m.add_argument("--force", action="store_true", help="replace a DATA_DIR that is not empty")
    return parser


def import_main(argv: Sequence[str]) -> int:
    """Run ``flowengine import zigbee2mqtt …``; return the exit status."""
    args = _import_parser().parse_args(list(argv))
    from flowengine_nodes.migrate import importer

    began = time.perf_counter()
    try:
        importer.refuse_inside(args.to, args.data_dir)
        result = importer.plan(args.data_dir)
        sys.stdout.write(result.summary() + "\n")
        if args.check:
            sys.stdout.write("--check: nothing written\n")
            return 0
        if args.restore_network:
            importer.refuse_existing(args.to, force=args.force)
            _restore(result, args)
        importer.write(result, args.to, force=args.force)
    except MigrateError as exc:
        sys.stderr.write(f"flowengine import: {exc}\n")
        return 1
    sys.stdout.write(f"written: {args.to}/flow.yaml, secrets.yaml (0600), zigbee.db, state.db, "
                     f"zigbee2mqtt-devices.jsonl (kept for the way back) in "
                     f"{time.perf_counter() - began:.2f} s\nrun it: flowengine run {args.to}/flow.yaml\n")
    return 0


def _restore(result: object, args: argparse.Namespace) -> None:
    from flowengine_nodes.migrate import importer, zigpydb
    from flowengine_nodes.zigbee import stack

    assert isinstance(result, importer.Plan)
    if not result.backups:
        raise MigrateError(args.data_dir / "coordinator_backup.json", "does not exist: --restore-network needs it")
    device = args.device or result.flow["nodes"][0]["device"]
    config = stack.build_config(device_path=device, database=None, network=stack.NetworkSettings(), ota_dir=None)
    try:
        said = zigpydb.run(stack.restore_network(config, result.backups[0], force=args.force))
    except ValueError as exc:
        raise MigrateError(device, str(exc)) from None
    except (OSError, TimeoutError) as exc:
        raise MigrateError(device, f"cannot open the stick: {exc or type(exc).__name__}") from None
    sys.stdout.write(f"{device}: {said}\n")


def export_main(argv: Sequence[str]) -> int:
    """Run ``flowengine export zigbee2mqtt …``; return the exit status."""
    args = _export_parser().parse_args(list(argv))
    from flowengine_nodes.migrate import exporter

    try:
        export = exporter.plan(args.flow)
        exporter.write(export, args.to, force=args.force)
    except MigrateError as exc:
        sys.stderr.write(f"flowengine export: {exc}\n")
        return 1
    sys.stdout.write(f"written: {args.to} (Zigbee2MQTT 2.x data folder, {export.devices} devices, "
                     f"{len(export.state)} cached states; secret.yaml mode 0600)\n")
    return 0
