"""Playing one action step on an address space and reporting what happened (its :class:`Outcome`).

The curated-case runner compares each action with the outcome its case file states; generated
steps carry no outcome, so here the outcome is recorded instead, for the oracles to compare. The
system-call arguments come from :func:`pytest_anonvma.cases.runner.syscall_args`, shared with the
runner.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pytest_anonvma.cases.arena import page_addr
from pytest_anonvma.cases.runner import syscall_args
from pytest_anonvma.cases.steps import Action, Fork, Memfd, Mmap, RangeAction, Read, Touch, Write
from pytest_anonvma.constants import PAGE_SIZE
from pytest_anonvma.contract import MM, MemoryFault

__all__ = ["OK", "Outcome", "Space", "perform"]

#: the outcome of an action that succeeded without a value
OK = "ok"


@dataclass(frozen=True)
class Outcome:
    """What one action did: ``OK``, an errno name (``ENOMEM``), or for a touch a signal name
    (``SIGSEGV``) or, for a read, the byte read (``value``). A touch of several pages stops at
    the first fault: ``page`` is the page it stopped at."""

    result: str = OK
    value: int | None = None
    page: int | None = None

    @property
    def ok(self) -> bool:
        """Did the action succeed (no errno, no signal)?"""
        return self.result == OK

    def describe(self) -> str:
        """A short human reading: ``ok``, ``-> ENOMEM``, ``== 0x5a``, ``SIGSEGV at page 3``."""
        if self.value is not None:
            return f"== {self.value:#x}"
        if self.result == OK:
            return OK
        if self.page is not None:
            return f"{self.result} at page {self.page}"
        return f"-> {self.result}"


@dataclass
class Space:
    """The address spaces of one run by name (``parent`` first, then fork children), the
    factory that made the parent, and the run's memfds by name."""

    factory: Callable[[], MM]
    mms: dict[str, MM] = field(default_factory=dict)
    files: dict[str, Any] = field(default_factory=dict)

    def close(self) -> None:
        """Close every address space, children first."""
        for name in reversed(list(self.mms)):
            self.mms.pop(name).close()


def _errno_name(exc: OSError) -> str:
    return errno.errorcode.get(exc.errno or 0, f"errno {exc.errno}")


def _touch(step: Touch, mm: MM) -> Outcome:
    value = None
    for page in range(step.first, step.last + 1):
        try:
            if isinstance(step, Write):
                mm.write(page_addr(page), step.value)
            else:
                value = mm.read(page_addr(page))
        except MemoryFault as fault:
            return Outcome(fault.signal_name, page=page)
    return Outcome(value=value) if isinstance(step, Read) and step.first == step.last else Outcome()


def perform(step: Action, space: Space) -> Outcome:
    """Run ``step`` on its address space in ``space``; an ``OSError`` becomes its errno name, a
    fault its signal name. A ``memfd`` step creates the named file; an ``mmap`` of a file not
    created yet is a ``ValueError`` (a malformed sequence, not an outcome)."""
    mm = space.mms[step.mm]
    try:
        if isinstance(step, Touch):
            return _touch(step, mm)
        if isinstance(step, Fork):
            space.mms[step.child] = mm.fork()
        elif isinstance(step, Memfd):
            space.files[step.name] = mm.memfd(step.name, step.pages * PAGE_SIZE)
        elif isinstance(step, Mmap):
            if step.file and step.file not in space.files:
                raise ValueError(f"'{step.format()}' maps memfd {step.file!r} before a 'memfd' "
                                 "step creates it")
            method, args = syscall_args(step, space.files.get(step.file or ""))
            getattr(mm, method)(*args)
        elif isinstance(step, RangeAction):
            method, args = syscall_args(step)
            getattr(mm, method)(*args)
        else:
            raise ValueError(f"cannot perform {step.format()!r}")
    except OSError as exc:
        return Outcome(_errno_name(exc))
    return Outcome()
