"""Writing one batch to a sink until it is durable: what a write failure means (docs/delivery.md).

A failure of the storage under a sink (disk full, a read-only folder, a file-size limit,
an I/O error: ``OSError``, and SQLite's ``OperationalError`` for a database on such a disk)
is a condition of the machine, not of the messages: the batch is kept and written again
with backoff, one log line says what is wrong and one says when it writes again. Meanwhile
the sink's channel fills, the sources wait (backpressure) and stop acknowledging, so
nothing is lost and delivery resumes by itself once the condition is gone. Any other
exception is the messages' fault: they go to the sink's ``errors`` port, as before.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Sequence
from typing import Any

from flowengine.message import Message
from flowengine.node import Sink

#: Seconds before the first retry of a failed write, and at most between two.
RETRY_FIRST = 0.05
RETRY_MAX = 2.0


def storage_failure(exc: Exception) -> bool:
    """True when ``exc`` is a failure of the storage (retried); anything else fails the messages.

    ``OSError``, or SQLite's ``OperationalError``: an exception of SQLite can only come from
    a sink that has loaded ``sqlite3``, so a flow without one never has to import it.
    """
    if isinstance(exc, OSError):
        return True
    sqlite3 = sys.modules.get("sqlite3")
    return sqlite3 is not None and isinstance(exc, sqlite3.OperationalError)


def _condition(exc: Exception) -> str:
    """One line naming the failure (``OSError`` carries its own message: ``[Errno 28] No space…``)."""
    return f"{type(exc).__name__}: {exc}"


async def write_durably(sink: Sink[Any], batch: Sequence[Message],
                        fail: Callable[[Message, Exception], None]) -> None:
    """Write ``batch`` to ``sink``, retrying storage failures until it is taken.

    Returns once the sink's ``write`` returned (the batch is durable) or the messages were
    routed to ``errors``; either way the batch is settled.
    """
    delay = RETRY_FIRST
    failing: str | None = None
    while True:
        try:
            await sink.write(batch)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a node's failure is routed, not fatal
            if storage_failure(exc):
                condition = _condition(exc)
                if condition != failing:
                    sink.logger.error("sink '%s' cannot write: %s; keeping %d message(s), retrying, sources wait",
                                      sink.id, condition, len(batch))
                    failing = condition
                sink.counters["write_retries"] += 1
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
                continue
            for msg in batch:
                fail(msg, exc)
        if failing is not None:
            sink.logger.warning("sink '%s' writes again (it had failed: %s)", sink.id, failing)
        return
