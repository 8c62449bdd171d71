"""Playing one action step on an address space and reporting what happened (its :class:`Outcome`).

The curated-case runner compares each action with the outcome its case file states; generated
steps carry no outcome, so here the outcome is recorded instead, for the oracles to compare. Both
make the MM calls the step itself lists (:meth:`~pytest_anonvma.cases.steps.Action.calls`) and
keep what they create in a :class:`~pytest_anonvma.cases.space.Space`.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

from pytest_anonvma.cases.space import Space
from pytest_anonvma.cases.steps import Action, Read
from pytest_anonvma.conformity import checked
from pytest_anonvma.contract import MemoryFault

__all__ = ["OK", "Outcome", "perform"]

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


def _errno_name(exc: OSError) -> str:
    return errno.errorcode.get(exc.errno or 0, f"errno {exc.errno}")


def perform(step: Action, space: Space) -> Outcome:
    """Run ``step`` on its address space in ``space`` (the MM calls of
    :meth:`~pytest_anonvma.cases.steps.Action.calls`); an ``OSError`` becomes its errno name, a
    fault its signal name (a touch of several pages stops at the first). A ``fork`` keeps the
    child and a ``memfd`` the file in ``space``; an ``mmap`` of a file not created yet is a
    ``ValueError`` (a malformed sequence, not an outcome)."""
    mm = space.mms[step.mm]
    missing = sorted(step.memfds() - space.files.keys())
    if missing:
        raise ValueError(f"'{step.format()}' maps memfd {missing[0]!r} before a 'memfd' step "
                         "creates it")
    result = None
    try:
        calls = step.calls(space.files)
        for call in calls:
            try:
                result = checked(mm, call.method, call.on(mm))
            except MemoryFault as fault:
                return Outcome(fault.signal_name, page=call.page)
            space.keep(call, result)
    except OSError as exc:
        return Outcome(_errno_name(exc))
    return Outcome(value=result) if isinstance(step, Read) and len(calls) == 1 else Outcome()
