"""The arena: the fixed address range every conformance case maps into, in page units."""

from __future__ import annotations

from pytest_anonvma.constants import PAGE_SIZE

__all__ = ["ARENA_BASE", "ARENA_PAGES", "page_addr"]

#: start of the arena (2 MiB aligned, far from anything a Python process maps by itself)
ARENA_BASE = 0x2000_0000_0000
#: size of the arena in pages (4 MiB: two PMD-sized page tables, enough for THP retraction cases)
ARENA_PAGES = 1024


def page_addr(page: int, skew: int = 0) -> int:
    """The address of arena page ``page`` plus ``skew`` bytes."""
    return ARENA_BASE + page * PAGE_SIZE + skew
