"""Page tables, pages and faults (mm/memory.c).

``mm.ptes`` maps a virtual page number to a page-table entry: a :class:`PTE` (a present page,
writable or not) or the guard marker :data:`GUARD_MARKER`. A missing key is an empty entry.
Pages are :class:`Folio` objects: anonymous (refcounted by the PTEs that map them, shared
copy-on-write after fork), the shared zero page, or a shmem page-cache page of a memfd.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from pytest_anonvma.constants import FAULT_AROUND_PAGES, PTRS_PER_PTE
from pytest_anonvma.contract import BusError, PageState, SegmentationFault
from pytest_anonvma.model.mm import vma_is_anonymous
from pytest_anonvma.model.mm_types import (
    PAGE_SHIFT,
    PAGE_SIZE,
    VM_ACCESS_FLAGS,
    VM_MAYWRITE,
    VM_SHARED,
    VM_WRITE,
    VMA,
    MMStruct,
)
from pytest_anonvma.model.stepping import LockStep, Steps, page_table_of, run_steps

if TYPE_CHECKING:
    from pytest_anonvma.model.shmem import ShmemFile

__all__ = [
    "GUARD_MARKER",
    "PTE",
    "ZERO_PAGE",
    "Folio",
    "PteMarker",
    "copy_page_range",
    "do_fault_around",
    "drop_entry",
    "handle_mm_fault",
    "handle_mm_fault_steps",
    "is_cow_mapping",
    "is_guard_pte_marker",
    "page_state",
    "pagemap_read",
    "pfns_in_range",
    "zap_page_range",
]


class Folio:
    """``struct folio`` of one page: its bytes and how many PTEs map it (``folio_mapcount``)."""

    __slots__ = ("data", "dirty", "index", "is_anon", "mapcount", "mapping")

    def __init__(
        self,
        data: bytearray | None = None,
        *,
        is_anon: bool,
        mapping: ShmemFile | None = None,
        index: int = 0,
    ) -> None:
        self.data = data if data is not None else bytearray(PAGE_SIZE)
        self.is_anon = is_anon
        self.mapping = mapping
        self.index = index
        self.mapcount = 0
        #: written since it was last clean (``folio_test_dirty`` or a dirty PTE). Reclaim
        #: without swap may drop a clean page: a page-cache page only ever read (it reads back
        #: as zeros), an anonymous page MADV_FREE'd and not written since. Anonymous pages are
        #: born dirty (a write fault makes them), page-cache pages clean.
        self.dirty = is_anon

    def __repr__(self) -> str:
        kind = "anon" if self.is_anon else ("zero" if self is ZERO_PAGE else "file")
        return f"Folio({kind}, mapcount={self.mapcount})"


#: the shared zero page: what a read fault on private anonymous memory maps (never written)
ZERO_PAGE = Folio(bytes(PAGE_SIZE), is_anon=False)  # type: ignore[arg-type]


class PTE:
    """A present page-table entry: the page and whether the hardware lets it be written."""

    __slots__ = ("folio", "writable")

    def __init__(self, folio: Folio, writable: bool) -> None:
        self.folio = folio
        self.writable = writable

    def __repr__(self) -> str:
        return f"PTE({self.folio!r}, {'rw' if self.writable else 'ro'})"


class PteMarker:
    """A non-present entry that carries meaning (``make_pte_marker``); only guards are modelled."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"PteMarker({self.name})"


#: ``PTE_MARKER_GUARD``: a touch raises SIGSEGV
GUARD_MARKER = PteMarker("guard")


def is_guard_pte_marker(entry: object) -> bool:
    """Is this entry a guard marker (mirrors ``is_guard_pte_marker``)?"""
    return entry is GUARD_MARKER


def is_cow_mapping(vm_flags: int) -> bool:
    """Private and potentially writable: pages are copied on write (mirrors ``is_cow_mapping``)."""
    return vm_flags & (VM_SHARED | VM_MAYWRITE) == VM_MAYWRITE


