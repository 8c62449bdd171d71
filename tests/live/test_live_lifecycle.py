"""Sandbox lifecycle: death mid-case, timeouts, reaping (close, GC, interpreter exit), skip
reasons, and isolation of the pytest process from the address spaces under test."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from live_helpers import ANON, RW, P, addr

import pytest_anonvma as av
from pytest_anonvma.cases.arena import ARENA_BASE, ARENA_PAGES
from pytest_anonvma.contract import ImplementationDied
from pytest_anonvma.live import (
    LiveMM,
    LiveUnavailable,
    SandboxDied,
    SandboxError,
    SandboxTimeout,
    build,
    live_unavailable_reason,
    probe,
)
from pytest_anonvma.live.protocol import Op, Reply


def _gone(pid: int) -> bool:
    """True once ``pid`` is reaped (a zombie still has a /proc entry)."""
    return not os.path.exists(f"/proc/{pid}")


def test_killed_sandbox_makes_the_next_operation_raise(mm: LiveMM) -> None:
    """A sandbox killed between steps: every later operation says so, naming the signal."""
    mm.mmap(addr(0), P, RW, ANON)
    pid = mm.pid
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(
        SandboxDied,
        match=rf"pid {pid} died \(killed by SIGKILL\) (before|while executing) read\(0x",
    ):
        mm.read(addr(0))
    assert _gone(pid)
    with pytest.raises(SandboxDied, match="killed by SIGKILL"):
        mm.vmas()
    with pytest.raises(SandboxDied):
        mm.page(addr(0))
    mm.close()
    with pytest.raises(SandboxError, match="is closed"):
        mm.mprotect(addr(0), P, RW)


def test_a_step_that_kills_the_sandbox_is_reported(mm: LiveMM) -> None:
    """Unmapping the sandbox's own code kills it on return from the syscall (SIGSEGV while the
    handler's code is gone too): the munmap itself reports the death."""
    with open(f"/proc/{mm.pid}/maps", encoding="ascii") as maps:
        text = next(line for line in maps if line.split()[1] == "r-xp")
    lo, hi = (int(x, 16) for x in text.split()[0].split("-"))
    with pytest.raises(SandboxDied, match=r"died \(killed by SIGSEGV\) while executing munmap\("):
        mm.munmap(lo, hi - lo)


def test_a_stopped_sandbox_times_out_and_is_reaped(live_available: None) -> None:
    """A sandbox that does not answer within its timeout is killed and reaped; later operations
    report it as dead."""
    mm = LiveMM(timeout=0.2)
    pid = mm.pid
    os.kill(pid, signal.SIGSTOP)
    with pytest.raises(SandboxTimeout, match=r"did not answer mmap\(.*\) within 0.2s"):
        mm.mmap(addr(0), P, RW, ANON)
    assert _gone(pid)
    with pytest.raises(SandboxDied, match=r"no answer within 0\.2s"):
        mm.read(addr(0))
    mm.close()


def test_timeout_is_an_instance_of_timeouterror() -> None:
    """Callers catching TimeoutError see sandbox timeouts too."""
    assert issubclass(SandboxTimeout, TimeoutError)
    assert issubclass(SandboxDied, SandboxError)


def test_death_and_timeout_are_implementation_deaths() -> None:
    """Both end the sandbox: the contract's ImplementationDied, which lockstep lets through."""
    assert issubclass(SandboxDied, ImplementationDied)
    assert issubclass(SandboxTimeout, ImplementationDied)


def test_close_reaps_parent_and_child_and_is_idempotent(mm: LiveMM) -> None:
    """close() kills and reaps; a second close is harmless; the context manager closes."""
    with mm.fork() as child:
        child_pid = child.pid
    assert _gone(child_pid)
    pid = mm.pid
    mm.close()
    mm.close()
    assert _gone(pid)
    assert "closed" in repr(mm)


def test_garbage_collected_sandboxes_are_reaped(live_available: None) -> None:
    """A LiveMM dropped without close() is killed and reaped by its finalizer."""
    mm = LiveMM()
    child = mm.fork()
    pids = (mm.pid, child.pid)
    del mm, child
    gc.collect()
    assert all(_gone(pid) for pid in pids)


