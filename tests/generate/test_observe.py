"""Cheaper oracles lose nothing: bulk page states, the narrowed first pass, the shared reference.

The first pass observes only the address spaces a step can reach (docs/conformance.md,
"Observing and validating"); these tests replay generated cases of rfc-v1 and of deliberately
broken toys both ways and require the same first failure, finding for finding. What a step can
reach comes from the kernel: its own address space, the child too for ``fork(2)``, and every
address space for ``MADV_REMOVE``, whose hole ``unmap_mapping_range`` zaps in every mapping of
the file (mm/madvise.c ``madvise_remove``).
"""

from __future__ import annotations

import pytest
from generate_helpers import (
    TOY_PAGES,
    BrokenValidate,
    GhostMarkers,
    MarkersLostOnFork,
    NoCopyOnWrite,
    SilentGuardErrors,
    Toy,
    actions,
)

from pytest_anonvma import registry
from pytest_anonvma.cases.arena import page_addr
from pytest_anonvma.conformity import ContractViolation
from pytest_anonvma.constants import MADV_GUARD_REMOVE, PAGE_SIZE
from pytest_anonvma.contract import PageState
from pytest_anonvma.generate import lockstep, trace
from pytest_anonvma.generate.check import case_actions
from pytest_anonvma.generate.generator import generated_cases
from pytest_anonvma.generate.lockstep import StepFailure, first_failure, span
from pytest_anonvma.generate.observe import page_states, reach
from pytest_anonvma.model.engine import ModelMM

SEED = 2025


class ZapsBeyondItsRange(Toy):
    """mprotect also removes every guard marker outside its range, in its address space."""

    def mprotect(self, addr: int, length: int, prot: int) -> None:
        self.inner.mprotect(addr, length, prot)
        for far in range(page_addr(0), page_addr(TOY_PAGES), PAGE_SIZE):
            if not addr <= far < addr + length and self.inner.page(far) is PageState.GUARD:
                self.inner.madvise(far, PAGE_SIZE, MADV_GUARD_REMOVE)


class ZapsOtherAddressSpaces(Toy):
    """mprotect also removes every guard marker of the other address spaces of its fork
    family."""

    def mprotect(self, addr: int, length: int, prot: int) -> None:
        self.inner.mprotect(addr, length, prot)
        for other in self.family:
            for page in range(TOY_PAGES):
                if (other is not self and not other.inner.closed
                        and other.inner.page(page_addr(page)) is PageState.GUARD):
                    other.inner.madvise(page_addr(page), PAGE_SIZE, MADV_GUARD_REMOVE)


class BreaksOthersValidate(Toy):
    """munmap breaks validate() of the other address spaces of its fork family (out of the
    step's reach, so the first pass does not validate them)."""

    broken = False

    def munmap(self, addr: int, length: int) -> None:
        self.inner.munmap(addr, length)
        for other in self.family:
            if other is not self:
                assert isinstance(other, BreaksOthersValidate)
                other.broken = True

    def validate(self) -> None:
        if self.broken:
            raise AssertionError("toy: another address space's munmap broke this one")


def _first(steps: list, factory: object, full: bool) -> tuple[StepFailure | None, bool]:
    return lockstep._play(steps, factory, None, full, None)  # type: ignore[arg-type]


def _same(a: StepFailure | None, b: StepFailure | None) -> bool:
    if a is None or b is None:
        return a is b
    return (a.index, a.findings, a.history, a.note) == (b.index, b.findings, b.history, b.note)


# -- what a step can reach ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("read 20", ("parent",)),
        ("in child: mprotect 3 4 r", ("child",)),
        ("mremap 0 2 -> 4", ("parent",)),
        ("fork as child", ("parent", "child")),
        ("madvise 5 2 dontneed", ("parent",)),
        ("madvise 5 2 remove", None),  # every mapping of the file
        ("memfd f 4", ()),
    ],
)
def test_reach(line: str, expected: tuple[str, ...] | None) -> None:
    """Each kind of step reaches the address spaces the kernel lets it change."""
    (step,) = actions(line)
    assert reach(step) == expected


# -- bulk page states ---------------------------------------------------------------------------


def test_bulk_page_states_equal_page_by_page() -> None:
    """The model's page_states() is page() over the range, in the case language's letters."""
    mm = ModelMM("reference")
    mm.mmap(page_addr(2), 6 * PAGE_SIZE, 3, 0x32)
    mm.write(page_addr(3), 1)
    mm.madvise(page_addr(5), PAGE_SIZE, 102)
    one_by_one = "".join(mm.page(page_addr(p)).char for p in range(10))
    assert mm.page_states(page_addr(0), 10) == one_by_one == "...P.G...."
    assert page_states(mm, 1, 6) == one_by_one[1:7]


