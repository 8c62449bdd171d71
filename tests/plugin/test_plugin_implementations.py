"""Choosing implementations and surviving bad ones.

Expected behaviour: issue 3 ("Use": module:attr, entry points, the hook, unknown -> usage error;
a missing method fails the test naming it; capabilities skip naming the capability; a hanging
or crashing implementation fails its test and the run goes on).
"""

from __future__ import annotations

import textwrap

import pytest
from plugin_helpers import USER_TESTS, make_entry_point_dist, outcomes

from pytest_anonvma.selection import BUNDLED

HOOK_CONFTEST = """
from toyimpl import ToyMM

def pytest_anonvma_implementations(config):
    return {"hooked": ToyMM}
"""


def test_module_attr_spec(toy: pytest.Pytester) -> None:
    """``package.module:attr`` names a factory; the spec is the id."""
    toy.makepyfile(test_user=USER_TESTS)
    result = toy.runpytest("-rA", "--anonvma-impl=toyimpl:ToyMM", "test_user.py")
    assert outcomes(result) == {
        "test_user.py::test_map[toyimpl:ToyMM]": "PASSED",
        "test_user.py::test_fork[toyimpl:ToyMM]": "PASSED",
    }


def test_entry_point(toy: pytest.Pytester) -> None:
    """An entry point in ``pytest_anonvma.implementations`` is a registered name."""
    make_entry_point_dist(toy, "toyep", "toyimpl:ToyMM")
    toy.makepyfile(test_user=USER_TESTS)
    result = toy.runpytest("-rA", "--anonvma-impl=toyep", "test_user.py")
    assert outcomes(result) == {
        "test_user.py::test_map[toyep]": "PASSED",
        "test_user.py::test_fork[toyep]": "PASSED",
    }


def test_hook(toy: pytest.Pytester) -> None:
    """``pytest_anonvma_implementations`` in a conftest registers a name."""
    toy.makeconftest(HOOK_CONFTEST)
    toy.makepyfile(test_user=USER_TESTS)
    result = toy.runpytest("-rA", "--anonvma-impl=hooked", "test_user.py")
    assert outcomes(result) == {
        "test_user.py::test_map[hooked]": "PASSED",
        "test_user.py::test_fork[hooked]": "PASSED",
    }


def test_hook_name_clash_is_a_usage_error(toy: pytest.Pytester) -> None:
    """A hook may not take a bundled name."""
    toy.makeconftest(HOOK_CONFTEST.replace('"hooked"', '"reference"'))
    result = toy.runpytest("--co")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: pytest_anonvma_implementations: 'reference' already*"])


def test_all_expands_to_bundled_and_third_party(toy: pytest.Pytester) -> None:
    """``all``: the four bundled designs, then entry points and hook names; never ``live``."""
    make_entry_point_dist(toy, "toyep", "toyimpl:ToyMM")
    toy.makeconftest(HOOK_CONFTEST)
    toy.makepyfile(test_user="def test_x(anonvma_impl):\n    pass\n")
    result = toy.runpytest("--co", "-q", "--anonvma-impl=all", "test_user.py")
    ids = [line for line in result.outlines if line.startswith("test_user.py::")]
    assert ids == [f"test_user.py::test_x[{name}]" for name in [*BUNDLED, "hooked", "toyep"]]


