"""``export_c``: cases as standalone C reproducers, compiled and run on the running kernel.

The cases below state kernel behaviour (sources in each ``source`` line); the generated program
must PASS them on this kernel, and must FAIL, naming the step, when an expectation is wrong.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_anonvma.__main__ import main
from pytest_anonvma.cases.corpus import BUNDLED_CASES, Case, load_corpus, parse_cases
from pytest_anonvma.cases.runner import case_applies
from pytest_anonvma.live.build import c_compiler, compile_c
from pytest_anonvma.live.export_c import KERNEL_DESIGN, KERNEL_ERA, _c_string, _comment, export_c


def _case(text: str) -> Case:
    cases, problems = parse_cases(text)
    assert not problems, [str(p) for p in problems]
    return cases[0]


def _toml(case_id: str, steps: str, needs: str = '"pages", "layout", "fork", "files"',
          tier: str = "layout") -> str:
    return (
        f'[[case]]\nid = "{case_id}"\nabout = "test"\nsource = "kernel semantics"\n'
        f'tier = "{tier}"\nneeds = [{needs}, "mremap", "mlock", "guard-flag"]\n'
        f"steps = '''\n{steps}\n'''\n"
    )


RunC = Callable[[str], tuple[int, str]]


@pytest.fixture
def run_c(tmp_path: Path) -> RunC:
    """Compile a C source and run it: returns (exit status, stdout)."""
    if c_compiler() is None:
        pytest.skip("no C compiler (cc) to build exported programs")

    def run(source: str) -> tuple[int, str]:
        binary = tmp_path / "repro"
        compile_c(source, binary)
        proc = subprocess.run([str(binary)], capture_output=True, text=True, timeout=30)
        return proc.returncode, proc.stdout

    return run


GOOD = _toml("export-good", """\
mmap 0 4 rw anon
mprotect 1 1 r             # mprotect(2) splits the VMA: three VMAs
layout "ABCC"
vma 1 prot = r
write 0 0x41
read 0 == 0x41
read 2..3 == 0             # a read fault maps the zero page
guard 3 1
pages 0..3 = P . P G       # pagemap: written, empty, zero page, guard marker
vma 3 has VM_MAYBE_GUARD
vma 1 lacks VM_MAYBE_GUARD
read 3 -> SIGSEGV
write 5 1 -> SIGSEGV       # no VMA
munmap 0+1 1 -> EINVAL     # munmap(2): addr must be page aligned
mremap 0 1 -> 2 -> ENOMEM  # mremap(2): cannot grow in place into mapped page 1""")


def test_exported_program_passes_kernel_truths(run_c: RunC) -> None:
    """Every check of a case that states kernel behaviour passes on this kernel."""
    status, out = run_c(export_c(_case(GOOD)))
    assert (status, out.strip()) == (0, "PASS")


def test_a_wrong_expectation_fails_naming_the_step(run_c: RunC) -> None:
    """An empty page expected to be a guard marker: FAIL with the step line, exit 1."""
    case = _case(_toml("export-wrong", "mmap 0 2 rw anon\npages 0..1 = G .", '"pages"'))
    status, out = run_c(export_c(case))
    assert status == 1
    assert 'FAIL line 9: pages 0..1 = G .: pages 0..1 are ".."; expected "G."' in out
    assert out.rstrip().endswith("FAILED")


def test_wrong_layout_prints_both_pictures(run_c: RunC) -> None:
    """mmap of two adjacent compatible anonymous ranges merges them (one VMA, not two)."""
    case = _case(_toml("export-layout", 'mmap 0 1 rw anon\nmmap 1 1 rw anon\nlayout "AB"',
                       '"layout"'))
    status, out = run_c(export_c(case))
    assert status == 1
    assert 'expected  "AB"\n  actual    "AA"' in out


def test_fork_steps_run_in_the_child(run_c: RunC) -> None:
    """Markers are copied to the child (6.18: VM_MAYBE_GUARD forces the copy); the child's own
    later writes stay private (copy-on-write) and a grandchild works too."""
    steps = """\
mmap 0 2 rw anon
write 0 7
guard 1 1
fork as child
in child: pages 0..1 = P G
in child: read 1 -> SIGSEGV
in child: write 0 9
read 0 == 7
in child: fork as grandchild
in grandchild: read 0 == 9
in grandchild: read 1 -> SIGSEGV"""
    status, out = run_c(export_c(_case(_toml("export-fork", steps))))
    assert (status, out.strip()) == (0, "PASS")


