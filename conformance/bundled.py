"""The case corpus of this directory (``cases/*.toml``), loaded once per process, and its pytest
parameters."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest

from pytest_anonvma.cases.corpus import Corpus, load_corpus

__all__ = ["CASES_DIR", "bundled_corpus", "case_params"]

#: the case files next to this module
CASES_DIR = Path(__file__).parent / "cases"


@functools.cache
def bundled_corpus() -> Corpus:
    """The corpus under :data:`CASES_DIR` (malformed files are in ``.errors``)."""
    return load_corpus([CASES_DIR])


def case_params() -> list[Any]:
    """One ``pytest.param`` per case: id = case id, marks = its tier and needed capabilities."""
    return [
        pytest.param(
            case,
            id=case.id,
            marks=[
                pytest.mark.anonvma_tier(case.tier),
                pytest.mark.anonvma_needs(*sorted(case.needs)),
            ],
        )
        for case in bundled_corpus().cases
    ]
