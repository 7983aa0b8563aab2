"""``flowengine test [PATH …] [-k TEXT] [-q]``: find the test files, run them, print the verdicts."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from flowengine.flowtest.cases import TestFileError
from flowengine.flowtest.reader import read_test_file
from flowengine.flowtest.run import run_case
from flowengine.registry import Registry, RegistryError

#: Names of test files found in folders.
PATTERNS = ("*.test.yaml", "*.test.yml")


def discover(paths: Sequence[Path]) -> list[Path]:
    """Return the test files named or found (recursively, ``*.test.yaml``) under ``paths``, sorted.

    Raises:
        FileNotFoundError: A path does not exist.
    """
    found: dict[Path, None] = {}
    for path in paths:
        if path.is_dir():
            for pattern in PATTERNS:
                found.update(dict.fromkeys(p for p in sorted(path.rglob(pattern))
                                           if ".flowengine" not in p.parts))
        elif path.is_file():
            found[path] = None
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
    return sorted(found)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flowengine test",
        description="Run flow unit tests (*.test.yaml): inputs or a capture, expected messages at named "
                    "nodes, on a virtual clock with memory state. Format: docs/rules.md.")
    parser.add_argument("paths", nargs="*", type=Path, default=[Path()], metavar="PATH",
                        help="test files, or folders searched for *.test.yaml (default: .)")
    parser.add_argument("-k", dest="keyword", help="only tests whose 'file::name' contains this text")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only failures and the summary")
    return parser


def main(argv: list[str]) -> int:
    """Run the tests in ``argv``'s paths; print results; return 0 when all passed, else 1."""
    args = _parser().parse_args(argv)
    out = sys.stdout
    try:
        files = discover(args.paths)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=out)
        return 1
    try:
        registry = Registry.from_entry_points()
    except RegistryError as exc:
        print(f"error: {exc}", file=out)
        return 1
    passed = failed = 0
    for path in files:
        try:
            cases = read_test_file(path)
        except TestFileError as exc:
            failed += 1
            print(f"ERROR {path}", file=out)
            for issue in exc.issues:
                print(f"      {issue}", file=out)
            continue
        for case in cases:
            if args.keyword and args.keyword not in case.title:
                continue
            outcome = run_case(case, registry)
            if outcome.passed:
                passed += 1
                if not args.quiet:
                    print(f"ok    {case.title}", file=out)
                continue
            failed += 1
            print(f"FAIL  {case.title}  ({case.file}:{case.position.line})", file=out)
            for line in outcome.details:
                print(f"      {line}", file=out)
    if not files:
        print("no test files found (*.test.yaml)", file=out)
    print(f"{passed} passed, {failed} failed", file=out)
    return 0 if failed == 0 and passed > 0 else 1
