"""Interleave case files: the thread blocks parse into a Threads step, format back, and every
mistake is one ``file:line: message`` problem (docs/case-format.md, "Threads")."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_anonvma.cases.steps import Fork, Madvise, Mmap, Pages, StepError, Write
from pytest_anonvma.interleave.cases import (
    Threads,
    load_interleave_file,
    parse_interleave_cases,
    parse_thread_steps,
    threads_of,
)

GOOD = """\
mmap 0 8 rw anon
madvise 0 8 guard_install
thread A:
    unguard 0 8
thread B:
    madvise 3 1 guard_install
    write 5 0x7f -> ok|SIGSEGV     # the write may meet the marker
in every interleaving:
fork as kid
in kid: pages 1 = .
"""


def _file(steps: str, *, tier: str = "interleave",
          needs: str = '["pages", "fork", "interleave"]') -> str:
    return (f'[[case]]\nid = "toy"\nabout = "a toy"\nsource = "docs/spec.md §4.4"\n'
            f'tier = "{tier}"\nneeds = {needs}\nsteps = \'\'\'\n{steps}\'\'\'\n')


def test_blocks_parse_into_setup_threads_and_trailing_steps() -> None:
    """Setup steps, one Threads step holding each thread's actions, then the checks."""
    steps = parse_thread_steps(GOOD, 1)
    assert [type(step) for step in steps] == [Mmap, Madvise, Threads, Fork, Pages]
    block = steps[2]
    assert isinstance(block, Threads)
    assert [t.name for t in block.threads] == ["A", "B"]
    a, b = block.threads
    assert [op.step.format() for op in a.ops] == ["unguard 0 8"]
    write = b.ops[1]
    assert isinstance(write.step, Write)
    assert write.outcomes == {"ok", "SIGSEGV"}
    assert write.allows(None) and write.allows("SIGSEGV") and not write.allows("SIGBUS")
    assert write.step.line == 7 and block.line == 3


def test_blocks_format_back() -> None:
    """The Threads step formats as the blocks and the 'in every interleaving:' line, so a case
    prints as case text that reads back to the same steps."""
    steps = parse_thread_steps(GOOD, 1)
    text = "\n".join(step.format() for step in steps)
    assert parse_thread_steps(text, 1) == steps


def test_bundled_cases_load() -> None:
    """The bundled interleave file loads without problems."""
    path = Path(__file__).parents[2] / "conformance" / "interleave" / "races.toml"
    cases, problems = load_interleave_file(path)
    assert problems == []
    assert {case.id for case in cases} >= {"remove-install-race", "install-retract-race"}
    assert all(threads_of(case).threads for case in cases)


@pytest.mark.parametrize(("steps", "line", "message"), [
    ("mmap 0 4 rw anon\nthread A:\nthread B:\n    guard 0 1\nin every interleaving:\n",
     2, "thread A has no steps"),
    ("mmap 0 4 rw anon\nthread A:\n    guard 0 1\nunguard 0 1\n", 4, "indent it"),
    ("mmap 0 4 rw anon\nthread A:\n    guard 0 1\nthread B:\n    guard 1 1\n", 2,
     "must be followed by 'in every interleaving:'"),
    ("thread A:\n    pages 0 = G\nthread B:\n    guard 1 1\nin every interleaving:\n", 2,
     "cannot run in a thread"),
    ("thread A:\n    in child: read 0\nthread B:\n    guard 1 1\nin every interleaving:\n", 2,
     "share the address space"),
    ("thread A:\n    read 0 -> ok|SIGFOO\nthread B:\n    guard 1 1\nin every interleaving:\n",
     2, "unknown outcome 'SIGFOO'"),
    ("thread A:\n    guard 0 1 -> ok|SIGSEGV\nthread B:\n    guard 1 1\n"
     "in every interleaving:\n", 2, "takes errno outcomes"),
    ("thread A:\n    guard 0 1\nin every interleaving:\n", 1, "1 thread(s)"),
    ("thread A:\n    guard 0 1\nthread A:\n    guard 1 1\nin every interleaving:\n", 3,
     "thread A is defined twice"),
    ("in every interleaving:\nfork as child\n", 1, "without thread blocks"),
    ("thread A:\n    gaurd 0 1\nthread B:\n    guard 1 1\nin every interleaving:\n", 2,
     "unknown step 'gaurd'"),
])
def test_mistakes_are_named_at_their_line(steps: str, line: int, message: str) -> None:
    """Each mistake is one problem at the file line of the step (step 1 is on line 8)."""
    cases, problems = parse_interleave_cases(_file(steps), "races.toml")
    assert cases == []
    assert len(problems) == 1
    assert problems[0].path == "races.toml"
    assert problems[0].line == 7 + line
    assert message in problems[0].message


def test_case_rules_of_the_corpus_apply() -> None:
    """The corpus's rules hold for the thread actions too: 'needs' must cover them, and an
    interleave case needs 'interleave' and has that tier."""
    _, problems = parse_interleave_cases(_file(GOOD, needs='["pages", "interleave"]'), "f.toml")
    assert any("needs fork" in p.message for p in problems)
    _, problems = parse_interleave_cases(_file(GOOD, needs='["pages", "fork"]'), "f.toml")
    assert any("needs 'interleave'" in p.message for p in problems)
    _, problems = parse_interleave_cases(_file(GOOD, tier="guard"), "f.toml")
    assert any("tier 'interleave'" in p.message for p in problems)


def test_unreadable_and_broken_files_are_problems(tmp_path: Path) -> None:
    """A missing file or invalid TOML is a problem, never a traceback."""
    cases, problems = load_interleave_file(tmp_path / "missing.toml")
    assert cases == [] and "cannot read" in problems[0].message
    broken = tmp_path / "broken.toml"
    broken.write_text("[[case]\n", encoding="utf-8")
    cases, problems = load_interleave_file(broken)
    assert cases == [] and "invalid TOML" in problems[0].message


def test_step_error_prefix_names_the_line() -> None:
    """parse_thread_steps raises StepError prefixed with the line."""
    with pytest.raises(StepError, match=r"^line 11: "):
        parse_thread_steps("thread A:\n    guard 0 1\n", 11)
