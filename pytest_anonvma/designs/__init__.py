"""The designs of the guard-region / anon_vma patch: small policies over one engine.

:data:`DESIGNS` is the one list of them: the registry's implementations, the case schema's
design names, the options' help and the soak's default models all read it. A new design is a
policy module (a :class:`Design` subclass) and its class in the :func:`register` call below.
Importing this package loads no model code (the designs import the model when they run).
"""

from __future__ import annotations

import inspect
import re

from pytest_anonvma.constants import ERAS
from pytest_anonvma.designs.base import Design
from pytest_anonvma.designs.baseline import Baseline
from pytest_anonvma.designs.maybe_guard import MaybeGuard
from pytest_anonvma.designs.reference import Reference
from pytest_anonvma.designs.rfc_v1 import RfcV1

__all__ = ["DESIGNS", "RESERVED_NAMES", "Design", "get_design", "register"]

#: every registered design by name, in registration order (the bundled ones first)
DESIGNS: dict[str, type[Design]] = {}
#: names a design may not take: the live kernel, ``--anonvma-impl=all`` and the eras (a case's
#: ``designs`` may name eras too)
RESERVED_NAMES = frozenset({"live", "all", *ERAS})
_NAME = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")


def register(*classes: type[Design]) -> None:
    """Add design classes to :data:`DESIGNS` under their ``name``.

    A class must be a concrete :class:`Design` with a kebab-case ``name``, not one of
    :data:`RESERVED_NAMES` nor another class's, and a ``default_era`` in ``constants.ERAS``;
    otherwise ``TypeError`` / ``ValueError`` names the class and what is wrong. Registering a
    class again changes nothing.
    """
    for cls in classes:
        if not (isinstance(cls, type) and issubclass(cls, Design)):
            raise TypeError(f"register(): {cls!r} is not a Design subclass")
        where = f"design class {cls.__qualname__}"
        if inspect.isabstract(cls):
            missing = ", ".join(sorted(getattr(cls, "__abstractmethods__", ())))
            raise TypeError(f"{where} does not implement {missing}")
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ValueError(f"{where}: name must be a kebab-case str, got {name!r}")
        if name in RESERVED_NAMES:
            raise ValueError(f"{where}: name {name!r} is reserved (an era, live or all)")
        era = getattr(cls, "default_era", None)
        if era not in ERAS:
            raise ValueError(f"{where}: default_era must be one of {', '.join(ERAS)}, got {era!r}")
        if DESIGNS.get(name, cls) is not cls:
            raise ValueError(f"{where}: name {name!r} is already {DESIGNS[name].__qualname__}'s")
        DESIGNS[name] = cls


register(Baseline, RfcV1, Reference, MaybeGuard)


def get_design(name: str) -> Design:
    """A new instance of the design ``name`` (LookupError listing the known ones)."""
    try:
        return DESIGNS[name]()
    except KeyError:
        known = ", ".join(sorted(DESIGNS))
        raise LookupError(f"unknown design {name!r}; known: {known}") from None
