"""Each list of the project is written once and read everywhere (issue 12, item 3).

The designs (``designs.DESIGNS``: a new design is a policy module and one registration), the
tiers (``tiers.TIERS``), the capabilities and stats counters (``capabilities``), the eras and the
kernel's values (``constants``) and the report formats (the renderers' suffixes).
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_anonvma import capabilities, constants, registry, tiers
from pytest_anonvma.cases import schema, steps
from pytest_anonvma.designs import DESIGNS, Design, register
from pytest_anonvma.designs.baseline import Baseline
from pytest_anonvma.designs.reference import Reference

ROOT = Path(__file__).resolve().parents[1]

#: a design of its own, registered by a plugin loaded before ``anonvma`` adds its options
THROWAWAY_PLUGIN = """
from pytest_anonvma.constants import ERA_6_18
from pytest_anonvma.designs import register
from pytest_anonvma.designs.baseline import Baseline


class Throwaway(Baseline):
    name = "throwaway"
    default_era = ERA_6_18


register(Throwaway)
"""


class Throwaway(Baseline):
    """baseline's policy under another name, native to the other era."""

    name = "throwaway"
    default_era = constants.ERA_6_18


@pytest.fixture
def throwaway() -> Iterator[type[Design]]:
    """:class:`Throwaway` registered for the test, forgotten after it."""
    register(Throwaway)
    try:
        yield Throwaway
    finally:
        del DESIGNS[Throwaway.name]


def test_a_registered_design_is_an_implementation_and_a_case_design(
    throwaway: type[Design],
) -> None:
    """One ``register`` call makes the design loadable (on its own era or another) and
    nameable in a case file's ``designs``."""
    assert "throwaway" in registry.implementations()
    mm = registry.load("throwaway")
    assert (mm.design, mm.era) == ("throwaway", "6.18")  # type: ignore[attr-defined]
    assert registry.load("throwaway@2025-03").era == "2025-03"  # type: ignore[attr-defined]
    document = {"case": [{"id": "x", "about": "a", "source": "s", "tier": "guard",
                          "needs": [], "designs": ["throwaway"], "steps": "read 0"}]}
    assert schema.validate(document) == []
    designs = schema.case_file_schema()["$defs"]["case"]["properties"]["designs"]
    assert "throwaway" in designs["items"]["enum"]


def test_an_unregistered_design_is_unknown() -> None:
    """Without the registration the name is nowhere (the fixture above leaves nothing)."""
    assert "throwaway" not in registry.implementations()
    document = {"case": [{"id": "x", "about": "a", "source": "s", "tier": "guard",
                          "needs": [], "designs": ["throwaway"], "steps": "read 0"}]}
    assert [where for where, _ in schema.validate(document)] == ["case[0].designs[0]"]


def test_the_options_help_names_a_registered_design(pytester: pytest.Pytester) -> None:
    """``--anonvma-impl``'s help lists the designs registered when the options are added."""
    pytester.makepyfile(throwaway_design=THROWAWAY_PLUGIN)
    result = pytester.runpytest_subprocess("-p", "throwaway_design", "-p", "anonvma", "--help")
    assert result.ret == 0
    text = " ".join(result.stdout.str().split())
    impl_help = text[text.index("--anonvma-impl=") : text.index("--anonvma-", text.index(
        "--anonvma-impl=") + 1)]
    assert "reference, baseline, rfc-v1, maybe-guard, throwaway, live" in impl_help


class _Abstract(Design):
    name = "abstract"
    default_era = constants.ERA_2025_03


def _named(name: object, era: object = constants.ERA_2025_03) -> type[Design]:
    return type("Named", (Baseline,), {"name": name, "default_era": era})


@pytest.mark.parametrize(
    ("cls", "error", "message"),
    [
        (Baseline(), TypeError, "is not a Design subclass"),
        (_Abstract, TypeError, "does not implement guard_install_begin, guard_install_end"),
        (_named("Bad_Name"), ValueError, "name must be a kebab-case str, got 'Bad_Name'"),
        (_named("bad\n"), ValueError, "name must be a kebab-case str"),
        (_named(None), ValueError, "name must be a kebab-case str, got None"),
        (_named("live"), ValueError, "name 'live' is reserved"),
        (_named("2025-03"), ValueError, "name '2025-03' is reserved"),
        (_named("new", "5.0"), ValueError, "default_era must be one of 2025-03, 6.18, got '5.0'"),
        (_named("reference"), ValueError, "name 'reference' is already Reference's"),
    ],
    ids=["instance", "abstract", "name", "newline", "no-name", "live", "era-name", "era",
         "taken"],
)
def test_register_rejects_what_is_no_design(cls: object, error: type, message: str) -> None:
    """A bad registration is one clear error naming the class and what is wrong; nothing is
    added."""
    before = dict(DESIGNS)
    with pytest.raises(error, match=re.escape(message)):
        register(cls)  # type: ignore[arg-type]
    assert before == DESIGNS


def test_registering_a_design_again_changes_nothing() -> None:
    before = list(DESIGNS.items())
    register(Reference)
    assert list(DESIGNS.items()) == before


