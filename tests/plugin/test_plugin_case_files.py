"""The curated-case module: one test per case and implementation, and malformed case files as
failing tests of their own while the other files run.

Expected behaviour: issue 3 ("conformance/test_cases.py ... malformed case files ... naming the
file and only those") and issue 10 item 5 (bounds on case files; the other files still run).
"""

from __future__ import annotations

import shutil

import pytest
from plugin_helpers import GUARD_CASE

from pytest_anonvma.inputfile import MAX_INPUT_BYTES
from pytest_anonvma.suite import bundled_suite_dir

GOOD = GUARD_CASE.format(id="guard-touch-faults")

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


def test_malformed_file_fails_alone_and_the_others_run(suite_copy: pytest.Pytester) -> None:
    """bad.toml is one failing test naming the file and each problem at its line; good.toml's
    case still runs once per implementation, with no option needed (docs/usage.md: "the other
    files still load"), and the run fails."""
    result = suite_copy.runpytest("-rA", "--anonvma-impl=reference,baseline", "suitecopy")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "malformed case file (its cases do not run):",
            "*/suitecopy/cases/bad.toml:3: case[[]0[]].id: 'Not A Valid Id' does not match *",
            "*/suitecopy/cases/bad.toml:6: case[[]0[]].tier: 'nonsense' is not one of *",
        ]
    )
    out = result.stdout.str()
    assert "FAILED suitecopy/cases/bad.toml::malformed" in out
    assert "good.toml" not in out
    assert "PASSED suitecopy/test_cases.py::test_case[reference-guard-touch-faults]" in out
    assert "PASSED suitecopy/test_cases.py::test_case[baseline-guard-touch-faults]" in out
    assert result.ret == pytest.ExitCode.TESTS_FAILED


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (GOOD.replace("pages 0..1 = . G", "pages 0 = G*999999999999"), 11,
         "page-state run 'G*999999999999': the length must be 1..1024"),
        (GOOD + "x = " + "[" * 5000 + "]" * 5000 + "\n", 14,
         "TOML arrays or tables nested deeper than 32 levels"),
        ("#" * (MAX_INPUT_BYTES + 1), 1, "cannot read: larger than 4,194,304 bytes"),
        (b"\xff\xfe", 1, "cannot read: not UTF-8 text"),
    ],
    ids=["huge-repetition", "deep-nesting", "too-large", "not-utf8"],
)
def test_bad_case_file_is_one_problem_at_its_line(
    suite_copy: pytest.Pytester, text: str | bytes, line: int, message: str
) -> None:
    """A repetition count past the arena, TOML nested 5,000 deep, a file over the size limit
    or one that is not UTF-8: a problem naming file:line (not MemoryError, RecursionError or a
    read until memory runs out), and the good file still runs."""
    bad = suite_copy.path / "suitecopy" / "cases" / "bad.toml"
    if isinstance(text, bytes):
        bad.write_bytes(text)
    else:
        bad.write_text(text)
    result = suite_copy.runpytest("-rA", "--anonvma-impl=reference", "suitecopy")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([f"*/suitecopy/cases/bad.toml:{line}: {message}*"])
    assert "Traceback" not in result.stdout.str()


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
