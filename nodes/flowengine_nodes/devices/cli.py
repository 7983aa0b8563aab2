"""``flowengine decode`` and ``flowengine devices`` (CONTRACT §7).

``flowengine decode`` reads raw reports (CONTRACT §3) as JSON lines on standard input, one per
line, and writes the decoder's ``out`` messages (or, with ``--events``, its ``events``
messages) as JSON lines ``{"topic", "payload", "meta"}`` on standard output, ``meta.source``
being ``decode``. A line that is not a raw report, or whose frame the reference parser
rejects, gets one line on standard error naming its line number; decoding goes on and the exit
status stays 0. Lines written by the ``file`` sink (whose ``payload`` is a record) are accepted
too, so a capture replays unchanged.

``flowengine devices`` prints the device definitions with their exposes and options (``--json``
for a machine-readable list).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

import orjson

from flowengine import record_in
from flowengine_nodes.devices.decoder import DEFAULT_BASE_TOPIC, Decoder
from flowengine_nodes.devices.definitions import Definition, Expose, default_registry


def _decode_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flowengine decode",
        description="Decode raw Zigbee reports (JSON lines on stdin) as Zigbee2MQTT publishes them.",
    )
    parser.add_argument("--model", help="decode every report as this device (lumi.lock.aq1 or ZNMS11LM)")
    parser.add_argument("--compat", type=int, choices=(1, 2), default=1,
                        help="1: Zigbee2MQTT 1.x with the legacy option (default); 2: Zigbee2MQTT 2.x")
    parser.add_argument("--legacy", action=argparse.BooleanOptionalAction, default=None,
                        help="the device option legacy of Zigbee2MQTT 1.x (default: on)")
    parser.add_argument("--cache-state", action=argparse.BooleanOptionalAction, default=True,
                        help="merge each payload into the device's cached state (default: on)")
    parser.add_argument("--events", action="store_true", help="write the typed lock events instead")
    parser.add_argument("--base-topic", default=DEFAULT_BASE_TOPIC, help="first topic level (default: %(default)s)")
    return parser


def _record_of(line: str) -> tuple[dict[str, Any] | None, str | None]:
    """Return the raw report of one input line (a record, or a ``file`` sink line), or why not."""
    try:
        value = orjson.loads(line)  # the reading zigbee-replay uses: both paths see the same numbers
    except orjson.JSONDecodeError as exc:
        return None, f"not JSON ({exc})"
    if not isinstance(value, dict):
        return None, "not a JSON object"
    record = record_in(value)
    if record is None and isinstance(value.get("payload"), dict):
        record = value["payload"]  # a file-sink line without a frame: the decoder says what is missing
    return record if record is not None else value, None


def decode_stream(decoder: Decoder, source: TextIO, out: TextIO, err: TextIO, *, events: bool) -> int:
    """Decode every line of ``source`` to ``out``; report bad lines on ``err``; return the count of them."""
    bad = 0
    for number, line in enumerate(source, start=1):
        if not line.strip():
            continue
        record, problem = _record_of(line)
        if record is None:
            bad += 1
            err.write(f"line {number}: {problem}\n")
            continue
        result = decoder.decode(record)
        if result.error is not None:
            bad += 1
            frame = record.get("frame")
            err.write(f"line {number}: {result.error}" + (f" (frame {frame})" if isinstance(frame, str) else "") + "\n")
            continue
        meta: dict[str, Any] = {}
        if "ts" in record:
            meta["ts"] = record["ts"]
        if isinstance(record.get("ieee"), str):
            meta["ieee"] = record["ieee"]
        meta.update(source="decode", model=result.model, friendly_name=result.friendly_name)
        if events:
            if result.event is None:
                continue
            message = {"topic": result.topic + "/event", "payload": result.event.to_payload(), "meta": meta}
        else:
            if result.payload is None:
                continue
            message = {"topic": result.topic, "payload": result.payload, "meta": meta}
        out.write(json.dumps(message, separators=(",", ":"), ensure_ascii=False) + "\n")
    return bad


def main(argv: Sequence[str]) -> int:
    """Run ``flowengine decode ARGS``; return the exit status (0, even when lines were bad)."""
    args = _decode_parser().parse_args(list(argv))
    if args.compat == 2 and args.legacy is not None:
        sys.stderr.write("warning: --legacy/--no-legacy is ignored with --compat 2 (Zigbee2MQTT 2.x has no legacy)\n")
    try:
        decoder = Decoder(
            compat=args.compat,
            legacy=True if args.legacy is None else args.legacy,
            cache_state=args.cache_state,
            model=args.model,
            base_topic=args.base_topic,
        )
    except ValueError as exc:
        sys.stderr.write(f"flowengine decode: {exc}\n")
        return 2
    decode_stream(decoder, sys.stdin, sys.stdout, sys.stderr, events=args.events)
    sys.stdout.flush()
    return 0


def _describe_expose(expose: Expose) -> str:
    details: list[str] = [expose.type]
    if expose.values:
        details.append("values: " + ", ".join(expose.values))
    if expose.value_on is not None:
        details.append(f"on: {expose.value_on}, off: {expose.value_off}")
    if expose.value_min is not None or expose.value_max is not None:
        details.append(f"range: {expose.value_min:g}..{expose.value_max:g}" if expose.value_max is not None
                       else f"min: {expose.value_min:g}")
    if expose.unit:
        details.append(f"unit: {expose.unit}")
    access = "published" if expose.access == 1 else f"access {expose.access}"
    return f"    {expose.property} ({'; '.join(details)}; {access}): {expose.description}"


def describe(definition: Definition) -> str:
    """Return the text ``flowengine devices`` prints for one definition."""
    lines = [
        f"{definition.model}  {definition.vendor}  {definition.description}",
        f"  zigbee model: {', '.join(definition.zigbee_models)}",
        "  exposes:",
        *(_describe_expose(expose) for expose in definition.exposes),
    ]
    if definition.options:
        lines.append("  options:")
        for option in definition.options:
            default = json.dumps(option.default)
            lines.append(f"    {option.name} ({option.type}, default {default}): {option.description}")
    lines.append(f"  OTA updates: {'yes' if definition.ota else 'no'}")
    return "\n".join(lines)


def devices_main(argv: Sequence[str]) -> int:
    """Run ``flowengine devices [--json]``; return the exit status."""
    parser = argparse.ArgumentParser(prog="flowengine devices", description="List the device definitions.")
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of text")
    args = parser.parse_args(list(argv))
    definitions = list(default_registry())
    if args.json:
        sys.stdout.write(json.dumps([d.to_json() for d in definitions], indent=2) + "\n")
    else:
        sys.stdout.write("\n\n".join(describe(d) for d in definitions) + "\n")
    return 0
