"""The four designs (pytest_anonvma/designs): hazards, flag lifecycle, allocations, retraction.

Expected values: docs/spec.md §3-§5, the RFC patches
("[RFC PATCH 1/2] mm: introduce anon_vma flags..." and "[RFC PATCH 2/2] mm/madvise: utilise
anon_vma unfaulted flag on guard region install"), upstream's VM_MAYBE_GUARD series, and for
maybe-guard the live 6.18 kernel (smaps ``gu``, pagemap bit 58, SIGSEGV in a forked child).
"""

from __future__ import annotations

import errno
from collections.abc import Callable

import pytest
from engine_helpers import (
    ANON,
    CORRECT_DESIGNS,
    DESIGNS,
    GUARD,
    RW,
    SHARED_ANON,
    SHARED_FILE,
    UNGUARD,
    B,
    P,
    R,
    extents,
    pages,
    touch,
    vma_at,
)
from vma_helpers import VM_RW

import pytest_anonvma as av
from pytest_anonvma.designs import DESIGNS as DESIGN_CLASSES
from pytest_anonvma.designs import get_design
from pytest_anonvma.model import rmap
from pytest_anonvma.model.engine import ModelMM
from pytest_anonvma.model.mm_types import (
    ANON_VMA_UNFAULTED,
    VM_MIXEDMAP,
    VM_PFNMAP,
    VM_SHARED,
    VM_UFFD_WP,
    VMA,
)

HPAGE = 512  # pages in a 2 MiB huge page


def mprotect_merge(mm: ModelMM) -> int:
    """docs/spec.md §4.1: mmap 2 pages; mprotect page 1 R; guard it; mprotect it RW (merges into
    page 0).

    Live 6.18: one VMA 'rd wr gu ac', pages '.G', the child faults.
    """
    mm.mmap(B, 2 * P, RW, ANON)
    mm.mprotect(B + P, P, R)
    mm.madvise(B + P, P, GUARD)
    mm.mprotect(B + P, P, RW)
    return 1


def gap_fill(mm: ModelMM) -> int:
    """docs/spec.md §4.2: MAP_FIXED fills the gap between a flagless VMA and a guarded one
    (vma_expand).

    Live 6.18: one VMA 0-3 with 'gu', pages '..G', the child faults.
    """
    mm.mmap(B, P, RW, ANON)
    mm.mmap(B + 2 * P, P, RW, ANON)
    mm.madvise(B + 2 * P, P, GUARD)
    mm.mmap(B + P, P, RW, ANON)
    return 2


def merge_right(mm: ModelMM) -> int:
    """docs/spec.md §4.2: the next VMA grows down over the guarded part (merge right).

    Live 6.18: VMAs 0-1 'rd gu' and 1-3 'rd wr gu ac', pages '.G.', the child faults.
    """
    mm.mmap(B, 3 * P, RW, ANON)
    mm.mprotect(B, 2 * P, R)
    mm.madvise(B + P, P, GUARD)
    mm.mprotect(B + P, P, RW)
    return 1


def mremap_next(mm: ModelMM) -> int:
    """docs/spec.md §4.2: mremap moves a guarded VMA next to a compatible neighbour (copy_vma
    merges).

    Live 6.18: pages '.G.' at the destination, the child faults.
    """
    mm.mmap(B, P, RW, ANON)
    mm.mmap(B + 8 * P, P, RW, ANON)
    mm.madvise(B + 8 * P, P, GUARD)
    mm.mremap(B + 8 * P, P, P, av.MREMAP_MAYMOVE | av.MREMAP_FIXED, B + P)
    return 1


HAZARDS: list[Callable[[ModelMM], int]] = [mprotect_merge, gap_fill, merge_right, mremap_next]


