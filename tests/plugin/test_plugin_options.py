"""Every ``--anonvma-*`` option and its ini key: parsing, defaults, errors, precedence.

Expected behaviour: issue 3 (options list; bad input is one line naming the option, exit 4) and
issue 11 item 5 (an ini key for each option that belongs in a config file; the command line
overrides it).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from plugin_helpers import USER_TESTS, one_line_usage_error

from pytest_anonvma.options import (
    DEFAULT_EXAMPLES,
    DEFAULT_GENERATED,
    DEFAULT_TIMEOUT,
    INI_KEYS,
    MAX_EXAMPLES,
    MAX_GENERATED,
    MAX_SEED,
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
    "--anonvma-cases",
    "--anonvma-no-bundled",
    "--anonvma-xfail-file",
    "--anonvma-skip-file",
    "--anonvma-seed",
    "--anonvma-generated",
    "--anonvma-examples",
    "--anonvma-timeout",
    "--anonvma-report",
    "--anonvma-conformance",
    "--anonvma-harness-summary",
    "--anonvma-explore",
    "--anonvma-save-failures",
    "--anonvma-explore-db",
    "--anonvma-export-c",
]


def settings_of(pytester: pytest.Pytester, *args: str) -> dict[str, str]:
    """Run SHOW_SETTINGS with ``args``; the printed settings as ``{name: repr}``."""
    pytester.makepyfile(test_show=SHOW_SETTINGS)
    result = pytester.runpytest("-s", *args, "test_show.py")
    result.assert_outcomes(passed=1)
    pairs = [line.split("SETTING ", 1)[1] for line in result.outlines if "SETTING " in line]
    return dict(pair.split("=", 1) for pair in pairs)


def test_help_lists_every_option_in_one_group(pytester: pytest.Pytester) -> None:
    """``--help`` shows every option under the anonvma group, and the ini key."""
    out = pytester.runpytest("--help").stdout.str()
    group = out.split("anonvma conformance (pytest-anonvma):", 1)[1].split("\n\n", 1)[0]
    for option in OPTIONS:
        assert option in group
    assert set(INI_KEYS) == set(OPTIONS) - {"--anonvma-export-c"}
    for key in INI_KEYS.values():
        assert f"  {key} (" in out


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
    for paths in ("case_paths", "xfail_files", "skip_files"):
        assert settings[paths] == "()"
    assert settings["no_bundled"] == settings["examples_given"] == "False"


def test_every_option_parsed(pytester: pytest.Pytester) -> None:
    """Each option's value reaches the settings other modules read (``get_settings``)."""
    pytester.makefile(".txt", xf="", sk="")
    settings = settings_of(
        pytester,
        "--anonvma-impl=reference,rfc-v1",
        "--anonvma-impl=maybe-guard",
        "--anonvma-xfail-file=xf.txt",
        "--anonvma-skip-file=sk.txt",
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
    assert settings["skip_files"] == "(PosixPath('sk.txt'),)"
    assert settings["examples_given"] == "True"
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


WHOLE = "expected a whole number from"
TIMEOUT = "--anonvma-timeout: expected 0 (off) or seconds from 0.01 to 86400, got"


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--anonvma-seed=abc", f"--anonvma-seed: {WHOLE} 0 to {MAX_SEED}, got 'abc'"),
        ("--anonvma-seed=-1", f"--anonvma-seed: {WHOLE} 0 to {MAX_SEED}, got '-1'"),
        (f"--anonvma-seed={MAX_SEED + 1}", f"--anonvma-seed: {WHOLE} 0 to {MAX_SEED}, got *"),
        ("--anonvma-generated=x", f"--anonvma-generated: {WHOLE} 0 to 100000, got 'x'"),
        ("--anonvma-generated=10**9", f"--anonvma-generated: {WHOLE} 0 to 100000, got '10**9'"),
        ("--anonvma-generated=100001", f"--anonvma-generated: {WHOLE} 0 to 100000, got '100001'"),
        ("--anonvma-generated=-1", f"--anonvma-generated: {WHOLE} 0 to 100000, got '-1'"),
        ("--anonvma-examples=0", f"--anonvma-examples: {WHOLE} 1 to 100000, got '0'"),
        ("--anonvma-examples=1000000000",
         f"--anonvma-examples: {WHOLE} 1 to 100000, got '1000000000'"),
        ("--anonvma-examples=2.5", f"--anonvma-examples: {WHOLE} 1 to 100000, got '2.5'"),
        ("--anonvma-timeout=soon", f"{TIMEOUT} 'soon'"),
        ("--anonvma-timeout=-3", f"{TIMEOUT} '-3'"),
        ("--anonvma-timeout=1e-9", f"{TIMEOUT} '1e-9'"),
        ("--anonvma-timeout=1e10", f"{TIMEOUT} '1e10'"),
        ("--anonvma-timeout=nan", f"{TIMEOUT} 'nan'"),
        ("--anonvma-timeout=inf", f"{TIMEOUT} 'inf'"),
        ("--anonvma-timeout=-inf", f"{TIMEOUT} '-inf'"),
        ("--anonvma-timeout=1e400", f"{TIMEOUT} '1e400'"),
        ("--anonvma-impl=", "--anonvma-impl: empty implementation name in ''*"),
        ("--anonvma-impl= ", "--anonvma-impl: empty implementation name in ' '*"),
        ("--anonvma-impl=,", "--anonvma-impl: empty implementation name in ','*"),
        ("--anonvma-impl=reference,", "--anonvma-impl: empty implementation name in 'reference,'*"),
        ("--anonvma-impl=reference,,baseline",
         "--anonvma-impl: empty implementation name in 'reference,,baseline'*"),
        ("--anonvma-impl=reference, ,baseline",
         "--anonvma-impl: empty implementation name in 'reference, ,baseline'*"),
        ("--anonvma-report=r.txt", "--anonvma-report: 'r.txt' must end in .json, .html, .md"),
        ("--anonvma-report=test_show.py/r.json", "--anonvma-report: *'test_show.py/r.json'*"),
        ("--anonvma-xfail-file=missing.txt",
         "--anonvma-xfail-file: cannot read 'missing.txt': No such file or directory"),
    ],
)
def test_bad_values_are_one_line_usage_errors(
    pytester: pytest.Pytester, option: str, message: str
) -> None:
    """Each bad value: exit code 4 and one line naming the option (and the allowed range)."""
    pytester.makepyfile(test_show=SHOW_SETTINGS)
    one_line_usage_error(pytester.runpytest(option), f"ERROR: {message}")