def pfns_in_range(ptes: dict[int, object], first: int, last: int) -> Iterator[int]:
    """The page numbers in ``[first, last)`` that have an entry, ascending.

    Walks whichever is smaller: the range or the table (a snapshot, so callers may mutate).
    """
    if last - first <= len(ptes):
        return iter([pfn for pfn in range(first, last) if pfn in ptes])
    return iter(sorted(pfn for pfn in ptes if first <= pfn < last))


def drop_entry(entry: object) -> None:
    """Drop the mapping a page-table entry being cleared holds on its page
    (``folio_remove_rmap_pte`` of a zap); markers hold none."""
    if isinstance(entry, PTE):
        entry.folio.mapcount -= 1


def zap_page_range(
    mm: MMStruct,
    start: int,
    end: int,
    zap_guards: bool = True,
    even_cows: bool = True,
) -> None:
    """Clear the page tables of ``[start, end)`` (``zap_page_range_single`` / ``unmap_vmas``).

    ``zap_guards`` drops guard markers too (``ZAP_FLAG_DROP_MARKER``: munmap and exit do, the
    madvise family does not). ``even_cows=False`` keeps anonymous (copied-on-write) pages and
    zaps only file pages, as ``unmap_mapping_range`` does for a hole punch.
    """
    ptes = mm.ptes
    for pfn in pfns_in_range(ptes, start >> PAGE_SHIFT, end >> PAGE_SHIFT):
        entry = ptes[pfn]
        if entry is GUARD_MARKER:
            if zap_guards:
                del ptes[pfn]
            continue
        if not even_cows and isinstance(entry, PTE) and entry.folio.is_anon:
            continue
        drop_entry(entry)
        del ptes[pfn]


def page_state(mm: MMStruct, addr: int) -> PageState:
    """The entry of the page holding ``addr``, without faulting (what pagemap shows)."""
    entry = mm.ptes.get(addr >> PAGE_SHIFT)
    if entry is None:
        return PageState.NONE
    if entry is GUARD_MARKER:
        return PageState.GUARD
    return PageState.PRESENT


def pagemap_read(mm: MMStruct, addr: int, npages: int) -> str:
    """The state characters of ``npages`` pages from ``addr``'s, in one walk (``pagemap_read``)."""
    ptes, first = mm.ptes, addr >> PAGE_SHIFT
    states = ["."] * npages
    for pfn in pfns_in_range(ptes, first, first + npages):
        states[pfn - first] = "G" if ptes[pfn] is GUARD_MARKER else "P"
    return "".join(states)


# -- faults -------------------------------------------------------------------------------------


def _new_anon_folio(vma: VMA, source: Folio | None) -> Folio:
    """Allocate an anonymous folio, zeroed or copied (``folio_prealloc`` + ``__folio_set_anon``)."""
    data = bytearray(source.data) if source is not None else None
    folio = Folio(data, is_anon=True)
    folio.index = vma.vm_pgoff
    return folio


def _anon_prepare(vma: VMA) -> None:
    """Give the VMA an anon_vma before its first anonymous page (``vmf_anon_prepare``)."""
    from pytest_anonvma.model.rmap import anon_vma_prepare

    if anon_vma_prepare(vma) != 0:
        raise MemoryError("anon_vma_prepare failed: out of memory")


def _file_folio(vma: VMA, addr: int) -> Folio:
    """The page-cache page backing ``addr`` of a file VMA (``filemap_fault`` / ``shmem_fault``)."""
    from pytest_anonvma.model.shmem import shmem_fault

    index = vma.vm_pgoff + ((addr - vma.vm_start) >> PAGE_SHIFT)
    folio = shmem_fault(vma.vm_file, index)
    if folio is None:
        raise BusError(addr, "past the end of the file")
    return folio


def _map(mm: MMStruct, pfn: int, folio: Folio, writable: bool) -> PTE:
    """Install a present PTE (``set_pte_at`` with the rmap accounting)."""
    old = mm.ptes.get(pfn)
    if old is not None:
        drop_entry(old)
    folio.mapcount += 1
    pte = PTE(folio, writable)
    mm.ptes[pfn] = pte
    return pte


def _pte_step(what: str, pfn: int) -> LockStep:
    """The step that writes the PTE of ``pfn`` under its PTL (``finish_fault`` and friends)."""
    return LockStep(what, "PTL", tables=(page_table_of(pfn),), pages=(pfn, pfn + 1))