@pytest.mark.parametrize("era", ["2025-03", "6.18"])
@pytest.mark.parametrize("design", DESIGNS)
@pytest.mark.parametrize("sequence", HAZARDS, ids=lambda f: f.__name__)
def test_fork_keeps_guards_except_rfc_v1(
    design: str, era: str, sequence: Callable[[ModelMM], int]
) -> None:
    """rfc-v1 loses the guard in the child on each merge path (the survivor carries no flag);
    baseline, reference and maybe-guard keep it, on either era's merge rules. The parent always
    keeps its marker."""
    mm = ModelMM(design, era)
    page = sequence(mm)
    assert pages(mm, page, 1) == "G"
    child = mm.fork()
    assert pages(child, page, 1) == ("." if design == "rfc-v1" else "G")
    assert touch(child, page) == ("ok" if design == "rfc-v1" else "SEGV")
    assert touch(mm, page) == "SEGV"


def _file_hazard(design: str) -> ModelMM:
    """A shared memfd VMA of one huge page whose guard went through an mprotect merge (page 0
    written: collapse_file refuses a block with no page cached at all)."""
    mm = ModelMM(design)
    fd = mm.memfd("thp", 2 * HPAGE * P)
    mm.mmap(B, HPAGE * P, RW, SHARED_FILE, fd)
    mm.write(B, 1)
    mm.mprotect(B + P, P, R)
    mm.madvise(B + P, P, GUARD)
    mm.mprotect(B + P, P, RW)
    return mm


@pytest.mark.parametrize("design", DESIGNS)
def test_file_retraction_hazard(design: str) -> None:
    """docs/spec.md §4.3: for a file VMA a lost flag lets retract_page_tables free a table holding
    markers, so the guard vanishes in the parent itself (MADV_COLLAPSE runs collapse_file and
    retract_page_tables).

    Live 6.18 (maybe-guard): after the same sequence the VMA shows 'gu'; MADV_COLLAPSE gives
    EINVAL and page 1 is still a guard ('.G'), its touch SIGSEGV.
    """
    mm = _file_hazard(design)
    # baseline's anon_vma blocks the merges (v6.14 is_mergeable_anon_vma), the others merge.
    assert extents(mm) == ([(0, 1), (1, 2), (2, HPAGE)] if design == "baseline" else [(0, HPAGE)])
    lost = design == "rfc-v1"
    assert mm.retractable(B) is lost
    if lost:
        mm.madvise(B, HPAGE * P, av.MADV_COLLAPSE)
        assert touch(mm, 1) == "ok"
    else:
        with pytest.raises(OSError) as info:
            mm.madvise(B, HPAGE * P, av.MADV_COLLAPSE)
        assert info.value.errno == errno.EINVAL
        assert pages(mm, 1, 1) == "G" and touch(mm, 1) == "SEGV"


@pytest.mark.parametrize("design", ["rfc-v1", "reference"])
def test_flag_lifecycle(design: str) -> None:
    """docs/spec.md §5.3 / RFC 2/2: set after an install of >= 1 page; untouched by an install
    refused before its walk (VM_LOCKED: EINVAL);
    kept by split and fork; replaced by a real anon_vma on fault; cleared only by a remove
    covering the whole VMA."""
    mm = ModelMM(design)
    mm.mmap(B + 8 * P, 2 * P, R, ANON)
    mm.mlock(B + 8 * P, 2 * P)  # read faults: the zero page, no anon_vma
    with pytest.raises(OSError):
        mm.madvise(B + 8 * P, P, GUARD)
    assert vma_at(mm, 8).anon_vma_flags == 0 and vma_at(mm, 8).anon_vma is None
    mm.mmap(B, 4 * P, RW, ANON)
    mm.madvise(B + P, P, GUARD)
    info = vma_at(mm, 0)
    assert (info.anon_vma_flags, info.anon_vma, info.maybe_has_pagetables) == (
        ANON_VMA_UNFAULTED,
        None,
        True,
    )
    mm.mprotect(B + 2 * P, P, R)
    assert [v.anon_vma_flags for v in mm.vmas()][:3] == [ANON_VMA_UNFAULTED] * 3
    child = mm.fork()
    assert vma_at(child, 0).anon_vma_flags == ANON_VMA_UNFAULTED
    assert pages(child, 1, 1) == "G"
    mm.madvise(B + P, P, UNGUARD)  # part of the VMA 0-2 only: flag stays
    assert vma_at(mm, 0).anon_vma_flags == ANON_VMA_UNFAULTED
    mm.madvise(B, 2 * P, UNGUARD)  # the whole VMA 0-2: cleared
    assert vma_at(mm, 0).anon_vma_flags == 0 and not vma_at(mm, 0).maybe_has_pagetables
    assert vma_at(mm, 2).anon_vma_flags == ANON_VMA_UNFAULTED


