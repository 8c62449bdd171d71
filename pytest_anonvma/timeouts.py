"""A time limit per test phase, so a hanging implementation fails its test instead of the run.

Three stages, each only if the previous one did not end the phase:

1. ``SIGALRM`` (main thread only, where a POSIX ``setitimer`` exists): the handler raises
   :class:`ImplementationTimeout` in the running code. This interrupts pure-Python loops and
   blocking calls that return on ``EINTR`` (``time.sleep``, lock waits, ``select``...). If the
   code swallows it, it is raised again every second.
2. The watchdog thread (one per process), ``GRACE`` seconds later: raises
   :class:`ImplementationTimeout` asynchronously in the test's thread
   (``PyThreadState_SetAsyncExc``). This also works off the main thread, but only between
   bytecodes: a blocking C call keeps it waiting.
3. ``HARD_KILL`` seconds after that: the watchdog writes the message, the test's id and the
   stacks of every thread to ``stderr`` (a file descriptor: the caller passes the terminal's,
   which pytest's output capture does not swallow), calls ``on_kill`` (the plugin records the
   test as crashed and, in a serial run, writes the report marked incomplete) and ends the
   process with exit status 3. Under xdist the controller reports the test as crashed and
   starts a new worker, so the run goes on; in a serial run this ends the run, which is still
   better than hanging forever.
"""

from __future__ import annotations

import ctypes
import faulthandler
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from types import FrameType

__all__ = ["EXIT_STATUS", "ImplementationTimeout", "time_limit"]

#: seconds between stage 1 and stage 2
GRACE = 2.0
#: seconds between stage 2 and stage 3
HARD_KILL = 10.0
#: re-raise interval of stage 1 if the first exception was swallowed
_REPEAT = 1.0
#: the exit status of a process ended by stage 3
EXIT_STATUS = 3


class ImplementationTimeout(BaseException):
    """Raised into code that exceeded ``--anonvma-timeout``.

    A ``BaseException`` so that an implementation's ``except Exception`` does not swallow it.
    """

    #: the text when raised without arguments (stage 2 can only raise a class)
    default_message = "time limit exceeded"

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else self.default_message


def _alarm_usable() -> bool:
    return (
        hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, signal.SIG_IGN, None)
    )


@contextmanager
def _alarm(seconds: float, message: str) -> Iterator[None]:
    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise ImplementationTimeout(message)

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds, _REPEAT)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass(eq=False)
class _Job:
    """One armed limit: the thread to interrupt and when the next stage is due."""

    thread: int
    message: str
    due: float
    #: what stage 3 writes and calls (see :func:`time_limit`)
    test_id: str = ""
    stderr: int = 2
    on_kill: Callable[[], None] | None = None
    stage: int = 2


class _Watchdog(threading.Thread):
    """Stages 2 and 3 for every armed limit: one daemon thread per process, started lazily."""

    def __init__(self) -> None:
        super().__init__(name="anonvma-watchdog", daemon=True)
        self.cond = threading.Condition()
        self.jobs: set[_Job] = set()
        #: when the watchdog wakes up next (it is woken early only for an earlier job)
        self.wake_at = float("inf")

    def arm(self, job: _Job) -> None:
        """Watch ``job`` until :meth:`disarm`."""
        with self.cond:
            self.jobs.add(job)
            if job.due < self.wake_at:
                self.cond.notify()

    def disarm(self, job: _Job) -> None:
        """Stop watching ``job`` (its body ended)."""
        with self.cond:
            self.jobs.discard(job)

    def run(self) -> None:
        with self.cond:
            while True:
                now = time.monotonic()
                for job in [job for job in self.jobs if job.due <= now]:
                    self._escalate(job, now)
                wait = min((job.due - now for job in self.jobs), default=None)
                self.wake_at = float("inf") if wait is None else now + wait
                self.cond.wait(wait)

    def _escalate(self, job: _Job, now: float) -> None:
        if job.stage == 2:
            timeout = type(
                "ImplementationTimeout", (ImplementationTimeout,), {"default_message": job.message}
            )
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(job.thread), ctypes.py_object(timeout)
            )
            job.stage, job.due = 3, now + HARD_KILL
            return
        _end_process(job)


def _write(fd: int, text: str) -> None:
    """Write to a file descriptor, ignoring errors (the process is about to end)."""
    with suppress(OSError):
        os.write(fd, text.encode(errors="replace"))


def _end_process(job: _Job) -> None:
    """Stage 3: say which test hung and where every thread is, then end the process."""
    test = f" (test {job.test_id})" if job.test_id else ""
    _write(
        job.stderr,
        f"\npytest-anonvma: {job.message}{test}; it could not be interrupted (stuck in C "
        f"code?): ending this process (exit status {EXIT_STATUS}). Stacks of every thread:\n",
    )
    with suppress(OSError, ValueError, RuntimeError):
        faulthandler.dump_traceback(file=job.stderr, all_threads=True)
    if job.on_kill is not None:
        try:
            job.on_kill()
        except Exception as exc:  # the process ends either way: say why
            _write(job.stderr, f"pytest-anonvma: could not record the hang: {exc!r}\n")
    os._exit(EXIT_STATUS)


_watchdog: _Watchdog | None = None
_watchdog_lock = threading.Lock()


def _get_watchdog() -> _Watchdog:
    global _watchdog
    with _watchdog_lock:
        if _watchdog is None or not _watchdog.is_alive():
            _watchdog = _Watchdog()
            _watchdog.start()
        return _watchdog


@contextmanager
def time_limit(
    seconds: float,
    message: str,
    *,
    test_id: str = "",
    stderr: int = 2,
    on_kill: Callable[[], None] | None = None,
) -> Iterator[None]:
    """Run the body with a limit of ``seconds`` (0 or less: no limit).

    ``message`` becomes the :class:`ImplementationTimeout` text, e.g. which implementation and
    test took too long. Should the process have to be ended (stage 3), the message, ``test_id``
    and every thread's stack are written to the file descriptor ``stderr`` first, then
    ``on_kill`` is called (on the watchdog thread, while the stuck thread still is).
    """
    if seconds <= 0:
        yield
        return
    use_alarm = _alarm_usable()
    watchdog = _get_watchdog()
    first = time.monotonic() + seconds + (GRACE if use_alarm else 0)
    job = _Job(threading.get_ident(), message, first, test_id, stderr, on_kill)
    watchdog.arm(job)
    try:
        if use_alarm:
            with _alarm(seconds, message):
                yield
        else:
            yield
    finally:
        watchdog.disarm(job)
