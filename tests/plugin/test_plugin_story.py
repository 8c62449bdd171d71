"""A case failure tells its story and nothing else: the case, its steps with the failing one
marked, expected against actual, the steps not run, and a rerun command.

Expected behaviour: issue 11 item 1. A simple curated failure's section is at most 40 lines
with no frames of the plugin and no chained copy of the mismatch; ``--tb=long`` still shows the
traceback; pytest's short summary states the failure in words; a layout step shows the expected
and actual layouts one above the other in the harness's notation; generated failures keep their
report and get the same short summary and a rerun line. The expected values are the cases'
own, from the kernel selftests they cite (guard-regions.c ``fork``: a forked child keeps the
parent's guard markers; merge.c ``forked_target_vma``: a child's faulted VMA does not merge
with a new VMA mapped next to it).
"""

from __future__ import annotations

import shlex
import sys

import pytest
from plugin_helpers import literal

FORK_CASE = "guard-regions-fork-anon"


def run(pytester: pytest.Pytester, impl: str, select: str, *args: str) -> pytest.RunResult:
    """The bundled suite's tests matching ``select`` on ``IMPL`` (seed 3 unless ``args`` give
    another)."""
    return pytester.runpytest("-p", "anonvma", "-p", "no:cacheprovider", f"--anonvma-impl={impl}",
                              "--anonvma-seed=3", "-rf", "-k", select, *args)


def section(result: pytest.RunResult, test_id: str) -> list[str]:
    """The lines of one test's failure section: after its ``____ test_id ____`` header, up to
    the next header or section."""
    lines = result.outlines
    start = next(i for i, line in enumerate(lines)
                 if line.startswith("_") and f" {test_id} " in line)
    end = next(i for i in range(start + 1, len(lines)) if lines[i][:3] in ("___", "==="))
    return lines[start + 1:end]


def no_frames(lines: list[str]) -> None:
    """No traceback of the plugin, no chained copy."""
    text = "\n".join(lines)
    for frame in ("runner.py", "check.py", "self = ", "The above exception", "Traceback"):
        assert frame not in text


def test_simple_failure_is_its_story(buggy: pytest.Pytester) -> None:
    """The case, the steps (the failing one marked), expected against actual with carets, the
    later steps not run and a rerun line, in at most 40 lines; the short summary in words."""
    test_id = f"test_case[buggy:ForkBug-{FORK_CASE}]"
    result = run(buggy, "buggy:ForkBug", FORK_CASE)
    result.assert_outcomes(failed=1)
    lines = section(result, test_id)
    assert len(lines) <= 40, "\n".join(lines)
    no_frames(lines)
    text = "\n".join(lines)
    assert lines[0].startswith(f"case '{FORK_CASE}' failed on 'buggy:ForkBug' (design reference")
    assert "  about:  A forked child sees the parent's markers" in text
    assert "  source: tools/testing/selftests/mm/guard-regions.c" in text
    assert sum("<-- failed here" in line for line in lines) == 1
    assert "in child: pages 0..9 = G*5 .*5    <-- failed here" in text
    assert sum("(not run)" in line for line in lines) >= 3
    assert "    expected  G G G G G . . . . .\n    actual    . . . . . . . . . .\n" \
           "              ^ ^ ^ ^ ^" in text
    rerun = [line for line in lines if line.startswith("rerun: ")]
    assert len(rerun) == 1
    assert rerun[0].startswith("rerun: pytest -p anonvma --anonvma-impl=buggy:ForkBug "
                               "--anonvma-seed=3 '")
    assert rerun[0].endswith(f"test_cases.py::{test_id}'")
    result.stdout.fnmatch_lines([
        f"FAILED *{literal(test_id)} - pages 0..4 in child: expected G, got ."])
    assert text.count("expected  G G G G G") == 1


def test_rerun_line_reruns_the_test(buggy: pytest.Pytester) -> None:
    """The rerun command, run as printed from the same folder, runs that test alone: it fails
    on the toy and the same case passes on the reference."""
    result = run(buggy, "buggy:ForkBug", FORK_CASE)
    (line,) = [x for x in result.outlines if x.startswith("rerun: ")]
    words = shlex.split(line.removeprefix("rerun: "))
    assert words[:4] == ["pytest", "-p", "anonvma", "--anonvma-impl=buggy:ForkBug"]
    assert words[4] == "--anonvma-seed=3"
    assert words[-1].endswith(f"test_cases.py::test_case[buggy:ForkBug-{FORK_CASE}]")
    again = buggy.run(sys.executable, "-m", *words, "-p", "no:cacheprovider", timeout=300)
    assert again.ret == pytest.ExitCode.TESTS_FAILED
    assert again.parseoutcomes() == {"failed": 1}
    reference = [w.replace("buggy:ForkBug", "reference") for w in words]
    passed = buggy.run(sys.executable, "-m", *reference, "-p", "no:cacheprovider", timeout=300)
    assert passed.parseoutcomes() == {"passed": 1}


