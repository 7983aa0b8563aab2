"""A progress bar for a finite replay on a terminal: records done/total, rate and ETA on stderr.

The runner draws it only when stderr is a terminal (the command line decides), so a log file
or a pipe never sees it. It polls the sources' :meth:`~flowengine.node.Source.progress` a few
times a second from the event loop: the hot path pays nothing for it. Log records written while
the bar is shown first clear the bar's line, so they stay readable; the next tick redraws it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import AsyncIterator, Callable
from typing import TextIO

from flowengine.node import Source
from flowengine.runtime import FlowRun, cancel_and_wait

#: Seconds between two redraws.
INTERVAL = 0.2
CLEAR_LINE = "\r\x1b[K"


def duration(seconds: float) -> str:
    """``75`` → ``1:15``, ``3725`` → ``1:02:05``."""
    minutes, secs = divmod(int(seconds + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def render(name: str, done: int, total: int, elapsed: float, *, width: int = 80) -> str:
    """Return one line: ``name [=====>    ] 52% 1234/2345 records 5678/s ETA 0:02`` fitted to ``width``."""
    fraction = min(1.0, done / total) if total else 1.0
    rate = done / elapsed if elapsed > 0 else 0.0
    if done >= total:
        tail = f"done in {duration(elapsed)}"
    elif rate > 0:
        tail = f"ETA {duration((total - done) / rate)}"
    else:
        tail = "ETA --:--"
    text = f" {fraction:4.0%} {done}/{total} records {rate:,.0f}/s {tail}"
    bar_width = max(10, min(30, width - len(name) - len(text) - 4))
    filled = int(bar_width * fraction)
    arrow = ">" if 0 < filled < bar_width else ""
    bar = "=" * filled + arrow + " " * (bar_width - filled - len(arrow))
    return f"{name} [{bar}]{text}"[:max(width - 1, 20)]


class _ClearBeforeLog(logging.Filter):
    """Clears the progress line before a log record is written to the same terminal."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.stream = stream

    def filter(self, record: logging.LogRecord) -> bool:
        """Clear the line; let the record through."""
        self.stream.write(CLEAR_LINE)
        return True


class ProgressBar:
    """Draws the progress of one flow's finite sources on ``stream``."""

    def __init__(self, run: FlowRun, stream: TextIO, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.run = run
        self.stream = stream
        self.clock = clock
        self.began = clock()
        self.drawn = False
        self._start_done: int | None = None

    def measure(self) -> tuple[int, int] | None:
        """Sum ``(done, total)`` over the flow's sources; None unless every source is finite and reports it."""
        sources = [node for node in self.run.nodes.values() if isinstance(node, Source)]
        done = total = 0
        for source in sources:
            if not source.is_finite():
                return None
            reported = source.progress()
            if reported is None:
                return None
            done, total = done + reported[0], total + reported[1]
        return (done, total) if sources and total else None

    def draw(self, *, final: bool = False) -> None:
        """Redraw the bar (with ``final``, end its line); draws nothing while no progress is known."""
        measured = self.measure()
        if measured is None:
            return
        done, total = measured
        if self._start_done is None:
            self._start_done, self.began = done, self.clock()  # a resumed replay: rate from here
        width = shutil.get_terminal_size((80, 24)).columns
        line = render(self.run.flow.name, done - self._start_done, total - self._start_done,
                      self.clock() - self.began, width=width)
        self.stream.write(CLEAR_LINE + line + ("\n" if final else ""))
        self.stream.flush()
        self.drawn = True

    async def tick(self) -> None:
        """Redraw every :data:`INTERVAL` until cancelled."""
        while True:
            self.draw()
            await asyncio.sleep(INTERVAL)


@contextlib.asynccontextmanager
async def shown(run: FlowRun, stream: TextIO | None) -> AsyncIterator[None]:
    """Show a progress bar for ``run`` on ``stream`` while the body runs (nothing when ``stream`` is None)."""
    if stream is None:
        yield
        return
    bar = ProgressBar(run, stream)
    clear = _ClearBeforeLog(stream)
    handlers = [handler for handler in logging.getLogger().handlers
                if getattr(handler, "stream", None) is stream]
    for handler in handlers:
        handler.addFilter(clear)
    ticker = asyncio.ensure_future(bar.tick())
    try:
        yield
    finally:
        await cancel_and_wait(ticker)
        for handler in handlers:
            handler.removeFilter(clear)
        if bar.drawn or bar.measure() is not None:
            bar.draw(final=True)
