"""Generated conformance cases: a seeded generator, oracles, a shrinker and an explorer.

``docs/conformance.md`` describes them. The modules, one job each:

* :mod:`~pytest_anonvma.generate.generator`: seeded operation sequences as cases
  (``generate_case(seed, n)``, id ``gen-<seed>-<n>``), written by a :class:`Builder`;
* :mod:`~pytest_anonvma.generate.perform`: playing one action and recording its outcome;
* :mod:`~pytest_anonvma.generate.shadow`: the independent page-level shadow model;
* :mod:`~pytest_anonvma.generate.oracles`: invariants and the differential comparisons;
* :mod:`~pytest_anonvma.generate.observe`: page states in bulk, what a step can reach;
* :mod:`~pytest_anonvma.generate.trace`: the reference's run of a case, recorded and shared;
* :mod:`~pytest_anonvma.generate.lockstep`: implementation, reference and shadow step by step;
* :mod:`~pytest_anonvma.generate.shrink`: failing prefix, then delta debugging;
* :mod:`~pytest_anonvma.generate.reproduce`: a failure as a ready-to-paste (or saved) case;
* :mod:`~pytest_anonvma.generate.check`: one generated case checked, shrunk and reported;
* :mod:`~pytest_anonvma.generate.explorer` and :mod:`~pytest_anonvma.generate.profiles`: the
  hypothesis state machine and its profiles (import them explicitly: they load hypothesis).
"""

from __future__ import annotations

from pytest_anonvma.generate.check import GeneratedCaseFailure, check_generated
from pytest_anonvma.generate.generator import Builder, generate_case, generated_cases
from pytest_anonvma.generate.lockstep import Lockstep, StepFailure, first_failure
from pytest_anonvma.generate.shrink import shrink

__all__ = [
    "Builder",
    "GeneratedCaseFailure",
    "Lockstep",
    "StepFailure",
    "check_generated",
    "first_failure",
    "generate_case",
    "generated_cases",
    "shrink",
]
