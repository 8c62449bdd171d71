"""Choosing implementations: ``--anonvma-impl`` specs to :class:`Implementation` objects."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import pytest

from pytest_anonvma import registry
from pytest_anonvma.contract import MM

__all__ = [
    "BUNDLED",
    "DEFAULT_ERA",
    "Implementation",
    "hook_implementations",
    "missing_method",
    "select_implementations",
]

#: the four bundled designs, in report order (``--anonvma-impl=all`` starts with them)
BUNDLED: tuple[str, ...] = tuple(registry.BUNDLED_DESIGNS)
#: the era assumed for a model without an ``era`` attribute (the patch's own)
DEFAULT_ERA = "2025-03"
#: the design assumed for a model without a ``design`` attribute
DEFAULT_DESIGN = "reference"


@dataclass(frozen=True)
class _Probe:
    capabilities: frozenset[str]
    design: str
    era: str
    cls: type


@dataclass(eq=False)
class Implementation:
    """One selected implementation: the value of the ``anonvma_impl`` fixture.

    ``capabilities``, ``design`` and ``era`` come from one probe instance made (and closed) on
    first use; if making it fails, reading them re-raises that error.
    """

    #: the name in test ids: the spec as given (``reference``, ``rfc-v1@6.18``, ``pkg.mod:Cls``)
    name: str
    #: zero-argument callable returning a new empty MM
    factory: Callable[[], MM]
    #: one of the bundled designs by its plain name (its bundled xfail list applies)
    bundled: bool = False
    _probe: _Probe | BaseException | None = field(default=None, repr=False)

    def _probed(self) -> _Probe:
        if self._probe is None:
            try:
                self._probe = self._make_probe()
            except Exception as exc:
                self._probe = exc
        if isinstance(self._probe, BaseException):
            raise self._probe
        return self._probe

    def _make_probe(self) -> _Probe:
        mm = self.factory()
        try:
            caps: frozenset[str] = frozenset(getattr(mm, "capabilities", ()))
            return _Probe(
                capabilities=caps,
                design=str(getattr(mm, "design", DEFAULT_DESIGN)),
                era=str(getattr(mm, "era", DEFAULT_ERA)),
                cls=type(mm),
            )
        finally:
            close = getattr(mm, "close", None)
            if callable(close):
                close()

    @property
    def probe_error(self) -> BaseException | None:
        """The error making a probe instance raised, or None if it worked."""
        try:
            self._probed()
        except Exception as exc:
            return exc
        return None

    @property
    def capabilities(self) -> frozenset[str]:
        """What the implementation declares it can do (``MM.capabilities``)."""
        return self._probed().capabilities

    @property
    def design(self) -> str:
        """The design family (``MM.design``, ``"reference"`` when absent)."""
        return self._probed().design

    @property
    def era(self) -> str:
        """The kernel era it models (``MM.era``, ``"2025-03"`` when absent)."""
        return self._probed().era

    @property
    def mm_class(self) -> type:
        """The class of the MMs the factory makes."""
        return self._probed().cls

    def missing(self, needs: Iterable[str]) -> list[str]:
        """The capabilities in ``needs`` this implementation lacks, sorted."""
        return sorted(set(needs) - self.capabilities)

    def lacking(self, needs: Iterable[str]) -> str | None:
        """Why a test that needs ``needs`` is skipped on this implementation (None: it runs).

        Nothing is skipped when making the probe MM failed: the test itself fails then.
        """
        if self.probe_error is not None:
            return None
        missing = self.missing(needs)
        if not missing:
            return None
        return f"implementation {self.name!r} lacks capability {', '.join(map(repr, missing))}"

    def __repr__(self) -> str:
        return f"<Implementation {self.name}>"


#: every attribute of the public contract
_MM_MEMBERS = frozenset(
    {name for name in dir(MM) if not name.startswith("_")} | set(MM.__annotations__)
)


def missing_method(exc: BaseException, impl: Implementation) -> str | None:
    """If ``exc`` (or an exception it was raised from) is an AttributeError for a method the
    implementation's MM lacks, a one-line message naming it; else None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, AttributeError) and current.name and current.obj is not None:
            obj, name = current.obj, current.name
            made_by_impl = impl.probe_error is None and isinstance(obj, impl.mm_class)
            mm_like = name in _MM_MEMBERS and any(hasattr(obj, m) for m in ("mmap", "vmas"))
            if made_by_impl or mm_like:
                return (
                    f"implementation {impl.name!r} does not provide {name!r}: "
                    f"{type(obj).__qualname__} has no attribute {name!r} (needed by this test)"
                )
        current = current.__cause__ or current.__context__
    return None


def hook_implementations(config: pytest.Config) -> dict[str, Callable[[], MM]]:
    """Merge every ``pytest_anonvma_implementations`` result; a name twice is a usage error."""
    merged: dict[str, Callable[[], MM]] = {}
    results: list[Mapping[str, Callable[[], MM]] | None] = (
        config.hook.pytest_anonvma_implementations(config=config)
    )
    for result in results:
        if result is not None and not isinstance(result, Mapping):
            raise pytest.UsageError(
                "pytest_anonvma_implementations must return {name: factory}, "
                f"not {type(result).__name__}"
            )
        for name, factory in (result or {}).items():
            if name in merged and merged[name] is not factory:
                raise pytest.UsageError(
                    f"pytest_anonvma_implementations: implementation {name!r} returned twice"
                )
            if not callable(factory):
                raise pytest.UsageError(
                    f"pytest_anonvma_implementations: implementation {name!r} is not callable"
                )
            merged[name] = factory
    return merged


def _expand_all(registered: Iterable[str], hooked: Iterable[str]) -> list[str]:
    third_party = sorted({*registered, *hooked} - {*BUNDLED, "live"})
    return [*BUNDLED, *third_party]


def _resolve(
    spec: str, hooked: Mapping[str, Callable[[], MM]], known: list[str]
) -> Callable[[], MM]:
    if spec in hooked:
        return hooked[spec]
    try:
        return registry.resolve(spec)
    except LookupError as exc:
        if ":" in spec or "@" in spec:
            raise pytest.UsageError(f"--anonvma-impl: {exc}") from None
        raise pytest.UsageError(
            f"--anonvma-impl: unknown implementation {spec!r}; known: {', '.join(known)} "
            "(or all, name@era, package.module:attr)"
        ) from None
    except Exception as exc:
        raise pytest.UsageError(
            f"--anonvma-impl: implementation {spec!r} failed to load: "
            f"{type(exc).__name__}: {exc}"
        ) from None


def select_implementations(config: pytest.Config, specs: Iterable[str]) -> list[Implementation]:
    """The implementations named by ``specs`` in order, ``all`` expanded, duplicates dropped.

    Unknown names raise ``pytest.UsageError`` (exit code 4, one line).
    """
    hooked = hook_implementations(config)
    registered = registry.implementations()
    clash = sorted(set(hooked) & set(registered))
    if clash:
        raise pytest.UsageError(
            f"pytest_anonvma_implementations: {', '.join(map(repr, clash))} "
            "already registered (bundled or entry point)"
        )
    known = sorted({*registered, *hooked})
    names: list[str] = []
    for spec in specs:
        for name in _expand_all(registered, hooked) if spec == "all" else [spec]:
            if name not in names:
                names.append(name)
    return [
        Implementation(name=name, factory=_resolve(name, hooked, known), bundled=name in BUNDLED)
        for name in names
    ]
