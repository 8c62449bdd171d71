"""The user's own case files (``--anonvma-cases``, ini ``anonvma_cases``, ``--anonvma-no-bundled``):
collected like the bundled cases, the files the tools write replay unchanged, malformed files
and clashing ids fail alone, bad paths are usage errors.

Expected behaviour: issue 11 item 3. The broken model is the reference whose fork children lose
every guard marker; the kernel keeps them: a guarded range of the parent is guarded in the child
too (selftests mm/guard-regions.c, ``fork`` and ``fork_cow``; ``copy_page_range`` copies the
page tables of a VMA holding guard markers), so each case found on it fails there and passes on
the reference.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from plugin_helpers import GUARD_CASE, one_line_usage_error, outcomes

from pytest_anonvma.__main__ import main

FORGETFUL = '''
from pytest_anonvma import constants as C
from pytest_anonvma.cases.arena import page_addr
from pytest_anonvma.contract import PageState
from pytest_anonvma.generate.generator import WINDOW
from pytest_anonvma.model.engine import ModelMM


class ForgetfulFork(ModelMM):
    """The reference, except that a fork child loses every guard marker."""

    def fork(self):
        child = super().fork()
        for page in range(WINDOW):
            if child.page(page_addr(page)) is PageState.GUARD:
                child.madvise(page_addr(page), C.PAGE_SIZE, C.MADV_GUARD_REMOVE)
        return child
'''
TOY = "forgetful:ForgetfulFork"
REPLAY = ("-p", "anonvma", "-rA", f"--anonvma-impl={TOY},reference", "--anonvma-no-bundled")
#: a bundled case's id (conformance/cases/guard-regions.toml)
BUNDLED_ID = "guard-regions-basic-anon"


@pytest.fixture
def forgetful(pytester: pytest.Pytester) -> pytest.Pytester:
    """pytester with the forgetful model importable (also by xdist workers)."""
    pytester.makepyfile(forgetful=FORGETFUL)
    pytester.makeconftest("")
    pytester.syspathinsert()
    return pytester


def assert_replays(pytester: pytest.Pytester, folder: Path) -> None:
    """Every case file in ``folder`` fails on the forgetful model and passes on the reference,
    as ``test_case[IMPL-ID]`` with the id the file gives."""
    ids = sorted(path.stem for path in folder.glob("*.toml"))
    assert ids
    result = pytester.runpytest(*REPLAY, f"--anonvma-cases={folder}")
    found = outcomes(result)
    expected = {}
    for case_id in ids:
        expected[f"test_cases.py::test_case[{TOY}-{case_id}]"] = "FAILED"
        expected[f"test_cases.py::test_case[reference-{case_id}]"] = "PASSED"
    assert found == expected
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_saved_generated_failures_replay(forgetful: pytest.Pytester) -> None:
    """``--anonvma-save-failures`` writes each failing generated case's shrunk case; the folder
    given to ``--anonvma-cases`` replays them: failing on the model, passing on the
    reference."""
    found = forgetful.path / "found"
    forgetful.runpytest("-p", "anonvma", f"--anonvma-impl={TOY}", "--anonvma-generated=8",
                        f"--anonvma-save-failures={found}", "-k", "test_generated")
    assert_replays(forgetful, found)


def test_explorer_failure_replays(forgetful: pytest.Pytester) -> None:
    """The explorer's saved program replays the same way."""
    found = forgetful.path / "found"
    forgetful.runpytest("-p", "anonvma", f"--anonvma-impl={TOY}", "--anonvma-explore",
                        "--anonvma-examples=100", f"--anonvma-save-failures={found}",
                        "-k", "test_explore")
    names = [path.name for path in found.iterdir()]
    assert len(names) == 1 and names[0].startswith("explore-forgetful-forgetfulfork-")
    assert_replays(forgetful, found)


def test_soak_disagreements_replay(forgetful: pytest.Pytester) -> None:
    """``soak --out`` cases (stating what the oracle, here the reference, did) replay the
    same way; the C reproducers beside them are not case files and are not read."""
    out = forgetful.path / "soak"
    status = main(["soak", "--against", "reference", "--models", TOY, "--sequences", "3",
                   "--seed", "1", "--out", str(out)])
    assert status == 1
    assert list(out.glob("*.c"))
    assert_replays(forgetful, out)


