"""The C stress reproducers of interleave cases: they build with ``cc -pthread`` and refuse
what they cannot run. Running them on the kernel is benchmarks/bench_interleave_stress.py."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from pytest_anonvma.interleave.cases import parse_interleave_cases
from pytest_anonvma.interleave.stress_c import stress_c, write_stress_c

RACES = Path(__file__).parents[2] / "conformance" / "interleave" / "races.toml"
CASE = """[[case]]
id = "toy"
about = "a toy"
source = "docs/spec.md §4.4"
tier = "interleave"
needs = ["pages", "fork", "mremap", "interleave"]
steps = '''
mmap 0 4 rw anon
thread A:
    mremap 0 1 -> 2
thread B:
    guard 1 1
in every interleaving:
pages 1 = G
'''
"""


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler (cc)")
def test_bundled_cases_build(tmp_path: Path) -> None:
    """Every bundled interleave case compiles warning-free into a stress program."""
    text = RACES.read_text(encoding="utf-8")
    cases, problems = parse_interleave_cases(text, str(RACES))
    assert problems == []
    for case in cases:
        source = write_stress_c(case, tmp_path)
        built = subprocess.run(["cc", "-O2", "-Wall", "-Werror", "-pthread", "-o",
                                str(tmp_path / case.id), str(source)],
                               capture_output=True, text=True, check=False)
        assert built.returncode == 0, built.stderr


def test_a_step_it_cannot_run_is_refused() -> None:
    """A thread action the program has no rendering for is a ValueError naming it."""
    cases, problems = parse_interleave_cases(CASE, "toy.toml")
    assert problems == []
    with pytest.raises(ValueError, match=r"cannot run 'mremap 0 1 -> 2'"):
        stress_c(cases[0])
