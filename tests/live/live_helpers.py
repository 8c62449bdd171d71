"""Shared constants and helpers of the live-backend tests (arena addresses, common flags)."""

from __future__ import annotations

from pytest_anonvma import constants as C
from pytest_anonvma.cases.arena import ARENA_BASE

P = C.PAGE_SIZE
RW = C.PROT_READ | C.PROT_WRITE
ANON = C.MAP_PRIVATE | C.MAP_ANONYMOUS | C.MAP_FIXED


def addr(page: int) -> int:
    """The address of arena page ``page``."""
    return ARENA_BASE + page * P


def page_of(address: int) -> int:
    """The arena page number of ``address``."""
    return (address - ARENA_BASE) // P
