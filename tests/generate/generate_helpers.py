"""Toy implementations for the generate tests: the bundled reference with one deliberate bug.

Each toy wraps a reference :class:`~pytest_anonvma.model.engine.ModelMM` and breaks one promise
of the kernel through the public contract only, so the tests can show which oracle catches it.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

from pytest_anonvma.cases.arena import page_addr
from pytest_anonvma.cases.steps import Action, parse_steps
from pytest_anonvma.constants import MADV_GUARD_INSTALL, MADV_GUARD_REMOVE, PAGE_SIZE
from pytest_anonvma.contract import MemoryFault, PageState, VMAInfo
from pytest_anonvma.model.engine import ModelMM

#: arena pages the toys look at
TOY_PAGES = 32


def actions(text: str) -> list[Action]:
    """Parse step lines that are all actions."""
    steps = parse_steps(text)
    assert all(isinstance(s, Action) for s in steps)
    return [s for s in steps if isinstance(s, Action)]


class Toy:
    """The reference, under another design name (so only design-independent oracles apply)."""

    design = "toy"

    def __init__(self, inner: ModelMM | None = None, family: list[Toy] | None = None) -> None:
        self.inner = inner if inner is not None else ModelMM("reference")
        self.capabilities = self.inner.capabilities
        self.era = self.inner.era
        self.family = family if family is not None else []
        self.family.append(self)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def fork(self) -> Toy:
        return type(self)(self.inner.fork(), self.family)


class MarkersLostOnFork(Toy):
    """fork() leaves the child without any guard marker (what rfc-v1 does after a merge)."""

    def fork(self) -> Toy:
        child = super().fork()
        for page in range(TOY_PAGES):
            if child.inner.page(page_addr(page)) is PageState.GUARD:
                child.inner.madvise(page_addr(page), PAGE_SIZE, MADV_GUARD_REMOVE)
        return child


class NoCopyOnWrite(Toy):
    """A write lands in every address space of the fork family that maps the page."""

    def write(self, addr: int, value: int) -> None:
        self.inner.write(addr, value)
        for other in self.family:
            if other is not self and not other.inner.closed:
                with contextlib.suppress(MemoryFault, OSError):
                    other.inner.write(addr, value)


class GhostMarkers(Toy):
    """munmap leaves the unmapped pages showing their guard markers."""

    def __init__(self, inner: ModelMM | None = None, family: list[Toy] | None = None) -> None:
        super().__init__(inner, family)
        self.ghosts: set[int] = set()

    def munmap(self, addr: int, length: int) -> None:
        for a in range(addr, addr + length, PAGE_SIZE):
            if self.inner.page(a) is PageState.GUARD:
                self.ghosts.add(a)
        self.inner.munmap(addr, length)

    def page(self, addr: int) -> PageState:
        if addr & ~(PAGE_SIZE - 1) in self.ghosts:
            return PageState.GUARD
        return self.inner.page(addr)


class SilentGuardErrors(Toy):
    """A failing guard install reports success."""

    def madvise(self, addr: int, length: int, advice: int) -> None:
        try:
            self.inner.madvise(addr, length, advice)
        except OSError:
            if advice != MADV_GUARD_INSTALL:
                raise


class BrokenValidate(Toy):
    """validate() reports a broken tree once anything was unmapped."""

    def __init__(self, inner: ModelMM | None = None, family: list[Toy] | None = None) -> None:
        super().__init__(inner, family)
        self.unmapped = False

    def munmap(self, addr: int, length: int) -> None:
        self.inner.munmap(addr, length)
        self.unmapped = True

    def validate(self) -> None:
        self.inner.validate()
        if self.unmapped:
            raise AssertionError("toy: maple tree out of order")


class RfcV1ClaimingReference(Toy):
    """rfc-v1 presenting itself as the reference design: its merges drop ANON_VMA_UNFAULTED."""

    design = "reference"

    def __init__(self, inner: ModelMM | None = None, family: list[Toy] | None = None) -> None:
        super().__init__(inner if inner is not None else ModelMM("rfc-v1"), family)


class SplitsEveryVma(Toy):
    """The reference design, but vmas() shows every VMA of two or more pages cut after its
    first page (a layout no kernel produces)."""

    design = "reference"

    def vmas(self) -> list[VMAInfo]:
        out = []
        for vma in self.inner.vmas():
            if vma.end - vma.start >= 2 * PAGE_SIZE:
                cut = vma.start + PAGE_SIZE
                out += [dataclasses.replace(vma, end=cut), dataclasses.replace(vma, start=cut)]
            else:
                out.append(vma)
        return out
