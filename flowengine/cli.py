"""The ``flowengine`` command line (CONTRACT §7).

Built-in commands: ``run``, ``validate``, ``graph``, ``nodes``, ``schema``, ``completion``.
Packages add more through the ``flowengine.commands`` entry points (``decode``, ``devices``,
``emulate``, ``test``); ``flowengine NAME ARGS…`` passes ARGS to them. ``--log-level`` and
``--log-format`` are accepted before or after any command. A reader that closes the pipe
(``flowengine nodes | head -1``) ends the command quietly with status 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from flowengine import logs
from flowengine.errors import EXIT_INTERNAL_ERROR
from flowengine.flow import load_flow
from flowengine.graph import FlowGraph, to_dot, to_mermaid
from flowengine.introspect import flow_schema, node_example, node_summary, static_ports
from flowengine.redaction import redact
from flowengine.registry import Registry, RegistryError, commands
from flowengine.web.settings import TOKEN_VARIABLE, HttpSettings, parse_listen

BUILTIN = ("run", "validate", "graph", "nodes", "schema", "completion")
#: Options that take a value and may stand anywhere on the command line.
LOG_OPTIONS = {"--log-level": logs.LEVELS, "--log-format": logs.FORMATS}
#: What shtab completes a file argument with, per shell (its ``shtab.FILE``, without importing it).
FILE_COMPLETION = {"bash": "_shtab_compgen_files", "zsh": "_files"}


def _echo(text: str) -> None:
    sys.stdout.write(text + "\n")


def release() -> str:
    """Return the installed version of flowengine (its one source is ``pyproject.toml``)."""
    try:
        return version("flowengine")
    except PackageNotFoundError:
        return "unknown"


class _Version(argparse.Action):
    """``-V``/``--version``: print the installed version, read from the package's metadata only when asked."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, main_parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        _echo(f"flowengine {release()}")
        main_parser.exit()


def _log_options() -> argparse.ArgumentParser:
    """The logging options every command accepts (after the command too; never overriding)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--log-level", choices=logs.LEVELS, default=argparse.SUPPRESS,
                        help="least severe log level shown (default: info)")
    common.add_argument("--log-format", choices=logs.FORMATS, default=argparse.SUPPRESS,
                        help="text (ISO 8601 time with zone) or json (one object per line; default: text)")
    return common


def _files(action: argparse.Action) -> None:
    """Mark an argument as a file for shell completion."""
    action.complete = FILE_COMPLETION  # type: ignore[attr-defined]


def parser(extra: list[str]) -> argparse.ArgumentParser:
    """Build the argument parser; ``extra`` are the commands packages contribute (listed, not parsed)."""
    common = _log_options()
    main_parser = argparse.ArgumentParser(
        prog="flowengine", description="Flow-based event processing for Zigbee devices, in YAML.",
        parents=[common])
    main_parser.add_argument("-V", "--version", action=_Version, help="show the version and exit")
    sub = main_parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", parents=[common],
                         help="run flows headless until their input ends or SIGINT/SIGTERM")
    _files(run.add_argument("flows", nargs="+", type=Path, metavar="FLOW.yaml"))
    run.add_argument("--watch", action="store_true", help="reload a flow when its file changes")
    run.add_argument("--strict", action="store_true", help="refuse to run on warnings too")
    run.add_argument("--http", metavar="HOST:PORT",
                     help="serve /health, /ready, /metrics and a live page (default host 127.0.0.1; "
                          "overrides the flow's 'http:' key)")
    run.add_argument("--http-token", metavar="TOKEN",
                     help=f"token every endpoint but /health requires (default: ${TOKEN_VARIABLE}); "
                          "required on an address other than loopback")
    validate = sub.add_parser("validate", parents=[common],
                              help="check flows; print 'ok' or file:line:col: messages")
    _files(validate.add_argument("flows", nargs="+", type=Path, metavar="FLOW.yaml"))
    validate.add_argument("--strict", action="store_true", help="exit 1 on warnings too")
    graph = sub.add_parser("graph", parents=[common], help="print a flow's graph")
    _files(graph.add_argument("flow", type=Path, metavar="FLOW.yaml"))
    graph.add_argument("--format", choices=["mermaid", "dot"], default="mermaid")
    nodes = sub.add_parser("nodes", parents=[common],
                           help="list node types with their config schema and an example")
    nodes.add_argument("--json", action="store_true", help="machine-readable output")
    nodes.add_argument("type", nargs="?", help="only this type")
    schema = sub.add_parser("schema", parents=[common],
                            help="write the JSON Schema of flow files (for editors)")
    _files(schema.add_argument("--output", "-o", type=Path, help="file to write (default: stdout)"))
    completion = sub.add_parser("completion", parents=[common],
                                help="print a shell completion script (bash or zsh)")
    completion.add_argument("shell", choices=["bash", "zsh"])
    for name in sorted(extra):
        # Listed for help, the choices of an unknown command and completion; main() hands the
        # arguments of these commands to the package that contributes them before parsing.
        contributed = sub.add_parser(name, add_help=False, help=f"see 'flowengine {name} --help'")
        contributed.add_argument("arguments", nargs=argparse.REMAINDER)
    return main_parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code.

    0: success; 1: a bad flow, test file or input (``file:line:col`` lines say why); 2: a
    usage error; :data:`~flowengine.errors.EXIT_INTERNAL_ERROR` (70): flowengine itself
    failed — one line on stderr, the traceback only with ``--log-level debug``. A closed
    stdout (the reader of a pipe went away) ends the command quietly with 0.
    """
    try:
        status = _main(list(sys.argv[1:] if argv is None else argv))
        sys.stdout.flush()
    except BrokenPipeError:
        _drop_stdout()
        return 0
    except Exception as exc:  # the one place that turns a crash into one line and an exit code
        logging.getLogger("flowengine.cli").debug("internal error", exc_info=True)
        text = logs.redact_text(f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__)
        sys.stderr.write(f"flowengine: internal error: {text} (a bug: please report it; "
                         "--log-level debug shows the traceback)\n")
        return EXIT_INTERNAL_ERROR
    return status


