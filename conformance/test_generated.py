"""Seeded generated cases (``--anonvma-generated=N``, ``--anonvma-seed``): one test per case and
implementation, id ``test_generated[IMPL-gen-SEED-N]``.

The cases come from the seed alone (the same on every run and xdist worker). Collection makes
only the ids; each test generates its own case, so xdist workers share the generating instead
of each repeating all of it. The oracles of
:mod:`pytest_anonvma.generate` supply the expectations: invariants from an independent shadow
model and the bundled reference's behaviour. A failure prints its shortest failing prefix as a
ready-to-paste case (saved into ``--anonvma-save-failures=DIR`` when given; a save that fails
is a line of the failure, never a replacement for it).
"""

from __future__ import annotations

from functools import partial

import pytest

from pytest_anonvma.generate.check import GeneratedCaseFailure, case_actions, check_generated
from pytest_anonvma.generate.generator import case_id, generate_case
from pytest_anonvma.generate.reproduce import save_case
from pytest_anonvma.live.export_c import write_c
from pytest_anonvma.options import get_settings
from pytest_anonvma.outputs import write_output
from pytest_anonvma.selection import Implementation
from pytest_anonvma.story import rerun_command
from pytest_anonvma.tiers import GENERATED


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One parameter per generated case of the run's seed: its number, with id ``gen-SEED-N``."""
    if "generated_case" not in metafunc.fixturenames:
        return
    settings = get_settings(metafunc.config)
    tier = pytest.mark.anonvma_tier(GENERATED)
    params = [pytest.param(n, id=case_id(settings.seed, n), marks=tier)
              for n in range(settings.generated)]
    if not params:
        params = [pytest.param(None, id="none", marks=[tier, pytest.mark.skip(
            reason="generated cases are off (--anonvma-generated=0)")])]
    metafunc.parametrize("generated_case", params)


def test_generated(anonvma_impl: Implementation, generated_case: int,
                   request: pytest.FixtureRequest) -> None:
    """Generate case ``generated_case`` and play it on the implementation and the reference;
    every oracle must hold. It is skipped when the implementation lacks a capability it needs.
    Its operation count is the test's ``anonvma_steps`` property (the JSON report's ``"steps"``).

    A failure's shrunk case is also written as a C reproducer with ``--anonvma-export-c=DIR``.
    """
    settings = get_settings(request.config)
    case = generate_case(settings.seed, generated_case)
    lacking = anonvma_impl.lacking(case.needs)
    if lacking is not None:
        pytest.skip(lacking)
    # the JSON report's "steps": the operations the case runs (it stops at a failing one)
    request.node.user_properties.append(("anonvma_steps", len(case_actions(case))))
    try:
        check_generated(case, anonvma_impl.factory, anonvma_impl.name,
                        anonvma_impl.design, settings.seed,
                        rerun=rerun_command(request.node, anonvma_impl.name))
    except GeneratedCaseFailure as failure:
        report = [str(failure)]
        if settings.save_failures is not None:
            report.append(write_output(request.node, "the shortest failing case",
                                       partial(save_case, failure.case, settings.save_failures)))
        if settings.export_c is not None:
            report.append(write_output(request.node, "the C reproducer",
                                       partial(write_c, failure.case, settings.export_c)))
        # raised while handling it, the failure stays the context: an expected-failure entry
        # naming a finding reads the failure's finding kinds there
        raise pytest.fail.Exception("\n".join(report), pytrace=False) from None
