"""The plugin's command-line options and ini key, and their validated values (:class:`Settings`)."""

from __future__ import annotations

import os
import re
import secrets
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = [
    "DEFAULT_EXAMPLES",
    "DEFAULT_GENERATED",
    "DEFAULT_IMPL",
    "DEFAULT_TIMEOUT",
    "REPORT_SUFFIXES",
    "SETTINGS_KEY",
    "Settings",
    "add_options",
    "default_seed",
    "get_settings",
    "read_settings",
]

DEFAULT_IMPL = "reference"
DEFAULT_TIMEOUT = 30.0
DEFAULT_GENERATED = 500
DEFAULT_EXAMPLES = 50
REPORT_SUFFIXES = (".json", ".html", ".md")


@dataclass(frozen=True)
class Settings:
    """Every ``--anonvma-*`` value after validation (``read_settings``)."""

    #: implementation specs in the order given (``all`` not yet expanded)
    impl_specs: tuple[str, ...]
    xfail_files: tuple[Path, ...]
    seed: int
    #: how the seed was chosen: "option", "random" or "default"
    seed_source: str
    generated: int
    examples: int
    #: seconds per test phase; 0 disables the limit
    timeout: float
    report: Path | None
    conformance: bool
    harness_summary: bool
    explore: bool
    save_failures: Path | None
    export_c: Path | None


def add_options(parser: pytest.Parser) -> None:
    """Declare every option in the ``anonvma`` group and the ``anonvma_impl`` ini key."""
    group = parser.getgroup("anonvma", "anonvma conformance (pytest-anonvma)")
    group.addoption(
        "--anonvma-impl",
        action="append",
        default=[],
        metavar="SPEC[,SPEC...]",
        help="implementations to check: a registered name (reference, baseline, rfc-v1, "
        "maybe-guard, live, entry points, hook names), name@era, package.module:attr, "
        f"or 'all' (the bundled designs and third-party ones). Default: ini anonvma_impl, "
        f"else {DEFAULT_IMPL}.",
    )
    group.addoption(
        "--anonvma-xfail-file",
        action="append",
        default=[],
        metavar="PATH",
        help="expected failures: one node id or id prefix a line, a reason after it, "
        "'#' comments (multi-allowed; strict: an unexpected pass fails)",
    )
    group.addoption(
        "--anonvma-seed",
        default=None,
        metavar="N|random",
        help="seed for generated cases and randomness (default: fixed per plugin version)",
    )
    group.addoption(
        "--anonvma-generated",
        default=None,
        metavar="N",
        help=f"number of generated cases (default {DEFAULT_GENERATED}; 0 disables them)",
    )
    group.addoption(
        "--anonvma-examples",
        default=None,
        metavar="N",
        help=f"hypothesis examples per property test (default {DEFAULT_EXAMPLES})",
    )
    group.addoption(
        "--anonvma-timeout",
        default=None,
        metavar="SECONDS",
        help=f"time limit per test phase of an implementation (default {DEFAULT_TIMEOUT:g}; "
        "0 disables)",
    )
    group.addoption(
        "--anonvma-report",
        default=None,
        metavar="PATH",
        help="write the conformance report to PATH (.json, .html or .md)",
    )
    group.addoption(
        "--anonvma-conformance",
        action="store_true",
        default=False,
        help="also run the bundled conformance suite when paths are given",
    )
    group.addoption(
        "--anonvma-harness-summary",
        action="store_true",
        default=False,
        help="print the kernel harness's 'N tests run, M passed, K failed.' line",
    )
    group.addoption(
        "--anonvma-explore",
        action="store_true",
        default=False,
        help="explore generated step sequences beyond the fixed corpus",
    )
    group.addoption(
        "--anonvma-save-failures",
        default=None,
        metavar="DIR",
        help="save each failing generated case as a case file in DIR",
    )
    group.addoption(
        "--anonvma-export-c",
        default=None,
        metavar="DIR",
        help="export the cases as C selftest programs into DIR",
    )
    parser.addini(
        "anonvma_impl",
        help="default implementations for --anonvma-impl (comma-separated; "
        f"default {DEFAULT_IMPL})",
        type="string",
        default="",
    )