def _drop_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        # stdout has no file descriptor (captured by a host program): nothing left to protect.
        return


def _main(args_list: list[str]) -> int:
    contributed = commands()
    extra = [name for name in contributed if name not in BUILTIN]
    log_level, log_format, rest = split_log_options(args_list)
    first = next((a for a in rest if not a.startswith("-")), None)
    if first in extra:
        index = rest.index(first)
        if rest[:index]:
            # Only the logging options may stand before a contributed command.
            parser(extra).parse_args(rest[:index])
        logs.configure(log_level, log_format)
        return contributed[first](rest[index + 1:])
    args = parser(extra).parse_args(args_list)
    redactor = logs.configure(getattr(args, "log_level", "info"), getattr(args, "log_format", "text"))
    if args.command == "completion":
        return _completion(parser(extra), args.shell)
    try:
        registry = Registry.from_entry_points()
    except RegistryError as exc:
        _echo(f"error: {exc}")
        return 2
    if args.command == "validate":
        return _validate(registry, args.flows, strict=args.strict)
    if args.command == "run":
        return _run(registry, args.flows, watch=args.watch, strict=args.strict, redactor=redactor,
                    http=args.http, token=args.http_token)
    if args.command == "graph":
        return _graph(registry, args.flow, args.format)
    if args.command == "nodes":
        return _nodes(registry, args.type, as_json=args.json)
    return _schema(registry, args.output)


def split_log_options(args: list[str]) -> tuple[str, str, list[str]]:
    """Take ``--log-level``/``--log-format`` (``--opt V`` or ``--opt=V``) from anywhere in ``args``.

    Returns the level, the format (defaults ``info`` and ``text``) and the other arguments in
    order. An option with a value that is not one of its choices stays in the arguments, so the
    parser that sees it says what is wrong.
    """
    found = {"--log-level": "info", "--log-format": "text"}
    rest: list[str] = []
    index = 0
    while index < len(args):
        argument = args[index]
        name, equals, value = argument.partition("=")
        if not equals and name in LOG_OPTIONS and index + 1 < len(args):
            value = args[index + 1]
        if name in LOG_OPTIONS and value in LOG_OPTIONS[name]:
            found[name] = value
            index += 1 if equals else 2
            continue
        rest.append(argument)
        index += 1
    return found["--log-level"], found["--log-format"], rest


