"""A guard every test runs under: a test that leaks asyncio tasks, threads, sockets or files fails.

Resources are compared before and after each test (after its fixtures are torn down):

* **tasks**: those still pending when an ``asyncio.run`` (or ``asyncio.Runner``) finished its
  main coroutine, which the runner then cancels silently;
* **threads**: new threads still alive (each is given a short deadline to finish);
* **file descriptors**: new open descriptors of this process (files, sockets, pipes, event
  loops), with what they point to.

Session-scoped fixtures (the test registry) are set up before the first snapshot, so what
they hold is not counted. A test that must keep something on purpose says so with
``@pytest.mark.allow_leaks("threads")`` (kinds: ``tasks``, ``threads``, ``fds``).
"""

from __future__ import annotations

import asyncio
import asyncio.runners
import gc
import os
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

#: How long a new thread may take to finish after its test (a paho loop stopping, a pool closing).
THREAD_GRACE = 5.0


def _fds() -> dict[int, str]:
    found = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            found[int(name)] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue  # the listing's own descriptor, closed already
    return found


#: asyncio's own clean-up of a runner: cancel what is left when the main coroutine is done.
_CANCEL_ALL_TASKS: Any = getattr(asyncio.runners, "_cancel_all_tasks", None)


class _TaskWatch:
    """Records the tasks a runner had to cancel when its main coroutine was done."""

    def __init__(self) -> None:
        self.left: list[str] = []
        self._original: Any = getattr(asyncio.runners, "_cancel_all_tasks", None)

    def __enter__(self) -> _TaskWatch:
        if _CANCEL_ALL_TASKS is not None:
            def cancel_all_tasks(loop: asyncio.AbstractEventLoop) -> None:
                self.left.extend(repr(task) for task in asyncio.all_tasks(loop) if not task.done())
                _CANCEL_ALL_TASKS(loop)

            asyncio.runners._cancel_all_tasks = cancel_all_tasks  # type: ignore[attr-defined]
        return self

    def __exit__(self, *exc: object) -> None:
        if self._original is not None:
            asyncio.runners._cancel_all_tasks = self._original  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def no_leaks(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test when it leaves tasks, threads or open descriptors behind."""
    marker = request.node.get_closest_marker("allow_leaks")
    allowed = set(marker.args) if marker is not None else set()
    threads_before = set(threading.enumerate())
    fds_before = _fds()
    with _TaskWatch() as tasks:
        yield
    problems = []
    if tasks.left and "tasks" not in allowed:
        problems.append("asyncio tasks still pending when their loop finished:\n  " + "\n  ".join(tasks.left))
    deadline = time.monotonic() + THREAD_GRACE
    new_threads = [t for t in threading.enumerate() if t not in threads_before]
    for thread in new_threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    alive = [t for t in new_threads if t.is_alive()]
    if alive and "threads" not in allowed:
        problems.append("threads still running: " + ", ".join(repr(t) for t in alive))
    with warnings.catch_warnings():
        if "fds" in allowed:  # what the test may leave may also be collected now, unclosed: not an error
            warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()  # descriptors only an unreachable object still holds are the object's, not a leak
    fds_after = _fds()
    opened = {fd: target for fd, target in fds_after.items() if fds_before.get(fd) != target}
    if opened and "fds" not in allowed:
        problems.append("descriptors left open: " + ", ".join(f"{fd} -> {target}" for fd, target in
                                                             sorted(opened.items())))
    if problems:
        pytest.fail("the test leaked:\n" + "\n".join(problems), pytrace=False)
