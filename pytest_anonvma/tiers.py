"""The conformance tiers, written once: their names in report order, each with what it checks.

docs/spec.md §5 describes each tier; the report counts outcomes per tier in this order (tests of
a tier not listed here come after, alphabetically), and case files may name the
:data:`CASE_TIERS`. A test says its tier with the marker ``anonvma_tier(NAME)``.
"""

from __future__ import annotations

__all__ = [
    "CASE_TIERS",
    "EXPLORE",
    "GENERATED",
    "GENERATED_TIERS",
    "GUARD",
    "HARNESS",
    "INTERLEAVE",
    "LAYOUT",
    "PATCH",
    "TIERS",
]

GUARD = "guard"
LAYOUT = "layout"
PATCH = "patch"
HARNESS = "harness"
GENERATED = "generated"
EXPLORE = "explore"
INTERLEAVE = "interleave"

#: every tier in report order, with what its tests check (docs/spec.md §5.1-§5.7)
TIERS: dict[str, str] = {
    GUARD: "page states, protections and touch outcomes every correct design and the kernel share",
    LAYOUT: "the VMA list (boundaries, flags, pgoff) after each step, per design",
    PATCH: "the anon_vma flag's accessors, lifecycle, allocation counts, fork copies, retraction",
    HARNESS: "the port of the kernel's tools/testing/vma harness on each model's mm/vma.c",
    GENERATED: "seeded random sequences in lockstep with the bundled reference, judged by oracles",
    EXPLORE: "a hypothesis state machine over the generated operations (--anonvma-explore)",
    INTERLEAVE: "every interleaving the kernel's locks allow of two or three threads' calls",
}
#: the tiers a case file may name (the conformance/cases corpus and the interleave cases); the
#: others are tests of their own
CASE_TIERS = (GUARD, LAYOUT, PATCH, INTERLEAVE)
#: the tiers of generated tests (seeded cases, the explorer); every other tier is curated
GENERATED_TIERS = (GENERATED, EXPLORE)