#: ``vmf_anon_prepare``: the anon_vma word is written under ``mm->page_table_lock``
_ANON_PREPARE = LockStep("vmf_anon_prepare", "mm->page_table_lock", words=True)


def do_anonymous_page(mm: MMStruct, vma: VMA, pfn: int, write: bool) -> Steps[PTE | None]:
    """First touch of private anonymous memory (``do_anonymous_page``).

    A read maps the shared zero page; a write prepares the anon_vma and allocates a page. None
    when the entry is no longer empty under the PTL (``vmf_pte_changed``): the access faults
    again.
    """
    if write:
        yield _ANON_PREPARE
        _anon_prepare(vma)
    yield _pte_step("do_anonymous_page: set the PTE", pfn)
    if pfn in mm.ptes:
        return None
    if not write:
        return _map(mm, pfn, ZERO_PAGE, False)
    return _map(mm, pfn, _new_anon_folio(vma, None), True)


def do_fault_around(mm: MMStruct, vma: VMA, addr: int, writable: bool) -> None:
    """Map the already cached file pages around a read fault (``do_fault_around`` with shmem's
    ``filemap_map_pages``): the :data:`FAULT_AROUND_PAGES`-aligned block of page-table entries
    holding ``addr``, clipped to the VMA and the page table; only empty entries, only pages in
    the page cache and inside the file."""
    pte_off = (addr >> PAGE_SHIFT) % PTRS_PER_PTE
    vma_off = (addr - vma.vm_start) >> PAGE_SHIFT
    from_pte = max(pte_off - pte_off % FAULT_AROUND_PAGES, pte_off - min(pte_off, vma_off))
    to_pte = min(from_pte + FAULT_AROUND_PAGES, PTRS_PER_PTE, pte_off + vma.pages - vma_off)
    file = vma.vm_file
    first_pfn = (addr >> PAGE_SHIFT) - pte_off
    for pfn in range(first_pfn + from_pte, first_pfn + to_pte):
        index = vma.vm_pgoff + pfn - (vma.vm_start >> PAGE_SHIFT)
        folio = file.folios.get(index)
        if pfn not in mm.ptes and folio is not None and index < file.pages:
            _map(mm, pfn, folio, writable)


def do_fault(mm: MMStruct, vma: VMA, addr: int, pfn: int, write: bool) -> Steps[PTE | None]:
    """First touch of a file page (``do_read_fault`` / ``do_cow_fault`` / ``do_shared_fault``);
    None when the entry is no longer empty under the PTL (the access faults again)."""
    if not write:
        # Shared writable mappings of shmem need no write-notify: map writable at once.
        writable = bool(vma.vm_flags & VM_SHARED and vma.vm_flags & VM_WRITE)
        yield _pte_step("do_read_fault: map the page (and fault-around)", pfn)
        if pfn in mm.ptes:
            return None
        do_fault_around(mm, vma, addr, writable)
        entry = mm.ptes.get(pfn)
        if isinstance(entry, PTE):
            return entry
        return _map(mm, pfn, _file_folio(vma, addr), writable)
    if vma.vm_flags & VM_SHARED:
        yield _pte_step("do_shared_fault: set the PTE", pfn)
        folio = _file_folio(vma, addr)
        return None if pfn in mm.ptes else _map(mm, pfn, folio, True)
    # do_cow_fault prepares the anon_vma before it looks the file page up: a write past the
    # end of the file raises SIGBUS with the VMA's anon_vma already in place.
    yield _ANON_PREPARE
    _anon_prepare(vma)
    folio = _file_folio(vma, addr)
    yield _pte_step("do_cow_fault: set the PTE", pfn)
    return None if pfn in mm.ptes else _map(mm, pfn, _new_anon_folio(vma, folio), True)


