"""The held-out check, against the running kernel: seeded random sequences over anonymous
memory in the arena agree between ``live`` and every correct model after every step.

After each step, for the parent and every fork child: each page's protection (or that nothing
is mapped) and page-table state, and the step's result (value read, errno, SIGSEGV), between
live and reference, maybe-guard and baseline (each on the kernel's era, 6.18); and the VMA
layout (boundaries, protection, VM_MAYBE_GUARD and the other compared flags) between live and
maybe-guard, the design this kernel carries. The two design differences the soak allows are
described in ``pytest_anonvma.soak.compare`` and ``pytest_anonvma.soak.drive`` (which fork
copies page tables; an mremap that goes two ways on differently merged VMAs).
"""

from __future__ import annotations

import pytest

from pytest_anonvma.live import LiveMM, live_unavailable_reason
from pytest_anonvma.soak.cli import MEMORY, resolve_models
from pytest_anonvma.soak.report import disagreement_report
from pytest_anonvma.soak.session import Soak

SEQUENCES = 200
SEED = 20251126


@pytest.fixture
def live_oracle() -> type[LiveMM]:
    """The live backend, or a skip with its one-line reason (or because the kernel does not
    carry the maybe-guard design the layout comparison needs)."""
    reason = live_unavailable_reason()
    if reason:
        pytest.skip(reason)
    with LiveMM() as probe:
        if (probe.design, probe.era) != ("maybe-guard", "6.18"):
            pytest.skip(f"the kernel shows design {probe.design}@{probe.era}, not "
                        "maybe-guard@6.18 (VM_MAYBE_GUARD): the check is written for 6.18")
    return LiveMM


@pytest.mark.parametrize("memory", ["anonymous", "all"])
def test_live_agrees_with_every_correct_model(live_oracle: type[LiveMM], memory: str) -> None:
    """Zero disagreements over the seeded sequences (anonymous memory: the held-out check;
    all memory kinds the generator maps: memfds too)."""
    models = resolve_models("reference,maybe-guard,baseline", "6.18")
    soak = Soak(live_oracle, models, kinds=MEMORY[memory])
    result = soak.run(SEED, SEQUENCES)
    reports = [disagreement_report(d, "live", f"seed {SEED}, sequence {d.n}")
               for d in result.disagreements]
    assert not reports, "\n\n".join(reports)
    assert result.sequences == SEQUENCES and result.steps >= 10 * SEQUENCES


def test_live_soak_command(live_oracle: type[LiveMM], capsys: pytest.CaptureFixture[str]) -> None:
    """The command against the kernel: exit status 0 and the summary line."""
    from pytest_anonvma.__main__ import main

    assert main(["soak", "--against", "live", "--sequences", "5", "--seed", "1",
                 "--memory", "private"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("5 sequences, ") and " 0 disagreements in " in out
