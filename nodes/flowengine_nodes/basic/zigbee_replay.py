"""``zigbee-replay``: read raw Zigbee reports from a capture file (CONTRACT §3, §4)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, ClassVar

import orjson
from pydantic import Field, ValidationInfo, field_validator

from flowengine import NodeConfig, Source, expand_home, record_in, report_message

#: Records between two checks that the sinks keep up.
BATCH = 256
#: Malformed lines reported in full before the rest are only counted.
LOGGED_BAD_LINES = 10


class ZigbeeReplayConfig(NodeConfig):
    """Config of ``zigbee-replay``."""

    path: str = Field(description="Capture file: one raw report (or one `file` sink line) per line.")
    speed: float = Field(0.0, ge=0.0, description="0: as fast as possible; 1: as recorded; any factor > 0.")
    loop: bool = Field(False, description="Start again at the end, shifting `ts` by the capture's span.")
    resume: bool = Field(False, description="Keep the position in the flow's state and continue after "
                                            "the last record emitted.")

    @field_validator("path")
    @classmethod
    def _capture_exists(cls, value: str, info: ValidationInfo) -> str:
        """A capture that is not there fails validation, naming where it was looked for."""
        flow_dir = (info.context or {}).get("flow_dir")
        if flow_dir is None or not (info.context or {}).get("check_files", True):
            return value  # validated outside a flow file: start() checks it
        path = expand_home(value)
        path = path if path.is_absolute() else Path(flow_dir) / path
        if not path.is_file():
            what = "is a folder, not a capture file" if path.is_dir() else "does not exist"
            raise ValueError(f"capture file {path} {what}")
        return value


def record_of(line: bytes) -> dict[str, Any] | None:
    """Return the raw report in one capture line, or None when the line holds none (see :func:`record_in`)."""
    return record_in(orjson.loads(line))


def count_lines(path: Path) -> int:
    """Return how many lines ``path`` holds (a last line without a newline counts), reading 1 MiB at a time."""
    lines = 0
    last = b"\n"
    with path.open("rb") as capture:
        while chunk := capture.read(1 << 20):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + (last != b"\n")


class ZigbeeReplay(Source[ZigbeeReplayConfig]):
    """Replays a capture of raw Zigbee reports, in event time.

    Finite unless ``loop`` is set. Event time follows the data (``meta.ts`` is each record's
    ``ts``), so rules give the same answers as they would have live. Lines that are not
    JSON, or hold no record, are counted (``counters["skipped"]``) and logged with their
    line number; the replay goes on. With ``resume: true`` the position is committed to
    the flow's state once the records up to it are durable in every sink they reached
    (docs/delivery.md), checked every 256 records and before waiting for the next, so a
    restarted run continues after the last record acknowledged: nothing is lost, a few
    records may come twice.

    Example:
        ```yaml
        version: 1
        nodes:
          - id: capture
            type: zigbee-replay
            path: captures/front_door.jsonl
            speed: 0
            wires: [out]
          - id: out
            type: file
            path: out/replayed.jsonl
        ```
    """

    config_model: ClassVar[type[NodeConfig]] = ZigbeeReplayConfig
    live: ClassVar[bool] = False

    @classmethod
    def replay_config(cls, config: Any, capture: Path | None) -> NodeConfig | None:
        """For ``flowengine test``: read ``capture`` (or the configured file) once, at full speed, from the top."""
        update: dict[str, Any] = {"speed": 0.0, "loop": False, "resume": False}
        if capture is not None:
            update["path"] = str(capture)
        replayed: NodeConfig = config.model_copy(update=update)
        return replayed

    def is_finite(self) -> bool:
        """A replay ends at the end of its file unless it loops."""
        return not self.config.loop

    #: Lines of the capture read so far in this pass, and in all (counted at start).
    _done: int = 0
    _total: int = 0

    async def start(self) -> None:
        """Check that the capture can be opened (fail before anything runs) and count its lines."""
        path = self.context.resolve_path(self.config.path)
        if not path.is_file():
            raise FileNotFoundError(f"capture '{path}' does not exist")
        self._total = count_lines(path)

    def progress(self) -> tuple[int, int] | None:
        """Lines of the capture read and in all (for a progress bar); None when looping (endless)."""
        if self.config.loop:
            return None
        return self._done, self._total

    async def run(self) -> None:
        """Emit every record of the capture (again and again with ``loop``)."""
        path = self.context.resolve_path(self.config.path)
        state = self.context.state
        position = state.get("position", {"pass": 0, "line": 0}) if self.config.resume else {"pass": 0, "line": 0}
        shift = 0.0
        span: float | None = state.get("span") if self.config.resume else None
        start_pass = int(position["pass"])
        if start_pass and span is not None:
            shift = span * start_pass
        replay_pass = start_pass
        while True:
            skip = int(position["line"]) if replay_pass == start_pass else 0
            first, last = await self._one_pass(path, shift, skip, replay_pass)
            if not self.config.loop:
                return
            if first is None or last is None:
                self.logger.warning("capture '%s' holds no record; nothing to loop", path)
                return
            span = last - first
            if self.config.resume:
                state.set("span", span)
            replay_pass += 1
            shift = span * replay_pass

    def rewired(self) -> None:
        """A reload re-bound ``out``: the next record goes to the new wiring."""
        self._out = self.emitter()

    def _commit_when_durable(self, replay_pass: int, line: int) -> None:
        """Commit the position once everything emitted up to ``line`` is durable in every sink."""
        state = self.context.state
        position = {"pass": replay_pass, "line": line}
        self.when_durable(lambda: state.set("position", position))

    async def _one_pass(self, path: Any, shift: float, skip: int, replay_pass: int
                        ) -> tuple[float | None, float | None]:
        self._out = self.emitter()
        observe = self.context.clock.observe
        resume = self.config.resume
        speed = self.config.speed
        source = self.id
        counters = self.counters
        first_ts: float | None = None
        last_ts: float | None = None
        wall_start = time.monotonic()
        pending = 0
        number = 0
        emitted = 0
        with path.open("rb") as capture:
            for number, line in enumerate(capture, start=1):
                self._done = number
                if not line.strip():
                    continue
                try:
                    record = record_of(line)
                except orjson.JSONDecodeError as exc:
                    record = None
                    reason = f"not JSON ({exc.msg})"
                else:
                    reason = "no raw report (no 'frame')"
                ts = record.get("ts") if record is not None else None
                if record is None or not isinstance(ts, int | float):
                    counters["skipped"] += 1
                    if counters["skipped"] <= LOGGED_BAD_LINES:
                        detail = reason if record is None else "no numeric 'ts'"
                        self.logger.warning("%s:%d: skipped: %s", path, number, detail)
                    continue
                if first_ts is None:
                    first_ts = float(ts)
                last_ts = float(ts)
                if number <= skip:
                    continue
                if shift:
                    ts = ts + shift
                    record = {**record, "ts": ts}
                if speed > 0:
                    due = wall_start + (float(ts) - shift - first_ts) / speed
                    delay = due - time.monotonic()
                    if delay > 0:
                        if resume and pending:  # idle ahead: acknowledge what is out so far
                            pending = 0
                            self._commit_when_durable(replay_pass, emitted)
                        await asyncio.sleep(delay)
                observe(ts)
                self._out(report_message(record, source))
                emitted = number
                pending += 1
                if pending >= BATCH:
                    pending = 0
                    if resume:
                        self._commit_when_durable(replay_pass, number)
                    await self.backpressure()
        if resume and number:
            self._commit_when_durable(replay_pass, number)
        self._total = max(self._total, number)  # the file may have grown since start
        # Yield once per pass too: a looping capture shorter than a batch must not starve the loop.
        await self.backpressure()
        return first_ts, last_ts
