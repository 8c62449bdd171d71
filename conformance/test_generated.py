"""Seeded generated cases (``--anonvma-generated=N``, ``--anonvma-seed``): one test per case and
implementation, id ``test_generated[IMPL-gen-SEED-N]``.

The cases come from the seed alone (the same on every run and xdist worker). Collection makes
only the ids; each test generates its own case, so xdist workers share the generating instead
of each repeating all of it. The oracles of
:mod:`pytest_anonvma.generate` supply the expectations: invariants from an independent shadow
model and the bundled reference's behaviour. A failure prints its shortest failing prefix as a
ready-to-paste case (saved into ``--anonvma-save-failures=DIR`` when given).
"""

from __future__ import annotations

import pytest

from pytest_anonvma.generate.check import GeneratedCaseFailure, check_generated
from pytest_anonvma.generate.generator import case_id, generate_case
from pytest_anonvma.live.export_c import write_c
from pytest_anonvma.options import get_settings
from pytest_anonvma.selection import Implementation


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One parameter per generated case of the run's seed: its number, with id ``gen-SEED-N``."""
    if "generated_case" not in metafunc.fixturenames:
        return
    settings = get_settings(metafunc.config)
    tier = pytest.mark.anonvma_tier("generated")
    params = [pytest.param(n, id=case_id(settings.seed, n), marks=tier)
              for n in range(settings.generated)]
    if not params:
        params = [pytest.param(None, id="none", marks=pytest.mark.skip(
            reason="generated cases are off (--anonvma-generated=0)"))]
    metafunc.parametrize("generated_case", params)


def test_generated(anonvma_impl: Implementation, generated_case: int,
                   request: pytest.FixtureRequest) -> None:
    """Generate case ``generated_case`` and play it on the implementation and the reference;
    every oracle must hold. It is skipped when the implementation lacks a capability it needs.

    A failure's shrunk case is also written as a C reproducer with ``--anonvma-export-c=DIR``.
    """
    settings = get_settings(request.config)
    case = generate_case(settings.seed, generated_case)
    lacking = anonvma_impl.lacking(case.needs)
    if lacking is not None:
        pytest.skip(lacking)
    try:
        check_generated(case, anonvma_impl.factory, anonvma_impl.name,
                        anonvma_impl.design, settings.seed, settings.save_failures)
    except GeneratedCaseFailure as failure:
        report = str(failure)
        if settings.export_c is not None:
            report += f"\nC reproducer: {write_c(failure.case, settings.export_c)}"
    else:
        return
    pytest.fail(report, pytrace=False)
