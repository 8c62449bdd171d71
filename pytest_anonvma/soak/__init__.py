"""Differential fuzzing: seeded random sequences on the running kernel and on the models.

``python -m pytest_anonvma soak --against live --models reference,maybe-guard,baseline
--sequences N --seed S`` (:mod:`pytest_anonvma.soak.cli`) plays the generated cases' sequences
on the kernel and on each model, compares them after every step
(:mod:`~pytest_anonvma.soak.compare`: outcomes, page states and protection of every address
space against every model; the VMA layout against the model of the kernel's own design) and
writes each disagreement up as a shrunk, ready-to-paste case and a C reproducer
(:mod:`~pytest_anonvma.soak.report`). The same from Python::

    soak = Soak(LiveMM, {"reference@6.18": av.registry.resolve("reference@6.18")})
    result = soak.run(seed=1, count=100)
    print(result.summary())
"""

from __future__ import annotations

from pytest_anonvma.soak.drive import SoakRun, first_disagreement
from pytest_anonvma.soak.observe import LAYOUT_FLAGS, Observation, observe
from pytest_anonvma.soak.session import Disagreement, Soak, SoakResult, soak_case_id

__all__ = [
    "LAYOUT_FLAGS",
    "Disagreement",
    "Observation",
    "Soak",
    "SoakResult",
    "SoakRun",
    "first_disagreement",
    "observe",
    "soak_case_id",
]