def test_a_subclass_overriding_page_is_read_through_page() -> None:
    """Overriding page() without page_states() keeps page() authoritative."""

    class AllGuards(ModelMM):
        def page(self, addr: int) -> PageState:
            return PageState.GUARD

    assert page_states(AllGuards(), 0, 3) == "GGG"


@pytest.mark.parametrize("value", ["..", "..X", 3, None])
def test_a_bad_bulk_answer_is_a_contract_violation(value: object) -> None:
    """A page_states() answer of the wrong length, letters or type names the method."""

    class Bad(ModelMM):
        def page_states(self, addr: int, npages: int) -> str:
            return value  # type: ignore[return-value]

    with pytest.raises(ContractViolation, match=r"Bad\.page_states\(\) returned"):
        page_states(Bad(), 0, 3)


# -- the narrowed first pass loses no finding ---------------------------------------------------


@pytest.mark.parametrize(
    "impl", ["rfc-v1", "baseline", "maybe-guard", MarkersLostOnFork, GhostMarkers,
             SilentGuardErrors, BrokenValidate, ZapsBeyondItsRange, ZapsOtherAddressSpaces],
)
def test_first_pass_finds_what_the_full_run_finds(impl: object) -> None:
    """Generated cases of bundled designs and of toys breaking pages anywhere (every page of
    every address space is read after every step): the first pass finds the same first
    failure, finding for finding, and every passing case settles."""
    factory = registry.resolve(impl) if isinstance(impl, str) else impl
    for case in generated_cases(SEED, 30):
        steps = case_actions(case)
        full, _ = _first(steps, factory, True)
        quick, settled = _first(steps, factory, False)
        assert _same(quick, full), case.id
        assert quick is not None or settled, case.id


@pytest.mark.parametrize(
    "toy", [MarkersLostOnFork, NoCopyOnWrite, GhostMarkers, SilentGuardErrors, BrokenValidate,
            ZapsBeyondItsRange, ZapsOtherAddressSpaces, BreaksOthersValidate],
)
def test_first_failure_is_the_full_runs_on_broken_toys(toy: type[Toy]) -> None:
    """Toys with one bug each, some acting outside what the step can reach: the answer of
    first_failure (a quick pass, then a full replay when needed) is the full run's exactly,
    and some case catches each toy."""
    caught = 0
    for case in generated_cases(SEED, 40):
        steps = case_actions(case)
        full, _ = _first(steps, toy, True)
        assert _same(first_failure(steps, toy), full), case.id
        caught += full is not None
    assert caught


def test_out_of_reach_damage_does_not_settle() -> None:
    """An address space broken by a step on another one is not validated by the first pass,
    but the check at the end of the case sees it, and the full replay names the step."""
    steps = actions("""
        mmap 0 4 rw anon
        fork as child
        munmap 0 1
        write 1 0x1
    """)
    quick, settled = _first(steps, BreaksOthersValidate, False)
    assert quick is None and not settled
    failure = first_failure(steps, BreaksOthersValidate)
    assert failure is not None and failure.index == 2
    assert failure.first.message.startswith("validate() of 'child' failed")


# -- the reference's run is computed once per case and era --------------------------------------


def test_the_reference_run_is_shared_between_implementations_of_an_era(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Implementations of era 2025-03 replay the reference's run recorded for the case; the
    VMA views, which only the reference design itself compares, go when the run settles."""
    calls = []
    reference = lockstep.reference_factory("2025-03")

    def counting() -> object:
        calls.append(1)
        return reference()

    monkeypatch.setattr(lockstep, "reference_factory", lambda era: counting)
    trace.clear_cache()
    steps = case_actions(generated_cases(SEED, 1)[0])
    try:
        for impl in ("reference@2025-03", "baseline", "baseline@2025-03"):
            assert first_failure(steps, registry.resolve(impl), key="gen-x") is None
        assert len(calls) == 1
        # the views went when the run settled: the reference design plays it again
        assert first_failure(steps, registry.resolve("reference@2025-03"), key="gen-x") is None
        assert len(calls) == 2
    finally:
        trace.clear_cache()


def test_a_cached_run_of_another_sequence_is_not_reused() -> None:
    """The cache matches the steps too: a case id reused for other steps plays them anew."""
    trace.clear_cache()
    factory = registry.resolve("baseline")
    one, two = actions("mmap 0 2 rw anon\nwrite 0 0x1"), actions("mmap 0 2 rw anon\nread 1")
    assert first_failure(one, factory, key="same") is None
    assert first_failure(two, factory, key="same") is None
    assert span(two) == 2
    trace.clear_cache()
