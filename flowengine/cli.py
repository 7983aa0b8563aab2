"""The ``flowengine`` command line (CONTRACT §7).

Built-in commands: ``run``, ``validate``, ``graph``, ``nodes``, ``schema``. Packages add
more through the ``flowengine.commands`` entry points (``decode``, ``devices``,
``emulate``, ``test``); ``flowengine NAME ARGS…`` passes ARGS to them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

from flowengine import logs
from flowengine.errors import EXIT_INTERNAL_ERROR
from flowengine.flow import load_flow
from flowengine.graph import FlowGraph, to_dot, to_mermaid
from flowengine.introspect import flow_schema, node_example, node_summary, static_ports
from flowengine.redaction import redact
from flowengine.registry import Registry, RegistryError, commands


def _echo(text: str) -> None:
    sys.stdout.write(text + "\n")


def _parser(extra: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flowengine", description="Flow-based event processing for Zigbee devices, in YAML.",
        epilog=("more commands: " + ", ".join(sorted(extra))) if extra else None)
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run flows headless until their input ends or SIGINT/SIGTERM")
    run.add_argument("flows", nargs="+", type=Path, metavar="FLOW.yaml")
    run.add_argument("--watch", action="store_true", help="reload a flow when its file changes")
    run.add_argument("--strict", action="store_true", help="refuse to run on warnings too")
    validate = sub.add_parser("validate", help="check flows; print 'ok' or file:line:col: messages")
    validate.add_argument("flows", nargs="+", type=Path, metavar="FLOW.yaml")
    validate.add_argument("--strict", action="store_true", help="exit 1 on warnings too")
    graph = sub.add_parser("graph", help="print a flow's graph")
    graph.add_argument("flow", type=Path, metavar="FLOW.yaml")
    graph.add_argument("--format", choices=["mermaid", "dot"], default="mermaid")
    nodes = sub.add_parser("nodes", help="list node types with their config schema and an example")
    nodes.add_argument("--json", action="store_true", help="machine-readable output")
    nodes.add_argument("type", nargs="?", help="only this type")
    schema = sub.add_parser("schema", help="write the JSON Schema of flow files (for editors)")
    schema.add_argument("--output", "-o", type=Path, help="file to write (default: stdout)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code.

    0: success; 1: a bad flow, test file or input (``file:line:col`` lines say why); 2: a
    usage error; :data:`~flowengine.errors.EXIT_INTERNAL_ERROR` (70): flowengine itself
    failed — one line on stderr, the traceback only with ``--log-level debug``.
    """
    try:
        return _main(argv)
    except Exception as exc:  # the one place that turns a crash into one line and an exit code
        logging.getLogger("flowengine.cli").debug("internal error", exc_info=True)
        text = logs.redact_text(f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__)
        sys.stderr.write(f"flowengine: internal error: {text} (a bug: please report it; "
                         "--log-level debug shows the traceback)\n")
        return EXIT_INTERNAL_ERROR


