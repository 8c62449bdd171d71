"""Looking at address spaces cheaply: page states in bulk, and only those a step can change.

:func:`page_states` reads a range of arena pages in one call of the contract's optional
``page_states(addr, npages)`` when the implementation has it (docs/contract.md, "Optional
bulk observation"), else one ``page()`` a page: every page of every address space is looked at
after every step. :func:`reach` says which address spaces one action can change: the lockstep's
first pass reads VMAs and counters and validates only those, checks every address space at the
end of the case, and a failing case or one that does not settle is replayed reading and
validating everything after every step (:func:`pytest_anonvma.generate.lockstep.first_failure`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from pytest_anonvma.cases.arena import page_addr
from pytest_anonvma.cases.steps import (
    Action,
    Checkpoint,
    Fork,
    Madvise,
    Memfd,
)
from pytest_anonvma.conformity import ContractViolation, checked, shown
from pytest_anonvma.generate.oracles import VmaView

__all__ = [
    "Reach",
    "bulk_reader",
    "covers",
    "observe_pages",
    "observe_views",
    "page_states",
    "reach",
    "view",
]


def bulk_reader(mm: Any) -> Callable[[int, int], str] | None:
    """``mm.page_states`` if its class defines it no higher than ``page()``; None otherwise.

    A subclass that overrides ``page()`` without overriding ``page_states()`` (a toy built on
    a bundled model, say) is read through its own ``page()``.
    """
    if not _has_bulk(mm.__class__):
        return None
    bulk = getattr(mm, "page_states", None)
    return bulk if callable(bulk) else None


@functools.cache
def _has_bulk(cls: type) -> bool:
    """Does ``cls`` define ``page_states`` no higher in its MRO than ``page``?"""
    for klass in cls.__mro__:
        attrs = vars(klass)
        if "page_states" in attrs:
            return True
        if "page" in attrs:
            return False
    return False


def page_states(mm: Any, first: int, count: int) -> str:
    """The page-state characters (``.`` ``P`` ``G``) of arena pages ``first..first+count-1``."""
    if count <= 0:
        return ""
    bulk = bulk_reader(mm)
    if bulk is None:
        return "".join(checked(mm, "page", mm.page(page_addr(p))).char
                       for p in range(first, first + count))
    states = checked(mm, "page_states", bulk(page_addr(first), count))
    if len(states) != count:
        raise ContractViolation(f"{type(mm).__qualname__}.page_states() returned "
                                f"{shown(states)}; the contract expects a str of {count} "
                                "page-state characters")
    return states


def view(mm: Any) -> VmaView:
    """The arena VMAs of ``mm`` and its counters (none without ``stats``)."""
    stats = checked(mm, "stats", mm.stats()) if "stats" in mm.capabilities else {}
    return VmaView.of(checked(mm, "vmas", mm.vmas()), stats)


#: the address spaces a step can change, by name; None: every one
Reach = tuple[str, ...] | None


def covers(where: Reach, name: str) -> bool:
    """Can a step that reaches ``where`` change address space ``name``?"""
    return where is None or name in where


def observe_pages(mms: Mapping[str, Any], width: int) -> dict[str, str]:
    """The page-state string of arena pages ``0..width-1`` of every address space, by name."""
    return {name: page_states(mm, 0, width) for name, mm in mms.items()}


def observe_views(mms: Mapping[str, Any], views: Mapping[str, VmaView],
                  where: Reach) -> dict[str, VmaView]:
    """``views`` with the address spaces ``where`` covers (and any new one) read again."""
    out = dict(views)
    for name, mm in mms.items():
        if name not in out or covers(where, name):
            out[name] = view(mm)
    return out


def reach(step: Action) -> Reach:
    """The address spaces ``step`` can change: its own (the child too for a fork); every one
    for ``MADV_REMOVE``, whose hole in a shared file is zapped in every mapping of the file
    (``unmap_mapping_range``); none for ``memfd`` and ``checkpoint``. Within one, any page: a
    MAP_FIXED mmap unmaps what it replaces, a read fault maps the cached file pages around the
    faulting one (``do_fault_around``), an mremap moves pages."""
    if isinstance(step, (Memfd, Checkpoint)):
        return ()
    if isinstance(step, Fork):
        return (step.mm, step.child)
    if isinstance(step, Madvise) and step.advice == "remove":
        return None
    return (step.mm,)
