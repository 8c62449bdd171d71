"""The interleave tier through the plugin: ``-k interleave`` on rfc-v1 gives the strict expected
failures of its bundled list, each naming its finding; the same tests fail without the list;
reference and maybe-guard pass every case; a model without the capability is skipped with its
name; the report counts the tier.

Expected outcomes: docs/spec.md §4.4 and §4.5 (RFC patch 2/2 sets ANON_VMA_UNFAULTED after the
walk and clears it with only mm->page_table_lock held); upstream's VM_MAYBE_GUARD closes both.
"""

from __future__ import annotations

import pytest

from pytest_anonvma.suite import bundled_suite_dir

TOY = '''
from pytest_anonvma.model.engine import ModelMM


class NoSteps(ModelMM):
    """maybe-guard without the stepping protocol's capability."""

    def __init__(self):
        super().__init__("maybe-guard")
        self.capabilities = self.capabilities - {"interleave"}
'''


@pytest.fixture
def quiet(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """pytester without pytest-benchmark's noise in the inner runs."""
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:benchmark")
    return pytester


def test_rfc_v1_fails_the_two_races_as_its_list_expects(quiet: pytest.Pytester) -> None:
    """With the bundled list the race cases are strict expected failures naming their finding;
    the other interleave cases pass."""
    result = quiet.runpytest("-p", "anonvma", "--anonvma-impl=rfc-v1", "-k", "interleave",
                             "-rxX")
    counts = result.parseoutcomes()
    out = result.stdout.str()
    assert counts.get("xfailed", 0) >= 2 and "failed" not in counts, out
    assert counts.get("passed", 0) >= 3, out
    for race in ("remove-install-race", "install-retract-race"):
        assert f"XFAIL test_interleave.py::test_interleave[rfc-v1-{race}]" in out
    # the entries are precise (finding=...): another failure would have failed the run
    listed = (bundled_suite_dir() / "xfail" / "rfc-v1.txt").read_text(encoding="utf-8")
    assert "test_interleave[rfc-v1-remove-install-race]     finding=fork-lost-guard-marker" \
        in listed
    assert "test_interleave[rfc-v1-install-retract-race]    finding=guard-marker-vanished" \
        in listed
    assert "interleave" in out.split("anonvma conformance")[-1]  # the report's tier row


def test_rfc_v1_failures_are_real_without_the_list(quiet: pytest.Pytester) -> None:
    """Run by path, without the bundled expected failures, the races fail, each with its
    schedule."""
    module = bundled_suite_dir() / "test_interleave.py"
    result = quiet.runpytest("-p", "anonvma", "--anonvma-impl=rfc-v1", str(module), "-k",
                             "remove-install-race or install-retract-race")
    counts = result.parseoutcomes()
    out = result.stdout.str()
    assert counts.get("failed", 0) == 2, out
    assert "schedule (step, thread, operation, what it does, lock held)" in out
    assert "finding fork-lost-guard-marker" in out


def test_fixed_designs_pass_the_tier(quiet: pytest.Pytester) -> None:
    """reference and maybe-guard pass every interleave case."""
    result = quiet.runpytest("-p", "anonvma", "--anonvma-impl=reference,maybe-guard", "-k",
                             "interleave")
    counts = result.parseoutcomes()
    assert counts.get("passed", 0) >= 8 and "failed" not in counts, result.stdout.str()


def test_models_without_the_capability_are_skipped_with_its_name(
        quiet: pytest.Pytester) -> None:
    """A model lacking 'interleave' skips the tier, naming the capability."""
    quiet.makepyfile(nosteps=TOY)
    quiet.syspathinsert()
    result = quiet.runpytest("-p", "anonvma", "--anonvma-impl=nosteps:NoSteps", "-k",
                             "interleave", "-rs")
    counts = result.parseoutcomes()
    out = result.stdout.str()
    assert counts.get("skipped", 0) >= 5 and "failed" not in counts, out
    assert "lacks capability 'interleave'" in out


def test_export_c_writes_the_stress_reproducers(quiet: pytest.Pytester) -> None:
    """--anonvma-export-c writes each interleave case as DIR/<id>.stress.c, a pthread program."""
    out = quiet.path / "repro"
    result = quiet.runpytest("-p", "anonvma", "--anonvma-impl=maybe-guard", "-k",
                             "interleave and remove-install-race", f"--anonvma-export-c={out}")
    assert result.parseoutcomes().get("passed") == 1, result.stdout.str()
    source = (out / "remove-install-race.stress.c").read_text(encoding="utf-8")
    assert "pthread_barrier_wait(&start);" in source
    assert "madvise((void *)PAGE(1), 1 * PS, 102 /* MADV_GUARD_INSTALL */)" in source
