"""The case corpus of this directory (``cases/*.toml``), loaded once per process, and the pytest
parameters of the run's cases: these, then the user's (``--anonvma-cases``)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest

from pytest_anonvma.casefiles import RUN_CASES_KEY
from pytest_anonvma.cases.corpus import BUNDLED_CASES, Case, Corpus, load_corpus

__all__ = ["CASES_DIR", "bundled_corpus", "case_params", "run_cases"]

#: the case files next to this module
CASES_DIR = Path(__file__).parent / "cases"


@functools.cache
def bundled_corpus() -> Corpus:
    """The corpus under :data:`CASES_DIR` (malformed files are in ``.errors``)."""
    return load_corpus([CASES_DIR])


def run_cases(config: pytest.Config) -> list[Case]:
    """The cases ``test_case`` runs: this directory's unless the run leaves them out
    (``--anonvma-no-bundled``), then the ``--anonvma-cases`` ones (in the installed suite; a
    copy of this module elsewhere runs its own cases only)."""
    run = config.stash.get(RUN_CASES_KEY, None)
    if run is None or CASES_DIR.resolve() != BUNDLED_CASES.resolve():
        return bundled_corpus().cases
    return [*(bundled_corpus().cases if run.bundled else []), *run.user.cases]


def case_params(config: pytest.Config) -> list[Any]:
    """One ``pytest.param`` per case of the run: id = case id, marks = its tier and needed
    capabilities; a skipped ``none`` when there is no case at all."""
    params = [
        pytest.param(
            case,
            id=case.id,
            marks=[
                pytest.mark.anonvma_tier(case.tier),
                pytest.mark.anonvma_needs(*sorted(case.needs)),
            ],
        )
        for case in run_cases(config)
    ]
    return params or [pytest.param(None, id="none", marks=pytest.mark.skip(
        reason="no cases to run: the --anonvma-cases files hold none"))]
