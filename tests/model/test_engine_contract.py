"""ModelMM against the public contract (contract.MM, docs/contract.md): types, errors, views."""

from __future__ import annotations

import errno

import pytest
from engine_helpers import ANON, DESIGNS, GUARD, RW, B, P

import pytest_anonvma as av
from pytest_anonvma.internals import ModelInternals
from pytest_anonvma.model.engine import BASE_CAPABILITIES, STATS_KEYS, ModelMM


@pytest.mark.parametrize("design", DESIGNS)
def test_registry_factories_build_model_mms(design: str) -> None:
    """av.load gives a ModelMM of the design on its native era; name@era switches era."""
    mm = av.load(design)
    assert isinstance(mm, ModelMM) and isinstance(mm, av.MM)
    assert mm.design == design
    assert mm.era == ("6.18" if design == "maybe-guard" else "2025-03")
    other = av.load(f"{design}@{'2025-03' if mm.era == '6.18' else '6.18'}")
    assert isinstance(other, ModelMM) and other.era != mm.era


def test_capabilities() -> None:
    """Every design shows the base vocabulary; only maybe-guard adds guard-flag."""
    assert ModelMM("reference").capabilities == BASE_CAPABILITIES
    assert ModelMM("maybe-guard").capabilities == BASE_CAPABILITIES | {"guard-flag"}


def test_constructor_errors() -> None:
    """Wrong types: TypeError; unknown design or era: LookupError listing the known ones."""
    with pytest.raises(TypeError, match="design must be a str"):
        ModelMM(3)  # type: ignore[arg-type]
    with pytest.raises(LookupError, match="reference"):
        ModelMM("nope")
    with pytest.raises(LookupError, match="2025-03"):
        ModelMM("reference", "1999")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda mm: mm.mmap("x", P, RW, ANON), "mmap\\(\\): addr must be an int"),
        (lambda mm: mm.mmap(B, 1.5, RW, ANON), "length must be an int"),
        (lambda mm: mm.mmap(B, P, RW, ANON, file=3), "file must be a handle"),
        (lambda mm: mm.munmap(B, None), "munmap\\(\\): length"),
        (lambda mm: mm.mprotect(B, P, True), "prot must be an int"),
        (lambda mm: mm.madvise(B, P, "guard"), "advice must be an int"),
        (lambda mm: mm.mremap(B, P, P, 0, "x"), "new_addr must be an int"),
        (lambda mm: mm.read(None), "read\\(\\): addr"),
        (lambda mm: mm.write(B, "a"), "value must be an int"),
        (lambda mm: mm.memfd(3, P), "name must be a str"),
        (lambda mm: mm.page(1.0), "page\\(\\): addr"),
        (lambda mm: mm.retractable("x"), "retractable\\(\\): addr"),
    ],
)
def test_wrong_argument_types_raise_type_error(call: object, message: str) -> None:
    """The contract: wrong argument types raise TypeError with a message naming the argument."""
    mm = ModelMM()
    with pytest.raises(TypeError, match=message):
        call(mm)  # type: ignore[operator]


def test_errors_are_oserrors_with_errno_and_strerror() -> None:
    """Kernel errors: OSError with the errno and its message."""
    mm = ModelMM()
    with pytest.raises(OSError) as info:
        mm.munmap(B, 0)
    assert info.value.errno == errno.EINVAL and info.value.strerror


def test_write_value_range_and_memfd_errors() -> None:
    """write takes a byte; memfd rejects negative sizes and over-long names with EINVAL."""
    mm = ModelMM()
    mm.mmap(B, P, RW, ANON)
    with pytest.raises(ValueError, match="byte"):
        mm.write(B, 256)
    with pytest.raises(OSError):
        mm.memfd("x", -1)
    with pytest.raises(OSError):
        mm.memfd("x" * 300, P)


def test_touch_outside_user_space_is_a_segfault() -> None:
    """Kernel or negative addresses fault like unmapped memory."""
    mm = ModelMM()
    with pytest.raises(av.SegmentationFault):
        mm.read(-1)
    with pytest.raises(av.SegmentationFault):
        mm.read(1 << 60)


def test_vmas_view() -> None:
    """VMAInfo: prot from VM_READ/WRITE/EXEC, kernel flag names, masked anon_vma identity."""
    mm = ModelMM("rfc-v1")
    mm.mmap(B, 2 * P, av.PROT_READ | av.PROT_EXEC, ANON)
    mm.mmap(B + 4 * P, 2 * P, RW, ANON)
    mm.write(B + 4 * P, 1)
    mm.madvise(B, P, GUARD)
    first, second = mm.vmas()
    assert first.prot == av.PROT_READ | av.PROT_EXEC and "VM_EXEC" in first.flags
    assert (first.anon_vma, first.anon_vma_flags, first.maybe_has_pagetables) == (None, 1, True)
    assert isinstance(second.anon_vma, int) and second.anon_vma % 8 == 0
    assert second.anon_vma_flags == 0 and second.file is None and second.pages == 2
    assert mm.vmas() == [first, second]


def test_stats_keys() -> None:
    """stats() has every contract counter, zero on a fresh mm."""
    assert {k: v for k, v in ModelMM().stats().items() if k in STATS_KEYS} == dict.fromkeys(
        STATS_KEYS, 0
    )


def test_close_and_context_manager() -> None:
    """close() frees everything and is idempotent; a closed mm refuses operations."""
    with ModelMM() as mm:
        mm.mmap(B, P, RW, ANON)
        mm.write(B, 1)
    assert mm.closed and mm.mm.kernel.live_anon_vmas == 0
    mm.close()
    with pytest.raises(ValueError, match="closed"):
        mm.mmap(B, P, RW, ANON)
    assert "closed" in repr(mm)


def test_internals_is_a_separate_harness_mm() -> None:
    """internals drives mm/vma.c on its own mm; the address space is untouched."""
    mm = ModelMM("maybe-guard")
    mm.mmap(B, P, RW, ANON)
    internals = mm.internals
    assert isinstance(internals, ModelInternals) and internals is mm.internals
    assert internals.era == "6.18" and internals.map_count == 0
    assert len(mm.vmas()) == 1