@pytest.mark.parametrize(
    ("option", "name", "value"),
    [
        (f"--anonvma-generated={MAX_GENERATED}", "generated", str(MAX_GENERATED)),
        ("--anonvma-generated=0", "generated", "0"),
        (f"--anonvma-examples={MAX_EXAMPLES}", "examples", str(MAX_EXAMPLES)),
        (f"--anonvma-seed={MAX_SEED}", "seed", str(MAX_SEED)),
        ("--anonvma-timeout=0", "timeout", "0.0"),
        ("--anonvma-timeout=0.01", "timeout", "0.01"),
        ("--anonvma-timeout=86400", "timeout", "86400.0"),
        ("--anonvma-impl=reference, baseline", "impl_specs", "('reference', 'baseline')"),
        ("--anonvma-impl=reference baseline,reference", "impl_specs", "('reference', 'baseline')"),
    ],
)
def test_bounds_are_inclusive(
    pytester: pytest.Pytester, option: str, name: str, value: str
) -> None:
    """The ends of each range are accepted; 0 turns the timeout off; blanks around names and
    repeated names are not errors."""
    assert settings_of(pytester, option)[name] == value


@pytest.mark.parametrize("ini", [",", "reference,,baseline"])
def test_empty_name_in_the_ini_key(pytester: pytest.Pytester, ini: str) -> None:
    """An empty name in ``anonvma_impl`` is a usage error naming the ini key; a blank key is
    the default (pytest cannot tell it from an unset one)."""
    pytester.makepyfile(test_show=SHOW_SETTINGS)
    pytester.makeini(f"[pytest]\nanonvma_impl = {ini}\n")
    one_line_usage_error(pytester.runpytest(), "ERROR: ini anonvma_impl: empty implementation*")
    pytester.makeini("[pytest]\nanonvma_impl =\n")
    assert settings_of(pytester)["impl_specs"] == "('reference',)"


def test_export_c_writes_reproducers(pytester: pytest.Pytester) -> None:
    """``--anonvma-export-c=DIR`` writes each curated case that runs as ``DIR/<id>.c`` (issue 6:
    a finding goes to kernel developers as a reproducer) and a failing generated case as its
    shrunk ``-min.c``; rfc-v1 fails the mprotect-merge hazard (docs/spec.md §4.1), so it runs
    both."""
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


#: every ini key but the ones that add tests (cases, conformance; tested with their effect)
INI_FILE = """[pytest]
anonvma_impl = rfc-v1
anonvma_xfail_files = lists/xf.txt
anonvma_skip_files = lists/sk.txt lists/sk2.txt
anonvma_seed = 77
anonvma_generated = 9
anonvma_examples = 4
anonvma_timeout = 1.5
anonvma_report = out/r.md
anonvma_harness_summary = true
anonvma_explore = yes
anonvma_save_failures = saved
anonvma_explore_db = hdb
"""


