"""What the soak compares and what it lets pass, on models (no live kernel needed).

The oracle here is the maybe-guard model on 6.18, the design the 6.18 kernel carries; every
behaviour these tests rely on was also observed on the live 6.18 kernel (named per test).
"""

from __future__ import annotations

from collections.abc import Callable

from pytest_anonvma import constants as C
from pytest_anonvma import registry
from pytest_anonvma.cases.arena import page_addr
from pytest_anonvma.cases.steps import Action, Fork, Mremap, Pages, VmaField, parse_steps
from pytest_anonvma.contract import MM, VMAInfo
from pytest_anonvma.generate.oracles import VmaView
from pytest_anonvma.soak.compare import loose_after_touch, move_loose, prot_findings
from pytest_anonvma.soak.drive import SoakRun, first_disagreement
from pytest_anonvma.soak.observe import Observation, page_prots, project

WIDTH = 24
ORACLE = registry.resolve("maybe-guard@6.18")
REFERENCE = registry.resolve("reference@6.18")


def _actions(text: str) -> list[Action]:
    return [step for step in parse_steps(text) if isinstance(step, Action)]


def _toy(name: str) -> Callable[[], MM]:
    return registry.resolve(f"soak_toys:{name}")


# a fork after a whole-VMA guard remove, with a read-faulted (zero page) page in the VMA
FORK_AFTER_REMOVE = """
mmap 0 2 rw anon
read 0
guard 1 1
unguard 0 2
fork as child
"""


def test_fork_copy_decision_is_a_design_difference() -> None:
    """Live 6.18: the child shows page 0 present (VM_MAYBE_GUARD is sticky, so fork copies the
    page tables); reference clears its flag on the whole remove and copies nothing
    (docs/spec.md §3.2): the child's page 0 is empty. Not a disagreement, but a loose page until
    both sides agree on it (the child's read faults it in on the reference too)."""
    steps = _actions(FORK_AFTER_REMOVE)
    assert first_disagreement(steps, ORACLE, REFERENCE, WIDTH) is None
    with SoakRun(ORACLE, {"ref": REFERENCE}, WIDTH) as run:
        for step in steps:
            assert run.step(step) == {}
        assert run.sides["ref"].loose["child"] == {0}
        assert run.sides["ref"].space.mms["child"].page(page_addr(0)).char == "."
        assert run.oracle.mms["child"].page(page_addr(0)).char == "P"
        run.step(_actions("in child: read 0")[0])
        assert run.sides["ref"].loose["child"] == set()


def test_fork_copy_difference_is_strict_for_the_kernels_design() -> None:
    """The same loose rule does not apply to the model of the oracle's own design: a
    maybe-guard whose fork copies nothing after the remove would disagree. Here the toy loses
    the child's markers: a guard marker lost in a fork child is reported for any design."""
    steps = _actions("mmap 0 2 rw anon\nguard 1 1\nfork as child")
    for toy in ("ForgetfulFork", "ForgetfulReference"):
        failure = first_disagreement(steps, ORACLE, _toy(toy), WIDTH)
        assert failure is not None and failure.index == 2
        assert Pages(1, "G", mm="child") in failure.first.expectations


def test_touch_of_a_loose_page_may_fault_around_on_one_side() -> None:
    """Live 6.18 (soak seed 3, sequence 6677): the child's page 10 was copied by fork on the
    kernel, not on reference; the child's read faults only on reference, whose fault-around
    also maps the cached page 9 (read by the parent before): page 9 is present on reference
    and empty on the kernel. Loose, not a disagreement."""
    steps = _actions("mmap 8 3 rw shared anon\nread 9\nguard 8 3\nunguard 8 3\n"
                     "write 10 0x28\nfork as child\nin child: read 10")
    with SoakRun(ORACLE, {"ref": REFERENCE}, WIDTH) as run:
        for step in steps:
            assert run.step(step) == {}
        child = run.sides["ref"].space.mms["child"]
        assert [child.page(page_addr(p)).char for p in (9, 10)] == ["P", "P"]
        assert run.oracle.mms["child"].page(page_addr(9)).char == "."
        assert run.sides["ref"].loose["child"] == {9}


