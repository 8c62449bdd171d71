"""What the soak looks at in one address space after a step (:class:`Observation`).

Three things, each comparable between the running kernel and a model: the page-table state of
every arena page the sequences use, the protection of every such page (None where nothing is
mapped), and the VMA list projected to what the kernel shows and the models can be held to
(boundaries, protection, the flags in :data:`LAYOUT_FLAGS`; pgoff of file VMAs only, since
``/proc/PID/maps`` shows 0 for anonymous ones).

A value of the wrong type (``page()`` answering ``"P"``, ``vmas()`` a list of numbers) is a
:class:`~pytest_anonvma.conformity.ContractViolation` naming the method, the value and what the
contract expects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pytest_anonvma.cases.arena import ARENA_BASE, page_addr
from pytest_anonvma.conformity import ContractViolation, checked, shown
from pytest_anonvma.constants import PAGE_SIZE
from pytest_anonvma.contract import MM, VMAInfo
from pytest_anonvma.generate.oracles import VmaView
from pytest_anonvma.live.procfs import SMAPS_FLAGS

__all__ = ["LAYOUT_FLAGS", "SHARED_ANON_FILE", "Observation", "observe", "page_prots",
           "project"]

#: the file name of shared anonymous memory in the contract (``shmem_zero_setup``'s file)
SHARED_ANON_FILE = "/dev/zero"
#: VMA flags compared between the kernel and the model of its design: every flag smaps shows
#: but VM_SOFTDIRTY (this kernel never shows ``sd``; the models set it on new VMAs, as kernels
#: with CONFIG_MEM_SOFT_DIRTY do). VM_MAYBE_GUARD is the design's own flag; the others, VM_ACCOUNT
#: and the VM_MAY* bits included, agreed over every soak run (docs/kernel-fidelity.md).
LAYOUT_FLAGS = frozenset(SMAPS_FLAGS.values()) - {"VM_SOFTDIRTY"}


@dataclass(frozen=True)
class Observation:
    """One address space as the soak compares it."""

    #: page-table state character of each page (``.`` ``P`` ``G``), index = arena page
    states: str
    #: protection of each page's VMA, None where no VMA covers it; None without ``layout``
    prots: tuple[int | None, ...] | None
    #: the arena VMAs, projected (:func:`project`); None without ``layout``
    layout: VmaView | None


def project(vma: VMAInfo, flags: frozenset[str]) -> VMAInfo:
    """``vma`` reduced to boundaries, protection, ``flags`` and (for a memfd VMA) pgoff.

    Shared anonymous memory counts as anonymous: the contract names its file ``/dev/zero``,
    the live backend shows no file and pgoff 0 for it (``docs/kernel-fidelity.md``).
    """
    file = None if vma.file == SHARED_ANON_FILE else vma.file
    return VMAInfo(start=vma.start, end=vma.end, prot=vma.prot,
                   flags=flags.intersection(vma.flags),
                   pgoff=vma.pgoff if file is not None else 0, file=file)


def page_prots(vmas: Sequence[VMAInfo], width: int) -> tuple[int | None, ...]:
    """The protection of arena pages ``0..width-1`` (None: unmapped)."""
    prots: list[int | None] = [None] * width
    for vma in vmas:
        first = max(0, (vma.start - ARENA_BASE) // PAGE_SIZE)
        end = min(width, (vma.end - ARENA_BASE) // PAGE_SIZE)
        for page in range(first, end):
            prots[page] = vma.prot
    return tuple(prots)


def _states(mm: MM, width: int) -> str:
    many = getattr(mm, "pages", None)  # the live backend reads pagemap once for all pages
    if callable(many):
        states = many(page_addr(0), width)
        if not isinstance(states, Sequence) or len(states) != width:
            raise ContractViolation(f"{type(mm).__qualname__}.pages() returned {shown(states)}; "
                                    f"the contract expects a list of {width} PageState")
        return "".join(checked(mm, "page", state).char for state in states)
    return "".join(checked(mm, "page", mm.page(page_addr(page))).char for page in range(width))


def observe(mm: MM, width: int, flags: frozenset[str] = LAYOUT_FLAGS) -> Observation:
    """Look at arena pages ``0..width-1`` of ``mm`` (and its VMAs, given ``layout``)."""
    states = _states(mm, width)
    if "layout" not in getattr(mm, "capabilities", ()):
        return Observation(states, None, None)
    vmas = checked(mm, "vmas", mm.vmas())
    view = VmaView.of([project(vma, flags) for vma in vmas], {})
    return Observation(states, page_prots(view.vmas, width), view)
