"""Choosing implementations: ``--anonvma-impl`` specs to :class:`Implementation` objects."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import pytest

from pytest_anonvma import registry
from pytest_anonvma.conformity import not_an_address_space, shown
from pytest_anonvma.constants import ERA_2025_03
from pytest_anonvma.contract import MM
from pytest_anonvma.designs import DESIGNS
from pytest_anonvma.timeouts import ImplementationTimeout, time_limit

__all__ = [
    "BUNDLED",
    "DEFAULT_ERA",
    "BrokenImplementation",
    "Implementation",
    "hook_implementations",
    "missing_method",
    "select_implementations",
]

#: the bundled designs, in report order (``--anonvma-impl=all`` starts with them)
BUNDLED: tuple[str, ...] = tuple(DESIGNS)
#: the era assumed for a model without an ``era`` attribute (the patch's own)
DEFAULT_ERA = ERA_2025_03
#: the design assumed for a model without a ``design`` attribute
DEFAULT_DESIGN = "reference"


@dataclass(frozen=True)
class _Probe:
    capabilities: frozenset[str]
    design: str
    era: str
    cls: type


class BrokenImplementation(Exception):
    """Reading what an unusable implementation declares (a new exception each time, so no
    traceback grows from test to test); ``str()`` is :attr:`Implementation.broken`."""


#: the longest exception message quoted in a one-line error
_MESSAGE_LIMIT = 300


def _one_line(exc: BaseException) -> str:
    """``Type: message``, the message's first line only, at most :data:`_MESSAGE_LIMIT` long."""
    try:
        lines = str(exc).strip().splitlines()
    except Exception:  # an exception whose message cannot be made
        lines = ["(its message cannot be shown)"]
    text = lines[0] if lines else ""
    if len(text) > _MESSAGE_LIMIT:
        text = text[:_MESSAGE_LIMIT] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass(eq=False)
