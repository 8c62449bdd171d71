"""The explorer (``--anonvma-explore``): hypothesis drives each implementation and the reference
in lockstep with the generated operations; a failing program is shrunk and printed as a case,
and saved into ``--anonvma-save-failures=DIR`` (where it replays as a curated case).

Profiles: ``anonvma-ci`` (default: derandomized, bounded) and ``anonvma-deep``
(``--hypothesis-profile=anonvma-deep``); ``--anonvma-examples=N`` sets the number of programs.
"""

from __future__ import annotations

import pytest

from pytest_anonvma.fixtures import per_test_seed
from pytest_anonvma.generate.generator import EXPLORER_NEEDS
from pytest_anonvma.options import get_settings
from pytest_anonvma.selection import Implementation


@pytest.mark.anonvma_tier("explore")
@pytest.mark.anonvma_needs(*sorted(EXPLORER_NEEDS))
def test_explore(anonvma_impl: Implementation, request: pytest.FixtureRequest) -> None:
    """Explore programs on the implementation; every oracle must hold on each."""
    settings = get_settings(request.config)
    if not settings.explore:
        pytest.skip("the explorer runs with --anonvma-explore")
    # imported here: hypothesis costs about a second per process, and most runs do not explore
    from pytest_anonvma.generate.explorer import ExplorationFailure, explore
    from pytest_anonvma.generate.profiles import explorer_settings

    examples = settings.examples if request.config.getoption("anonvma_examples") else None
    profile = request.config.getoption("hypothesis_profile", None)
    rerun = (f"rerun: pytest -p anonvma --anonvma-impl={anonvma_impl.name} --anonvma-explore "
             f"--anonvma-seed={settings.seed}")
    try:
        explore(anonvma_impl.factory, anonvma_impl.name, anonvma_impl.design,
                per_test_seed(settings.seed, request.node.name),
                explorer_settings(profile, examples), settings.save_failures, rerun)
    except ExplorationFailure as failure:
        report = str(failure)
    else:
        return
    pytest.fail(report, pytrace=False)
