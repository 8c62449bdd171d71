"""The bundled designs of the guard-region / anon_vma patch: small policies over one engine."""

from __future__ import annotations

from pytest_anonvma.designs.base import Design
from pytest_anonvma.designs.baseline import Baseline
from pytest_anonvma.designs.maybe_guard import MaybeGuard
from pytest_anonvma.designs.reference import Reference
from pytest_anonvma.designs.rfc_v1 import RfcV1

__all__ = ["DESIGNS", "Design", "get_design"]

#: every bundled design by registry name
DESIGNS: dict[str, type[Design]] = {
    cls.name: cls for cls in (Baseline, RfcV1, Reference, MaybeGuard)
}


def get_design(name: str) -> Design:
    """A new instance of the bundled design ``name`` (LookupError listing the known ones)."""
    try:
        return DESIGNS[name]()
    except KeyError:
        known = ", ".join(sorted(DESIGNS))
        raise LookupError(f"unknown design {name!r}; known: {known}") from None