def _completion(main_parser: argparse.ArgumentParser, shell: str) -> int:
    """Print the completion script for ``shell``, generated from the parser (shtab)."""
    import shtab

    sys.stdout.write(shtab.complete(main_parser, shell=shell))
    return 0


def _validate(registry: Registry, paths: list[Path], *, strict: bool) -> int:
    status = 0
    for path in paths:
        loaded = load_flow(path, registry)
        if loaded.ok and loaded.graph is not None:
            # The graph lints need networkx: validate runs them, run does not (its start stays light).
            from flowengine.analysis import unused_output

            loaded.warnings = sorted([*loaded.warnings, *unused_output(loaded.graph, loaded.file)],
                                     key=lambda issue: (issue.line, issue.column))
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
         redactor: logs.RedactingFilter, http: str | None = None, token: str | None = None) -> int:
    graphs = _load_all(registry, paths, strict=strict)
    if graphs is None:
        return 1
    for graph in graphs:
        redactor.secrets |= graph.secrets
    settings = _http_settings(graphs, http, token)
    if isinstance(settings, str):
        _echo(f"error: {settings}")
        return 2
    if settings is not None and settings.token:
        redactor.secrets.add(settings.token)
    from flowengine.runner import run_flows

    def add_secrets(secrets: frozenset[str]) -> None:
        redactor.secrets |= secrets

    # A progress bar only for a person watching: never in a log file, a pipe or the journal.
    progress = sys.stderr if sys.stderr.isatty() else None
    coroutine = run_flows(paths, registry, graphs, watch=watch, on_secrets=add_secrets, progress=progress,
                          http=settings, secrets=redactor.secrets)
    try:
        return _run_loop(coroutine)
    except (KeyboardInterrupt, asyncio.CancelledError):
        return 0


def _http_settings(graphs: list[FlowGraph], listen: str | None, token: str | None) -> HttpSettings | str | None:
    """Where to serve HTTP: ``--http`` over the flows' ``http:`` key; a str is why it must not start."""
    if listen is not None:
        try:
            host, port = parse_listen(listen)
        except ValueError as exc:
            return f"--http {exc}"
        settings = HttpSettings(host, port)
    else:
        wanted = {graph.http for graph in graphs if graph.http is not None}
        if not wanted:
            return None
        if len({(s.host, s.port) for s in wanted}) > 1:
            return "the flows' 'http:' keys name different addresses; give one with --http"
        settings = next(iter(wanted))
    chosen = token or os.environ.get(TOKEN_VARIABLE) or settings.token
    settings = HttpSettings(settings.host, settings.port, chosen or None)
    return settings.check() or settings


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
    """Describe every node type that loads; name each broken one in one line on stderr (exit 1)."""
    if only:
        try:
            available, broken = {only: registry.load(only)}, []
        except RegistryError as exc:
            available, broken = {}, [exc]
    else:
        available, broken = registry.load_available()
    described: list[dict[str, Any]] = []
    for name, node_class in available.items():
        described.append({
            "type": name,
            "role": node_class.role,
            "summary": node_summary(node_class),
            "ports": static_ports(node_class),
            "config": node_class.config_model.model_json_schema(),
            "example": node_example(node_class),
        })
    for problem in broken:
        sys.stderr.write(f"error: {problem}\n")
    if as_json:
        _echo(json.dumps(described, indent=2))
        return 1 if broken else 0
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
    return 1 if broken else 0


def _schema(registry: Registry, output: Path | None) -> int:
    available, broken = registry.load_available()
    for problem in broken:
        sys.stderr.write(f"error: {problem} (left out of the schema)\n")
    text = json.dumps(flow_schema(available), indent=2) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        _echo(f"wrote {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
