"""The public contract every model of the patch implements: the ``MM`` protocol and its values.

``docs/contract.md`` is the prose version of this module. Expected behaviour is the kernel's:
errors are ``OSError`` with the kernel's errno, touches fault like the CPU would.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "MM",
    "BusError",
    "ImplementationDied",
    "MemoryFault",
    "PageState",
    "SegmentationFault",
    "ShmemFile",
    "VMAInfo",
]


class PageState(enum.Enum):
    """The page-table entry of one page, as seen without faulting it in."""

    NONE = "."  #: empty: no page, no marker (a touch may fault a page in)
    PRESENT = "P"  #: a present page (anonymous, zero page or file page)
    GUARD = "G"  #: a guard marker (a touch raises SIGSEGV)

    @property
    def char(self) -> str:
        """The one-character picture used in ``pages`` expectations and diagrams."""
        return self.value


class ImplementationDied(Exception):
    """The implementation can answer no more calls: its process ended or was killed (the live
    backend's sandbox, for one). A crash of the implementation, not a disagreement: generated
    cases, the shrinker and the explorer stop at it and make it the test's failure."""


class MemoryFault(Exception):
    """A touch that the CPU would turn into a signal; ``addr`` is the faulting address."""

    signal_name = "SIGNAL"

    def __init__(self, addr: int, reason: str = "") -> None:
        self.addr = addr
        self.reason = reason
        detail = f" ({reason})" if reason else ""
        super().__init__(f"{self.signal_name} at {addr:#x}{detail}")


class SegmentationFault(MemoryFault):
    """SIGSEGV: a guard marker, no VMA, or no permission."""

    signal_name = "SIGSEGV"


class BusError(MemoryFault):
    """SIGBUS: a file page past the end of its file."""

    signal_name = "SIGBUS"


@dataclass(frozen=True)
class VMAInfo:
    """One VMA as an implementation shows it (``MM.vmas()``); ``end`` is exclusive."""

    start: int
    end: int
    prot: int
    flags: frozenset[str] = field(default_factory=frozenset)
    pgoff: int = 0
    file: str | None = None
    #: a hashable identity of the real anon_vma (the masked pointer), or None
    anon_vma: Any = None
    #: the anon_vma word's flag bits (ANON_VMA_UNFAULTED = 1); 0 where a design has none
    anon_vma_flags: int = 0
    #: would fork copy this VMA's page tables on the anon_vma side (pointer or flag set)
    maybe_has_pagetables: bool = False

    @property
    def pages(self) -> int:
        """Length in pages."""
        return (self.end - self.start) // 4096


@runtime_checkable
class ShmemFile(Protocol):
    """A shmem file handle returned by ``MM.memfd`` and accepted by ``MM.mmap(file=...)``."""

    name: str


@runtime_checkable
class MM(Protocol):
    """A simulated (or live) address space: the contract every implementation fulfils."""

    capabilities: frozenset[str]

    def mmap(
        self,
        addr: int | None,
        length: int,
        prot: int,
        flags: int,
        file: Any = None,
        offset: int = 0,
    ) -> int:
        """Map ``length`` bytes; returns the start address (``mmap(2)``)."""
        ...

    def munmap(self, addr: int, length: int) -> None:
        """Unmap a range (``munmap(2)``)."""
        ...

    def mprotect(self, addr: int, length: int, prot: int) -> None:
        """Change protection (``mprotect(2)``)."""
        ...

    def madvise(self, addr: int, length: int, advice: int) -> None:
        """Give advice, including guard install/remove (``madvise(2)``)."""
        ...

    def mlock(self, addr: int, length: int) -> None:
        """Lock pages in memory (``mlock(2)``)."""
        ...

    def munlock(self, addr: int, length: int) -> None:
        """Unlock pages (``munlock(2)``)."""
        ...

    def mremap(
        self,
        old_addr: int,
        old_length: int,
        new_length: int,
        flags: int = 0,
        new_addr: int | None = None,
    ) -> int:
        """Resize and/or move a mapping (``mremap(2)``); returns the new address."""
        ...

    def memfd(self, name: str, length: int) -> Any:
        """Create a shmem file of ``length`` bytes (``memfd_create`` + ``ftruncate``)."""
        ...

    def read(self, addr: int) -> int:
        """Read one byte as the CPU would, faulting as needed."""
        ...

    def write(self, addr: int, value: int) -> None:
        """Write one byte as the CPU would, faulting as needed."""
        ...

    def page(self, addr: int) -> PageState:
        """The page-table state of the page holding ``addr``, without faulting."""
        ...

    def fork(self) -> MM:
        """Fork: a child address space that evolves independently afterwards."""
        ...

    def vmas(self) -> list[VMAInfo]:
        """Every VMA, sorted by start."""
        ...

    def stats(self) -> Mapping[str, int]:
        """Allocation and fork counters over this mm's life."""
        ...

    def retractable(self, addr: int) -> bool:
        """Would khugepaged's page-table retraction free the table covering ``addr``."""
        ...

    def close(self) -> None:
        """Release the address space (and any process behind it)."""
        ...

    def __enter__(self) -> MM:
        """Context-manager entry: returns self."""
        ...

    def __exit__(self, *exc: object) -> None:
        """Context-manager exit: closes."""
        ...