def test_long_traceback_on_request(buggy: pytest.Pytester) -> None:
    """``--tb=long`` keeps pytest's traceback (the runner's frames), with the summary line in
    words; ``--tb=line`` is one line saying the failure."""
    test_id = f"test_case[buggy:ForkBug-{FORK_CASE}]"
    long = run(buggy, "buggy:ForkBug", FORK_CASE, "--tb=long")
    assert "runner.py" in "\n".join(section(long, test_id))
    summary = "pages 0..4 in child: expected G, got ."
    long.stdout.fnmatch_lines([f"FAILED *{literal(test_id)} - {summary}"])
    line = run(buggy, "buggy:ForkBug", FORK_CASE, "--tb=line")
    line.stdout.fnmatch_lines(["*= FAILURES =*", f"*test_cases.py:*: {summary}",
                               "*= anonvma failure causes =*"])


def test_layout_failure_shows_both_pictures(buggy: pytest.Pytester) -> None:
    """A layout step's failure draws the expected and the actual layout one above the other
    under one ruler, in the harness's notation; the summary says it in one line."""
    case = "merge-forked-target-vma"
    result = run(buggy, "buggy:MergesAll", case)
    lines = section(result, f"test_case[buggy:MergesAll-{case}]")
    no_frames(lines)
    at = lines.index("  VMA layout of the arena in child:")
    assert lines[at + 1:at + 4] == [
        "            0123456789a",
        "  expected   AAAAABBBBB",
        "  actual     AAAAAAAAAA",
    ]
    result.stdout.fnmatch_lines([
        f"FAILED *{case}] - VMA layout in child: expected ' AAAAABBBBB' (2 VMAs), "
        "got ' AAAAAAAAAA' (1 VMA)"])


def test_contract_breach_shows_the_implementations_frames(buggy: pytest.Pytester) -> None:
    """An implementation that raises: the story names the call, and shows the
    implementation's own frames (not the runner's)."""
    case = "merge-mprotect-unfaulted-left"
    result = run(buggy, "buggy:Raising", case)
    lines = section(result, f"test_case[buggy:Raising-{case}]")
    text = "\n".join(lines)
    assert "raised RuntimeError: toy: mprotect is broken" in text
    assert "the implementation's frames (most recent call last):" in text
    assert text.count("buggy.py") == 4  # mprotect, _deep x3
    assert "runner.py" not in text


def test_generated_failure_keeps_its_report(buggy: pytest.Pytester) -> None:
    """A generated failure: its findings and shrunk case, no frames, one rerun line that
    names the number of generated cases, the first finding as its summary."""
    result = run(buggy, "buggy:ForkBug", "gen-7-0]", "--anonvma-generated=4", "--anonvma-seed=7")
    lines = section(result, "test_generated[buggy:ForkBug-gen-7-0]")
    no_frames(lines)
    text = "\n".join(lines)
    assert "(finding: fork-lost-guard-marker" in text and "[[case]]" in text
    (rerun,) = [x for x in lines if x.startswith("rerun: ")]
    assert rerun.startswith("rerun: pytest -p anonvma --anonvma-impl=buggy:ForkBug "
                            "--anonvma-seed=7 --anonvma-generated=4 ")
    result.stdout.fnmatch_lines(
        ["FAILED *gen-7-0] - fork child * lost the parent's guard marker(s) at page(s) *"])


def test_story_under_xdist(buggy: pytest.Pytester) -> None:
    """The story and the summary line travel from an xdist worker unchanged."""
    test_id = f"test_case[buggy:ForkBug-{FORK_CASE}]"
    serial = section(run(buggy, "buggy:ForkBug", FORK_CASE), test_id)
    result = run(buggy, "buggy:ForkBug", FORK_CASE, "-n", "2")
    assert [x for x in section(result, test_id) if not x.startswith("[gw")] == serial
    result.stdout.fnmatch_lines(
        [f"FAILED *{literal(test_id)} - pages 0..4 in child: expected G, got ."])