def test_fault_replaces_the_flag_with_a_real_anon_vma() -> None:
    """vma_set_anon_vma drops the flag bits when anon_vma_prepare installs a pointer."""
    mm = ModelMM("rfc-v1")
    mm.mmap(B, 2 * P, RW, ANON)
    mm.madvise(B + P, P, GUARD)
    mm.write(B, 1)
    info = vma_at(mm, 0)
    assert info.anon_vma is not None and info.anon_vma_flags == 0 and info.maybe_has_pagetables


@pytest.mark.parametrize("design", ["rfc-v1", "reference"])
def test_wipeonfork_child_has_no_flag(design: str) -> None:
    """dup_mmap: a VM_WIPEONFORK child starts clean (vma_clear_anon_vma), flag included."""
    mm = ModelMM(design)
    mm.mmap(B, 2 * P, RW, ANON)
    mm.madvise(B, 2 * P, av.MADV_WIPEONFORK)
    mm.madvise(B, P, GUARD)
    child = mm.fork()
    assert vma_at(child, 0).anon_vma_flags == 0 and pages(child, 0, 2) == ".."


@pytest.mark.parametrize(
    ("design", "anon", "file"),
    [("baseline", 1, 1), ("rfc-v1", 0, 0), ("reference", 0, 0), ("maybe-guard", 1, 0)],
)
def test_allocations_of_a_guard_install(design: str, anon: int, file: int) -> None:
    """docs/spec.md §5.3: an install on an unfaulted VMA allocates no anon_vma and no chain link
    under the RFC; baseline prepares one for any VMA; maybe-guard only for anonymous VMAs."""
    mm = ModelMM(design)
    mm.mmap(B, 2 * P, RW, ANON)
    mm.madvise(B, P, GUARD)
    stats = mm.stats()
    assert (stats["anon_vma_allocs"], stats["avc_allocs"]) == (anon, anon)
    fd = mm.memfd("f", 2 * P)
    mm.mmap(B + 8 * P, 2 * P, RW, SHARED_FILE, fd)
    mm.madvise(B + 8 * P, P, GUARD)
    stats = mm.stats()
    assert (stats["anon_vma_allocs"], stats["avc_allocs"]) == (anon + file, anon + file)


@pytest.mark.parametrize(
    ("design", "copies"),
    [("baseline", 1), ("rfc-v1", 0), ("reference", 0), ("maybe-guard", 1)],
)
def test_fork_copies_after_a_whole_vma_remove(design: str, copies: int) -> None:
    """docs/spec.md §5.3: after a remove covering the whole VMA the RFC designs copy no page tables;
    baseline keeps its anon_vma and maybe-guard its sticky flag, so they still copy."""
    mm = ModelMM(design)
    mm.mmap(B, 2 * P, RW, ANON)
    mm.madvise(B, P, GUARD)
    mm.madvise(B, 2 * P, UNGUARD)
    mm.fork()
    assert mm.stats()["fork_pagetable_copies"] == copies


