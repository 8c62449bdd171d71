"""Finding implementations: the bundled designs, entry points, and ``package.module:attr`` specs."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from pytest_anonvma.constants import ERAS
from pytest_anonvma.contract import MM
from pytest_anonvma.designs import DESIGNS

__all__ = ["ENTRY_POINT_GROUP", "implementations", "load", "resolve"]

#: third-party packages register zero-argument MM factories under this entry-point group
ENTRY_POINT_GROUP = "pytest_anonvma.implementations"


def _design_factory(design: str, era: str) -> Callable[[], MM]:
    def factory() -> MM:
        from pytest_anonvma.model.engine import ModelMM

        return ModelMM(design=design, era=era)

    factory.__name__ = f"{design}@{era}"
    factory.__qualname__ = factory.__name__
    factory.__doc__ = f"A new empty address space of design {design!r} on era {era!r}."
    return factory


def _live_factory() -> MM:
    from pytest_anonvma.live import LiveMM

    return LiveMM()


def implementations() -> dict[str, Callable[[], MM]]:
    """Every registered implementation: the designs (``designs.DESIGNS``), ``live``, and entry
    points.

    Each value is a zero-argument factory giving a new empty address space. A design on its
    non-native era is available through :func:`load` as ``"name@era"``.
    """
    impls: dict[str, Callable[[], MM]] = {
        name: _design_factory(name, cls.default_era) for name, cls in DESIGNS.items()
    }
    impls["live"] = _live_factory
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        impls.setdefault(ep.name, _entry_point_factory(ep))
    return impls


def _entry_point_factory(ep: Any) -> Callable[[], MM]:
    where = f"entry point {ep.name!r} ({ep.value})"

    def factory() -> MM:
        try:
            target = ep.load()
        except Exception as exc:
            raise ImportError(f"{where} failed to load: {type(exc).__name__}: {exc}") from exc
        return _instantiate(target, where)

    factory.__name__ = ep.name
    return factory


def _instantiate(target: Any, where: str) -> MM:
    if not callable(target):
        raise TypeError(f"{where} is not callable (got {type(target).__name__})")
    mm: MM = target()
    return mm


def resolve(spec: str) -> Callable[[], MM]:
    """The factory for ``spec`` without calling it (see :func:`load` for the spellings)."""
    if not isinstance(spec, str) or not spec.strip():
        raise TypeError(f"implementation spec must be a non-empty string, got {spec!r}")
    spec = spec.strip()
    if ":" in spec:
        return _import_factory(spec)
    impls = implementations()
    if spec in impls:
        return impls[spec]
    name, sep, era = spec.partition("@")
    if sep and name in DESIGNS:
        if era not in ERAS:
            raise LookupError(f"unknown era {era!r} in {spec!r}; known eras: {', '.join(ERAS)}")
        return _design_factory(name, era)
    known = ", ".join(sorted(impls))
    raise LookupError(
        f"unknown implementation {spec!r}; known: {known} "
        "(or name@era, or package.module:attr)"
    )


def _import_factory(spec: str) -> Callable[[], MM]:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise LookupError(f"implementation {spec!r}: expected package.module:attr")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise LookupError(f"implementation {spec!r}: cannot import {module_name!r}: {exc}") from exc
    target: Any = module
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise LookupError(
                f"implementation {spec!r}: module {module_name!r} has no attribute {attr!r}"
            ) from None
    if not callable(target):
        raise LookupError(f"implementation {spec!r}: {attr!r} is not a factory or class")

    def factory() -> MM:
        return _instantiate(target, f"implementation {spec!r}")

    factory.__name__ = spec
    return factory


def load(spec: str) -> MM:
    """A new MM from ``spec``: a registered name, ``name@era``, or ``package.module:attr``.

    Unknown names raise :class:`LookupError` listing the known ones.
    """
    return resolve(spec)()