def test_a_failing_child_step_fails_the_program(run_c: RunC) -> None:
    """A wrong expectation checked in the child is reported and fails the run."""
    steps = "mmap 0 1 rw anon\nfork as child\nin child: read 0 -> SIGSEGV"
    status, out = run_c(export_c(_case(_toml("export-child-fail", steps))))
    assert status == 1
    assert "FAIL line 10: in child: read 0 -> SIGSEGV: page 0: no fault; expected SIGSEGV" in out


def test_memfd_steps_and_sigbus(run_c: RunC) -> None:
    """A shared memfd mapping is shared with the child (MAP_SHARED); a page past EOF is SIGBUS
    (mm/shmem.c); a memfd named only by mmap is created large enough, as the runner does."""
    steps = """\
memfd f 1
mmap 0 2 rw shared memfd:f
write 0 3
fork as child
in child: read 0 == 3
in child: read 1 -> SIGBUS
mmap 4 2 r memfd:g offset 1
vma 4 pgoff = 1
read 4..5 == 0"""
    status, out = run_c(export_c(_case(_toml("export-memfd", steps))))
    assert (status, out.strip()) == (0, "PASS")


def test_unobservable_steps_become_comments() -> None:
    """Counters, anon_vma identity and retraction are not visible on a kernel: commented out."""
    steps = """\
checkpoint
mmap 0 2 rw anon
stats anon_vma_allocs +0
vma 0 anon_vma = none
vma 0 anon_vma == vma 1
retractable 0 == false
vma 0 lacks VM_MAYBE_GUARD  [baseline]"""
    case = _case(_toml("export-unobservable", steps,
                       '"pages", "layout", "stats", "anon_vma", "thp"'))
    source = export_c(case)
    assert "return 1; /* slab counters are not observable on a running kernel */" in source
    assert "return 1; /* needs anon_vma: not observable on a running kernel */" in source
    assert "anon_vma identity is not observable" in source
    assert "retraction eligibility is not observable" in source
    assert "return 1; /* not checked for maybe-guard@6.18 ([baseline]) */" in source
    assert 'return av_check_flag(0, "gu", "VM_MAYBE_GUARD", 0);' in export_c(
        case, design="baseline", era="2025-03")


def test_c_literals_are_escaped() -> None:
    """Step text goes into C strings and comments: quotes, backslashes, */ and UTF-8."""
    assert _c_string('layout "A B"') == '"layout \\"A B\\""'
    assert _c_string("a\\b") == '"a\\\\b"'
    assert _c_string("é") == '"\\303\\251"'
    assert "*/" not in _comment("a */ b")


def test_export_c_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``python -m pytest_anonvma export-c`` writes ID.c files, or one case to stdout, and
    reports unknown ids in one line."""
    cases = tmp_path / "cases.toml"
    cases.write_text(GOOD, encoding="utf-8")
    out = tmp_path / "out"
    assert main(["export-c", "--cases", str(cases), "-o", str(out), "export-good"]) == 0
    assert (out / "export-good.c").read_text().startswith("/*\n * export-good: test")
    capsys.readouterr()
    assert main(["export-c", "--cases", str(cases), "-o", "-", "export-good"]) == 0
    assert "int main(void)" in capsys.readouterr().out
    assert main(["export-c", "--cases", str(cases), "nope"]) == 1
    err = capsys.readouterr().err
    assert err == f"export-c: no case 'nope' in {cases} (1 cases)\n"


def test_bundled_hazard_cases_pass_as_c_programs(run_c: RunC) -> None:
    """The hazard cases state what the kernel must do (docs/spec.md §4; 6.18 carries the sticky
    flag): exported, each prints PASS on this kernel, forks and all."""
    corpus = load_corpus([BUNDLED_CASES / "rfc-v1-hazards.toml"])
    cases = [case for case in corpus.cases if case_applies(case, KERNEL_DESIGN, KERNEL_ERA) is None]
    assert cases, "no hazard case applies to maybe-guard"
    for case in cases:
        status, out = run_c(export_c(case))
        assert (status, out.strip()) == (0, "PASS"), f"{case.id}:\n{out}"