@pytest.mark.parametrize(
    ("design", "after_install", "after_remove"),
    [
        ("baseline", False, False),
        ("rfc-v1", False, True),
        ("reference", False, True),
        ("maybe-guard", False, False),
    ],
)
def test_retraction_eligibility(design: str, after_install: bool, after_remove: bool) -> None:
    """docs/spec.md §5.3: a file VMA is retractable until guarded; guarded and fully unguarded
    again, it is retractable under the RFC designs, never again under baseline (anon_vma) or
    maybe-guard (sticky VM_MAYBE_GUARD)."""
    mm = ModelMM(design)
    fd = mm.memfd("thp", HPAGE * P)
    mm.mmap(B, HPAGE * P, RW, SHARED_FILE, fd)
    assert mm.retractable(B + 5 * P)
    mm.madvise(B + P, P, GUARD)
    assert mm.retractable(B + 5 * P) is after_install
    mm.madvise(B, HPAGE * P, UNGUARD)
    assert mm.retractable(B + 5 * P) is after_remove


def test_retraction_needs_an_aligned_file_block() -> None:
    """retract_page_tables only frees PMD-aligned tables wholly inside a file VMA whose file
    offset is aligned like the address; anonymous VMAs are not candidates."""
    mm = ModelMM("reference")
    fd = mm.memfd("thp", 2 * HPAGE * P)
    mm.mmap(B, HPAGE * P, RW, SHARED_FILE, fd, P)  # offset 1 page: misaligned
    assert not mm.retractable(B)
    mm.mmap(B + 2 * HPAGE * P, (HPAGE - 1) * P, RW, SHARED_FILE, fd)  # too short
    assert not mm.retractable(B + 2 * HPAGE * P)
    mm.mmap(B + 4 * HPAGE * P, HPAGE * P, RW, ANON)
    assert not mm.retractable(B + 4 * HPAGE * P)
    assert not mm.retractable(B + 8 * HPAGE * P)


def test_maybe_guard_flag_is_sticky() -> None:
    """VM_MAYBE_GUARD: set by install, kept by remove, copied by split and fork.

    Live 6.18: 'gu' after a full remove; after mprotect of page 2, all three parts show 'gu';
    an install refused on an mlocked VMA leaves no 'gu'.
    """
    mm = ModelMM("maybe-guard")
    mm.mmap(B, 4 * P, RW, ANON)
    mm.mlock(B, 4 * P)
    with pytest.raises(OSError):
        mm.madvise(B, P, GUARD)
    assert "VM_MAYBE_GUARD" not in vma_at(mm, 0).flags
    mm.munlock(B, 4 * P)
    mm.madvise(B + P, P, GUARD)
    mm.madvise(B, 4 * P, UNGUARD)
    assert "VM_MAYBE_GUARD" in vma_at(mm, 0).flags
    mm.mprotect(B + 2 * P, P, R)
    assert all("VM_MAYBE_GUARD" in v.flags for v in mm.vmas())
    child = mm.fork()
    assert all("VM_MAYBE_GUARD" in v.flags for v in child.vmas())