def test_loose_after_touch_takes_the_fault_around_block_only() -> None:
    """Only a touch of a loose page, or of a page whose VMA has other boundaries on the two
    sides, widens the loose set: to present/empty differences in the 16-page aligned blocks of
    the touched pages (``fault_around_bytes`` = 64 KiB)."""
    one = (VMAInfo(page_addr(0), page_addr(16), 3), VMAInfo(page_addr(16), page_addr(24), 3))
    two = (VMAInfo(page_addr(0), page_addr(16), 3), VMAInfo(page_addr(16), page_addr(18), 3),
           VMAInfo(page_addr(18), page_addr(24), 3))
    got = Observation("P" * 20 + "GG..", None, VmaView(one))
    want = Observation("." * 20 + "..PP", None, VmaView(one))
    assert loose_after_touch(range(3, 4), got, want, {5}) == {5}
    assert loose_after_touch(range(5, 6), got, want, {5}) == set(range(16))
    assert loose_after_touch(range(17, 18), got, want, {17}) == {16, 17, 18, 19, 22, 23}
    split = Observation(want.states, None, VmaView(two))
    assert loose_after_touch(range(3, 4), got, split, set()) == set()
    assert loose_after_touch(range(17, 18), got, split, set()) == {16, 17, 18, 19, 22, 23}


def test_fault_around_clipped_to_differently_merged_vmas() -> None:
    """Live 6.18 (soak seed 3, sequence 8035): private memfd mappings at 10..11, 12..13 and
    14..16 merge into one VMA on the kernel (the install on 14 set VM_MAYBE_GUARD, sticky and
    no bar to merging) but not on baseline (the install prepared an anon_vma of its own).
    populate_read of 15..16 then faults around over the whole VMA on the kernel, mapping the
    cached page 10, and only within 14..16 on baseline. Loose, not a disagreement."""
    steps = _actions("memfd p 32\nmmap 10 2 rw memfd:p offset 10\nmmap 14 3 rw memfd:p offset 14\n"
                     "guard 14 1\nwrite 10 0x28\nmmap 12 2 rw memfd:p offset 12\nguard 10 7\n"
                     "unguard 10 7\nmadvise 15 2 populate_read")
    baseline = registry.resolve("baseline@6.18")
    with SoakRun(ORACLE, {"baseline": baseline}, WIDTH) as run:
        for step in steps:
            assert run.step(step) == {}
        assert run.oracle.mms["parent"].page(page_addr(10)).char == "P"
        assert run.sides["baseline"].space.mms["parent"].page(page_addr(10)).char == "."
        assert run.sides["baseline"].loose["parent"] == {10}


def test_populate_faults_around_in_differently_merged_vmas() -> None:
    """Live 6.18 (soak seed 4, sequence 3714): in the second child, a new shared memfd
    mapping at 9..10 merges with the inherited 2..8 on the kernel (VM_MAYBE_GUARD does not
    block merging) but not on baseline (the inherited VMA has a fork child's anon_vma); the
    MAP_POPULATE read fault then maps the page-cache page of 3 (written by the other child)
    only where the VMA reaches it. Loose, not a disagreement."""
    steps = _actions("memfd s 32\nmmap 2 3 rw shared memfd:s offset 2\n"
                     "mmap 6 3 rw shared memfd:s offset 6\nguard 6 2\n"
                     "mmap 5 1 rw shared memfd:s offset 5\nfork as child\nfork as child2\n"
                     "in child: write 3 0xe1\n"
                     "in child2: mmap 9 2 rw shared memfd:s offset 9 populate")
    baseline = registry.resolve("baseline@6.18")
    with SoakRun(ORACLE, {"baseline": baseline}, WIDTH) as run:
        for step in steps:
            assert run.step(step) == {}
        assert run.oracle.mms["child2"].page(page_addr(3)).char == "P"
        assert run.sides["baseline"].space.mms["child2"].page(page_addr(3)).char == "."
        assert run.sides["baseline"].loose["child2"] == {3}


