"""The curated-case module: one test per case and implementation, and malformed case files as
collection errors of their own.

Expected behaviour: issue 3 ("conformance/test_cases.py ... malformed case files become
collection errors naming the file and only those").
"""

from __future__ import annotations

import shutil

import pytest

from pytest_anonvma.suite import bundled_suite_dir

GOOD = """
[[case]]
id = "guard-touch-faults"
about = "A guarded page faults on touch."
source = "spec section 2"
tier = "guard"
needs = ["pages"]
steps = '''
mmap 0 2 rw anon
guard 1 1
pages 0..1 = . G
read 1 -> SIGSEGV
'''
"""

BAD = """
[[case]]
id = "Not A Valid Id"
about = "x"
source = "y"
tier = "nonsense"
needs = []
steps = '''
mmap 0 1 rw anon
'''
"""


@pytest.fixture
def suite_copy(pytester: pytest.Pytester) -> pytest.Pytester:
    """The bundled case module, its conftest and loader, copied with two case files of ours."""
    target = pytester.mkpydir("suitecopy")
    for name in ("conftest.py", "bundled.py", "test_cases.py"):
        shutil.copy(bundled_suite_dir() / name, target / name)
    cases = target / "cases"
    cases.mkdir()
    (cases / "good.toml").write_text(GOOD)
    (cases / "bad.toml").write_text(BAD)
    return pytester


def test_malformed_file_is_its_own_collection_error(suite_copy: pytest.Pytester) -> None:
    """bad.toml is one collection error naming the file and its problems; good.toml's case
    still runs (with --continue-on-collection-errors) once per implementation."""
    result = suite_copy.runpytest(
        "-rA", "--continue-on-collection-errors", "--anonvma-impl=reference,baseline", "suitecopy"
    )
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR collecting suitecopy/cases/bad.toml*",
            "malformed case file:",
            "*/suitecopy/cases/bad.toml:3: case[[]0[]].id: 'Not A Valid Id' does not match *",
            "*/suitecopy/cases/bad.toml:6: case[[]0[]].tier: 'nonsense' is not one of *",
        ]
    )
    out = result.stdout.str()
    assert "good.toml" not in out
    assert "PASSED suitecopy/test_cases.py::test_case[reference-guard-touch-faults]" in out
    assert "PASSED suitecopy/test_cases.py::test_case[baseline-guard-touch-faults]" in out


def test_case_needs_skip_names_the_capability(suite_copy: pytest.Pytester) -> None:
    """A case needing ``pages`` is skipped for an implementation without it."""
    (suite_copy.path / "suitecopy" / "cases" / "bad.toml").unlink()
    suite_copy.makepyfile(
        layoutonly="""
        from pytest_anonvma.model.engine import ModelMM

        class LayoutOnly(ModelMM):
            def __init__(self):
                super().__init__()
                self.capabilities = frozenset({"layout"})
        """
    )
    suite_copy.syspathinsert()
    result = suite_copy.runpytest("-rA", "--anonvma-impl=layoutonly:LayoutOnly", "suitecopy")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED * implementation 'layoutonly:LayoutOnly' lacks "
                                 "capability 'pages'"])