def default_seed() -> int:
    """The seed used without ``--anonvma-seed``: fixed for a given plugin version."""
    from pytest_anonvma import __version__

    return zlib.crc32(f"pytest-anonvma {__version__}".encode())


def _split_specs(values: list[str]) -> tuple[str, ...]:
    specs: list[str] = []
    for value in values:
        for spec in re.split(r"[,\s]+", value):
            if spec and spec not in specs:
                specs.append(spec)
    return tuple(specs)


def _whole_number(option: str, raw: str | None, default: int, minimum: int = 0) -> int:
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise pytest.UsageError(f"{option}: expected a whole number, got {raw!r}") from None
    if value < minimum:
        raise pytest.UsageError(f"{option}: expected a number >= {minimum}, got {raw!r}")
    return value


def _seed(raw: str | None) -> tuple[int, str]:
    if raw is None:
        return default_seed(), "default"
    if raw == "random":
        return secrets.randbelow(2**32), "random"
    return _whole_number("--anonvma-seed", raw, 0), "option"


def _timeout(raw: str | None) -> float:
    if raw is None:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        raise pytest.UsageError(
            f"--anonvma-timeout: expected seconds, got {raw!r}"
        ) from None
    if not value >= 0 or value == float("inf"):
        raise pytest.UsageError(f"--anonvma-timeout: expected seconds >= 0, got {raw!r}")
    return value


def _report(raw: str | None) -> Path | None:
    if raw is None:
        return None
    path = Path(raw)
    if path.suffix.lower() not in REPORT_SUFFIXES:
        raise pytest.UsageError(
            f"--anonvma-report: {raw!r} must end in {', '.join(REPORT_SUFFIXES)}"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise pytest.UsageError(
            f"--anonvma-report: cannot create the directory of {raw!r}: {exc.strerror or exc}"
        ) from None
    if path.is_dir() or not os.access(path.parent, os.W_OK):
        raise pytest.UsageError(f"--anonvma-report: cannot write {raw!r}")
    return path


def _optional_dir(raw: str | None) -> Path | None:
    return None if raw is None else Path(raw)


SETTINGS_KEY = pytest.StashKey[Settings]()


def get_settings(config: pytest.Config) -> Settings:
    """The run's settings (available from ``pytest_configure`` on, while the plugin is active).

    Other modules read sizes and the seed here, e.g. ``get_settings(config).generated``.
    """
    return config.stash[SETTINGS_KEY]


def read_settings(config: pytest.Config) -> Settings:
    """Validate every option; bad values raise ``pytest.UsageError`` naming the option.

    On an xdist worker the seed comes from the controller (``workerinput``).
    """
    opt = config.getoption
    impl_values: list[str] = opt("anonvma_impl") or [str(config.getini("anonvma_impl"))]
    specs = _split_specs(impl_values) or (DEFAULT_IMPL,)
    seed, seed_source = _seed(opt("anonvma_seed"))
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and "anonvma_seed" in workerinput:
        seed, seed_source = workerinput["anonvma_seed"], workerinput["anonvma_seed_source"]
    return Settings(
        impl_specs=specs,
        xfail_files=tuple(Path(p) for p in opt("anonvma_xfail_file")),
        seed=seed,
        seed_source=seed_source,
        generated=_whole_number("--anonvma-generated", opt("anonvma_generated"), DEFAULT_GENERATED),
        examples=_whole_number(
            "--anonvma-examples", opt("anonvma_examples"), DEFAULT_EXAMPLES, minimum=1
        ),
        timeout=_timeout(opt("anonvma_timeout")),
        report=_report(opt("anonvma_report")),
        conformance=bool(opt("anonvma_conformance")),
        harness_summary=bool(opt("anonvma_harness_summary")),
        explore=bool(opt("anonvma_explore")),
        save_failures=_optional_dir(opt("anonvma_save_failures")),
        export_c=_optional_dir(opt("anonvma_export_c")),
    )