def test_every_ini_key_and_the_command_line_over_it(pytester: pytest.Pytester) -> None:
    """Each ini key reaches the settings, paths relative to the ini file's folder (here a
    subfolder named with ``-c``); each option given on the command line replaces its key."""
    sub = pytester.mkdir("sub")
    (sub / "lists").mkdir()
    for name in ("xf.txt", "sk.txt", "sk2.txt", "cli.txt"):
        (sub / "lists" / name).write_text("")
    (sub / "pytest.ini").write_text(INI_FILE)
    here = str(sub)
    settings = settings_of(pytester, "-c", "sub/pytest.ini", "--rootdir", str(pytester.path))
    assert settings["impl_specs"] == "('rfc-v1',)"
    assert settings["xfail_files"] == f"(PosixPath('{here}/lists/xf.txt'),)"
    assert settings["skip_files"] == (f"(PosixPath('{here}/lists/sk.txt'), "
                                      f"PosixPath('{here}/lists/sk2.txt'))")
    assert (settings["seed"], settings["seed_source"]) == ("77", "'ini'")
    assert (settings["generated"], settings["examples"], settings["timeout"]) == ("9", "4", "1.5")
    assert settings["examples_given"] == "True"
    assert settings["report"] == f"PosixPath('{here}/out/r.md')"
    assert settings["save_failures"] == f"PosixPath('{here}/saved')"
    assert settings["explore_db"] == f"PosixPath('{here}/hdb')"
    assert settings["harness_summary"] == settings["explore"] == "True"
    cli = settings_of(
        pytester, "-c", "sub/pytest.ini", "--rootdir", str(pytester.path),
        "--anonvma-impl=baseline", "--anonvma-xfail-file=sub/lists/cli.txt",
        "--anonvma-skip-file=sub/lists/cli.txt", "--anonvma-seed=5", "--anonvma-generated=2",
        "--anonvma-examples=3", "--anonvma-timeout=0", "--anonvma-report=r.json",
        "--anonvma-save-failures=mine", "-o", "anonvma_explore=false",
    )
    assert cli["impl_specs"] == "('baseline',)"
    assert cli["xfail_files"] == cli["skip_files"] == "(PosixPath('sub/lists/cli.txt'),)"
    assert (cli["seed"], cli["seed_source"]) == ("5", "'option'")
    assert (cli["generated"], cli["examples"], cli["timeout"]) == ("2", "3", "0.0")
    assert (cli["report"], cli["save_failures"]) == ("PosixPath('r.json')", "PosixPath('mine')")
    assert cli["explore"] == "False"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("anonvma_seed = -1", f"ini anonvma_seed: {WHOLE} 0 to {MAX_SEED}, got '-1'"),
        ("anonvma_generated = x", f"ini anonvma_generated: {WHOLE} 0 to 100000, got 'x'"),
        ("anonvma_generated = 100001",
         f"ini anonvma_generated: {WHOLE} 0 to 100000, got '100001'"),
        ("anonvma_examples = 0", f"ini anonvma_examples: {WHOLE} 1 to 100000, got '0'"),
        ("anonvma_timeout = soon", "ini anonvma_timeout: expected 0 (off) or seconds *'soon'"),
        ("anonvma_timeout = -3",
         "ini anonvma_timeout: expected 0 (off) or seconds from 0.01 to 86400, got '-3'"),
        ("anonvma_explore = maybe", "ini anonvma_explore: expected true or false, got 'maybe'"),
        ("anonvma_report = r.txt", "ini anonvma_report: '*/r.txt' must end in .json, .html, .md"),
        ("anonvma_xfail_files = missing.txt",
         "--anonvma-xfail-file: cannot read '*/missing.txt': No such file or directory"),
        ("anonvma_skip_files = missing.txt",
         "--anonvma-skip-file: cannot read '*/missing.txt': No such file or directory"),
    ],
)
def test_bad_ini_values_are_one_line_usage_errors(
    pytester: pytest.Pytester, line: str, message: str
) -> None:
    """A bad ini value: exit code 4 and one line naming the ini key (or the file)."""
    pytester.makepyfile(test_show=SHOW_SETTINGS)
    pytester.makeini(f"[pytest]\n{line}\n")
    one_line_usage_error(pytester.runpytest(), f"ERROR: {message}")


def test_the_docs_table_lists_every_option_and_ini_key() -> None:
    """docs/usage.md has one table of the options (option, ini key, type, default, meaning):
    a row per option, naming its ini key."""
    usage = (Path(__file__).parents[2] / "docs" / "usage.md").read_text(encoding="utf-8")
    rows = {}
    for line in usage.splitlines():
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        if line.startswith("| `--anonvma-") and len(cells) >= 5:
            rows[cells[0].strip("`").split("=")[0]] = cells[1]
    assert sorted(rows) == sorted(OPTIONS)
    for option, key in INI_KEYS.items():
        assert rows[option] == f"`{key}`"