class Implementation:
    """One selected implementation: the value of the ``anonvma_impl`` fixture.

    ``capabilities``, ``design`` and ``era`` come from one probe instance made (and closed)
    once, by :meth:`probe` (the plugin probes every implementation at configure time). If it
    cannot be made, or is not an address space, the implementation is :attr:`broken` and
    reading them raises :class:`BrokenImplementation`.
    """

    #: the name in test ids: the spec as given (``reference``, ``rfc-v1@6.18``, ``pkg.mod:Cls``)
    name: str
    #: zero-argument callable returning a new empty MM
    factory: Callable[[], MM]
    #: one of the bundled designs by its plain name (its bundled xfail list applies)
    bundled: bool = False
    #: the probe, or why the implementation cannot be used; None until probed
    _probe: _Probe | str | None = field(default=None, repr=False)

    def probe(self, timeout: float = 0.0) -> str | None:
        """Make (and close) one address space unless done already; why the implementation
        cannot be used (one line), or None. ``timeout``: seconds allowed (0: no limit)."""
        if self._probe is None:
            self._probe = self._make_probe(timeout)
        return self._probe if isinstance(self._probe, str) else None

    @property
    def broken(self) -> str | None:
        """Why the implementation cannot be used, one line naming it (None: it can)."""
        return self.probe()

    def _probed(self) -> _Probe:
        probe = self._probe if isinstance(self._probe, _Probe) else None
        if probe is None:
            raise BrokenImplementation(self.broken)
        return probe

    def _make_probe(self, timeout: float) -> _Probe | str:
        where = f"implementation {self.name!r} cannot be used"
        limit = f"{where}: making and closing an address space took over {timeout:g}s"
        step = "its factory"
        try:
            with time_limit(timeout, limit):
                mm = self.factory()
                step = "reading its attributes"
                problem = not_an_address_space(mm)
                if problem is not None:
                    return f"{where}: its factory returned {shown(mm)}: {problem}"
                probe = _Probe(
                    capabilities=frozenset(getattr(mm, "capabilities", ())),
                    design=str(getattr(mm, "design", DEFAULT_DESIGN)),
                    era=str(getattr(mm, "era", DEFAULT_ERA)),
                    cls=type(mm),
                )
                step = "closing its address space"
                mm.close()
                return probe
        except ImplementationTimeout:
            return f"{limit} (--anonvma-timeout={timeout:g})"
        except (Exception, SystemExit) as exc:
            return f"{where}: {step} raised {_one_line(exc)}"

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

        Nothing is skipped for a :attr:`broken` implementation: the plugin fails the test.
        """
        if self.broken is not None:
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
            made_by_impl = impl.broken is None and isinstance(obj, impl.mm_class)
            mm_like = name in _MM_MEMBERS and any(hasattr(obj, m) for m in ("mmap", "vmas"))
            if made_by_impl or mm_like:
                return (
                    f"implementation {impl.name!r} does not provide {name!r}: "
                    f"{type(obj).__qualname__} has no attribute {name!r} (needed by this test)"
                )
        current = current.__cause__ or current.__context__
    return None


#: characters of the ``--anonvma-impl`` syntax: separators, ``name@era``, ``module:attr``
_RESERVED_CHARS = frozenset(",@:")


def _invalid_name(name: object) -> str | None:
    """Why ``name`` cannot name an implementation in ``--anonvma-impl`` (None: it can)."""
    if not isinstance(name, str):
        return f"{shown(name)} is not a str"
    if not name:
        return "'' is empty"
    if name == "all":
        return "'all' is reserved for every implementation"
    bad = sorted({c for c in name if c.isspace() or c in _RESERVED_CHARS})
    if bad:
        return f"{name!r} contains {' '.join(map(repr, bad))}, which --anonvma-impl reads as syntax"
    return None



def _hook_results(config: pytest.Config) -> Iterator[tuple[str, object]]:
    """Each plugin's ``pytest_anonvma_implementations`` result with the plugin's name, in hook
    call order; one that raises is a usage error naming the plugin."""
    hook = config.pluginmanager.hook.pytest_anonvma_implementations
    kwargs = {"config": config}
    for impl in reversed(hook.get_hookimpls()):
        try:
            result = impl.function(*(kwargs[arg] for arg in impl.argnames))
        except Exception as exc:
            raise pytest.UsageError(
                f"pytest_anonvma_implementations of plugin {impl.plugin_name!r} raised "
                f"{_one_line(exc)}"
            ) from None
        yield impl.plugin_name, result


def hook_implementations(config: pytest.Config) -> dict[str, Callable[[], MM]]:
    """Merge every ``pytest_anonvma_implementations`` result; a hook that raises, a result
    that is not ``{name: factory}``, an invalid name or a name twice is a usage error naming
    the plugin."""
    merged: dict[str, Callable[[], MM]] = {}
    for plugin, result in _hook_results(config):
        where = f"pytest_anonvma_implementations of plugin {plugin!r}"
        if result is None:
            continue
        if not isinstance(result, Mapping):
            raise pytest.UsageError(
                f"{where} must return {{name: factory}}, not {type(result).__name__}"
            )
        for name, factory in result.items():
            problem = _invalid_name(name)
            if problem is not None:
                raise pytest.UsageError(f"{where}: invalid implementation name: {problem}")
            if name in merged and merged[name] is not factory:
                raise pytest.UsageError(f"{where}: implementation {name!r} returned twice")
            if not callable(factory):
                raise pytest.UsageError(f"{where}: implementation {name!r} is not callable")
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


def select_implementations(
    config: pytest.Config, specs: Iterable[str], timeout: float = 0.0
) -> list[Implementation]:
    """The implementations named by ``specs`` in order, ``all`` expanded, duplicates dropped,
    each probed once (``timeout``: seconds per probe, 0 for none).

    Unknown names, and a selection whose every implementation is :attr:`~Implementation.broken`,
    raise ``pytest.UsageError`` (exit code 4, one line). A broken implementation beside usable
    ones stays selected: the plugin fails each of its tests with the same short message.
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
    impls = [
        Implementation(name=name, factory=_resolve(name, hooked, known), bundled=name in BUNDLED)
        for name in names
    ]
    broken = [problem for impl in impls if (problem := impl.probe(timeout)) is not None]
    if impls and len(broken) == len(impls):
        raise pytest.UsageError(f"--anonvma-impl: {'; '.join(broken)}")
    return impls
