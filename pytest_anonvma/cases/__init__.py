"""Declarative conformance cases: the step language, the case files, the lint, the runner.

``docs/case-format.md`` describes the format. The public surface::

    corpus = load_corpus()              # the bundled conformance/cases/*.toml
    for case in corpus.cases:
        if case_applies(case, "rfc-v1") is None:
            run_case(case, factory, "rfc-v1")   # raises CaseFailure
"""

from __future__ import annotations

from pytest_anonvma.cases.arena import ARENA_BASE, ARENA_PAGES, page_addr
from pytest_anonvma.cases.corpus import (
    BUNDLED_CASES,
    Case,
    Corpus,
    Problem,
    load_corpus,
    load_file,
    parse_cases,
)
from pytest_anonvma.cases.runner import CaseFailure, case_applies, mm_design, mm_era, run_case
from pytest_anonvma.cases.steps import Step, StepError, parse_step, parse_steps

__all__ = [
    "ARENA_BASE",
    "ARENA_PAGES",
    "BUNDLED_CASES",
    "Case",
    "CaseFailure",
    "Corpus",
    "Problem",
    "Step",
    "StepError",
    "case_applies",
    "load_corpus",
    "load_file",
    "mm_design",
    "mm_era",
    "page_addr",
    "parse_cases",
    "parse_step",
    "parse_steps",
    "run_case",
]
