"""The explorer (``--anonvma-explore``): hypothesis drives each implementation and the reference
in lockstep with the generated operations; a failing program is shrunk and printed as a case,
and saved into ``--anonvma-save-failures=DIR`` (where it replays as a curated case; a save that
fails is a line of the failure, never a replacement for it).

Profiles: ``anonvma-ci`` (default: derandomized, bounded) and ``anonvma-deep``
(``--hypothesis-profile=anonvma-deep``); ``--anonvma-examples=N`` sets the number of programs;
``--anonvma-explore-db=DIR`` keeps hypothesis's example database there.

The test is a hypothesis test to hypothesis's pytest plugin, as a state machine's ``runTest``
is: the plugin then collects its statistics (``--hypothesis-show-statistics``) and output.
"""

from __future__ import annotations

from functools import partial
from types import ModuleType

import pytest

from pytest_anonvma.fixtures import per_test_seed
from pytest_anonvma.generate.generator import EXPLORER_NEEDS
from pytest_anonvma.generate.reproduce import save_case
from pytest_anonvma.options import get_settings
from pytest_anonvma.outputs import write_output
from pytest_anonvma.selection import Implementation
from pytest_anonvma.tiers import EXPLORE


@pytest.fixture(scope="module")
def explorer(request: pytest.FixtureRequest) -> ModuleType:
    """The explorer module, imported in the setup phase (most runs never explore, and
    hypothesis costs about a second per process): hypothesis's plugin only collects a test's
    statistics when hypothesis is loaded by the time the test is called."""
    if not get_settings(request.config).explore:
        pytest.skip("the explorer runs with --anonvma-explore")
    from pytest_anonvma.generate import explorer

    return explorer


@pytest.mark.anonvma_tier(EXPLORE)
@pytest.mark.anonvma_needs(*sorted(EXPLORER_NEEDS))
# the implementation is not an argument: hypothesis's plugin rejects a function-scoped fixture
# argument of a hypothesis test, and this one is a descriptor (each program builds a fresh MM)
@pytest.mark.usefixtures("anonvma_impl")
def test_explore(explorer: ModuleType, request: pytest.FixtureRequest) -> None:
    """Explore programs on the implementation; every oracle must hold on each."""
    from pytest_anonvma.generate.profiles import explorer_settings

    impl: Implementation = request.getfixturevalue("anonvma_impl")
    settings = get_settings(request.config)
    examples = settings.examples if settings.examples_given else None
    profile = request.config.getoption("hypothesis_profile", None)
    rerun = " ".join([f"rerun: pytest -p anonvma --anonvma-impl={impl.name} --anonvma-explore",
                      f"--anonvma-seed={settings.seed}",
                      *([f"--anonvma-examples={examples}"] if examples is not None else []),
                      *([f"--hypothesis-profile={profile}"] if profile else [])])
    try:
        explorer.explore(impl.factory, impl.name, impl.design,
                         per_test_seed(settings.seed, request.node.name),
                         explorer_settings(profile, examples, settings.explore_db), rerun=rerun)
    except explorer.ExplorationFailure as failure:
        report = [str(failure)]
        if settings.save_failures is not None:
            report.append(write_output(request.node, "the failing program",
                                       partial(save_case, failure.case, settings.save_failures)))
    else:
        return
    pytest.fail("\n".join(report), pytrace=False)


# what hypothesis itself sets on a state machine's runTest (see hypothesis.is_hypothesis_test)
test_explore.is_hypothesis_test = True  # type: ignore[attr-defined]
