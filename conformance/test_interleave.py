"""The interleave tier (docs/spec.md §5.7): the cases of ``interleave/*.toml``, each run in every
interleaving of its threads that the locks allow; id ``test_interleave[IMPL-CASE_ID]``.

An implementation without the capability ``interleave`` (the stepping protocol of
docs/contract.md; the live kernel has none) is skipped with that name. A failure prints the
shrunk interleaving as a numbered schedule and the address space where it went wrong. With
``--anonvma-export-c=DIR`` each case is also written as ``DIR/<id>.stress.c``, a C stress
reproducer for the running kernel (its threads looped, then fork and check).
"""

from __future__ import annotations

import functools
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from pytest_anonvma.cases.corpus import Case
from pytest_anonvma.cases.runner import case_applies
from pytest_anonvma.interleave.cases import load_interleave_file
from pytest_anonvma.interleave.runner import run_interleave_case
from pytest_anonvma.interleave.stress_c import write_stress_c
from pytest_anonvma.outputs import export_c_if_asked
from pytest_anonvma.selection import Implementation
from pytest_anonvma.tiers import INTERLEAVE

#: the interleave case files next to this module
INTERLEAVE_DIR = Path(__file__).parent / "interleave"


@functools.cache
def _loaded() -> tuple[list[Case], list[str]]:
    """Every interleave case, and the problems of the files that did not load."""
    cases: list[Case] = []
    problems: list[str] = []
    for path in sorted(INTERLEAVE_DIR.glob("*.toml")):
        found, wrong = load_interleave_file(path, f"interleave/{path.name}")
        cases += found
        problems += [str(problem) for problem in wrong]
    return cases, problems


def _params() -> list[Any]:
    cases, problems = _loaded()
    tier = pytest.mark.anonvma_tier(INTERLEAVE)
    params = [pytest.param(case, id=case.id,
                           marks=[tier, pytest.mark.anonvma_needs(*sorted(case.needs))])
              for case in cases]
    if problems:
        params.append(pytest.param("\n".join(problems), id="malformed", marks=tier))
    return params


@pytest.mark.parametrize("case", _params())
def test_interleave(anonvma_impl: Implementation, case: Case | str,
                    request: pytest.FixtureRequest) -> None:
    """Run one interleave case in every interleaving; its expectations and the guard tier's
    invariants must hold in each."""
    if isinstance(case, str):
        pytest.fail(f"malformed interleave case file (its cases do not run):\n{case}",
                    pytrace=False)
    export_c_if_asked(request, f"the C stress reproducer of {case.id}",
                      partial(write_stress_c, case))
    reason = case_applies(case, anonvma_impl.design, anonvma_impl.era)
    if reason:
        pytest.skip(reason)
    run_interleave_case(case, anonvma_impl.factory, anonvma_impl.name)
