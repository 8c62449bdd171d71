"""Deliberately wrong models for the soak tests (loaded as ``soak_toys:NAME``)."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time
from pathlib import Path

from pytest_anonvma import constants as C
from pytest_anonvma.cases.arena import page_addr
from pytest_anonvma.contract import PageState
from pytest_anonvma.generate.generator import WINDOW
from pytest_anonvma.model.engine import ModelMM


class MaybeGuard(ModelMM):
    """maybe-guard on 6.18 (the base of the toys; a subclass may name another ``DESIGN``)."""

    DESIGN = "maybe-guard"

    def __init__(self) -> None:
        super().__init__(self.DESIGN, "6.18")


class ForgetfulFork(MaybeGuard):
    """maybe-guard on 6.18, except that a fork child loses every guard marker (the bug the
    patch is about: fork not copying the page tables of a guarded VMA)."""

    def fork(self) -> ModelMM:
        """Fork, then drop the child's markers."""
        child = super().fork()
        for page in range(WINDOW):
            if child.page(page_addr(page)) is PageState.GUARD:
                child.madvise(page_addr(page), C.PAGE_SIZE, C.MADV_GUARD_REMOVE)
        return child


class ForgetfulReference(ForgetfulFork):
    """The same bug in the reference design (a design other than the kernel's)."""

    DESIGN = "reference"


class ForgetfulOnce(ForgetfulFork):
    """A flaky model: only the first address space made (since ``made`` was reset) loses its
    fork children's markers."""

    made = 0

    def __init__(self) -> None:
        super().__init__()
        type(self).made += 1
        self.forgetful = type(self).made == 1

    def fork(self) -> ModelMM:
        """Fork, dropping the child's markers in the first address space only."""
        return super().fork() if self.forgetful else ModelMM.fork(self)


class RaisingMprotect(MaybeGuard):
    """maybe-guard whose mprotect raises a plain exception (neither an errno nor a fault)."""

    def mprotect(self, addr: int, length: int, prot: int) -> None:
        """Break."""
        raise RuntimeError("toy mprotect broke")


class ExitingMprotect(MaybeGuard):
    """maybe-guard whose mprotect calls ``sys.exit(0)``."""

    def mprotect(self, addr: int, length: int, prot: int) -> None:
        """Exit, claiming success."""
        sys.exit(0)


class SpinningMprotect(MaybeGuard):
    """maybe-guard whose mprotect never returns (a Python busy loop)."""

    def mprotect(self, addr: int, length: int, prot: int) -> None:
        """Spin forever."""
        while True:
            pass


class SleepingMprotect(MaybeGuard):
    """maybe-guard whose mprotect blocks in a system call for an hour (first creating the file
    named by the environment variable ``SOAK_TOYS_SLEEPING``, if set, to say it has begun)."""

    def mprotect(self, addr: int, length: int, prot: int) -> None:
        """Sleep."""
        flag = os.environ.get("SOAK_TOYS_SLEEPING")
        if flag:
            Path(flag).touch()
        time.sleep(3600)


class StuckMprotect(MaybeGuard):
    """maybe-guard whose mprotect blocks with every signal blocked, so that neither SIGALRM
    nor an asynchronous exception can interrupt it (like a model stuck in C code)."""

    def mprotect(self, addr: int, length: int, prot: int) -> None:
        """Block the signals, then sleep."""
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM, signal.SIGINT})
        time.sleep(3600)


class SegfaultingMprotect(MaybeGuard):
    """maybe-guard whose mprotect crashes the process (a read of address 0 from C code)."""

    def mprotect(self, addr: int, length: int, prot: int) -> None:
        """Crash."""
        ctypes.string_at(0)


class StringPages(MaybeGuard):
    """maybe-guard whose page() answers a string instead of a PageState."""

    def page(self, addr: int) -> PageState:
        """The state's character (wrong type)."""
        return super().page(addr).char  # type: ignore[return-value]


class ChildCloseRaises(MaybeGuard):
    """maybe-guard whose fork children raise when closed (the parent closes fine)."""

    def fork(self) -> ModelMM:
        """Fork a child whose close raises."""
        child = super().fork()

        def close() -> None:
            raise RuntimeError("toy child close broke")

        child.close = close  # type: ignore[method-assign]
        return child


def factory_raises() -> ModelMM:
    """A factory that cannot build anything."""
    raise RuntimeError("toy factory broke")


def factory_of_nothing() -> None:
    """A factory that returns None instead of an address space."""
