"""Loading the plugin: -p with autoload off, -p no:anonvma, when the bundled suite is collected.

Expected behaviour comes from issue 3 ("Use") and pytest's own plugin rules.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from plugin_helpers import USER_TESTS

from pytest_anonvma.suite import bundled_suite_dir


def test_light_import() -> None:
    """Importing the plugin does not import the model engine, the case corpus or the live
    backend (the design policies, which the options' help lists, import only constants)."""
    code = (
        "import sys, pytest_anonvma.plugin\n"
        "heavy = [m for m in sys.modules if m.startswith(('pytest_anonvma.model',"
        " 'pytest_anonvma.cases', 'pytest_anonvma.live'))]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_loads_with_autoload_disabled(
    toy: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``-p anonvma`` works with PYTEST_DISABLE_PLUGIN_AUTOLOAD=1; without it, no fixtures."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    toy.makepyfile(test_user=USER_TESTS)
    result = toy.runpytest("-p", "anonvma", "--anonvma-impl=toyimpl:ToyMM", "test_user.py")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["anonvma: pytest-anonvma *; implementations: toyimpl:ToyMM"])
    without = toy.runpytest("test_user.py")
    without.assert_outcomes(errors=2)
    without.stdout.fnmatch_lines(["*fixture 'mm' not found*"])


def test_disabled_with_no_anonvma(toy: pytest.Pytester) -> None:
    """``-p no:anonvma`` removes the options, the fixtures and the header."""
    toy.makepyfile(test_user=USER_TESTS)
    result = toy.runpytest("-p", "no:anonvma", "test_user.py")
    result.assert_outcomes(errors=2)
    result.stdout.no_fnmatch_line("anonvma: *")
    rejected = toy.runpytest("-p", "no:anonvma", "--anonvma-impl=reference", "test_user.py")
    assert rejected.ret == pytest.ExitCode.USAGE_ERROR
    rejected.stderr.fnmatch_lines(["*unrecognized arguments: --anonvma-impl=reference*"])


SUITE_LINE = f"anonvma: bundled conformance suite: {bundled_suite_dir()}"


@pytest.mark.parametrize(
    ("args", "with_suite", "with_user"),
    [
        pytest.param(["-p", "anonvma"], True, False, id="explicit-no-paths"),
        pytest.param(["-p", "anonvma", "test_user.py"], False, True, id="explicit-paths"),
        pytest.param(
            ["-p", "anonvma", "--anonvma-conformance", "test_user.py"], True, True,
            id="paths-and-conformance",
        ),
        pytest.param([], False, True, id="autoloaded-no-paths"),
        pytest.param(["--anonvma-conformance"], True, False, id="autoloaded-conformance"),
    ],
)
def test_when_the_bundled_suite_runs(
    toy: pytest.Pytester, args: list[str], with_suite: bool, with_user: bool
) -> None:
    """No paths + ``-p anonvma`` (or ``--anonvma-conformance``): the bundled suite; named paths:
    those only, plus the suite with ``--anonvma-conformance``; auto-loaded alone: pytest's
    usual collection."""
    toy.makepyfile(test_user=USER_TESTS)
    result = toy.runpytest("--co", "--anonvma-impl=toyimpl:ToyMM", *args)
    assert (SUITE_LINE in result.outlines) == with_suite
    tree = result.stdout.str()
    assert ("<Function test_map[toyimpl:ToyMM]>" in tree) == with_user
    assert ("<Module test_cases.py>" in tree) == with_suite


def test_testpaths_replaced_by_explicit_plugin(toy: pytest.Pytester) -> None:
    """With ``testpaths`` configured (as in this repository), ``pytest -p anonvma`` still runs
    the bundled suite; naming the paths runs the project's tests."""
    toy.makeini("[pytest]\ntestpaths = tests\n")
    toy.mkdir("tests").joinpath("test_user.py").write_text(USER_TESTS)
    suite = toy.runpytest("--co", "-p", "anonvma", "--anonvma-impl=toyimpl:ToyMM")
    assert SUITE_LINE in suite.outlines
    assert "test_user.py" not in suite.stdout.str()
    assert "<Module test_cases.py>" in suite.stdout.str()
    own = toy.runpytest("--co", "-q", "--anonvma-impl=toyimpl:ToyMM", "tests")
    assert "tests/test_user.py::test_map[toyimpl:ToyMM]" in own.stdout.str()
    assert "conformance" not in own.stdout.str()


def test_header(toy: pytest.Pytester) -> None:
    """The header names the implementations, the seed and the plugin version."""
    from pytest_anonvma import __version__

    toy.makepyfile(test_user=USER_TESTS)
    result = toy.runpytest(
        "--anonvma-impl=toyimpl:ToyMM,toyimpl:LayoutOnlyMM", "--anonvma-seed=77", "test_user.py"
    )
    result.stdout.fnmatch_lines(
        [
            f"anonvma: pytest-anonvma {__version__}; "
            "implementations: toyimpl:ToyMM, toyimpl:LayoutOnlyMM",
            "anonvma: seed 77 (option; rerun with --anonvma-seed=77)",
        ]
    )
