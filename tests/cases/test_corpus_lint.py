"""Case files: loading, every lint error with its ``file:line``, malformed-file isolation, the
``lint`` command, the bundled corpus, and the schema rendered in docs/case-format.md."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_anonvma.__main__ import main
from pytest_anonvma.cases import BUNDLED_CASES, load_corpus, parse_cases
from pytest_anonvma.cases.schema import case_file_schema, validate
from pytest_anonvma.cases.steps import Mmap

ROOT = Path(__file__).resolve().parents[2]

GOOD = """\
[[case]]
id = "good-one"
about = "A guard page faults."
source = "docs/spec.md §2"
tier = "guard"
needs = ["pages"]
steps = '''
mmap 0 2 rw anon
guard 0 1
read 0 -> SIGSEGV
'''
"""


def case_text(**fields: str) -> str:
    """A one-case file; ``fields`` override (value ``None`` drops) the lines of GOOD's case."""
    values = {
        "id": '"a-case"',
        "about": '"About."',
        "source": '"docs/spec.md §2"',
        "tier": '"guard"',
        "needs": '["pages"]',
    }
    values.update(fields)
    steps = values.pop("steps", "mmap 0 2 rw anon\nguard 0 1\nread 0 -> SIGSEGV")
    head = "".join(f"{k} = {v}\n" for k, v in values.items() if v is not None)
    return f"[[case]]\n{head}steps = '''\n{steps}\n'''\n"


def problems_of(text: str) -> list[str]:
    cases, problems = parse_cases(text, "f.toml")
    assert not (cases and problems), "a file with problems must contribute no case"
    return [str(p) for p in problems]


def test_good_file_loads() -> None:
    cases, problems = parse_cases(GOOD, "good.toml")
    assert problems == []
    (case,) = cases
    assert (case.id, case.tier, case.needs, case.designs) == ("good-one", "guard", {"pages"}, None)
    assert [s.line for s in case.steps] == [8, 9, 10]
    assert case.line == 1
    assert case.path == "good.toml"


def test_case_format_round_trips() -> None:
    (case,) = parse_cases(GOOD, "good.toml")[0]
    (again,) = parse_cases(case.format(), "again.toml")[0]
    assert again == case
    steps_designs = case_text(
        tier='"patch"',
        needs='["pages", "fork"]',
        designs='["rfc-v1", "6.18"]',
        steps="mmap 0 1 rw anon\nfork as c\nin c: pages 0 = .  [not rfc-v1]",
    )
    (case2,) = parse_cases(steps_designs)[0]
    assert parse_cases(case2.format())[0] == [case2]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"source": None}, "f.toml:1: case[0].source: is missing"),
        ({"source": '"  "'}, "f.toml:4: case[0].source: must not be empty"),
        ({"tier": '"gold"'}, "f.toml:5: case[0].tier: 'gold' is not one of guard, layout, patch"),
        ({"id": '"Not_Kebab"'}, "f.toml:2: case[0].id: 'Not_Kebab' does not match"),
        ({"needs": '"pages"'}, "f.toml:6: case[0].needs: must be an array, got str"),
        ({"needs": '["pages", "telepathy"]'}, "f.toml:6: case[0].needs[1]: 'telepathy' is not one"),
        ({"needs": '["pages", "pages"]'}, "f.toml:6: case[0].needs: 'pages' is listed twice"),
        ({"designs": '["shiny"]'}, "f.toml:7: case[0].designs[0]: 'shiny' is not one of"),
        ({"colour": '"red"'}, "f.toml:7: case[0].colour: unknown field"),
        ({"steps": "mmap 0 2 rw anon\nbogus 1\nread 0"}, "f.toml:9: unknown step 'bogus'"),
        ({"steps": "mmap 0 2 rw anon\nguard 0 9999"}, "f.toml:9: pages 0+9999 run past the arena"),
        (
            {"steps": "mmap 0 2 rw anon\nin kid: read 0 == 0"},
            "f.toml:9: case 'a-case': no address space 'kid' yet",
        ),
        (
            {"needs": '["pages", "fork"]', "steps": "fork as c\nfork as c\nread 0 -> SIGSEGV"},
            "f.toml:9: case 'a-case': address space 'c' already exists",
        ),
        (
            {"needs": '["pages", "files"]', "steps": "memfd f 2\nmemfd f 2\nread 0 -> SIGSEGV"},
            "f.toml:9: case 'a-case': memfd 'f' already exists",
        ),
        (
            {"steps": "mmap 0 2 rw anon\nfork as c\nread 0 == 0"},
            "f.toml:9: case 'a-case': 'fork as c' needs fork: add it to needs",
        ),
        (
            {"needs": "[]", "steps": "mmap 0 2 rw anon"},
            "f.toml:1: case 'a-case': checks nothing with the capabilities in needs",
        ),
        (
            {"needs": '["pages"]', "steps": 'mmap 0 2 rw anon\nlayout "AA"  [6.18]\nread 0 == 0'},
            None,
        ),
        (
            {"steps": 'mmap 0 2 rw anon\nlayout "AA"\nread 0 == 0'},
            "f.toml:9: case 'a-case': 'layout' is design-dependent",
        ),
        (
            {"steps": "mmap 0 2 rw anon\npages 0 = .  [reference wonky]"},
            "f.toml:9: case 'a-case': unknown design 'wonky' in filter",
        ),
        ({"tier": '"patch"'}, "f.toml:1: case 'a-case': a patch-tier case must list the designs"),
    ],
)
def test_each_lint_error(fields: dict[str, str], expected: str | None) -> None:
    problems = problems_of(case_text(**fields))
    if expected is None:
        assert problems == []
    else:
        assert any(p.startswith(expected) for p in problems), problems


