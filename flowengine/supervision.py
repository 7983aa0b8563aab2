"""One supervision helper for every node that owns a connection (coordinator, broker).

:func:`supervise` runs ``connect_and_serve`` forever: when it raises, the state change is
reported, the helper waits with exponential backoff and full jitter, and tries again.
Errors that retrying cannot fix (bad credentials, a missing device) are logged once as
one clear line, not as a traceback per retry; the helper still retries, slowly, because a
fixed broker or a plugged-in stick should be picked up without a restart.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from flowengine.health import report_connection

ConnectionState = Literal["connecting", "connected", "disconnected", "failed"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter: attempt n waits uniform(0, min(cap, base * 2**n))."""

    base: float = 0.5
    cap: float = 30.0
    #: Delay after an error that retrying cannot fix (see :class:`PermanentError`).
    permanent: float = 60.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Return the wait before attempt number ``attempt`` (0-based)."""
        ceiling = min(self.cap, self.base * (2**attempt))
        return (rng or random).uniform(ceiling / 2, ceiling)


class PermanentError(Exception):
    """Raised by ``connect_and_serve`` for a failure that retrying will not fix by itself."""


StateCallback = Callable[[ConnectionState, str], None]


async def supervise(
    connect_and_serve: Callable[[Callable[[], None]], Awaitable[None]],
    *,
    name: str,
    logger: logging.Logger,
    backoff: Backoff | None = None,
    on_state: StateCallback | None = None,
    retry_on: tuple[type[BaseException], ...] = (Exception,),
) -> None:
    """Keep a connection up until cancelled.

    ``connect_and_serve(connected)`` connects, calls ``connected()`` once the connection is
    usable, then serves until the connection is lost (raise) or its work is done (return:
    supervision ends). Every state change is logged, passed to ``on_state(state, detail)`` and
    reported to the running flow's health (:mod:`flowengine.health`: ``/ready``, sd_notify).
    Cancellation is always re-raised.
    """
    policy = backoff or Backoff()
    attempt = 0
    last_problem = ""

    def report(state: ConnectionState, detail: str = "") -> None:
        report_connection(name, state, detail)
        if on_state is not None:
            on_state(state, detail)

    def connected() -> None:
        nonlocal attempt, last_problem
        attempt = 0
        last_problem = ""
        logger.info("%s: connected", name)
        report("connected")

    while True:
        report("connecting")
        try:
            await connect_and_serve(connected)
        except asyncio.CancelledError:
            report("disconnected", "stopped")
            raise
        except PermanentError as exc:
            detail = str(exc) or type(exc).__name__
            if detail != last_problem:
                logger.error("%s: %s (retrying every %.0f s)", name, detail, policy.permanent)
                last_problem = detail
            report("failed", detail)
            await asyncio.sleep(policy.permanent)
            continue
        except retry_on as exc:
            detail = str(exc) or type(exc).__name__
            delay = policy.delay(attempt)
            if detail != last_problem:
                logger.warning("%s: connection lost: %s; retrying in %.1f s", name, detail, delay)
                last_problem = detail
            else:
                logger.debug("%s: still failing: %s; retrying in %.1f s", name, detail, delay)
            report("disconnected", detail)
            attempt += 1
            await asyncio.sleep(delay)
            continue
        report("disconnected", "done")
        return