def do_wp_page(mm: MMStruct, vma: VMA, pfn: int, pte: PTE) -> Steps[PTE | None]:
    """Write to a present read-only page (``do_wp_page``): reuse, make writable, or copy; None
    when the PTE changed before the PTL was taken (the access faults again)."""
    folio = pte.folio
    if vma.vm_flags & VM_SHARED or (folio.is_anon and folio.mapcount == 1):
        # wp_page_shared, or wp_can_reuse_anon_folio: exclusive, reuse in place
        yield _pte_step("do_wp_page: make the PTE writable", pfn)
        if mm.ptes.get(pfn) is not pte:
            return None
        pte.writable = True
        return pte
    yield _ANON_PREPARE
    _anon_prepare(vma)  # wp_page_copy
    yield _pte_step("wp_page_copy: set the PTE", pfn)
    if mm.ptes.get(pfn) is not pte:
        return None
    return _map(mm, pfn, _new_anon_folio(vma, folio), True)


def _access_error(vma: VMA, write: bool) -> bool:
    """May this access touch this VMA at all (x86 ``access_error``)?"""
    if write:
        return not vma.vm_flags & VM_WRITE
    return not vma.vm_flags & VM_ACCESS_FLAGS


def handle_mm_fault_steps(mm: MMStruct, addr: int, write: bool) -> Steps[PTE]:
    """Resolve an access to ``addr`` the way the CPU and the fault handler would.

    Returns the present PTE that satisfies the access; raises :class:`SegmentationFault` for no
    VMA, no permission or a guard marker (``handle_pte_marker``), :class:`BusError` past the end
    of a file (``handle_mm_fault`` with its ``do_user_addr_fault`` entry checks). Steps: the
    lookup and the read of the entry, then the fault handler's (``vmf_anon_prepare``, the PTE
    write under the PTL); if the entry changed in between, the access faults again.
    """
    pfn = addr >> PAGE_SHIFT
    lookup = LockStep("handle_mm_fault: find the VMA, read the PTE", "mmap_lock (read)",
                      tables=(page_table_of(pfn),), pages=(pfn, pfn + 1))
    while True:
        yield lookup
        vma = mm.vma_lookup(addr)
        if vma is None:
            raise SegmentationFault(addr, "no VMA")
        if _access_error(vma, write):
            raise SegmentationFault(addr, "no permission")
        entry = mm.ptes.get(pfn)
        if entry is GUARD_MARKER:
            raise SegmentationFault(addr, "guard marker")
        pte: PTE | None
        if isinstance(entry, PTE):
            pte = (yield from do_wp_page(mm, vma, pfn, entry)) if write and not entry.writable \
                else entry
        elif vma_is_anonymous(vma):
            pte = yield from do_anonymous_page(mm, vma, pfn, write)
        else:
            pte = yield from do_fault(mm, vma, addr, pfn, write)
        if pte is None:
            continue
        if write:
            pte.folio.dirty = True  # the store dirties the PTE (and so the page)
        return pte


def handle_mm_fault(mm: MMStruct, addr: int, write: bool) -> PTE:
    """:func:`handle_mm_fault_steps` run to its end: a single-threaded access."""
    return run_steps(handle_mm_fault_steps(mm, addr, write))


# -- fork and mremap ----------------------------------------------------------------------------


def copy_page_range(dst_mm: MMStruct, dst_vma: VMA, src_vma: VMA) -> None:
    """Copy the PTEs of ``src_vma`` into the child (``copy_page_range``'s PTE loop).

    Markers are copied as they are; private anonymous pages become shared copy-on-write
    (both sides write-protected); the zero page and file pages are mapped in the child too.
    The caller has already asked ``vma_needs_copy``.
    """
    src_mm = src_vma.vm_mm
    assert src_mm is not None
    src_ptes = src_mm.ptes
    dst_ptes = dst_mm.ptes
    cow = is_cow_mapping(src_vma.vm_flags)
    first, last = src_vma.vm_start >> PAGE_SHIFT, src_vma.vm_end >> PAGE_SHIFT
    for pfn in pfns_in_range(src_ptes, first, last):
        entry = src_ptes[pfn]
        if not isinstance(entry, PTE):
            dst_ptes[pfn] = entry
            continue
        if cow:
            entry.writable = False
        entry.folio.mapcount += 1
        dst_ptes[pfn] = PTE(entry.folio, entry.writable)