def test_invalid_toml_names_its_line() -> None:
    (problem,) = problems_of('[[case]]\nid = "x"\nabout = oops\n')
    assert problem.startswith("f.toml:3: invalid TOML:")


def test_file_without_cases() -> None:
    assert problems_of('title = "nothing"\n') == [
        "f.toml:1: case: is missing",
        "f.toml:1: title: unknown field (known: case)",
    ]


def test_duplicate_ids_within_a_file() -> None:
    problems = problems_of(GOOD + "\n" + GOOD)
    assert problems == ["f.toml:13: duplicate case id 'good-one' (first at line 1)"]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_malformed_file_fails_only_its_own_cases(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", GOOD)
    bad = write(tmp_path, "b.toml", GOOD.replace("good-one", "good-two") + "[[case]]\nid = 3\n")
    write(tmp_path, "c.toml", GOOD.replace("good-one", "good-three"))
    corpus = load_corpus([tmp_path])
    assert [c.id for c in corpus.cases] == ["good-one", "good-three"]
    assert list(corpus.errors) == [str(bad)]
    assert all(p.path == str(bad) for p in corpus.errors[str(bad)])
    assert corpus.files == [str(tmp_path / n) for n in ("a.toml", "b.toml", "c.toml")]


def test_duplicate_ids_across_files_blame_the_later_file(tmp_path: Path) -> None:
    first = write(tmp_path, "a.toml", GOOD)
    second = write(tmp_path, "b.toml", GOOD)
    corpus = load_corpus([tmp_path])
    assert [c.path for c in corpus.cases] == [str(first)]
    assert [str(p) for p in corpus.errors[str(second)]] == [
        f"{second}:1: duplicate case id 'good-one' (first at {first}:1)"
    ]


def test_lint_command_reports_each_problem_on_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write(tmp_path, "good.toml", GOOD)
    bad = write(tmp_path, "bad.toml", case_text(tier='"gold"', steps="mmap 0 2 rw anon\nzap 1"))
    assert main(["lint", str(good)]) == 0
    assert capsys.readouterr().out == ""
    assert main(["lint", str(good), str(bad), str(tmp_path / "missing.toml")]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"{tmp_path / 'missing.toml'}:0: no such file or directory",
        f"{bad}:5: case[0].tier: 'gold' is not one of guard, layout, patch, interleave",
    ]


def test_lint_command_on_an_empty_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["lint", str(tmp_path)]) == 1
    assert capsys.readouterr().out == f"{tmp_path}:0: no *.toml case files here\n"


def test_lint_runs_as_a_module() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest_anonvma", "lint"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.match(r"ok: \d+ case\(s\)", result.stderr)


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err


def test_bundled_corpus_is_clean_and_unique() -> None:
    corpus = load_corpus()
    assert corpus.errors == {}
    ids = [c.id for c in corpus.cases]
    assert len(ids) == len(set(ids))
    assert {c.tier for c in corpus.cases} == {"guard", "layout", "patch"}
    assert Path(corpus.files[0]).parent.samefile(BUNDLED_CASES)
    assert corpus.by_id(ids[-1]) is corpus.cases[-1]
    with pytest.raises(KeyError):
        corpus.by_id("no-such-case")


def test_schema_validator() -> None:
    assert (
        validate(
            {
                "case": [
                    {
                        "id": "x",
                        "about": "a",
                        "source": "s",
                        "tier": "guard",
                        "needs": [],
                        "steps": "read 0",
                    }
                ]
            }
        )
        == []
    )
    assert validate({"case": []}) == [("case", "needs at least 1 item(s)")]
    assert validate({"case": ["text"]}) == [("case[0]", "must be an object, got str")]


