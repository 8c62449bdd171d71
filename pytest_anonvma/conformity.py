"""Checking that what an implementation returns has the contract's type (``docs/contract.md``).

The plugin reads an implementation's results (``vmas()``, ``page()``, ``stats()``...) through
:func:`checked`, so a result of the wrong type fails the case with one line naming the method,
the value and what the contract expects, instead of a ``TypeError`` deep inside the plugin.
:func:`not_an_address_space` tells whether a factory's product is an address space at all.

The checks are type checks only (``isinstance``, no copies): what the values mean is the
oracles' business.
"""

from __future__ import annotations

import dataclasses
import reprlib
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from pytest_anonvma.contract import PageState, VMAInfo

__all__ = ["CORE_METHODS", "ContractViolation", "checked", "not_an_address_space", "shown"]

#: the methods every address space has whatever its capabilities: it maps memory, shows its
#: mappings and can be closed (the others are needed only for the capabilities that use them)
CORE_METHODS = ("mmap", "vmas", "close")

#: the attributes a record that is not a VMAInfo must have to stand for one
_VMA_FIELDS = tuple(f.name for f in dataclasses.fields(VMAInfo))
_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 4


class ContractViolation(AssertionError):
    """An implementation returned a value the contract does not allow; ``str()`` is one line."""


def shown(value: Any) -> str:
    """``value`` shortened, with its type: ``3 (int)``."""
    return f"{_REPR.repr(value)} ({type(value).__name__})"


def _is_int(value: Any) -> bool:
    return type(value) is int or (isinstance(value, int) and not isinstance(value, bool))


def not_an_address_space(value: Any) -> str | None:
    """Why ``value`` is not an address space (``"it has no mmap()"``, malformed
    ``capabilities``), or None if it has the contract's shape."""
    if isinstance(value, type):
        return "it is a class, not an address space made by one"
    missing = [name for name in CORE_METHODS if not callable(getattr(value, name, None))]
    if missing:
        return f"it has no {', '.join(f'{name}()' for name in missing)}"
    caps: Any = getattr(value, "capabilities", frozenset())
    if (
        isinstance(caps, (str, bytes))
        or not isinstance(caps, Collection)
        or not all(isinstance(cap, str) for cap in caps)
    ):
        return f"its capabilities are {shown(caps)}, not a frozenset of str"
    return None


def _vma_problem(vma: Any) -> str | None:
    """Why one ``vmas()`` item is not a VMA record (None: it is one)."""
    if (type(vma) is VMAInfo and type(vma.start) is int and type(vma.end) is int
            and type(vma.prot) is int and vma.start < vma.end and type(vma.flags) is frozenset):
        return None  # the usual case, checked in one go (this runs for every VMA, every step)
    if not isinstance(vma, VMAInfo) and not all(hasattr(vma, f) for f in _VMA_FIELDS):
        return "is not a VMAInfo"
    if not (_is_int(vma.start) and _is_int(vma.end) and _is_int(vma.prot)):
        return "has a start, end or prot that is not an int"
    if vma.end <= vma.start:
        return "ends at or before its start"
    flags = vma.flags
    if isinstance(flags, (str, bytes)) or not isinstance(flags, Collection):
        return "has flags that are not a set of str"
    return None


def _vmas(value: Any) -> str | None:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        return "a list of VMAInfo sorted by start"
    for index, vma in enumerate(value):
        problem = _vma_problem(vma)
        if problem is not None:
            return f"a list of VMAInfo sorted by start; item {index}, {shown(vma)}, {problem}"
    return None


def _page(value: Any) -> str | None:
    if isinstance(value, PageState):
        return None
    return "a PageState (NONE '.', PRESENT 'P' or GUARD 'G')"


def _page_states(value: Any) -> str | None:
    if isinstance(value, str) and not value.strip(".PG"):
        return None
    return "a str of page-state characters ('.', 'P', 'G')"


def _stats(value: Any) -> str | None:
    if isinstance(value, Mapping) and all(
        isinstance(key, str) and _is_int(count) for key, count in value.items()
    ):
        return None
    return "a mapping of counter names (str) to counts (int)"


def _byte(value: Any) -> str | None:
    return None if _is_int(value) and 0 <= value <= 255 else "the byte read, an int 0..255"


def _address(value: Any) -> str | None:
    return None if _is_int(value) and value >= 0 else "the mapping's address, an int >= 0"


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "a bool"


def _child(value: Any) -> str | None:
    problem = not_an_address_space(value)
    return None if problem is None else f"the child address space ({problem})"


#: what each checked method must return: a function giving the contract's expectation when the
#: value breaks it; methods not listed are not checked
_EXPECTS: dict[str, Callable[[Any], str | None]] = {
    "vmas": _vmas,
    "page": _page,
    "page_states": _page_states,
    "stats": _stats,
    "read": _byte,
    "mmap": _address,
    "mremap": _address,
    "retractable": _boolean,
    "fork": _child,
}


def checked(mm: Any, method: str, value: Any) -> Any:
    """``value``, which ``mm.method(...)`` returned, if the contract allows it.

    Raises :class:`ContractViolation`, e.g. ``ToyMM.vmas() returned 3 (int); the contract
    expects a list of VMAInfo sorted by start``.
    """
    check = _EXPECTS.get(method)
    expected = check(value) if check is not None else None
    if expected is None:
        return value
    raise ContractViolation(
        f"{type(mm).__qualname__}.{method}() returned {shown(value)}; "
        f"the contract expects {expected}"
    )
