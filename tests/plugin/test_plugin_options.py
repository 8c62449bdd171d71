"""Every ``--anonvma-*`` option and the ``anonvma_impl`` ini key: parsing, defaults, errors.

Expected behaviour: issue 3 (options list; bad input is one line naming the option, exit 4).
"""

from __future__ import annotations

import pytest
from plugin_helpers import USER_TESTS

from pytest_anonvma.options import (
    DEFAULT_EXAMPLES,
    DEFAULT_GENERATED,
    DEFAULT_TIMEOUT,
    default_seed,
)

#: a test that prints the settings the plugin parsed, one ``key=value`` per line
SHOW_SETTINGS = """
import dataclasses
from pytest_anonvma.options import get_settings

def test_show(request):
    settings = get_settings(request.config)
    for field in dataclasses.fields(settings):
        print(f"SETTING {field.name}={getattr(settings, field.name)!r}")
"""

OPTIONS = [
    "--anonvma-impl",
    "--anonvma-xfail-file",
    "--anonvma-seed",
    "--anonvma-generated",
    "--anonvma-examples",
    "--anonvma-timeout",
    "--anonvma-report",
    "--anonvma-conformance",
    "--anonvma-harness-summary",
    "--anonvma-explore",
    "--anonvma-save-failures",
    "--anonvma-export-c",
]


def settings_of(pytester: pytest.Pytester, *args: str) -> dict[str, str]:
    """Run SHOW_SETTINGS with ``args``; the printed settings as ``{name: repr}``."""
    pytester.makepyfile(test_show=SHOW_SETTINGS)
    result = pytester.runpytest("-s", *args, "test_show.py")
    result.assert_outcomes(passed=1)
    pairs = [line.split("SETTING ", 1)[1] for line in result.outlines if "SETTING " in line]
    return dict(pair.split("=", 1) for pair in pairs)


def one_line_usage_error(result: pytest.RunResult, *patterns: str) -> None:
    """Exit code 4, a single ``ERROR:`` line on stderr matching ``patterns``, no traceback."""
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    lines = [line for line in result.errlines if line.strip()]
    assert len(lines) == 1, lines
    result.stderr.fnmatch_lines(list(patterns))
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_help_lists_every_option_in_one_group(pytester: pytest.Pytester) -> None:
    """``--help`` shows every option under the anonvma group, and the ini key."""
    out = pytester.runpytest("--help").stdout.str()
    group = out.split("anonvma conformance (pytest-anonvma):", 1)[1].split("\n\n", 1)[0]
    for option in OPTIONS:
        assert option in group
    assert "anonvma_impl (string)" in out


def test_defaults(pytester: pytest.Pytester) -> None:
    """Without options: reference, the version's seed, and the documented sizes."""
    settings = settings_of(pytester)
    assert settings["impl_specs"] == "('reference',)"
    assert settings["seed"] == str(default_seed())
    assert settings["seed_source"] == "'default'"
    assert settings["generated"] == str(DEFAULT_GENERATED)
    assert settings["examples"] == str(DEFAULT_EXAMPLES)
    assert settings["timeout"] == str(DEFAULT_TIMEOUT)
    for flag in ("conformance", "harness_summary", "explore"):
        assert settings[flag] == "False"
    for path in ("report", "save_failures", "export_c"):
        assert settings[path] == "None"


def test_every_option_parsed(pytester: pytest.Pytester) -> None:
    """Each option's value reaches the settings other modules read (``get_settings``)."""
    pytester.makefile(".txt", xf="")
    settings = settings_of(
        pytester,
        "--anonvma-impl=reference,rfc-v1",
        "--anonvma-impl=maybe-guard",
        "--anonvma-xfail-file=xf.txt",
        "--anonvma-seed=12345",
        "--anonvma-generated=7",
        "--anonvma-examples=3",
        "--anonvma-timeout=2.5",
        "--anonvma-report=out/r.json",
        "--anonvma-harness-summary",
        "--anonvma-explore",
        "--anonvma-save-failures=saved",
        "--anonvma-export-c=cdir",
    )
    assert settings["impl_specs"] == "('reference', 'rfc-v1', 'maybe-guard')"
    assert settings["xfail_files"] == "(PosixPath('xf.txt'),)"
    assert settings["seed"] == "12345"
    assert settings["seed_source"] == "'option'"
    assert settings["generated"] == "7"
    assert settings["examples"] == "3"
    assert settings["timeout"] == "2.5"
    assert settings["report"] == "PosixPath('out/r.json')"
    assert settings["harness_summary"] == "True"
    assert settings["explore"] == "True"
    assert settings["save_failures"] == "PosixPath('saved')"
    assert settings["export_c"] == "PosixPath('cdir')"


