"""A tiny in-test address space for runner tests, with switches that make it deliberately wrong.

It follows the kernel where the tests below rely on it (guard markers fault, MADV_DONTNEED keeps
them, fork copies them, ENOMEM after processing the mapped part of a range with a hole) and
nothing more: no merging, no files, no anon_vma.
"""

from __future__ import annotations

import errno
import itertools
from typing import Any

from pytest_anonvma import constants as C
from pytest_anonvma.contract import PageState, SegmentationFault, VMAInfo

P = C.PAGE_SIZE


class ToyMM:
    """A toy MM; ``log`` (shared with forks) records ``(name, method)`` of every call."""

    def __init__(
        self,
        log: list[tuple[str, str]] | None = None,
        name: str = "root",
        *,
        ignore_guards: bool = False,
        guards_lost_on_fork: bool = False,
        capabilities: frozenset[str] = frozenset({"pages", "layout", "fork", "stats"}),
        design: str | None = None,
        era: str | None = None,
    ) -> None:
        self.log = [] if log is None else log
        self.name = name
        self.ignore_guards = ignore_guards
        self.guards_lost_on_fork = guards_lost_on_fork
        self.capabilities = capabilities
        if design is not None:
            self.design = design
        if era is not None:
            self.era = era
        self.maps: list[list[int]] = []  # [start, end, prot]
        self.ptes: dict[int, Any] = {}  # page address -> "G" or a byte value
        self.counters = {"anon_vma_allocs": 0, "fork_pagetable_copies": 0}
        self.forks = 0
        self.closed = False

    def _note(self, method: str) -> None:
        self.log.append((self.name, method))

    def _carve(self, start: int, end: int) -> None:
        """Split mappings at ``start`` and ``end``."""
        pieces = []
        for s, e, prot in self.maps:
            cuts = sorted({s, e, *(x for x in (start, end) if s < x < e)})
            pieces += [[a, b, prot] for a, b in itertools.pairwise(cuts)]
        self.maps = sorted(pieces)

    def _mapped(self, addr: int) -> list[int] | None:
        return next((m for m in self.maps if m[0] <= addr < m[1]), None)

    def mmap(
        self,
        addr: int | None,
        length: int,
        prot: int,
        flags: int,
        file: Any = None,
        offset: int = 0,
    ) -> int:
        self._note("mmap")
        assert addr is not None
        self.munmap(addr, length)
        self.maps = sorted([*self.maps, [addr, addr + length, prot]])
        return addr

    def munmap(self, addr: int, length: int) -> None:
        self._note("munmap")
        self._carve(addr, addr + length)
        self.maps = [m for m in self.maps if not addr <= m[0] < addr + length]
        for page in range(addr, addr + length, P):
            self.ptes.pop(page, None)

    def mprotect(self, addr: int, length: int, prot: int) -> None:
        self._note("mprotect")
        self._carve(addr, addr + length)
        for m in self.maps:
            if addr <= m[0] < addr + length:
                m[2] = prot

    def madvise(self, addr: int, length: int, advice: int) -> None:
        self._note("madvise")
        if addr % P:
            raise OSError(errno.EINVAL, "unaligned")
        hole = False
        for page in range(addr, addr + length, P):
            if self._mapped(page) is None:
                hole = True
            elif advice == C.MADV_GUARD_INSTALL and not self.ignore_guards:
                self.ptes[page] = "G"
            elif advice == C.MADV_GUARD_REMOVE and self.ptes.get(page) == "G":
                del self.ptes[page]
            elif advice == C.MADV_DONTNEED and self.ptes.get(page) != "G":
                self.ptes.pop(page, None)
        if hole:
            raise OSError(errno.ENOMEM, "hole")

    def _touch(self, addr: int, write: bool) -> None:
        vma = self._mapped(addr)
        need = C.PROT_WRITE if write else C.PROT_READ
        if vma is None or not vma[2] & need or self.ptes.get(addr - addr % P) == "G":
            raise SegmentationFault(addr)

    def read(self, addr: int) -> int:
        self._note("read")
        self._touch(addr, False)
        value = self.ptes.setdefault(addr - addr % P, 0)
        assert isinstance(value, int)
        return value

    def write(self, addr: int, value: int) -> None:
        self._note("write")
        self._touch(addr, True)
        if addr - addr % P not in self.ptes:
            self.counters["anon_vma_allocs"] += 1
        self.ptes[addr - addr % P] = value

    def page(self, addr: int) -> PageState:
        self._note("page")
        pte = self.ptes.get(addr - addr % P)
        if pte is None:
            return PageState.NONE
        return PageState.GUARD if pte == "G" else PageState.PRESENT

    def fork(self) -> ToyMM:
        self._note("fork")
        self.forks += 1
        child = ToyMM(
            self.log,
            f"{self.name}.{self.forks}",
            ignore_guards=self.ignore_guards,
            guards_lost_on_fork=self.guards_lost_on_fork,
            capabilities=self.capabilities,
        )
        child.maps = [list(m) for m in self.maps]
        child.ptes = {
            a: v for a, v in self.ptes.items() if not (self.guards_lost_on_fork and v == "G")
        }
        child.counters = dict(self.counters)  # a child starting with counts shows the runner's
        # "from zero" rule for address spaces created after the checkpoint
        self.counters["fork_pagetable_copies"] += 1
        return child

    def vmas(self) -> list[VMAInfo]:
        self._note("vmas")
        return [VMAInfo(s, e, prot) for s, e, prot in self.maps]

    def stats(self) -> dict[str, int]:
        self._note("stats")
        return dict(self.counters)

    def close(self) -> None:
        self._note("close")
        self.closed = True
