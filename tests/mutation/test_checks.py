"""The suite side of the tool: which designs a module affects, how a stage compares with the
baseline, and, through real worker processes, that a known-bad mutant is killed and a stage
that overruns its limit counts as a timeout.

Known outcomes come from the case files and docs/spec.md: rfc-v1 fails the hazard cases
(docs/spec.md §4) and passes the patch-tier ``patch-flag-set-by-install`` case, which a design
that never sets ANON_VMA_UNFAULTED must fail.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from mutate.checks import Plan, affected_designs, pytest_args, run_corpus, run_generated
from mutate.operators import find_mutants
from mutate.pool import Job, Pool

from pytest_anonvma.cases import load_corpus

ROOT = Path(__file__).resolve().parents[2]
RFC_V1 = ROOT / "pytest_anonvma" / "designs" / "rfc_v1.py"
ALL = ("baseline", "rfc-v1", "reference", "maybe-guard")


def test_affected_designs_follow_the_class_hierarchy() -> None:
    """reference subclasses rfc-v1; engine modules and design helpers affect every design."""
    assert affected_designs("pytest_anonvma.designs.rfc_v1") == ("rfc-v1", "reference")
    assert affected_designs("pytest_anonvma.designs.reference") == ("reference",)
    assert affected_designs("pytest_anonvma.designs.maybe_guard") == ("maybe-guard",)
    assert affected_designs("pytest_anonvma.designs.base") == ALL
    assert affected_designs("pytest_anonvma.model.vma") == ALL


def test_plan_runs_the_cheap_stages_first() -> None:
    """Corpus stages per design, then (full suite only) generated cases and the pytest
    session: the model's unit tests, then the conformance directory."""
    assert Plan(("rfc-v1", "reference"), "corpus", str(ROOT)).stages() == [
        "corpus:rfc-v1", "corpus:reference"]
    full = Plan(("baseline", "rfc-v1"), "full", str(ROOT))
    assert full.stages() == ["corpus:baseline", "corpus:rfc-v1", "generated:baseline",
                             "generated:rfc-v1", "pytest"]
    args = pytest_args(full)
    assert "--anonvma-impl=baseline,rfc-v1" in args
    assert args[:2] == [str(ROOT / "tests/model"), str(ROOT / "conformance")]


def test_a_new_failure_is_a_change() -> None:
    """rfc-v1 against an empty baseline: the first failing case (a hazard) is the change."""
    outcome = run_corpus("rfc-v1", set())
    assert outcome.changed.startswith("hazard-")
    assert outcome.failing == {outcome.changed}


def test_an_expected_failure_that_passes_is_a_change() -> None:
    """A baseline failure that no longer fails changes the outcome too."""
    outcome = run_corpus("reference", {"patch-flag-set-by-install"})
    assert outcome.failing == set()
    assert outcome.changed == "patch-flag-set-by-install"


def test_without_a_baseline_every_failure_is_recorded() -> None:
    """The baseline run itself: rfc-v1 fails hazard cases only, reference fails nothing."""
    failing = run_corpus("rfc-v1", None).failing
    assert failing and all(case.startswith("hazard-") for case in failing)
    assert run_corpus("reference", None).failing == set()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_known_bad_mutant_is_killed_and_the_file_is_untouched() -> None:
    """Dropping ``vma_set_anon_vma_unfaulted`` from rfc-v1's install hook loses the flag (so
    fork drops markers): a case kills it at rfc-v1's stage; rfc_v1.py is byte-identical
    afterwards."""
    mutant = next(m for m in find_mutants(RFC_V1, ROOT)
                  if m.operator == "drop" and m.original == "vma_set_anon_vma_unfaulted(vma)")
    plan = Plan(affected_designs(mutant.module), "corpus", str(ROOT))
    before = _digest(RFC_V1)
    baseline, = Pool(1).run([Job(None, plan)])
    assert baseline["status"] == "survived"
    assert baseline["failing"]["corpus:reference"] == []
    answer, = Pool(1).run([Job(mutant, plan, baseline["failing"], {})])
    assert (answer["status"], answer["stage"]) == ("killed", "corpus:rfc-v1")
    assert answer["check"] in {case.id for case in load_corpus().cases}
    assert _digest(RFC_V1) == before


def test_stage_over_its_limit_is_a_timeout() -> None:
    """A stage that outlives its limit gets the child killed: status ``timeout``."""
    plan = Plan(("rfc-v1",), "corpus", str(ROOT))
    answer, = Pool(1).run([Job(None, plan, {"corpus:rfc-v1": []}, {"corpus:rfc-v1": 0.001})])
    assert (answer["status"], answer["stage"]) == ("timeout", "corpus:rfc-v1")


def test_answers_come_back_in_job_order_with_two_workers() -> None:
    """Parallel workers, deterministic result order (by job index)."""
    plans = [Plan((design,), "corpus", str(ROOT)) for design in ALL]
    answers = Pool(2).run([Job(None, plan) for plan in plans])
    assert [a["id"] for a in answers] == [0, 1, 2, 3]
    assert [sorted(a["failing"]) for a in answers] == [[f"corpus:{d}"] for d in ALL]


def test_generated_stage_fails_the_cases_check_generated_fails() -> None:
    """The generated stage skips the shrinking but must fail exactly the cases that
    ``conformance/test_generated.py``'s ``check_generated`` fails (rfc-v1 fails some: spec
    docs/spec.md §4's hazards are what the generator aims at)."""
    from pytest_anonvma import registry
    from pytest_anonvma.generate.check import GeneratedCaseFailure, check_generated
    from pytest_anonvma.generate.generator import generated_cases
    from pytest_anonvma.options import default_seed

    factory = registry.resolve("rfc-v1")
    expected = set()
    for case in generated_cases(default_seed(), 120):
        try:
            check_generated(case, factory, "rfc-v1", "rfc-v1", default_seed())
        except GeneratedCaseFailure:
            expected.add(case.id)
    assert expected
    assert run_generated("rfc-v1", None, 120).failing == expected