def test_conformance_flag_parsed(toy: pytest.Pytester) -> None:
    """``--anonvma-conformance`` is a flag (its effect: test_plugin_loading)."""
    settings = settings_of(toy, "--anonvma-conformance", "--anonvma-impl=toyimpl:ToyMM",
                           "-k", "test_show")
    assert settings["conformance"] == "True"


def test_ini_key_and_override(toy: pytest.Pytester) -> None:
    """``anonvma_impl`` in the ini file selects implementations; the option overrides it."""
    toy.makeini("[pytest]\nanonvma_impl = toyimpl:ToyMM, toyimpl:LayoutOnlyMM\n")
    toy.makepyfile(test_user=USER_TESTS)
    from_ini = toy.runpytest("--co", "-q", "test_user.py")
    from_ini.stdout.fnmatch_lines(
        [
            "test_user.py::test_map[toyimpl:ToyMM]",
            "test_user.py::test_map[toyimpl:LayoutOnlyMM]",
        ]
    )
    overridden = toy.runpytest("--co", "-q", "--anonvma-impl=toyimpl:NewEraMM", "test_user.py")
    assert "test_user.py::test_map[toyimpl:NewEraMM]" in overridden.outlines
    assert "LayoutOnlyMM" not in overridden.stdout.str()


def test_random_seed_is_printed_and_used(pytester: pytest.Pytester) -> None:
    """``--anonvma-seed=random`` picks a seed and prints it in the header."""
    pytester.makepyfile(test_show=SHOW_SETTINGS)
    result = pytester.runpytest("-s", "--anonvma-seed=random", "test_show.py")
    header = next(line for line in result.outlines if line.startswith("anonvma: seed "))
    seed = header.split()[2]
    assert f"SETTING seed={seed}" in result.stdout.str()
    assert "(random;" in header


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--anonvma-seed=abc", "--anonvma-seed: expected a whole number, got 'abc'"),
        ("--anonvma-seed=-1", "--anonvma-seed: expected a number >= 0, got '-1'"),
        ("--anonvma-generated=x", "--anonvma-generated: expected a whole number, got 'x'"),
        ("--anonvma-examples=0", "--anonvma-examples: expected a number >= 1, got '0'"),
        ("--anonvma-timeout=soon", "--anonvma-timeout: expected seconds, got 'soon'"),
        ("--anonvma-timeout=-3", "--anonvma-timeout: expected seconds >= 0, got '-3'"),
        ("--anonvma-report=r.txt", "--anonvma-report: 'r.txt' must end in .json, .html, .md"),
        ("--anonvma-report=test_show.py/r.json",
         "--anonvma-report: cannot create the directory of 'test_show.py/r.json': File exists"),
        ("--anonvma-xfail-file=missing.txt",
         "--anonvma-xfail-file: cannot read 'missing.txt': No such file or directory"),
    ],
)
def test_bad_values_are_one_line_usage_errors(
    pytester: pytest.Pytester, option: str, message: str
) -> None:
    """Each bad value: exit code 4 and one line naming the option."""
    pytester.makepyfile(test_show=SHOW_SETTINGS)
    one_line_usage_error(pytester.runpytest(option), f"ERROR: {message}")


def test_export_c_writes_reproducers(pytester: pytest.Pytester) -> None:
    """``--anonvma-export-c=DIR`` writes each curated case that runs as ``DIR/<id>.c`` (issue 6:
    a finding goes to kernel developers as a reproducer) and a failing generated case as its
    shrunk ``-min.c``; rfc-v1 fails the mprotect-merge hazard (spec section 4), so it runs both."""
    out = pytester.path / "c-cases"
    result = pytester.runpytest(
        "-p", "anonvma", "--anonvma-impl=rfc-v1", "--anonvma-generated=3",
        f"--anonvma-export-c={out}", "-k", "hazard-mprotect-merge-left or test_generated",
    )
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED)
    written = sorted(p.name for p in out.iterdir())
    assert "hazard-mprotect-merge-left.c" in written
    source = (out / "hazard-mprotect-merge-left.c").read_text()
    assert "int main(void)" in source
    assert "102 /* MADV_GUARD_INSTALL */" in source
    assert not [name for name in written if name.endswith(".tmp")]