@pytest.mark.parametrize("spec", ["nope", "toyimpl:Missing", "no_such_module:X", "reference@1999"])
def test_unknown_implementation(toy: pytest.Pytester, spec: str) -> None:
    """Exit code 4, one ``ERROR: --anonvma-impl: ...`` line naming the spec, no traceback."""
    result = toy.runpytest(f"--anonvma-impl={spec}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    lines = [line for line in result.errlines if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("ERROR: --anonvma-impl: ")
    assert repr(spec) in lines[0] or spec.split(":")[0] in lines[0]
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_unknown_lists_known_names(toy: pytest.Pytester) -> None:
    """The message lists the known names, including hook names."""
    toy.makeconftest(HOOK_CONFTEST)
    result = toy.runpytest("--anonvma-impl=nope")
    result.stderr.fnmatch_lines(
        ["ERROR: --anonvma-impl: unknown implementation 'nope'; known: baseline, hooked, live, *"]
    )


def test_raising_implementation(toy: pytest.Pytester) -> None:
    """A factory or method that raises fails those tests; other implementations still pass."""
    toy.makepyfile(test_user=USER_TESTS)
    result = toy.runpytest(
        "-rA", "--anonvma-impl=toyimpl:RaisingMM,toyimpl:BrokenMM,toyimpl:ToyMM", "test_user.py"
    )
    got = outcomes(result)
    assert got == {
        "test_user.py::test_map[toyimpl:RaisingMM]": "ERROR",
        "test_user.py::test_fork[toyimpl:RaisingMM]": "ERROR",
        "test_user.py::test_map[toyimpl:BrokenMM]": "FAILED",
        "test_user.py::test_fork[toyimpl:BrokenMM]": "FAILED",
        "test_user.py::test_map[toyimpl:ToyMM]": "PASSED",
        "test_user.py::test_fork[toyimpl:ToyMM]": "PASSED",
    }
    result.stdout.fnmatch_lines(["*RuntimeError: toy: cannot create an address space*"])
    result.stdout.fnmatch_lines(["*RuntimeError: toy: mmap is broken*"])


def test_missing_method(toy: pytest.Pytester) -> None:
    """A test calling a method the implementation lacks fails, naming the method; the tests
    that do not call it pass; nothing errors at collection."""
    toy.makepyfile(test_user=USER_TESTS)
    result = toy.runpytest("-rA", "--anonvma-impl=toyimpl:NoForkMM", "test_user.py")
    assert outcomes(result) == {
        "test_user.py::test_map[toyimpl:NoForkMM]": "PASSED",
        "test_user.py::test_fork[toyimpl:NoForkMM]": "FAILED",
    }
    result.stdout.fnmatch_lines(
        ["E   *Failed: implementation 'toyimpl:NoForkMM' does not provide 'fork'*"]
    )


def test_capability_and_era_skips(toy: pytest.Pytester) -> None:
    """``anonvma_needs`` skips naming the capability; ``anonvma_era`` skips naming the eras."""
    toy.makepyfile(
        test_user=textwrap.dedent(
            """
            import pytest

            @pytest.mark.anonvma_needs("fork")
            def test_needs_fork(mm):
                mm.fork()

            @pytest.mark.anonvma_era("2025-03")
            def test_old_era(mm):
                pass
            """
        )
    )
    result = toy.runpytest(
        "-rA", "--anonvma-impl=toyimpl:LayoutOnlyMM,toyimpl:NewEraMM", "test_user.py"
    )
    result.assert_outcomes(passed=2, skipped=2)
    result.stdout.fnmatch_lines(
        [
            "SKIPPED * implementation 'toyimpl:LayoutOnlyMM' lacks capability 'fork'",
            "SKIPPED * needs era 2025-03; implementation 'toyimpl:NewEraMM' models 6.18",
        ],
        consecutive=False,
    )


@pytest.mark.parametrize("impl", ["SpinningMM", "SleepingMM"])
def test_hanging_implementation(toy: pytest.Pytester, impl: str) -> None:
    """A method that never returns (busy loop or blocking sleep) fails that test after
    ``--anonvma-timeout``; the next implementation still runs."""
    toy.makepyfile(test_user=USER_TESTS)
    result = toy.runpytest(
        "-rA", f"--anonvma-impl=toyimpl:{impl},toyimpl:ToyMM", "--anonvma-timeout=0.5",
        "test_user.py",
    )
    got = outcomes(result)
    assert got[f"test_user.py::test_map[toyimpl:{impl}]"] == "FAILED"
    assert got["test_user.py::test_map[toyimpl:ToyMM]"] == "PASSED"
    result.stdout.fnmatch_lines(
        [f"E   *ImplementationTimeout: implementation 'toyimpl:{impl}' did not finish the call"
         f" of test_map[[]toyimpl:{impl}[]] within 0.5s (--anonvma-timeout=0.5)"]
    )
    assert result.duration < 30


def test_crashing_implementation_under_xdist(toy: pytest.Pytester) -> None:
    """An implementation that kills its process (``os._exit``) fails its test under xdist; the
    other tests still run (xdist replaces the worker)."""
    toy.makepyfile(test_user=USER_TESTS)
    result = toy.runpytest(
        "-n", "2", "-rA",
        "--anonvma-impl=toyimpl:CrashingMM,toyimpl:ToyMM", "test_user.py",
    )
    got = outcomes(result)
    assert got["test_user.py::test_map[toyimpl:ToyMM]"] == "PASSED"
    assert got["test_user.py::test_fork[toyimpl:ToyMM]"] == "PASSED"
    assert got["test_user.py::test_map[toyimpl:CrashingMM]"] == "FAILED"
    result.stdout.fnmatch_lines(["*worker 'gw*' crashed while running*CrashingMM*"])
