"""Seeded generated cases (``--anonvma-generated=N``, ``--anonvma-seed``): one test per case and
implementation, id ``test_generated[IMPL-gen-SEED-N]``.

The cases come from the seed alone (the same on every run and xdist worker); the oracles of
:mod:`pytest_anonvma.generate` supply the expectations: invariants from an independent shadow
model and the bundled reference's behaviour. A failure prints its shortest failing prefix as a
ready-to-paste case (saved into ``--anonvma-save-failures=DIR`` when given).
"""

from __future__ import annotations

import pytest

from pytest_anonvma.cases.corpus import Case
from pytest_anonvma.generate.check import GeneratedCaseFailure, check_generated
from pytest_anonvma.generate.generator import generated_cases
from pytest_anonvma.live.export_c import write_c
from pytest_anonvma.options import get_settings
from pytest_anonvma.selection import Implementation


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One parameter per generated case of the run's seed (marked with its capabilities)."""
    if "generated_case" not in metafunc.fixturenames:
        return
    settings = get_settings(metafunc.config)
    params = [
        pytest.param(case, id=case.id, marks=[pytest.mark.anonvma_tier("generated"),
                                              pytest.mark.anonvma_needs(*sorted(case.needs))])
        for case in generated_cases(settings.seed, settings.generated)
    ]
    if not params:
        params = [pytest.param(None, id="none", marks=pytest.mark.skip(
            reason="generated cases are off (--anonvma-generated=0)"))]
    metafunc.parametrize("generated_case", params)


def test_generated(anonvma_impl: Implementation, generated_case: Case,
                   request: pytest.FixtureRequest) -> None:
    """Play the case on the implementation and the reference; every oracle must hold.

    A failure's shrunk case is also written as a C reproducer with ``--anonvma-export-c=DIR``.
    """
    settings = get_settings(request.config)
    try:
        check_generated(generated_case, anonvma_impl.factory, anonvma_impl.name,
                        anonvma_impl.design, settings.seed, settings.save_failures)
    except GeneratedCaseFailure as failure:
        report = str(failure)
        if settings.export_c is not None:
            report += f"\nC reproducer: {write_c(failure.case, settings.export_c)}"
    else:
        return
    pytest.fail(report, pytrace=False)
