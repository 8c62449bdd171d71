"""``benchmarks/mutation.py`` from the command line, and the summary it prints.

Summary figures are worked out by hand from fabricated results.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from mutate.judged import Judgement, key_of
from mutate.operators import Mutant, find_mutants
from mutate.report import Result, figure, judged_figure, summary

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "mutation.py"
LINE = re.compile(r"^pytest_anonvma/designs/reference\.py:\d+: [a-z]+: .+ -> .+$")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True)


def test_list_filters_by_module_and_prints_the_survivor_format() -> None:
    """``--list --module`` lists that module's mutants, one ``file:line: op: a -> b`` each."""
    out = _cli("--list", "--module", "designs/reference.py")
    assert out.returncode == 0, out.stderr
    *lines, total = out.stdout.splitlines()
    assert lines and all(LINE.match(line) for line in lines)
    assert total == f"{len(lines)} mutants"


def test_sample_is_seeded_and_deterministic() -> None:
    """The same ``--sample N --seed S`` picks the same mutants; another seed others."""
    first = _cli("--list", "--sample", "20", "--seed", "3").stdout
    assert first == _cli("--list", "--sample", "20", "--seed", "3").stdout
    assert first != _cli("--list", "--sample", "20", "--seed", "4").stdout
    assert first.splitlines()[-1] == "20 mutants"


def test_unknown_module_is_a_one_line_error() -> None:
    """A ``--module`` that matches nothing names itself, no traceback."""
    out = _cli("--list", "--module", "model/nosuch.py")
    assert out.returncode != 0
    assert out.stderr.strip() == (
        "mutation.py: --module 'model/nosuch.py' matches no engine or design module"
    )


def test_bad_sample_is_rejected() -> None:
    """Negative sample sizes are a usage error naming the option."""
    out = _cli("--sample", "-1")
    assert out.returncode == 2
    assert "--sample must be >= 0" in out.stderr
    assert "Traceback" not in out.stderr


def _result(line: int, status: str, stage: str = "corpus:reference") -> Result:
    mutant = Mutant("pytest_anonvma/model/x.py", "pytest_anonvma.model.x", line, line, 4,
                    "compare", "a == b", "a != b")
    return Result(mutant, status, stage, "case-id", 0.1)


def test_figure_counts_timeouts_and_crashes_as_kills_and_leaves_out_tool_errors() -> None:
    """3 kills (one by timeout, one by crash) of 4 evaluated; the tool error is not counted."""
    results = [_result(1, "killed"), _result(2, "timeout"), _result(3, "crashed"),
               _result(4, "survived", ""), _result(5, "error")]
    assert figure(results) == "3 of 4 mutants killed (75.0%)"
    text = summary(results)
    assert "timeout (counted as killed): 1" in text
    assert "not evaluated (tool errors, left out of the figure): 1" in text
    assert text.splitlines()[-2:] == [
        "survivors: 1 (equivalent 0, unreachable 0, gap 0, not judged 1)",
        "  pytest_anonvma/model/x.py:4: compare: a == b -> a != b"]


def test_judged_survivors_are_shown_and_only_equivalents_leave_the_second_figure() -> None:
    """Of 2 kills in 5: survivors judged equivalent (one) leave the second figure's
    denominator (2 of 4 = 50%), unreachable ones (one) stay; a judged mutant the run killed is
    listed for its entry to be dropped."""
    results = [_result(1, "killed"), _result(2, "killed"), _result(3, "survived", ""),
               _result(4, "survived", ""), _result(5, "survived", "")]
    judged = {
        key_of(results[1].mutant): Judgement("gap", "was open"),
        key_of(results[2].mutant): Judgement("equivalent", "same for every input"),
        key_of(results[3].mutant): Judgement("unreachable", "no caller passes it"),
    }
    assert figure(results) == "2 of 5 mutants killed (40.0%)"
    assert judged_figure(results, judged) == (
        "2 of 4 mutants killed (50.0%) once the 1 judged equivalent are left out")
    lines = summary(results, judged).splitlines()
    start = lines.index("survivors: 3 (equivalent 1, unreachable 1, gap 0, not judged 1)")
    assert lines[start + 1:] == [
        "  pytest_anonvma/model/x.py:3: compare: a == b -> a != b"
        "  [equivalent: same for every input]",
        "  pytest_anonvma/model/x.py:4: compare: a == b -> a != b"
        "  [unreachable: no caller passes it]",
        "  pytest_anonvma/model/x.py:5: compare: a == b -> a != b",
        "judged survivors this run killed (drop their entries): 1",
        "  pytest_anonvma/model/x.py:2: compare: a == b -> a != b",
    ]


def _judged_entry(at: str, **fields: str) -> str:
    entry = {"at": at, "operator": "drop", "original": "return",
             "category": "equivalent", "reason": "r", **fields}
    return "[[survivor]]\n" + "".join(f"{k} = {v!r}\n" for k, v in entry.items())


def test_judged_file_errors_are_one_line_naming_the_entry(tmp_path: Path) -> None:
    """A malformed judged file stops the run with one line naming the file, the entry and the
    field; an entry naming no mutant of the tree is a warning."""
    path = tmp_path / "judged.toml"
    bad = {
        "category must be one of equivalent, unreachable, gap, got 'maybe'":
            _judged_entry("a.py:1:2", category="maybe"),
        "field 'at' must be PATH:LINE:COL": _judged_entry("a.py:x"),
        "unknown operator 'swap'": _judged_entry("a.py:1:2", operator="swap"),
        "field 'reason' must be a non-empty string": _judged_entry("a.py:1:2", reason=" "),
        "judged twice": _judged_entry("a.py:1:2") + _judged_entry("a.py:1:2"),
    }
    for message, text in bad.items():
        path.write_text(text)
        out = _cli("--list", "--module", "designs/reference.py", "--judged", str(path))
        assert out.returncode != 0
        assert out.stderr.startswith(f"mutation.py: --judged: {path}: "), out.stderr
        assert message in out.stderr and len(out.stderr.strip().splitlines()) == 1
    path.write_text(_judged_entry("pytest_anonvma/model/nosuch.py:1:2"))
    out = _cli("--list", "--module", "designs/reference.py", "--judged", str(path))
    assert out.returncode == 0
    assert "nosuch.py:1:2 drop 'return' names no mutant of the tree (stale entry)" in out.stderr


def test_survivors_of_selects_the_recorded_survivors(tmp_path: Path) -> None:
    """``--survivors-of`` re-selects exactly the survivors of an earlier ``--json`` file,
    by file, position, operator and text (a killed mutant in the file is not selected)."""
    listed = _cli("--list", "--module", "designs/reference.py").stdout.splitlines()[:-1]
    first, second = listed[0], listed[1]
    root = SCRIPT.parents[1]
    mutants = find_mutants(root / "pytest_anonvma" / "designs" / "reference.py", root)
    results = [
        {**vars(m), "status": status}
        for m, status in zip(mutants[:2], ("survived", "killed"), strict=True)
    ]
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"results": results}))
    out = _cli("--list", "--survivors-of", str(path))
    assert out.stdout.splitlines() == [first, "1 mutants"]
    assert second not in out.stdout
    path.write_text("not json")
    bad = _cli("--list", "--survivors-of", str(path))
    assert bad.returncode != 0
    assert bad.stderr.startswith(f"mutation.py: --survivors-of {path}: not a --json result file")
