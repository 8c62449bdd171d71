"""The declarative conformance cases (``conformance/cases/*.toml``, then the user's
``--anonvma-cases`` files).

One test per case and implementation, id ``test_case[IMPL-CASE_ID]``. The plugin skips cases
whose ``needs`` the implementation lacks (marker ``anonvma_needs``); the case's own ``designs``
list skips it for other design families; ``run_case`` raises ``CaseFailure`` with the steps run
and the expected and actual pictures.
"""

from __future__ import annotations

from functools import partial

import pytest

from pytest_anonvma.cases.corpus import Case
from pytest_anonvma.cases.runner import case_applies, run_case
from pytest_anonvma.live.export_c import write_c
from pytest_anonvma.outputs import export_c_if_asked
from pytest_anonvma.selection import Implementation

from .bundled import case_params


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One parameter per case of the run (after the implementations: ``IMPL-CASE_ID``)."""
    if "case" in metafunc.fixturenames:
        metafunc.parametrize("case", case_params(metafunc.config))


def test_case(anonvma_impl: Implementation, case: Case, request: pytest.FixtureRequest) -> None:
    """Run one case on the implementation; the expectations are the case file's.

    With ``--anonvma-export-c=DIR`` the case is also written as ``DIR/<id>.c``, a standalone C
    reproducer for a real kernel. A write that fails does not fail the case (it is no fault of
    the implementation): the run lists it at the end and does not exit 0.
    """
    export_c_if_asked(request, f"the C reproducer of {case.id}", partial(write_c, case))
    reason = case_applies(case, anonvma_impl.design, anonvma_impl.era)
    if reason:
        pytest.skip(reason)
    run_case(case, anonvma_impl.factory, anonvma_impl.name)