def test_sandboxes_are_reaped_at_interpreter_exit(live_available: None, tmp_path: Path) -> None:
    """Sandboxes still open at exit are reaped by the finalizers' atexit hook: an atexit
    function registered before them runs after them and finds the processes gone (an unreaped
    sandbox would still have a /proc entry, as a zombie at least)."""
    script = textwrap.dedent(
        """
        import atexit, os
        pids = []
        atexit.register(lambda: print([os.path.exists(f"/proc/{p}") for p in pids]))
        from pytest_anonvma.live import LiveMM
        mm = LiveMM()
        child = mm.fork()
        pids += [mm.pid, child.pid]
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, cwd=tmp_path, timeout=60)
    assert out.stdout.strip() == "[False, False]"


def test_the_pytest_process_maps_nothing_in_the_arena(mm: LiveMM) -> None:
    """Operations run in the sandbox, never in the controller's own address space."""
    mm.mmap(addr(0), 8 * P, RW, ANON)
    mm.write(addr(0), 1)
    hi = ARENA_BASE + ARENA_PAGES * P
    with open("/proc/self/maps", encoding="ascii") as maps:
        for line in maps:
            lo_text, hi_text = line.split()[0].split("-")
            assert not (int(lo_text, 16) < hi and int(hi_text, 16) > ARENA_BASE), line


def test_registry_loads_live(live_available: None) -> None:
    """The registry's ``live`` name gives a LiveMM."""
    mm = av.load("live")
    try:
        assert isinstance(mm, LiveMM)
        assert isinstance(mm, av.MM)
    finally:
        mm.close()


# --- skip reasons --------------------------------------------------------------------------------


@pytest.fixture
def fresh_probe() -> Iterator[None]:
    """Forget cached probe and build results before and after the test."""
    probe._probe.cache_clear()
    build.sandbox_binary.cache_clear()
    yield
    probe._probe.cache_clear()
    build.sandbox_binary.cache_clear()


def test_reason_not_linux(fresh_probe: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Elsewhere than Linux the backend is unavailable, and LiveMM() says why."""
    monkeypatch.setattr(sys, "platform", "darwin")
    assert live_unavailable_reason() == "the live backend needs Linux (this is darwin)"
    with pytest.raises(LiveUnavailable, match="needs Linux"):
        LiveMM()


def test_reason_no_compiler(
    fresh_probe: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without a C compiler (and no cached sandbox) the reason says how to fix it."""
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    monkeypatch.setenv("PYTEST_ANONVMA_CACHE", str(tmp_path / "cache"))
    assert live_unavailable_reason() == (
        "cannot build the live sandbox: no C compiler found (set CC or install cc)"
    )


def test_reason_compiler_fails(
    fresh_probe: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A compiler that fails gives a one-line reason naming it."""
    monkeypatch.setenv("CC", "false")
    monkeypatch.setenv("PYTEST_ANONVMA_CACHE", str(tmp_path / "cache"))
    reason = live_unavailable_reason()
    assert reason is not None
    assert reason.startswith("cannot build the live sandbox: false failed")
    assert "\n" not in reason


class _FakeSandbox:
    """Stands in for a sandbox on a kernel without some feature (the probe only calls these)."""

    def __init__(self, pid: int, madvise_errno: int = 0, pagemap_entry: int = 1 << 58) -> None:
        self.pid = pid
        self.madvise_errno = madvise_errno
        self.pagemap_entry = pagemap_entry

    def call(self, op: Op, *args: int) -> Reply:
        err = self.madvise_errno if op is Op.MADVISE else 0
        return Reply(-1 if err else 0, err, 0, 0, 0)

    def pagemap(self, addr: int) -> list[int]:
        return [self.pagemap_entry]


def test_reason_kernel_without_guard_regions() -> None:
    """Before v6.13 madvise rejects advice 102 with EINVAL (mm/madvise.c madvise_behavior_valid)."""
    fake = _FakeSandbox(os.getpid(), madvise_errno=22)
    assert probe._probe_sandbox(fake, "6.12.0") == (  # type: ignore[arg-type]
        "kernel 6.12.0 has no guard regions (madvise MADV_GUARD_INSTALL: Invalid argument; "
        "needs Linux >= 6.13)"
    )


def test_reason_pagemap_without_guard_bit() -> None:
    """v6.13/6.14 have guard regions but pagemap does not show them (bit 58 came in 6.15)."""
    fake = _FakeSandbox(os.getpid(), pagemap_entry=1 << 62)
    reason = probe._probe_sandbox(fake, "6.14.0")  # type: ignore[arg-type]
    assert reason == ("kernel 6.14.0 does not show guard markers in pagemap "
                      "(PM_GUARD_REGION, bit 58; needs Linux >= 6.15)")


def test_reason_proc_unreadable() -> None:
    """An unreadable /proc/PID/smaps (here: no such process) is a reason, in one line."""
    fake = _FakeSandbox(2**22 + 12345)
    reason = probe._probe_sandbox(fake, "6.18")  # type: ignore[arg-type]
    assert reason == "cannot read /proc/PID/smaps of a sandbox: No such file or directory"


def test_timeout_must_be_positive(live_available: None) -> None:
    """A zero or negative timeout is refused before any process starts."""
    with pytest.raises(ValueError, match="positive number of seconds, got 0"):
        LiveMM(timeout=0)


def test_an_interrupted_request_retires_the_sandbox(mm: LiveMM) -> None:
    """An exception raised while waiting for an answer (as a test time limit's SIGALRM handler
    does) kills the sandbox: its late answer must never be taken for the next request's."""
    mm.mmap(addr(0), P, RW, ANON)
    pid = mm.pid
    os.kill(pid, signal.SIGSTOP)

    class Interrupt(BaseException):
        """Stands in for the plugin's ImplementationTimeout (also a BaseException)."""

    def interrupt(signum: int, frame: object) -> None:
        raise Interrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.1)
    try:
        with pytest.raises(Interrupt):
            mm.read(addr(0))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert _gone(pid)
    with pytest.raises(SandboxDied, match="interrupted by Interrupt"):
        mm.read(addr(0))
