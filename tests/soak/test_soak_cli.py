"""The ``soak`` command: exit status, summary line, bad options, detection and shrinking of a
disagreement, determinism.

These run a model as the oracle (``--against maybe-guard``) so they need no live kernel; the
live soak is in ``test_soak_live.py``. The deliberately wrong model is
``soak_toys.ForgetfulFork`` (maybe-guard whose fork children lose their guard markers).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_anonvma import registry
from pytest_anonvma.cases import CaseFailure, load_file, run_case
from pytest_anonvma.cases.steps import Fork, Pages
from pytest_anonvma.soak.cli import resolve_models
from pytest_anonvma.soak.report import disagreement_report
from pytest_anonvma.soak.session import Soak

RunSoak = Callable[..., tuple[int, str, str]]

SUMMARY = re.compile(
    r"^(\d+) sequences, (\d+) steps, (\d+) disagreements in \d+\.\d s \(\d+\.\d seq/s\)$")
TOY = "soak_toys:ForgetfulFork"


def _summary(out: str) -> tuple[int, int, int]:
    last = out.rstrip("\n").splitlines()[-1]
    match = SUMMARY.match(last)
    assert match, f"last line is not the summary: {last!r}"
    return int(match[1]), int(match[2]), int(match[3])


def test_agreeing_models_exit_0_with_the_summary_line(soak: RunSoak) -> None:
    """A model compared with itself (the same deterministic design and era as the oracle)
    agrees on every step: exit status 0 and the summary line only."""
    status, out, err = soak("--against", "maybe-guard", "--models", "maybe-guard",
                            "--sequences", "8", "--seed", "3")
    assert (status, err) == (0, "")
    sequences, steps, disagreements = _summary(out)
    assert (sequences, disagreements) == (8, 0)
    assert steps >= 8 * 10  # every sequence played in full (the generator's minimum is 10)
    assert out.count("\n") == 1


def test_bundled_design_without_era_takes_the_oracles_era() -> None:
    """``--models reference`` against a 6.18 oracle means reference@6.18 (the era decides the
    mm/vma.c and mremap rules, and the kernel has 6.18's); an explicit era and a
    ``module:attr`` factory are taken as written."""
    assert list(resolve_models("reference, maybe-guard", "6.18")) == [
        "reference@6.18", "maybe-guard@6.18"]
    assert list(resolve_models("rfc-v1@2025-03", "6.18")) == ["rfc-v1@2025-03"]
    assert list(resolve_models(TOY, "6.18")) == [TOY]
    assert list(resolve_models("baseline", None)) == ["baseline"]


def test_disagreement_is_found_shrunk_and_written(soak: RunSoak, tmp_path: Path) -> None:
    """The toy loses fork children's markers: exit 1, and each disagreement is a shrunk case
    (mmap, guard, fork and the child's page states) that the curated-case runner replays:
    it passes on the oracle and fails on the toy. The C reproducer is written beside it."""
    status, out, err = soak("--against", "maybe-guard", "--models", TOY, "--sequences", "3",
                            "--seed", "1", "--out", str(tmp_path))
    assert (status, err) == (1, "")
    sequences, _, disagreements = _summary(out)
    assert sequences == 3 and disagreements >= 1
    assert out.count("DISAGREEMENT on sequence") == disagreements
    cases = sorted(tmp_path.glob("soak-1-*.toml"))
    assert len(cases) == disagreements
    for path in cases:
        loaded, problems = load_file(path)
        assert problems == [] and len(loaded) == 1
        case = loaded[0]
        assert case.format() in out  # the printed case is the written one
        assert len(case.steps) <= 5  # from 10..26 generated steps
        assert any(isinstance(step, Fork) for step in case.steps)
        assert isinstance(case.steps[-1], Pages) and "G" in case.steps[-1].states
        run_case(case, registry.resolve("maybe-guard"), "maybe-guard")
        with pytest.raises(CaseFailure):
            run_case(case, registry.resolve(TOY), TOY)
        source = path.with_suffix(".c").read_text()
        assert "int main(void)" in source and case.id in source
        assert path.read_text().startswith("# soak disagreement: ")


def test_same_seed_same_output(soak: RunSoak, tmp_path: Path) -> None:
    """Everything but the timing is a function of the options: two runs print the same
    reports and write the same files; another seed plays other sequences."""
    runs = []
    for name in ("a", "b"):
        status, out, _ = soak("--against", "maybe-guard", "--models", TOY, "--sequences", "4",
                              "--seed", "7", "--out", str(tmp_path / name))
        files = {p.name: p.read_text() for p in sorted((tmp_path / name).iterdir())}
        body = out.replace(str(tmp_path / name), "DIR").rstrip("\n").splitlines()
        runs.append((status, body[:-1], _summary(out), files))
    assert runs[0] == runs[1]
    _, other, _ = soak("--against", "maybe-guard", "--models", TOY, "--sequences", "4",
                       "--seed", "8")
    assert other.splitlines()[:-1] != runs[0][1]


def test_rerun_line_replays_one_sequence(soak: RunSoak) -> None:
    """The printed rerun command plays that sequence alone and finds the same case."""
    status, out, _ = soak("--against", "maybe-guard", "--models", TOY, "--sequences", "2",
                          "--seed", "1")
    assert status == 1
    rerun = next(line for line in out.splitlines() if line.startswith("rerun: "))
    args = rerun.split(" soak ", 1)[1].split()
    first_case = out.split("[[case]]", 1)[1].split("'''\n", 2)[1]
    status, again, _ = soak(*args)
    assert status == 1 and _summary(again)[0] == 1
    assert first_case in again


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("--sequences", "0"), "--sequences"),
        (("--sequences", "many"), "--sequences"),
        (("--seed", "-1"), "--seed"),
        (("--start", "x"), "--start"),
        (("--steps", "0"), "--steps"),
        (("--models", ""), "--models"),
        (("--models", "reference,,baseline"), "--models"),
        (("--models", "no-such-model"), "--models"),
        (("--against", "no-such-oracle"), "--against"),
        (("--memory", "heap"), "--memory"),
    ],
)
def test_bad_option_is_one_line_naming_it(soak: RunSoak, args: tuple[str, ...],
                                          option: str) -> None:
    """A bad value: exit status 2, nothing on stdout, one line on stderr naming the option."""
    status, out, err = soak("--against", "maybe-guard", *args)
    assert (status, out) == (2, "")
    assert err.count("\n") == 1 and err.startswith(f"soak: {option}: "), err


def test_unavailable_live_kernel_is_one_line(soak: RunSoak,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """``--against live`` where the kernel cannot serve: the backend's own reason, one line."""
    import pytest_anonvma.live as live

    monkeypatch.setattr(live, "live_unavailable_reason", lambda: "not Linux (test)")
    status, out, err = soak("--against", "live", "--sequences", "1")
    assert (status, out) == (2, "")
    assert err == "soak: --against live: the running kernel cannot serve: not Linux (test)\n"


def test_disagreement_that_does_not_replay_is_reported_unshrunk() -> None:
    """A flaky model disagrees once: the replay for shrinking agrees, so the sequence is
    reported as first seen, marked as not reproduced (and still counted)."""
    import soak_toys

    soak_toys.ForgetfulOnce.made = 0
    runner = Soak(registry.resolve("maybe-guard"),
                  {"flaky": registry.resolve("soak_toys:ForgetfulOnce")}, oracle_name="mg")
    result = runner.run(seed=1, count=1)
    [found] = result.disagreements
    assert not found.reproduced
    assert found.failure is found.originals["flaky"]
    assert len(found.case.steps) > found.failure.index  # the prefix up to the disagreement
    assert "NOT shrunk" in disagreement_report(found, "mg", "rerun")


def test_sequences_are_the_generated_cases_restricted_as_asked() -> None:
    """Sequence ``n`` of seed ``S`` is generated case ``gen-S-n`` (the plugin's, unchanged by
    default); ``--steps`` fixes its operations, ``--memory`` the memory its mmaps map."""
    from pytest_anonvma.cases.steps import Memfd, Mmap
    from pytest_anonvma.generate.generator import generate_case
    from pytest_anonvma.soak.cli import MEMORY

    oracle, models = registry.resolve("maybe-guard"), {"m": registry.resolve("reference")}
    assert Soak(oracle, models).sequence(9, 4) == generate_case(9, 4)
    for memory, shared_ok in (("private", False), ("anonymous", True)):
        soak = Soak(oracle, models, length=7, kinds=MEMORY[memory])
        for n in range(20):
            steps = soak.sequence(9, n).steps
            assert len([s for s in steps if not isinstance(s, Memfd)]) == 7
            mmaps = [s for s in steps if isinstance(s, Mmap)]
            assert all(s.file is None and (shared_ok or not s.shared) for s in mmaps)
