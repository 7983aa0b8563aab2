"""Cold decoding of the household's seven models, beside zigbee-herdsman + converters in node (issue 10).

Two report sets: the 84 public reports (what the devices really send), cycled to 2,000 per model,
and the oracle's generated vectors (``tests/data/vectors/household_generated.jsonl``: valid,
damaged and hand-shaped frames). The same reports go through zigbee-herdsman 10.9.5 +
zigbee-herdsman-converters 26.112.0 in node (``decode_household_node.js``) when
``ZIGBEE_ORACLE_MODULES`` names a ``node_modules`` holding them (see
tests/nodes/decode/oracle/README.md); otherwise that column is skipped with a message.

What each side does per report (the same work, nothing remembered from one report to the next):

* flowengine: ``bytes.fromhex`` of the frame text, then ``Decoder.decode_frame`` (Zigbee2MQTT
  2.x mode, ``cache_state: false``), which never consults the memo: it parses the ZCL frame
  (header, records, ``processAttributePostRead``), runs every converter of the definition that
  listens to the cluster and message type (for a report of one attribute, or of several of
  fixed-size types, the values are read at their fixed places and converted by the converters'
  single forms: the same results, see benchmarks/README.md), post-processes (calibration and
  precision rounding), adds ``linkquality``, and builds the published payload (keys sorted, values
  as JSON) and the typed event. What it keeps between reports: per model its dispatch table, per
  cluster and manufacturer code the named attributes, per record header (attribute id and data
  type) a reader and the converters' single forms, per layout of several records one reader;
  nothing keyed on a value, so every value is read and converted afresh. Each pass starts from a
  new decoder, so it builds those tables again.
* node: ``Buffer.from(frame, 'hex')``, ``Frame.fromBuffer`` (a fresh parse of header and
  payload), ``attributeKeyValue`` (names and ``processAttributePostRead``) or the command's
  payload, every ``fromZigbee`` converter of the definition matching cluster and type (awaited,
  as Zigbee2MQTT does), ``postProcessConvertedFromZigbeeMessage`` (calibration and precision)
  and ``linkquality``. The definition is found once per model (Zigbee2MQTT resolves it once per
  device); each report gets its own device object, so no converter store carries anything over.
  No typed event and no key sorting: flowengine does that much more.

**How it is timed.** Every side is a worker process of its own that holds the reports and runs
one pass over one model's reports when asked, timed in CPU seconds of its own process. The
passes alternate: each round runs, model by model, node's pass, then each Python's, so every
side sees the same machine (a shared machine's speed moves by a third between minutes). Each
side keeps its best of ``--repeat`` rounds. Every worker runs on the same CPU: on a shared virtual
machine one CPU can run at half the speed of the other for minutes (seen here: the same process
decoded 220k or 450k reports/s depending on the CPU it was pinned to), so sides on different CPUs
would compare the CPUs, not the code. A pass decodes the model's reports ``--loops`` times (a
pass of a few milliseconds is at the mercy of one hiccup). Node runs one untimed warm-up pass per
model first (V8's JIT compiles the hot functions: legitimate, as a live Zigbee2MQTT is warm).

**Which Python.** The flowengine side runs on this interpreter and, when it exists and is another
build of the same Python version, on the system's ``/usr/bin/python3`` (``--python`` names
others; ``--python none`` only this one). The interpreter matters: a Raspberry Pi runs flowengine
on its distribution's python3 (docs/deploy.md), built with profile-guided and link-time
optimisation, while a development interpreter compiled by pyenv without them runs this code about
1.4x slower. Each interpreter gets its own columns; the other interpreters import flowengine from
this checkout and its dependencies from this environment. The memo column (``Decoder.decode`` with
its memo warm: what repeated frames cost in a live flow, not part of any ratio) is measured on
this interpreter only.

Run: ``ZIGBEE_ORACLE_MODULES=/path/to/node_modules .venv/bin/python benchmarks/decode_household.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]
VECTORS = ROOT / "tests" / "data" / "vectors"
#: Reports per model in the "realistic" set (the public reports of the model, cycled).
REALISTIC_PER_MODEL = 2000
NODE_SCRIPT = Path(__file__).resolve().with_name("decode_household_node.js")
#: The distribution's interpreter (what a Raspberry Pi runs flowengine on), measured beside this one.
SYSTEM_PYTHON = "/usr/bin/python3"
#: Where the compiled build is installed for the benchmark (deploy/install-compiled.sh).
COMPILED_VENV = ROOT / ".venv-compiled"


def load_reports(name: str = "household_generated") -> dict[str, list[dict[str, Any]]]:
    """Return Zigbee model id -> the reports of one vector file, in file order."""
    by_model: dict[str, list[dict[str, Any]]] = {}
    for line in (VECTORS / f"{name}.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)["input"]
            by_model.setdefault(record["model"], []).append(record)
    return by_model


def realistic_reports() -> dict[str, list[dict[str, Any]]]:
    """The public reports (what the devices really send), cycled to the same count per model."""
    return {model: [reports[i % len(reports)] for i in range(REALISTIC_PER_MODEL)]
            for model, reports in load_reports("household_public").items()}


# --- the Python worker ---------------------------------------------------------------------------

def cold_pass(decoder: Any, jobs: list[tuple[str, int, int, str, str]], loops: int) -> tuple[float, int]:
    """Decode every job ``loops`` times through ``decode_frame``; return (CPU seconds, payloads published once)."""
    decode = decoder.decode_frame
    published = 0
    start = time.process_time()
    for _ in range(loops):
        published = 0
        for frame, cluster, lqi, model, ieee in jobs:
            if decode(bytes.fromhex(frame), cluster=cluster, lqi=lqi, model=model, ieee=ieee).payload is not None:
                published += 1
    return time.process_time() - start, published


def memo_pass(decoder: Any, reports: list[dict[str, Any]]) -> float:
    """Decode every report once through ``Decoder.decode`` (the memo); return CPU seconds."""
    decode = decoder.decode
    start = time.process_time()
    for record in reports:
        decode(record)
    return time.process_time() - start


def libpython_shared() -> bool:
    """Whether this process runs the interpreter from a shared libpython (slower: position-independent code).

    Read from the process's mappings where Linux has them; a distribution may build the shared
    library for embedding and still link its ``python3`` statically.
    """
    maps = Path("/proc/self/maps")
    if maps.exists():
        return "libpython" in maps.read_text(encoding="utf-8", errors="replace")
    return bool(sysconfig.get_config_var("Py_ENABLE_SHARED"))


def worker(path: str, loops: int) -> None:
    """Serve passes over the reports in ``path``: read ``cold KEY`` or ``memo KEY``, print the result.

    The first line printed describes the interpreter. A cold pass uses a fresh decoder each time
    (nothing carried over from an earlier pass); the memo decoder is kept, so its memo is warm
    after the first pass.
    """
    from flowengine_nodes.devices import compiled
    from flowengine_nodes.devices.decoder import Decoder

    sets: dict[str, list[dict[str, Any]]] = json.loads(Path(path).read_text(encoding="utf-8"))
    jobs = {key: [(r["frame"], r["cluster"], r["lqi"], r["model"], r["ieee"]) for r in reports]
            for key, reports in sets.items()}
    memo = {key: Decoder(compat=2, cache_state=False) for key in sets}
    print(json.dumps({"python": platform.python_version(), "executable": sys.executable,
                      "shared": libpython_shared(), "compiled": compiled()}), flush=True)
    for line in sys.stdin:
        kind, key = line.split(maxsplit=1)
        key = key.strip()
        if kind == "cold":
            seconds, published = cold_pass(Decoder(compat=2, cache_state=False), jobs[key], loops)
            print(f"{seconds} {published}", flush=True)
        else:
            print(f"{memo_pass(memo[key], sets[key])} 0", flush=True)


# --- the orchestrator -----------------------------------------------------------------------------

class Worker:
    """One worker process (node or a Python); ``run`` asks it for one pass and waits for the answer."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], cpu: int | None = None) -> None:
        self.name = name
        # Pinned before it starts, so every thread the process makes (V8's compiler and collector too)
        # stays on that CPU.
        pin = None if cpu is None else (lambda: os.sched_setaffinity(0, {cpu}))
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                                        preexec_fn=pin)  # (the orchestrator has no threads to upset)
        self.hello = self._line()

    def _line(self) -> str:
        stdout: IO[str] | None = self.process.stdout
        line = stdout.readline() if stdout is not None else ""
        if not line:
            raise RuntimeError(f"{self.name} worker stopped (exit {self.process.wait()})")
        return line.strip()

    def run(self, command: str) -> tuple[float, int]:
        """Send one command; return (CPU seconds, payloads published)."""
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        seconds, published = self._line().split()
        return float(seconds), int(published)

    def close(self) -> None:
        """End the worker (its stdin closes) and wait for it."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait()


def python_env() -> dict[str, str]:
    """The environment another interpreter needs to import flowengine from this checkout and environment."""
    import flowengine
    import flowengine_nodes

    packages = [Path(flowengine.__file__), Path(flowengine_nodes.__file__)]
    paths = [str(p.resolve().parents[1]) for p in packages]
    paths += [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}


def interpreters(asked: list[str] | None) -> list[str]:
    """This interpreter, then the others to measure (by default the system's, if it is another build)."""
    if asked is not None:
        return [sys.executable] + [p for p in asked if p != "none"]
    system = shutil.which(SYSTEM_PYTHON)
    if system is None or os.path.realpath(system) == os.path.realpath(sys.executable):
        return [sys.executable]
    probe = subprocess.run([system, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True,
                           check=False)
    return [sys.executable, system] if probe.stdout.strip() == str(sys.version_info[:2]) else [sys.executable]


def compiled_python() -> tuple[str | None, str]:
    """Install (or bring up to date) :data:`COMPILED_VENV` with ``deploy/install-compiled.sh``; its python or why not.

    Built with the system's python3 when there is one (the interpreter a Pi runs), else this one.
    The first build takes a couple of minutes; later ones compile only what changed.
    """
    python = shutil.which(SYSTEM_PYTHON) or sys.executable
    print(f"installing the compiled device library in {COMPILED_VENV.relative_to(ROOT)} "
          "(the first time: a couple of minutes)", file=sys.stderr)
    done = subprocess.run(["bash", str(ROOT / "deploy" / "install-compiled.sh"), str(COMPILED_VENV), python],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return None, f"compiled column skipped: deploy/install-compiled.sh failed: {done.stderr.strip()[-300:]}"
    return str(COMPILED_VENV / "bin" / "python"), ""


def shared_cpu() -> int | None:
    """The one CPU every worker runs on (None where the platform cannot pin a process)."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    return min(os.sched_getaffinity(0))


def node_worker(path: str, loops: int, cpu: int | None) -> tuple[Worker | None, str]:
    """Start the node worker on the reports in ``path``, or return None and why not."""
    modules = os.environ.get("ZIGBEE_ORACLE_MODULES")
    if not modules or not (Path(modules) / "zigbee-herdsman-converters").is_dir():
        return None, ("node skipped: set ZIGBEE_ORACLE_MODULES to a node_modules with "
                      "zigbee-herdsman-converters 26.112.0")
    node = shutil.which("node")
    if node is None:
        return None, "node skipped: no node on PATH"
    try:
        return Worker("node", [node, str(NODE_SCRIPT), path, str(loops)],
                      {**os.environ, "ZIGBEE_ORACLE_MODULES": modules}, cpu), ""
    except RuntimeError as error:
        return None, f"node worker failed: {error}"


def measure(sets: dict[str, list[dict[str, Any]]], repeat: int, loops: int, pythons: list[str],
            installed: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Run the alternating rounds; return the best seconds per side and key, and the published counts."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
        json.dump(sets, file)
    try:
        cpu = shared_cpu()
        node, why = node_worker(file.name, loops, cpu)
        env = python_env()
        # An interpreter in ``installed`` has flowengine installed (the compiled build): it runs
        # with its own environment, not this checkout's sources on PYTHONPATH.
        workers = [Worker(f"python{i}", [exe, str(Path(__file__).resolve()), "--worker", file.name,
                          "--loops", str(loops)], os.environ.copy() if exe in installed else env, cpu)
                   for i, exe in enumerate(pythons)]
        sides: list[Worker] = ([node] if node else []) + workers
        best: dict[tuple[str, str], float] = {}
        published: dict[tuple[str, str], int] = {}
        for _ in range(repeat):
            for key in sets:
                for side in sides:
                    seconds, count = side.run(key if side is node else f"cold {key}")
                    best[side.name, key] = min(best.get((side.name, key), float("inf")), seconds)
                    published[side.name, key] = count
        memo = {key: min(workers[0].run(f"memo {key}")[0] for _ in range(repeat + 1)) for key in sets}
        for side in sides:
            side.close()
        return {"best": best, "published": published, "memo": memo, "why": why,
                "pythons": [json.loads(w.hello) for w in workers], "node": node is not None, "loops": loops,
                "cpu": cpu}
    finally:
        os.unlink(file.name)


def labels(pythons: list[dict[str, Any]]) -> list[str]:
    """A short column name per interpreter: ``venv`` (this one), ``system`` (python3), ``compiled``, or ``pythonN``."""
    names = []
    for i, hello in enumerate(pythons):
        if hello["compiled"]:
            names.append("compiled")
        elif i == 0:
            names.append("venv")
        elif hello["executable"] == SYSTEM_PYTHON:
            names.append("system")
        else:
            names.append(f"python{i}")
    return names


def table(title: str, sets: dict[str, list[dict[str, Any]]], result: dict[str, Any]) -> None:
    """Print one table: msg/s per side and model, the ratios flowengine / node, the memo path, the lowest ratios."""
    best, pythons, loops = result["best"], result["pythons"], result["loops"]
    names = labels(pythons)
    total = sum(len(r) for r in sets.values())
    print(f"{title}: {total} reports, cold (no memo), compat 2, cache_state false")
    header = f"{'model':32} {'reports':>7} {'published':>9}"
    header += "".join(f" {name + ' msg/s':>14}" for name in names)
    header += f" {'node msg/s':>11}"
    header += "".join(f" {name:>9}" for name in names)
    print(header + f" {'memo msg/s':>11}")
    lowest = [float("inf")] * len(names)
    for key, reports in sets.items():
        count = len(reports)
        line = f"{key.split('/', 1)[1]:32} {count:>7} {result['published']['python0', key]:>9}"
        ours = [count * loops / best[f"python{i}", key] for i, _ in enumerate(pythons)]
        line += "".join(f" {rate:>14,.0f}" for rate in ours)
        theirs = count * loops / best["node", key] if result["node"] else None
        line += f" {theirs:>11,.0f}" if theirs else f" {'-':>11}"
        line += "".join(f" {rate / theirs:>8.2f}x" if theirs else f" {'-':>9}" for rate in ours)
        print(line + f" {count / result['memo'][key]:>11,.0f}")
        if theirs:
            lowest = [min(low, rate / theirs) for low, rate in zip(lowest, ours, strict=True)]
    if result["node"]:
        summary = ", ".join(f"{name} {low:.2f}x" for name, low in zip(names, lowest, strict=True))
        print(f"lowest ratio flowengine / node over the models: {summary}")


def main() -> None:
    """Print the interpreters, then the two tables: realistic reports, then the oracle's generated ones."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7, help="rounds (each side keeps its best)")
    parser.add_argument("--loops", type=int, default=5,
                        help="times a pass decodes a model's reports (longer passes: less noise)")
    parser.add_argument("--python", action="append", metavar="PATH",
                        help=f"another interpreter for the flowengine side (default: {SYSTEM_PYTHON} when it is "
                             "another build of this Python version; 'none': only this one)")
    parser.add_argument("--no-compiled", action="store_true",
                        help="skip the compiled build (by default installed in .venv-compiled and measured too)")
    parser.add_argument("--worker", metavar="FILE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.loops)
        return
    pythons = interpreters(args.python)
    installed: frozenset[str] = frozenset()
    why_not_compiled = ""
    if not args.no_compiled:
        compiled_exe, why_not_compiled = compiled_python()
        if compiled_exe is not None:
            pythons.append(compiled_exe)
            installed = frozenset({compiled_exe})
    realistic = {f"real/{m}": r for m, r in realistic_reports().items()}
    generated = {f"generated/{m}": r for m, r in load_reports().items()}
    result = measure({**realistic, **generated}, args.repeat, args.loops, pythons, installed)
    for name, hello in zip(labels(result["pythons"]), result["pythons"], strict=True):
        print(f"{name}: {hello['executable']} (Python {hello['python']}"
              f"{', libpython shared' if hello['shared'] else ''}"
              f"{', compiled device library' if hello['compiled'] else ', pure Python'})")
    pinned = "" if result["cpu"] is None else f", every worker on CPU {result['cpu']}"
    print(f"best of {args.repeat} alternating rounds per side, each pass decoding a model's reports {args.loops}"
          f" times; CPU seconds of each worker process{pinned}\n")
    table("realistic (the public reports, cycled)", realistic, result)
    print()
    table("oracle set (generated: valid, damaged, hand-shaped)", generated, result)
    for why in (result["why"], why_not_compiled):
        if why:
            print(why, file=sys.stderr)


if __name__ == "__main__":
    main()