def test_collected_like_bundled_cases_after_them(pytester: pytest.Pytester) -> None:
    """With the bundled suite, the user's cases follow the bundled ones in ``test_cases.py``,
    in the order of the paths (a folder's files sorted), implementation by implementation; the
    header counts them."""
    mine = pytester.mkdir("mine")
    (mine / "b.toml").write_text(GUARD_CASE.format(id="mine-b"))
    (mine / "a.toml").write_text(GUARD_CASE.format(id="mine-a"))
    pytester.makefile(".toml", first=GUARD_CASE.format(id="mine-first"))
    result = pytester.runpytest("-p", "anonvma", "--co", "-q", "--anonvma-impl=reference",
                                "--anonvma-cases=first.toml", "--anonvma-cases=mine")
    ids = [line for line in result.outlines if "test_cases.py::test_case[" in line]
    assert ids[-3:] == [f"test_cases.py::test_case[reference-mine-{n}]"
                        for n in ("first", "a", "b")]
    assert f"test_cases.py::test_case[reference-{BUNDLED_ID}]" in ids
    result = pytester.runpytest("-p", "anonvma", "--anonvma-cases=mine", "--co")
    result.stdout.fnmatch_lines(["anonvma: --anonvma-cases: 2 cases from 2 files (mine)"])


def test_no_bundled_runs_only_them(pytester: pytest.Pytester) -> None:
    """``--anonvma-no-bundled``: the user's cases and nothing of the bundled suite."""
    pytester.makefile(".toml", mine=GUARD_CASE.format(id="mine"))
    result = pytester.runpytest("-p", "anonvma", "-rA", "--anonvma-impl=reference,baseline",
                                "--anonvma-cases=mine.toml", "--anonvma-no-bundled")
    assert outcomes(result) == {
        "test_cases.py::test_case[reference-mine]": "PASSED",
        "test_cases.py::test_case[baseline-mine]": "PASSED",
    }
    assert result.ret == pytest.ExitCode.OK


def test_beside_named_paths(pytester: pytest.Pytester) -> None:
    """With test paths named, the user's cases are added to them (the bundled suite is not)."""
    pytester.makefile(".toml", mine=GUARD_CASE.format(id="mine"))
    pytester.makepyfile(test_user="def test_user():\n    pass\n")
    result = pytester.runpytest("-p", "anonvma", "-rA", "--anonvma-cases=mine.toml",
                                "test_user.py")
    assert outcomes(result) == {
        "test_user.py::test_user": "PASSED",
        "test_cases.py::test_case[reference-mine]": "PASSED",
    }


def test_malformed_and_clashing_files_fail_alone(pytester: pytest.Pytester) -> None:
    """A malformed user file, one reusing a bundled case's id and one reusing an earlier user
    file's id each fail as ``FILE::malformed`` at file:line; the good file runs."""
    mine = pytester.mkdir("mine")
    (mine / "a-good.toml").write_text(GUARD_CASE.format(id="mine"))
    (mine / "b-bad.toml").write_text('[[case]]\nid = "Not An Id"\n')
    (mine / "c-bundled.toml").write_text(GUARD_CASE.format(id=BUNDLED_ID))
    (mine / "d-again.toml").write_text(GUARD_CASE.format(id="mine"))
    result = pytester.runpytest("-p", "anonvma", "-rA", "--anonvma-cases=mine",
                                "-k", "malformed or reference-mine")
    assert outcomes(result) == {
        "test_cases.py::test_case[reference-mine]": "PASSED",
        "mine/b-bad.toml::malformed": "FAILED",
        "mine/c-bundled.toml::malformed": "FAILED",
        "mine/d-again.toml::malformed": "FAILED",
    }
    result.stdout.fnmatch_lines([
        "mine/b-bad.toml:2: case[[]0[]].id: 'Not An Id' does not match *",
        f"mine/c-bundled.toml:2: duplicate case id '{BUNDLED_ID}' (first at "
        "*conformance/cases/guard-regions.toml:*)",
        "mine/d-again.toml:2: duplicate case id 'mine' (first at mine/a-good.toml:2)",
    ])
    assert "Traceback" not in result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_bundled_id_is_free_without_the_bundled_cases(pytester: pytest.Pytester) -> None:
    """A user's copy of a bundled case (same id) runs when the bundled cases do not; the same
    file given twice (itself and through its folder) loads once."""
    mine = pytester.mkdir("mine")
    (mine / "copy.toml").write_text(GUARD_CASE.format(id=BUNDLED_ID))
    result = pytester.runpytest("-p", "anonvma", "-rA", "--anonvma-no-bundled",
                                "--anonvma-cases=mine/copy.toml", "--anonvma-cases=mine")
    assert outcomes(result) == {f"test_cases.py::test_case[reference-{BUNDLED_ID}]": "PASSED"}


