"""The time limit itself: each stage interrupts what it should, and nothing fires late.

Expected behaviour: the module docstring of pytest_anonvma.timeouts (issue 3: a hanging
implementation fails its case and the run continues).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from pytest_anonvma import timeouts
from pytest_anonvma.timeouts import ImplementationTimeout, time_limit


def spin() -> None:
    """A pure-Python loop that never ends."""
    n = 0
    while True:
        n += 1


def test_interrupts_a_busy_loop_on_the_main_thread() -> None:
    """Stage 1 (SIGALRM) raises into a pure-Python loop with the given message."""
    start = time.monotonic()
    limit = time_limit(0.2, "spun too long")
    with pytest.raises(ImplementationTimeout, match=r"^spun too long$"), limit:
        spin()
    assert time.monotonic() - start < 5


def test_raises_again_if_swallowed() -> None:
    """Code that swallows the first exception gets another one a second later."""
    swallowed = 0
    with pytest.raises(ImplementationTimeout), time_limit(0.1, "again"):
        for _ in range(2):
            try:
                spin()
            except BaseException:
                swallowed += 1
        spin()
    assert swallowed == 2


def test_interrupts_a_thread_without_signals(monkeypatch: pytest.MonkeyPatch) -> None:
    """Off the main thread only stage 2 (an asynchronous exception) can act: it still ends a
    pure-Python loop, with the message."""
    monkeypatch.setattr(timeouts, "GRACE", 0.1)
    caught: list[BaseException] = []

    def run() -> None:
        try:
            with time_limit(0.2, "thread spun too long"):
                spin()
        except ImplementationTimeout as exc:
            caught.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert [str(exc) for exc in caught] == ["thread spun too long"]


def test_no_alarm_after_a_quick_body() -> None:
    """A body that finishes in time is unaffected, and nothing fires afterwards."""
    with time_limit(0.2, "never"):
        pass
    time.sleep(0.4)


def test_zero_disables() -> None:
    """A limit of 0 runs the body without any timer."""
    with time_limit(0, "never"):
        time.sleep(0.05)


STUCK_IN_C = """
import signal, time
from pytest_anonvma import timeouts

timeouts.GRACE, timeouts.HARD_KILL = 0.1, 0.3
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})  # stage 1 cannot fire
with timeouts.time_limit(0.2, "stuck in C"):
    time.sleep(60)  # one C call: stage 2 waits for a bytecode boundary that never comes
print("not reached")
"""


def test_last_resort_ends_the_process() -> None:
    """When neither the signal nor the asynchronous exception gets through, the watchdog prints
    the stacks and ends the process with status 3 instead of hanging."""
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-c", STUCK_IN_C], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 3
    assert "not reached" not in done.stdout
    assert "pytest-anonvma: stuck in C; it could not be interrupted" in done.stderr
    assert "time.sleep(60)" in done.stderr or "line 8" in done.stderr
    assert time.monotonic() - start < 20


STUCK_WHILE_CAPTURED = """
import os, signal, time
from pytest_anonvma import timeouts

timeouts.GRACE, timeouts.HARD_KILL = 0.1, 0.3
terminal = os.dup(2)
os.dup2(os.open(os.devnull, os.O_WRONLY), 2)  # like pytest's capture: fd 2 goes elsewhere
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
with timeouts.time_limit(0.2, "stuck in C", test_id="t.py::test_x[impl]", stderr=terminal,
                         on_kill=lambda: os.write(terminal, b"on_kill ran\\n")):
    time.sleep(60)
"""


def test_last_resort_writes_to_the_given_terminal() -> None:
    """Stage 3 writes the test id and stacks to the file descriptor it is given (the terminal,
    which output capture does not swallow), then calls ``on_kill``, then ends the process."""
    done = subprocess.run([sys.executable, "-c", STUCK_WHILE_CAPTURED], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == timeouts.EXIT_STATUS == 3
    lines = done.stderr.splitlines()
    assert lines[1] == (
        "pytest-anonvma: stuck in C (test t.py::test_x[impl]); it could not be interrupted "
        "(stuck in C code?): ending this process (exit status 3). Stacks of every thread:"
    )
    assert '  File "<string>", line 11 in <module>' in lines  # the time.sleep line
    assert lines[-1] == "on_kill ran"
