"""reference: rfc-v1 with its hazards fixed (each fix and its motivating case: docs/designs.md).

Same encoding and lifecycle as rfc-v1, with three changes, each shown necessary by a conformance
case rfc-v1 fails:

* every merge path carries the anon_vma word's flag bits of the VMAs it absorbs onto the
  survivor, the way upstream made ``VM_MAYBE_GUARD`` sticky (the hazards of docs/spec.md §4.1-4.3);
* install sets the flag *before* its walk, so khugepaged never sees fresh markers without it
  (§4.5, interleave case ``install-retract-race``);
* a whole-VMA remove clears the flag only if no install ran on the mm while it did (§4.4,
  interleave case ``remove-install-race``): two counters of the mm, read and written under
  ``mm->page_table_lock`` by the hooks (installs started, installs running). Run one operation at
  a time, every remove sees none, so the single-threaded lifecycle is rfc-v1's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_anonvma.designs.rfc_v1 import RfcV1

if TYPE_CHECKING:
    from pytest_anonvma.model.mm_types import VMA, MMStruct

#: what :meth:`Reference.guard_remove_begin` returns when an install is running
_INSTALL_RUNNING = -1


class Reference(RfcV1):
    """rfc-v1 plus a sticky anon_vma flag, set before the walk, never cleared under an install."""

    name = "reference"
    has_known_hazards = False
    install_begin_does = "set ANON_VMA_UNFAULTED, count the install"
    install_end_does = "the install is over"
    remove_begin_does = "note the installs started and running"
    remove_end_does = "clear ANON_VMA_UNFAULTED if the whole VMA and no install ran meanwhile"

    def __init__(self) -> None:
        # One design instance per mm_struct: these stand for two counters of the mm.
        #: installs that reached the hook before their walk, ever
        self.installs_started = 0
        #: installs between their two hooks
        self.installs_running = 0

    def guard_install_begin(self, mm: MMStruct, vma: VMA) -> int:
        """Count the install, then ``vma_set_anon_vma_unfaulted`` before any marker exists."""
        from pytest_anonvma.model.mm import vma_set_anon_vma_unfaulted

        self.installs_started += 1
        self.installs_running += 1
        vma_set_anon_vma_unfaulted(vma)
        return 0

    def guard_install_end(self, mm: MMStruct, vma: VMA, nr_pages: int) -> None:
        """The install is over; the flag is already set."""
        self.installs_running -= 1

    def guard_remove_begin(self, mm: MMStruct, vma: VMA) -> int:
        """The installs started so far, or "an install is running" (then the remove keeps the
        flag: that install's walk may write markers after this remove's walk)."""
        return _INSTALL_RUNNING if self.installs_running else self.installs_started

    def guard_remove_end(self, mm: MMStruct, vma: VMA, start: int, end: int, ticket: int) -> None:
        """rfc-v1's whole-VMA clear, only if no install started since the remove began: then
        every marker of the VMA was written before the walk, which cleared it."""
        if ticket == self.installs_started:
            super().guard_remove_end(mm, vma, start, end, ticket)

    def merge_carry(self, dst: VMA, *absorbed: VMA) -> None:
        """OR the flags of ``absorbed`` into ``dst``'s word unless ``dst`` has a real anon_vma.

        A real anon_vma already makes fork copy the tables, and the RFC keeps the flag only on
        anon_vma-less words (``vma_set_anon_vma`` drops it), so flags never ride a pointer.
        """
        from pytest_anonvma.model.mm import vma_anon_vma_addr, vma_anon_vma_flags

        if vma_anon_vma_addr(dst):
            return
        for vma in absorbed:
            dst.anon_vma |= vma_anon_vma_flags(vma)