def test_docs_render_the_current_schema() -> None:
    text = (ROOT / "docs" / "case-format.md").read_text()
    blocks = re.findall(r"```json\n(.*?)```", text, re.S)
    assert json.loads(blocks[-1]) == case_file_schema()


def test_mmap_offset_needs_a_file() -> None:
    with pytest.raises(ValueError, match="needs a memfd"):
        Mmap(0, 1, offset=2)


# -- bounds on input (issue 10, item 5) -----------------------------------------------------------


@pytest.mark.parametrize(
    ("states", "problem"),
    [
        ("G*999999999999", "page-state run 'G*999999999999': the length must be 1..1024"),
        ("G*0x10000000000", "page-state run 'G*0x10000000000': the length must be 1..1024"),
        (". G*1_000_000_000  # a comment", "page-state run 'G*1_000_000_000': the length"),
        ("G*0", "page-state run 'G*0': the length must be 1..1024"),
    ],
)
def test_repetition_count_is_bounded(states: str, problem: str) -> None:
    """A run longer than the arena (or empty) is a problem at its line, found before the run
    is built (it used to be a MemoryError)."""
    text = case_text(steps=f"mmap 0 2 rw anon\nguard 0 1\npages 0 = {states}")
    assert problem in problems_of(text)[0]
    assert problems_of(text)[0].startswith("f.toml:10: ")


def test_repetition_within_the_arena_is_left_to_the_parser() -> None:
    """``G*1024`` is not refused for its size; the step parser judges it (here: too many
    states for one page)."""
    problems = problems_of(case_text(steps="mmap 0 2 rw anon\npages 0 = G*1024"))
    assert problems and "repetition" not in problems[0]


@pytest.mark.parametrize("opening", ["[", "{a = "])
def test_deep_nesting_is_one_problem_at_its_line(opening: str) -> None:
    """Arrays or inline tables nested 5,000 deep are a problem at the line where they pass the
    limit (strings and comments holding brackets do not count), not a RecursionError."""
    closing = "]" if opening == "[" else "}"
    text = ("# [[[[\n[[case]]\nabout = '''\n[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n'''\n"
            f"x = {opening * 5000}1{closing * 5000}\n")
    assert problems_of(text) == ["f.toml:6: TOML arrays or tables nested deeper than 32 levels"]


@pytest.mark.parametrize("where", ["/dev/zero", "fifo.toml", "big.toml", "latin1.toml"])
def test_unreadable_case_file_is_one_problem(tmp_path: Path, where: str) -> None:
    """A device, a FIFO, a file over 4 MiB or one that is not UTF-8: one problem naming the
    file, at once (``/dev/zero`` used to be read until memory ran out; a FIFO would block)."""
    path = Path(where) if where.startswith("/") else tmp_path / where
    if where == "fifo.toml":
        os.mkfifo(path)
    elif where == "big.toml":
        path.write_text("#" * (4 * 1024 * 1024 + 1))
    elif where == "latin1.toml":
        path.write_bytes("# caf\xe9\n".encode("latin-1"))
    corpus = load_corpus([path])
    reason = {"big.toml": "larger than 4,194,304 bytes", "latin1.toml": "not UTF-8 text"}.get(
        where, "not a regular file")
    [problem] = corpus.errors[str(path)]
    assert str(problem).startswith(f"{path}:1: cannot read: {reason}")


def test_schema_problem_of_case_1_does_not_drop_case_10() -> None:
    """Only the case a schema problem names is skipped (``case[1]`` is not a prefix match of
    ``case[10]``): case 10's own problems are still found."""
    cases = [case_text(id=f'"c-{n}"') for n in range(11)]
    cases[10] = case_text(id='"c-10"', tier='"gold"', steps="mmap 0 2 rw anon\nzap 1")
    cases[1] = case_text(id='"c-1"', tier='"gold"')
    problems = problems_of("\n".join(cases))
    assert any("case[10].tier" in p for p in problems)
    assert any("case[1].tier" in p for p in problems)


def test_duplicate_ids_among_many_cases() -> None:
    """The duplicate check is a lookup (lint is linear): every repeat is found, each naming the
    first occurrence."""
    text = "\n".join(case_text(id=f'"c-{n % 500}"') for n in range(1000))
    problems = problems_of(text)
    assert len(problems) == 500
    assert problems[0] == "f.toml:6001: duplicate case id 'c-0' (first at line 1)"