def _main(argv: list[str] | None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    contributed = commands()
    builtin = {"run", "validate", "graph", "nodes", "schema"}
    index = _command_index(args_list)
    first = args_list[index] if index is not None else None
    if index is not None and first in contributed and first not in builtin:
        logs.configure(_level_of(args_list[:index]))
        return contributed[first](args_list[index + 1:])
    args = _parser([name for name in contributed if name not in builtin]).parse_args(args_list)
    redactor = logs.configure(args.log_level)
    try:
        registry = Registry.from_entry_points()
    except RegistryError as exc:
        _echo(f"error: {exc}")
        return 2
    if args.command == "validate":
        return _validate(registry, args.flows, strict=args.strict)
    if args.command == "run":
        return _run(registry, args.flows, watch=args.watch, strict=args.strict, redactor=redactor)
    if args.command == "graph":
        return _graph(registry, args.flow, args.format)
    if args.command == "nodes":
        return _nodes(registry, args.type, as_json=args.json)
    return _schema(registry, args.output)


def _command_index(args: list[str]) -> int | None:
    """Where the command is: the first word that is neither an option nor ``--log-level``'s value."""
    skip = False
    for index, arg in enumerate(args):
        if skip:
            skip = False
        elif arg == "--log-level":
            skip = True
        elif not arg.startswith("-"):
            return index
    return None


def _level_of(options: list[str]) -> str:
    if "--log-level" in options:
        position = options.index("--log-level")
        if position + 1 < len(options):
            return options[position + 1]
    return "info"


def _validate(registry: Registry, paths: list[Path], *, strict: bool) -> int:
    status = 0
    for path in paths:
        loaded = load_flow(path, registry)
        for issue in [*loaded.errors, *loaded.warnings]:
            _echo(str(issue))
        if not loaded.ok or (strict and loaded.warnings):
            status = 1
        elif not loaded.warnings:
            _echo(f"{path}: ok")
        else:
            _echo(f"{path}: ok ({len(loaded.warnings)} warning(s))")
    return status


def _load_all(registry: Registry, paths: list[Path], *, strict: bool) -> list[FlowGraph] | None:
    graphs: list[FlowGraph] = []
    good = True
    for path in paths:
        loaded = load_flow(path, registry)
        for issue in [*loaded.errors, *loaded.warnings]:
            _echo(str(issue))
        if not loaded.ok or loaded.graph is None or (strict and loaded.warnings):
            good = False
        else:
            graphs.append(loaded.graph)
    return graphs if good else None


def _run(registry: Registry, paths: list[Path], *, watch: bool, strict: bool,
         redactor: logs.RedactingFilter) -> int:
    graphs = _load_all(registry, paths, strict=strict)
    if graphs is None:
        return 1
    for graph in graphs:
        redactor.secrets |= graph.secrets
    from flowengine.runner import run_flows

    def add_secrets(secrets: frozenset[str]) -> None:
        redactor.secrets |= secrets

    coroutine = run_flows(paths, registry, graphs, watch=watch, on_secrets=add_secrets)
    try:
        return _run_loop(coroutine)
    except (KeyboardInterrupt, asyncio.CancelledError):
        return 0


def _run_loop(coroutine: Any) -> int:
    """Run on uvloop when it is installed (the ``fast`` extra), else on asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        return int(asyncio.run(coroutine))
    return int(uvloop.run(coroutine))


def _graph(registry: Registry, path: Path, fmt: str) -> int:
    loaded = load_flow(path, registry)
    if not loaded.ok or loaded.graph is None:
        for issue in loaded.errors:
            _echo(str(issue))
        return 1
    text = to_mermaid(loaded.graph) if fmt == "mermaid" else to_dot(loaded.graph)
    sys.stdout.write(redact(text, loaded.graph.secrets))
    return 0


def _nodes(registry: Registry, only: str | None, *, as_json: bool) -> int:
    names = [only] if only else registry.names()
    described: list[dict[str, Any]] = []
    for name in names:
        try:
            node_class = registry.load(name)
        except RegistryError as exc:
            _echo(f"error: {exc}")
            return 1
        described.append({
            "type": name,
            "role": node_class.role,
            "summary": node_summary(node_class),
            "ports": static_ports(node_class),
            "config": node_class.config_model.model_json_schema(),
            "example": node_example(node_class),
        })
    if as_json:
        _echo(json.dumps(described, indent=2))
        return 0
    for entry in described:
        _echo(f"{entry['type']}  ({entry['role']})  {entry['summary']}")
        _echo(f"  outputs: {', '.join(entry['ports'])}")
        properties = entry["config"].get("properties", {})
        required = set(entry["config"].get("required", []))
        for key, spec in properties.items():
            mark = " (required)" if key in required else ""
            default = f" [default: {json.dumps(spec['default'])}]" if "default" in spec else ""
            _echo(f"  {key}{mark}{default}: {spec.get('description', '')}")
        if entry["example"]:
            _echo("  example:")
            for line in entry["example"].splitlines():
                _echo(f"    {line}")
        _echo("")
    return 0


def _schema(registry: Registry, output: Path | None) -> int:
    text = json.dumps(flow_schema(registry.load_all()), indent=2) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        _echo(f"wrote {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
