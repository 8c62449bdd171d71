"""``benchmarks/mutation.py`` from the command line, and the summary it prints.

Summary figures are worked out by hand from fabricated results.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from mutate.operators import Mutant, find_mutants
from mutate.report import Result, figure, summary

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
        "survivors: 1", "  pytest_anonvma/model/x.py:4: compare: a == b -> a != b"]


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