def test_the_bundled_designs_and_the_soak_defaults() -> None:
    """Four bundled designs in report order; the soak compares those without known hazards
    (rfc-v1 loses markers: docs/spec.md §4)."""
    from pytest_anonvma.soak.cli import DEFAULT_MODELS

    assert list(DESIGNS) == ["baseline", "rfc-v1", "reference", "maybe-guard"]
    assert DEFAULT_MODELS.split(",") == ["baseline", "reference", "maybe-guard"]


def test_designs_and_schema_load_no_model() -> None:
    """The design registry, the schema and the options are read at plugin load: no model."""
    script = (
        "import sys\n"
        "import pytest_anonvma.designs, pytest_anonvma.registry, pytest_anonvma.cases.schema\n"
        "import pytest_anonvma.options\n"
        "print(sorted(m for m in sys.modules if m.startswith('pytest_anonvma.model')))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60, check=True)
    assert run.stdout.split() == ["[]"]


def test_the_lists_are_the_same_objects() -> None:
    """Every module that offers a list offers the one list."""
    from pytest_anonvma.model import engine, mm_types

    assert schema.CAPABILITIES is capabilities.CAPABILITIES
    assert steps.STATS_KEYS is engine.STATS_KEYS is capabilities.STATS_KEYS
    assert schema.DESIGNS is DESIGNS
    assert schema.ERAS is mm_types.ERAS is constants.ERAS
    assert mm_types.VM_FLAG_NAMES is constants.VM_FLAG_NAMES


def test_report_suffixes_are_the_renderers() -> None:
    """``--anonvma-report`` accepts exactly the suffixes a renderer exists for, and says so."""
    from pytest_anonvma import options, report

    assert report.REPORT_SUFFIXES == (".json", ".html", ".md")
    with pytest.raises(pytest.UsageError, match=r"must end in \.json, \.html, \.md"):
        options._report("out.txt")


def test_every_capability_in_use_is_listed() -> None:
    """What the model, the live kernel, the step kinds and the explorer declare or need are
    words of the one capability list; the model shows all but ``guard-flag``."""
    from pytest_anonvma.generate.generator import EXPLORER_NEEDS
    from pytest_anonvma.live.mm import KERNEL_CAPABILITIES
    from pytest_anonvma.model.engine import BASE_CAPABILITIES

    known = set(capabilities.CAPABILITIES)
    used = {*KERNEL_CAPABILITIES, *BASE_CAPABILITIES, *EXPLORER_NEEDS, *steps.VMA_FIELDS.values()}
    for kind in steps.STEP_KINDS:
        used |= kind.needs
    assert used <= known
    assert known - BASE_CAPABILITIES == {"guard-flag"}


def test_the_contract_documents_every_capability() -> None:
    """docs/contract.md's capability table is :data:`capabilities.CAPABILITIES`, meaning for
    meaning (links reduced to their text)."""
    text = (ROOT / "docs" / "contract.md").read_text()
    rows = re.findall(r"^\| `([a-z_-]+)` \| (.*) \|$", text, re.M)
    documented = {name: re.sub(r"\[([^]]*)\]\([^)]*\)", r"\1", meaning) for name, meaning in rows}
    assert documented == capabilities.CAPABILITIES


def test_explorer_needs_cover_every_generated_case() -> None:
    """The explorer's needs, derived from the step kinds the builder writes, cover what the
    generated cases need (each case's ``needs`` comes from its steps)."""
    from pytest_anonvma.generate.generator import EXPLORER_NEEDS, generate_case

    needs = set().union(*(generate_case(7, n).needs for n in range(40)))
    assert needs == EXPLORER_NEEDS


def test_the_spec_describes_the_tiers_in_report_order() -> None:
    """docs/spec.md §5.1-§5.7 are the tiers, in :data:`tiers.TIERS` order."""
    text = (ROOT / "docs" / "spec.md").read_text()
    assert re.findall(r"^### §5\.\d+ (\S+)$", text, re.M) == list(tiers.TIERS)
    assert set(tiers.CASE_TIERS) <= set(tiers.TIERS)
    assert set(tiers.GENERATED_TIERS) <= set(tiers.TIERS)


#: prints the tier marker of every collected test
TIER_DUMP = """
def pytest_collection_finish(session):
    found = {m.args[0] for item in session.items for m in item.iter_markers("anonvma_tier")}
    print("TIERS:", ",".join(sorted(found)))
"""


def test_every_collected_tier_is_listed(pytester: pytest.Pytester) -> None:
    """The bundled suite's tests are marked only with tiers of the one list."""
    pytester.makepyfile(tier_dump=TIER_DUMP)
    result = pytester.runpytest_subprocess(
        "-p", "tier_dump", "-p", "anonvma", "--anonvma-impl=reference", "--anonvma-generated=1",
        "--co", "-q", "-p", "no:cacheprovider",
    )
    line = next(x for x in result.stdout.lines if x.startswith("TIERS:"))
    found = set(line.removeprefix("TIERS:").strip().split(","))
    assert found <= set(tiers.TIERS)
    assert {"guard", "layout", "patch", "harness", "generated", "interleave"} <= found
