"""Cold decoding of the household's seven models, beside zigbee-herdsman + converters in node (issue 10).

Two report sets: the 84 public reports (what the devices really send), cycled to 2,000 per model,
and the oracle's generated vectors (``tests/data/vectors/household_generated.jsonl``: valid,
damaged and hand-shaped frames). In the same run the same reports go through zigbee-herdsman
10.9.5 + zigbee-herdsman-converters 26.112.0 in node (``decode_household_node.js``) when
``ZIGBEE_ORACLE_MODULES`` names a ``node_modules`` holding them (see
tests/nodes/decode/oracle/README.md); otherwise that column is skipped with a message.

What each side does per report (the same work, nothing remembered from one report to the next):

* flowengine: ``bytes.fromhex`` of the frame text, then ``Decoder.decode_frame`` (Zigbee2MQTT
  2.x mode, ``cache_state: false``), which never consults the memo: it parses the ZCL frame
  (header, records, ``processAttributePostRead``), runs every converter of the definition that
  listens to the cluster and message type (for a report of one attribute, or of several of
  fixed-size types, the values are read at their fixed places and converted by the converters'
  single forms: the same results, see benchmarks/README.md), post-processes (calibration and
  precision rounding), adds ``linkquality``, and builds the published payload (keys sorted, values as JSON) and the
  typed event. What it keeps between reports depends only on the model (the definition's
  dispatch table) or the cluster and manufacturer code (the named-attribute table), never on
  the frame's bytes.
* node: ``Buffer.from(frame, 'hex')``, ``Frame.fromBuffer`` (a fresh parse of header and
  payload), ``attributeKeyValue`` (names and ``processAttributePostRead``) or the command's
  payload, every ``fromZigbee`` converter of the definition matching cluster and type (awaited,
  as Zigbee2MQTT does), ``postProcessConvertedFromZigbeeMessage`` (calibration and precision)
  and ``linkquality``. The definition is found once per model (Zigbee2MQTT resolves it once per
  device); each report gets its own device object, so no converter store carries anything over.
  No typed event and no key sorting: flowengine does that much more.

Neither side memoises anything keyed on a frame. Node runs one untimed warm-up pass per model
first (V8's JIT compiles the hot functions: legitimate, as a live Zigbee2MQTT is warm). Both
keep the best of ``--repeat`` passes, timed in CPU seconds of their own process, so a busy
machine (other jobs on the same cores) disturbs the ratio as little as it can. Prints msg/s
per model, the ratio flowengine / node, and for reference the same reports through
``Decoder.decode`` with its memo warm (``memo msg/s``: what repeated frames cost in a live
flow; not part of the ratio).
Run: ``ZIGBEE_ORACLE_MODULES=/path/to/node_modules .venv/bin/python benchmarks/decode_household.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from flowengine_nodes.devices.decoder import Decoder

ROOT = Path(__file__).resolve().parents[1]
VECTORS = ROOT / "tests" / "data" / "vectors"
#: Reports per model in the "realistic" set (the public reports of the model, cycled).
REALISTIC_PER_MODEL = 2000
NODE_SCRIPT = Path(__file__).resolve().with_name("decode_household_node.js")


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


def python_seconds(reports: list[dict[str, Any]], repeat: int) -> tuple[float, int]:
    """Return (best CPU seconds for one pass, payloads published) decoding every report cold."""
    decoder = Decoder(compat=2, cache_state=False)
    decode = decoder.decode_frame
    jobs = [(r["frame"], r["cluster"], r["lqi"], r["model"], r["ieee"]) for r in reports]
    best = float("inf")
    published = 0
    for _ in range(repeat):
        published = 0
        start = time.process_time()
        for frame, cluster, lqi, model, ieee in jobs:
            if decode(bytes.fromhex(frame), cluster=cluster, lqi=lqi, model=model, ieee=ieee).payload is not None:
                published += 1
        best = min(best, time.process_time() - start)
    return best, published


def memo_seconds(reports: list[dict[str, Any]], repeat: int) -> float:
    """Return the best CPU seconds for one pass through ``Decoder.decode`` (the memo warm after pass 1)."""
    decode = Decoder(compat=2, cache_state=False).decode
    best = float("inf")
    for _ in range(repeat + 1):
        start = time.process_time()
        for record in reports:
            decode(record)
        best = min(best, time.process_time() - start)
    return best


def node_results(by_model: dict[str, list[dict[str, Any]]], repeat: int) -> tuple[dict[str, Any] | None, str]:
    """Run the node bench on the same reports; return its results or None and why."""
    modules = os.environ.get("ZIGBEE_ORACLE_MODULES")
    if not modules or not (Path(modules) / "zigbee-herdsman-converters").is_dir():
        return None, "skipped: set ZIGBEE_ORACLE_MODULES to a node_modules with zigbee-herdsman-converters 26.112.0"
    node = shutil.which("node")
    if node is None:
        return None, "skipped: no node on PATH"
    lines = "\n".join(json.dumps(r) for reports in by_model.values() for r in reports)
    done = subprocess.run([node, str(NODE_SCRIPT)], input=lines, capture_output=True, text=True, check=False,
                          env={**os.environ, "ZIGBEE_ORACLE_MODULES": modules, "BENCH_REPEAT": str(repeat)})
    if done.returncode != 0:
        return None, f"node bench failed: {done.stderr.strip()[:200]}"
    return json.loads(done.stdout), ""


def table(title: str, by_model: dict[str, list[dict[str, Any]]], repeat: int) -> None:
    """Print one table: flowengine and node msg/s per model for these reports."""
    node, why = node_results(by_model, repeat)
    total = sum(len(r) for r in by_model.values())
    print(f"{title}: {total} reports, cold (no memo), compat 2, cache_state false; best of {repeat} passes each")
    print(f"{'model':32} {'reports':>8} {'published':>9} {'flowengine msg/s':>16} {'node msg/s':>11} {'ratio':>6}"
          f" {'memo msg/s':>11}")
    for model, reports in by_model.items():
        seconds, published = python_seconds(reports, repeat)
        ours = len(reports) / seconds
        theirs = node[model]["reports"] / node[model]["seconds"] if node else None
        ratio = f"{ours / theirs:>5.2f}x" if theirs else "   -"
        node_text = f"{theirs:>11,.0f}" if theirs else f"{'-':>11}"
        memo = len(reports) / memo_seconds(reports, repeat)
        print(f"{model:32} {len(reports):>8} {published:>9} {ours:>16,.0f} {node_text} {ratio} {memo:>11,.0f}")
    if node is None:
        print(why, file=sys.stderr)


def main() -> None:
    """Print the two tables: realistic reports, then the oracle's generated (mostly garbled) ones."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    table("realistic (the public reports, cycled)", realistic_reports(), args.repeat)
    print()
    table("oracle set (generated: valid, damaged, hand-shaped)", load_reports(), args.repeat)


if __name__ == "__main__":
    main()
