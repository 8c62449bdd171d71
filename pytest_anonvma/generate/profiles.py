"""The explorer's hypothesis profiles, and the settings an exploration runs with.

* ``anonvma-ci``: derandomized, bounded (``--anonvma-examples`` programs, by default the
  plugin's 50, of at most :data:`CI_STEPS` operations), no example database: the same run
  every time.
* ``anonvma-deep``: many more and longer programs, for a long search
  (``--hypothesis-profile=anonvma-deep``).

Both set no deadline (an implementation may be a slow live process), report one bug and print
hypothesis's ``@reproduce_failure`` line for it. ``--anonvma-explore-db=DIR`` adds an example
database in ``DIR`` (:func:`explorer_settings`): a failure found once is replayed first next time.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, Phase, settings
from hypothesis.database import DirectoryBasedExampleDatabase

from pytest_anonvma.options import DEFAULT_EXAMPLES

__all__ = [
    "CI_PROFILE",
    "CI_STEPS",
    "DEEP_EXAMPLES",
    "DEEP_PROFILE",
    "DEEP_STEPS",
    "PROFILES",
    "explorer_settings",
    "register_profiles",
]

CI_PROFILE, DEEP_PROFILE = "anonvma-ci", "anonvma-deep"
PROFILES = (CI_PROFILE, DEEP_PROFILE)
#: operations per explored program in each profile (a hazard shape counts as one)
CI_STEPS, DEEP_STEPS = 10, 60
#: programs per exploration in the deep profile (unless --anonvma-examples says otherwise)
DEEP_EXAMPLES = 2000


def _register(name: str, derandomize: bool, steps: int, examples: int) -> None:
    settings.register_profile(
        name,
        parent=settings.get_profile("default"),  # not whatever profile is loaded now
        max_examples=examples,
        derandomize=derandomize,
        stateful_step_count=steps,
        deadline=None,
        database=None,
        print_blob=True,
        report_multiple_bugs=False,
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def register_profiles() -> None:
    """Register ``anonvma-ci`` and ``anonvma-deep`` (idempotent)."""
    _register(CI_PROFILE, derandomize=True, steps=CI_STEPS, examples=DEFAULT_EXAMPLES)
    _register(DEEP_PROFILE, derandomize=False, steps=DEEP_STEPS, examples=DEEP_EXAMPLES)


def explorer_settings(profile: str | None, examples: int | None,
                      database: Path | None = None) -> settings:
    """The settings of one exploration: ``profile`` (one of :data:`PROFILES`; the CI profile
    for anything else), with ``max_examples = examples`` when given, and an example database
    in the folder ``database`` when given.

    A database needs ``derandomize`` off (hypothesis refuses both); the exploration stays
    reproducible because the explorer seeds each run itself.
    """
    register_profiles()
    base = settings.get_profile(profile if profile in PROFILES else CI_PROFILE)
    if examples is not None:
        base = settings(base, max_examples=examples)
    if database is not None:
        base = settings(base, derandomize=False,
                        database=DirectoryBasedExampleDatabase(database))
    return base