def test_ini_key_relative_to_the_ini_file(pytester: pytest.Pytester) -> None:
    """``anonvma_cases`` paths are relative to the ini file's folder; the option replaces
    them."""
    sub = pytester.mkdir("sub")
    (sub / "mine").mkdir()
    (sub / "mine" / "one.toml").write_text(GUARD_CASE.format(id="from-ini"))
    (sub / "pytest.ini").write_text("[pytest]\nanonvma_cases = mine\nanonvma_no_bundled = true\n")
    pytester.makefile(".toml", other=GUARD_CASE.format(id="from-option"))
    result = pytester.runpytest("-p", "anonvma", "-rA", "-c", "sub/pytest.ini")
    assert by_name(result) == {"test_case[reference-from-ini]": "PASSED"}
    result = pytester.runpytest("-p", "anonvma", "-rA", "-c", "sub/pytest.ini",
                                f"--anonvma-cases={pytester.path / 'other.toml'}")
    assert by_name(result) == {"test_case[reference-from-option]": "PASSED"}


def by_name(result: pytest.RunResult) -> dict[str, str]:
    """The outcomes by test name (node ids outside the root dir depend on pytest's rules)."""
    return {nodeid.split("::")[-1]: outcome for nodeid, outcome in outcomes(result).items()}


def test_an_empty_folder_runs_nothing_and_says_so(pytester: pytest.Pytester) -> None:
    """A folder without case files: the one ``none`` parameter, skipped with the reason."""
    pytester.mkdir("empty")
    result = pytester.runpytest("-p", "anonvma", "-rs", "--anonvma-cases=empty",
                                "--anonvma-no-bundled")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED * no cases to run: the --anonvma-cases files hold none"])


def test_same_collection_on_every_xdist_worker(forgetful: pytest.Pytester) -> None:
    """Two workers collect the same user cases in the same order (xdist fails the run if
    they differ) and the results are those of a serial run."""
    mine = forgetful.mkdir("mine")
    for n in range(4):
        (mine / f"c{n}.toml").write_text(GUARD_CASE.format(id=f"mine-{n}"))
    serial = outcomes(forgetful.runpytest(*REPLAY, "--anonvma-cases=mine"))
    parallel = forgetful.runpytest(*REPLAY, "--anonvma-cases=mine", "-n", "2")
    assert outcomes(parallel) == serial
    assert len(serial) == 8 and set(serial.values()) == {"PASSED"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--anonvma-cases=nope",), "--anonvma-cases: 'nope' does not exist"),
        (("--anonvma-cases=notes.txt",),
         "--anonvma-cases: 'notes.txt' is not a .toml case file or a folder of them"),
        (("--anonvma-cases=",), "--anonvma-cases: expected a case file or folder, got ''"),
        (("--anonvma-no-bundled",), "--anonvma-no-bundled: there are no --anonvma-cases *"),
    ],
)
def test_bad_paths_are_usage_errors(pytester: pytest.Pytester, args: tuple[str, ...],
                                    message: str) -> None:
    """A path that does not exist, a file that is not .toml, an empty value, or
    ``--anonvma-no-bundled`` with nothing to run: exit 4 and one line naming the option."""
    pytester.makefile(".txt", notes="x")
    one_line_usage_error(pytester.runpytest("-p", "anonvma", *args), f"ERROR: {message}")


def test_bad_ini_path_names_the_key(pytester: pytest.Pytester) -> None:
    """The same check for the ini key, naming it."""
    pytester.makeini("[pytest]\nanonvma_cases = nope\n")
    one_line_usage_error(pytester.runpytest("-p", "anonvma"),
                         "ERROR: ini anonvma_cases: '*nope' does not exist")