def test_mremap_parting_on_different_merges_is_not_a_disagreement() -> None:
    """Live 6.18: the guard install prepares an anon_vma, the RW and R parts stay two VMAs and
    growing the range across them fails with EFAULT. Reference prepares none, they merge back
    into one VMA and the grow succeeds: the model parts from the oracle, no disagreement."""
    steps = _actions("mmap 3 3 rw anon\nmprotect 3 1 r\nguard 3 2\nmprotect 3 1 rw\n"
                     "mremap 3 3 -> 6")
    with SoakRun(ORACLE, {"ref": REFERENCE}, WIDTH) as run:
        for step in steps:
            assert run.step(step) == {}
        assert set(run.parted) == {"ref"} and "EFAULT" in run.parted["ref"]
        assert not run.comparing


def test_move_loose_follows_the_page_tables() -> None:
    """mremap moves page tables: loose pages in the moved part go along, those in the target
    range before are gone; a shrink drops the cut tail (mm/mremap.c move_page_tables)."""
    move = Mremap(2, 4, 4, maymove=True, fixed=10)
    assert move_loose({3, 5, 11, 20}, move) == {11, 13, 20}
    shrink = Mremap(2, 4, 2)
    assert move_loose({2, 3, 4, 5, 9}, shrink) == {2, 3, 9}
    grow = Mremap(2, 2, 4)
    assert move_loose({2, 3}, grow) == {2, 3}


def test_prot_findings_state_the_oracles_protection() -> None:
    """Per-page protection: each differing mapped page becomes a ``vma N prot`` expectation
    stating the oracle's value; an unmapped page has no VMA to state it on."""
    rw, r = C.PROT_READ | C.PROT_WRITE, C.PROT_READ
    assert prot_findings("parent", (rw, r), (rw, r), "live") == []
    [finding] = prot_findings("child", (rw, rw, None), (r, None, rw), "live")
    assert finding.message == ("protection in child differs: page 0 is rw (live r), page 1 is "
                               "rw (live unmapped), page 2 is unmapped (live rw)")
    assert finding.expectations == (VmaField(0, "prot", "r", mm="child"),
                                    VmaField(2, "prot", "rw", mm="child"))


def test_projection_keeps_what_the_kernel_shows_alike() -> None:
    """Compared: boundaries, protection, the listed flags, the pgoff of memfd VMAs. Shared
    anonymous memory (the contract's file /dev/zero; live shows no file and pgoff 0) and
    other flags are not."""
    shared = VMAInfo(page_addr(0), page_addr(2), 3, frozenset({"VM_SHARED", "VM_MAYSHARE"}),
                     pgoff=7, file="/dev/zero")
    memfd = VMAInfo(page_addr(4), page_addr(5), 1, frozenset({"VM_MAYBE_GUARD", "VM_ACCOUNT"}),
                    pgoff=9, file="s")
    flags = frozenset({"VM_SHARED", "VM_MAYBE_GUARD"})
    assert project(shared, flags) == VMAInfo(page_addr(0), page_addr(2), 3,
                                             frozenset({"VM_SHARED"}))
    assert project(memfd, flags) == VMAInfo(page_addr(4), page_addr(5), 1,
                                            frozenset({"VM_MAYBE_GUARD"}), pgoff=9, file="s")
    assert page_prots([shared, memfd], 6) == (3, 3, None, None, 1, None)



def test_step_failure_history_holds_the_models_outcomes() -> None:
    """The failure carries the model's outcome of every step up to the disagreement (what the
    shrinker and the case writer replay), the oracle's side in the findings."""
    failure = first_disagreement(_actions("mmap 0 2 rw anon\nguard 1 1\nfork as child"),
                                 ORACLE, _toy("ForgetfulFork"), WIDTH)
    assert failure is not None
    assert [step for step, _ in failure.history][-1] == Fork("child")
    assert all(outcome.ok for _, outcome in failure.history)