def test_maybe_guard_flag_is_set_before_a_failing_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Upstream sets VM_MAYBE_GUARD before anon_vma_prepare: an install failing there (ENOMEM)
    leaves the flag set."""
    mm = ModelMM("maybe-guard")
    mm.mmap(B, 2 * P, RW, ANON)
    monkeypatch.setattr(rmap, "anon_vma_prepare", lambda vma: -errno.ENOMEM)
    with pytest.raises(OSError) as info:
        mm.madvise(B, P, GUARD)
    assert info.value.errno == errno.ENOMEM
    assert "VM_MAYBE_GUARD" in vma_at(mm, 0).flags and pages(mm, 0, 2) == ".."


def test_maybe_guard_copies_file_tables_because_of_the_flag() -> None:
    """vma_needs_copy: a shared file VMA has no anon_vma, the flag alone makes fork copy it.

    Live 6.18: the child of a process with a guarded shared memfd page faults on it.
    """
    mm = ModelMM("maybe-guard")
    fd = mm.memfd("f", 2 * P)
    mm.mmap(B, 2 * P, RW, SHARED_FILE, fd)
    mm.madvise(B + P, P, GUARD)
    assert vma_at(mm, 0).anon_vma is None
    child = mm.fork()
    assert touch(child, 1) == "SEGV"
    assert mm.stats()["fork_pagetable_copies"] == 1


@pytest.mark.parametrize("design", CORRECT_DESIGNS)
def test_correct_designs_keep_file_guards_across_fork(design: str) -> None:
    """Every correct design copies a guarded file VMA's tables (the kernel's promise)."""
    mm = ModelMM(design)
    fd = mm.memfd("f", 2 * P)
    mm.mmap(B, 2 * P, RW, SHARED_FILE, fd)
    mm.madvise(B + P, P, GUARD)
    assert touch(mm.fork(), 1) == "SEGV"


def test_get_design_lookup() -> None:
    """get_design gives a new instance per call; unknown names list the known ones."""
    assert set(DESIGN_CLASSES) == set(DESIGNS)
    assert get_design("reference") is not get_design("reference")
    assert get_design("maybe-guard").default_era == "6.18"
    with pytest.raises(LookupError, match="baseline"):
        get_design("nope")


def test_maybe_guard_flag_survives_a_merge_into_the_guarded_vma() -> None:
    """6.18 vma_modify_flags hands the merged VMA's flags (sticky bits OR-ed in) back to
    mprotect_fixup, which keeps them.

    Live 6.18: mmap 2 pages; mprotect page 1 R; guard page 0; mprotect page 1 RW: one VMA
    'rd wr gu ac'; a child faults on page 0.
    """
    mm = ModelMM("maybe-guard")
    mm.mmap(B, 2 * P, RW, ANON)
    mm.mprotect(B + P, P, R)
    mm.madvise(B, P, GUARD)
    mm.mprotect(B + P, P, RW)
    assert extents(mm) == [(0, 2)]
    assert {"VM_MAYBE_GUARD", "VM_ACCOUNT", "VM_WRITE"} <= vma_at(mm, 0).flags
    assert touch(mm.fork(), 0) == "SEGV"


# -- the design hooks (pytest_anonvma/designs/base.py) --------------------------------------------


@pytest.mark.parametrize("design", DESIGNS)
@pytest.mark.parametrize(
    ("dst_flags", "src_flags", "copy"),
    [
        (0, VM_PFNMAP, True),
        (0, VM_MIXEDMAP, True),
        (VM_UFFD_WP, 0, True),
        (0, 0, False),
    ],
)
def test_vma_needs_copy_for_pfn_maps_and_uffd_wp(
    design: str, dst_flags: int, src_flags: int, copy: bool
) -> None:
    """mm/memory.c vma_needs_copy: page tables are copied for a uffd-wp child VMA or a
    VM_PFNMAP/VM_MIXEDMAP parent VMA even without an anon_vma; a plain shared VMA is not."""
    policy = get_design(design)
    base = VM_RW | VM_SHARED
    src = VMA(B, B + P, 0, base | src_flags)
    dst = VMA(B, B + P, 0, base | dst_flags)
    assert policy.vma_needs_copy(dst, src) is copy


@pytest.mark.parametrize("design", DESIGNS)
def test_guard_install_begin_returns_zero(design: str) -> None:
    """The hook before madvise_guard_install's walk returns 0 or -errno (designs/base.py): 0 for
    an anonymous VMA and for a file VMA (mm/madvise.c: anon_vma_prepare, if any, succeeds)."""
    mm = ModelMM(design)
    mm.mmap(B, P, RW, ANON)
    mm.mmap(B + 2 * P, P, RW, SHARED_ANON)
    policy = mm.mm.design
    for vma in list(mm.mm):
        assert policy.guard_install_begin(mm.mm, vma) == 0
