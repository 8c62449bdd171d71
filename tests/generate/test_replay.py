"""Failures become cases: a failing generated case and an explorer failure print (and save)
case text that the corpus loader reads and the curated-case runner replays, failing on the
implementation and passing on the reference.

Expected behaviour: issue 5 ("A failing generated case prints the shortest failing prefix as a
ready-to-paste case"; the explorer's failure "then replays as a curated case").
"""

from __future__ import annotations

from pathlib import Path

import pytest
from generate_helpers import NoCopyOnWrite, RfcV1ClaimingReference, SplitsEveryVma, actions

from pytest_anonvma import registry
from pytest_anonvma.cases.corpus import Case, load_corpus, parse_cases
from pytest_anonvma.cases.runner import CaseFailure, run_case
from pytest_anonvma.generate.check import GeneratedCaseFailure, check_generated
from pytest_anonvma.generate.explorer import ExplorationFailure, explore
from pytest_anonvma.generate.generator import generated_cases
from pytest_anonvma.generate.lockstep import first_failure
from pytest_anonvma.generate.profiles import (
    CI_PROFILE,
    DEEP_PROFILE,
    explorer_settings,
    register_profiles,
)
from pytest_anonvma.generate.reproduce import failure_case

SEED = 914670907


def _replays(case: Case, failing: str, passing: tuple[str, ...]) -> None:
    """``case`` fails on ``failing`` and passes on each of ``passing`` through the runner."""
    with pytest.raises(CaseFailure):
        run_case(case, registry.resolve(failing), failing)
    for name in passing:
        run_case(case, registry.resolve(name), name)


def _first_failure(impl: str, factory: object = None) -> GeneratedCaseFailure:
    for case in generated_cases(SEED, 40):
        try:
            check_generated(case, factory or registry.resolve(impl), impl, impl, SEED)  # type: ignore[arg-type]
        except GeneratedCaseFailure as failure:
            return failure
    raise AssertionError(f"no generated case failed on {impl}")


def test_generated_failure_prints_a_case_that_replays(tmp_path: Path) -> None:
    """rfc-v1's first failing case: the report holds the TOML; read back it is one clean
    case; it fails on rfc-v1 and passes on every design that keeps markers."""
    failure = _first_failure("rfc-v1")
    report = str(failure)
    assert f"(seed {SEED}) failed on 'rfc-v1'" in report
    toml = report[report.index("[[case]]"): report.index("rerun:")]
    (case,), problems = parse_cases(toml, "pasted.toml")
    assert problems == []
    assert case.id.endswith("-min") and case.tier == "guard"
    _replays(case, "rfc-v1", ("reference", "maybe-guard", "baseline"))


def test_saved_failure_loads_through_the_corpus(tmp_path: Path) -> None:
    """With a save directory the shrunk case is written there and loads as a corpus."""
    case = generated_cases(SEED, 40)
    for each in case:
        try:
            check_generated(each, registry.resolve("rfc-v1"), "rfc-v1", "rfc-v1", SEED,
                            tmp_path / "saved")
        except GeneratedCaseFailure as failure:
            assert failure.saved == tmp_path / "saved" / f"{each.id}-min.toml"
            break
    corpus = load_corpus([tmp_path / "saved"])
    assert corpus.errors == {}
    (saved,) = corpus.cases
    _replays(saved, "rfc-v1", ("reference",))


def test_toy_failure_replays() -> None:
    """A toy without copy-on-write (a child's write lands in the parent): its shrunk case
    replays through the runner, failing on the toy, passing on the reference."""
    failure = _first_failure("no-cow", NoCopyOnWrite)
    assert any(step.mm != "parent" for step in failure.case.steps)  # it needs the fork
    with pytest.raises(CaseFailure):
        run_case(failure.case, NoCopyOnWrite, "no-cow")  # type: ignore[arg-type]
    run_case(failure.case, registry.resolve("reference"), "reference")


def test_explorer_failure_is_saved_and_replays_as_a_curated_case(tmp_path: Path) -> None:
    """The explorer finds rfc-v1's hazard, writes the shrunk program into the directory, and
    that file loads through the corpus loader and replays through the runner."""
    with pytest.raises(ExplorationFailure) as info:
        explore(registry.resolve("rfc-v1"), "rfc-v1", "rfc-v1", 2,
                explorer_settings(None, 30), tmp_path)
    saved = info.value.saved
    assert saved is not None and saved.parent == tmp_path
    assert f"saved to {saved}" in str(info.value)
    corpus = load_corpus([tmp_path])
    assert corpus.errors == {}
    (case,) = corpus.cases
    assert case.id == "explore-rfc-v1-2"
    _replays(case, "rfc-v1", ("reference", "maybe-guard"))


def test_explorer_passes_the_reference() -> None:
    """No oracle complains about the reference in a short exploration."""
    explore(registry.resolve("reference"), "reference", "reference", 7,
            explorer_settings(None, 10))


def test_profiles() -> None:
    """anonvma-ci is derandomized and keeps no database; anonvma-deep searches longer;
    --anonvma-examples overrides max_examples."""
    from hypothesis import settings

    register_profiles()
    ci, deep = settings.get_profile(CI_PROFILE), settings.get_profile(DEEP_PROFILE)
    assert ci.derandomize and ci.database is None and ci.deadline is None
    assert not deep.derandomize and deep.max_examples > ci.max_examples
    assert deep.stateful_step_count > ci.stateful_step_count
    assert explorer_settings(DEEP_PROFILE, 7).max_examples == 7
    assert explorer_settings("default", None).derandomize


MERGE = """
    mmap 0 2 rw anon
    mprotect 1 1 r
    guard 1 1
    mprotect 1 1 rw
"""


def test_same_family_patch_state_is_compared() -> None:
    """An implementation claiming the reference design is held to its patch-tier state: after
    the mprotect merge the survivor must carry ANON_VMA_UNFAULTED (the reference's deviation
    from rfc-v1, docs/spec.md §3.2). The printed case is a patch-tier case for that design."""
    failure = first_failure(actions(MERGE), RfcV1ClaimingReference)
    assert failure is not None and failure.index == 3
    assert failure.first.tier == "patch"
    case = failure_case(failure, "toy-patch", "about", "source", "reference")
    assert [s.format() for s in case.steps[4:]] == ["vma 0 anon_vma_flags = 1"]
    assert case.tier == "patch" and case.designs == frozenset({"reference"})
    (parsed,), problems = parse_cases(case.format(), "toy.toml")
    assert problems == []
    with pytest.raises(CaseFailure):
        run_case(parsed, RfcV1ClaimingReference, "toy")  # type: ignore[arg-type]
    run_case(parsed, registry.resolve("reference"), "reference")


def test_same_family_layout_is_compared() -> None:
    """The layout (VMA boundaries) of an implementation claiming the reference design must be
    the reference's; the printed case states the reference's layout diagram."""
    failure = first_failure(actions("mmap 2 3 rw anon"), SplitsEveryVma)
    assert failure is not None and failure.first.tier == "layout"
    case = failure_case(failure, "toy-layout", "about", "source", "reference")
    assert case.steps[-1].format() == 'layout "  AAA"'
    with pytest.raises(CaseFailure):
        run_case(case, SplitsEveryVma, "toy")  # type: ignore[arg-type]
    run_case(case, registry.resolve("reference"), "reference")
