"""The suite's leak guard (tests/leaks.py) fails a test that leaks, and passes one that cleans up."""

from __future__ import annotations

import socket
import threading

import pytest

from tests import leaks

#: What the inner tests leak on purpose, released by the outer test for its own guard.
STOP = threading.Event()
KEPT: list[socket.socket] = []

INNER = '''
import asyncio, socket, threading
import pytest
from tests.engine.test_leak_guard import KEPT, STOP

def test_leaks_a_thread():
    threading.Thread(target=STOP.wait, args=(30,), daemon=True, name="left-behind").start()

def test_leaks_a_socket():
    KEPT.append(socket.socket())

def test_leaks_a_task():
    async def main():
        asyncio.get_running_loop().create_task(asyncio.Event().wait(), name="forgotten")
    asyncio.run(main())

def test_cleans_up():
    with socket.socket():
        pass
    async def main():
        task = asyncio.get_running_loop().create_task(asyncio.sleep(0))
        await task
    asyncio.run(main())

@pytest.mark.allow_leaks("fds")
def test_may_keep_a_socket_on_purpose():
    KEPT.append(socket.socket())

@pytest.mark.allow_leaks("fds")
def test_may_leave_a_socket_to_the_collector():
    class Holder:
        pass
    holder = Holder()
    holder.cycle, holder.sock = holder, socket.socket()  # collected unclosed by the guard's gc run
'''


def test_the_guard_fails_each_kind_of_leak(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("from tests.conftest import no_leaks, pytest_configure  # noqa: F401\n")
    pytester.makepyfile(test_inner=INNER)
    pytester.makeini("[pytest]\nfilterwarnings = error\n")  # as this suite runs: a warning is an error
    grace = leaks.THREAD_GRACE
    leaks.THREAD_GRACE = 0.1  # the inner thread waits for STOP: no need to give it long
    try:
        result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q")
    finally:
        leaks.THREAD_GRACE = grace
        STOP.set()
        for kept in KEPT:
            kept.close()
    # The guard fails a leaking test at its teardown: an error, whatever the test body did.
    result.assert_outcomes(passed=6, errors=3)
    result.stdout.fnmatch_lines(["*threads still running*left-behind*"])
    result.stdout.fnmatch_lines(["*descriptors left open*socket:*"])
    result.stdout.fnmatch_lines(["*asyncio tasks still pending*", "*forgotten*"])
