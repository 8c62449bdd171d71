"""The bundled generated and explorer tests under pytest: ids per seed, identical under xdist,
the off switches, the explorer's save directory and hypothesis profiles.

Expected behaviour: issue 5 (ids ``gen-<seed>-<n>``, identical on every xdist worker;
``--anonvma-explore``, ``--anonvma-save-failures``, profiles ``anonvma-ci``/``anonvma-deep``).
"""

from __future__ import annotations

import re

import pytest

from pytest_anonvma.suite import bundled_suite_dir

GENERATED = str(bundled_suite_dir() / "test_generated.py")
EXPLORE = str(bundled_suite_dir() / "test_explore.py")


def _results(result: pytest.RunResult) -> dict[str, str]:
    """test id -> PASSED/FAILED/SKIPPED from ``-rA`` short summary lines."""
    found = {}
    for line in result.outlines:
        m = re.match(r"^(PASSED|FAILED|SKIPPED|ERROR) \S*?(test_\w+\[[^\]]+\])", line)
        if m:
            found[m.group(2)] = m.group(1)
    return found


def test_ids_follow_the_seed(pytester: pytest.Pytester) -> None:
    """``--anonvma-generated=3 --anonvma-seed=11`` collects gen-11-0..2 per implementation."""
    result = pytester.runpytest("-p", "anonvma", "--anonvma-impl=reference,rfc-v1",
                                "--anonvma-generated=3", "--anonvma-seed=11", "--collect-only",
                                "-q", GENERATED)
    ids = [line.rsplit("::", 1)[-1] for line in result.outlines if "::test_generated[" in line]
    assert ids == [f"test_generated[{impl}-gen-11-{n}]" for impl in ("reference", "rfc-v1")
                   for n in range(3)]


def test_xdist_runs_the_same_cases_with_the_same_results(pytester: pytest.Pytester) -> None:
    """Two workers collect the same ids (xdist would refuse otherwise) and every case has the
    serial run's outcome; rfc-v1 fails some."""
    args = ("-p", "anonvma", "-p", "no:benchmark", "-rA", "--anonvma-impl=reference,rfc-v1",
            "--anonvma-generated=12",
            "--anonvma-seed=5", GENERATED)
    serial = _results(pytester.runpytest(*args))
    parallel = _results(pytester.runpytest(*args, "-n", "2"))
    assert len(serial) == 24 and serial == parallel
    assert "FAILED" in {v for k, v in serial.items() if "rfc-v1" in k}
    assert {v for k, v in serial.items() if "reference" in k} == {"PASSED"}


def test_generated_zero_turns_them_off(pytester: pytest.Pytester) -> None:
    """``--anonvma-generated=0``: nothing generated, one skip saying why."""
    result = pytester.runpytest("-p", "anonvma", "-rs", "--anonvma-generated=0", GENERATED)
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*generated cases are off (--anonvma-generated=0)*"])


def test_explorer_is_off_by_default(pytester: pytest.Pytester) -> None:
    """Without ``--anonvma-explore`` the explorer test skips, saying how to turn it on."""
    result = pytester.runpytest("-p", "anonvma", "-rs", EXPLORE)
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*the explorer runs with --anonvma-explore*"])


def test_explorer_saves_its_failure(pytester: pytest.Pytester) -> None:
    """On rfc-v1 the explorer fails, prints the case and writes it into the directory."""
    saved = pytester.path / "saved"
    result = pytester.runpytest("-p", "anonvma", "--anonvma-impl=rfc-v1", "--anonvma-explore",
                                "--anonvma-examples=30", f"--anonvma-save-failures={saved}",
                                "--anonvma-seed=2", EXPLORE)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*the explorer found a failing program on 'rfc-v1'*",
                                 "*case]]", "*saved to *saved*explore-rfc-v1-*.toml*"])
    assert len(list(saved.glob("explore-rfc-v1-*.toml"))) == 1


def test_deep_profile_is_accepted(pytester: pytest.Pytester) -> None:
    """``--hypothesis-profile=anonvma-deep`` names a registered profile (the plugin registers
    it before hypothesis loads it); a short deep run passes the reference. (In a subprocess:
    loading a profile changes hypothesis's default for the rest of the process.)"""
    result = pytester.runpytest_subprocess("-p", "anonvma", "--hypothesis-profile=anonvma-deep",
                                           "--anonvma-explore", "--anonvma-examples=3", EXPLORE)
    result.assert_outcomes(passed=1)
