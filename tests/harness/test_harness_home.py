"""Where the harness port lives: the scenarios are package code registered for pytest's assert
rewriting, so a failing scenario explains itself however the suite is run; loading the plugin
and the harness fixtures imports no model code (the protocol is the contract only).

Expected behaviour: issue 12 items 1 and 2. The failing scenario is ``test_simple_shrink`` of
``tools/testing/vma`` on an implementation whose ``vma_shrink`` reports success and changes
nothing: the C asserts ``vma->vm_end == 0x1000`` after ``vma_shrink(.., 0, 0x1000, 0)``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: a reference model whose ``vma_shrink`` claims success without shrinking
UNSHRINKING_SOURCE = """
from pytest_anonvma.model.engine import ModelMM


class UnshrinkingMM(ModelMM):
    def __init__(self):
        super().__init__(design="reference", era="2025-03")
        self.internals.vma_shrink = lambda vma, start, end, pgoff: 0
"""

#: what pytest's rewritten ``assert vma.vm_end == 0x1000`` says about a VMA left at 0x3000
EXPLANATION = ["*assert 12288 == 4096*", "*where 12288 = *.vm_end*"]


@pytest.mark.parametrize(
    "where",
    [
        pytest.param([str(ROOT / "conformance" / "test_harness_merge.py")], id="checkout"),
        pytest.param(["-p", "anonvma"], id="bundled"),
    ],
)
def test_failing_scenario_explains_its_assertion(
    pytester: pytest.Pytester, where: list[str]
) -> None:
    """``pytest conformance/test_harness_merge.py`` and ``pytest -p anonvma`` both show the
    compared values of the scenario's failing assert, in the scenarios module."""
    pytester.makepyfile(unshrinking=UNSHRINKING_SOURCE)
    result = pytester.runpytest_subprocess(
        *where,
        "--anonvma-impl=unshrinking:UnshrinkingMM",
        "-k",
        "test_simple_shrink and 2025",
        "-p",
        "no:cacheprovider",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(EXPLANATION)
    result.stdout.fnmatch_lines(["*pytest_anonvma/harness/scenarios/merge.py:*: AssertionError"])


def _python(script: str) -> str:
    """The standard output of ``script`` run by a fresh interpreter."""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return run.stdout


def test_plugin_and_harness_fixtures_import_no_model() -> None:
    """The plugin, the harness fixtures, helpers, trees and protocol load without
    ``pytest_anonvma.model``; the model's internals come with the model."""
    script = (
        "import sys\n"
        "import pytest_anonvma.plugin, pytest_anonvma.harness.fixtures\n"
        "import pytest_anonvma.harness.protocol, pytest_anonvma.harness.trees\n"
        "print(sorted(m for m in sys.modules if m.startswith('pytest_anonvma.model')))\n"
        "import pytest_anonvma.model.engine\n"
        "print('pytest_anonvma.model.internals' in sys.modules)\n"
    )
    assert _python(script).splitlines() == ["[]", "False"]


def test_scenarios_are_registered_for_rewriting() -> None:
    """Importing the harness package registers the helpers and scenarios before either loads."""
    script = (
        "import sys, pytest\n"
        "names = []\n"
        "pytest.register_assert_rewrite = lambda *n: names.extend(n)\n"
        "import pytest_anonvma.harness\n"
        "print(sorted(names))\n"
    )
    assert _python(script).strip() == str(
        ["pytest_anonvma.harness.helpers", "pytest_anonvma.harness.scenarios"]
    )
