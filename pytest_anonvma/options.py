"""The plugin's command-line options and ini keys, and their validated values (:class:`Settings`).

Each setting that belongs in a config file has an ini key (:data:`INI_KEYS`); a value given on
the command line replaces the ini value (for paths too: the lists are not merged). Paths in the
ini file are relative to the ini file's folder, paths on the command line to the working one.
"""

from __future__ import annotations

import math
import secrets
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_anonvma.designs import DESIGNS
from pytest_anonvma.outputs import unwritable
from pytest_anonvma.report import REPORT_SUFFIXES

__all__ = [
    "DEFAULT_EXAMPLES",
    "DEFAULT_GENERATED",
    "DEFAULT_IMPL",
    "DEFAULT_TIMEOUT",
    "INI_KEYS",
    "MAX_EXAMPLES",
    "MAX_GENERATED",
    "MAX_SEED",
    "SETTINGS_KEY",
    "TIMEOUT_RANGE",
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
#: the largest ``--anonvma-generated``: more cases than a run can hold (ids are made up front)
MAX_GENERATED = 100_000
#: the largest ``--anonvma-examples``
MAX_EXAMPLES = 100_000
#: the largest ``--anonvma-seed`` (64 bits)
MAX_SEED = 2**64 - 1
#: the range of ``--anonvma-timeout`` (seconds) besides 0, which turns the limit off: shorter
#: limits cannot be armed reliably, longer ones are a day
TIMEOUT_RANGE = (0.01, 86400.0)
#: the ini key of each option that has one (``--anonvma-export-c`` is an action for one run)
INI_KEYS = {
    "--anonvma-impl": "anonvma_impl",
    "--anonvma-cases": "anonvma_cases",
    "--anonvma-no-bundled": "anonvma_no_bundled",
    "--anonvma-xfail-file": "anonvma_xfail_files",
    "--anonvma-skip-file": "anonvma_skip_files",
    "--anonvma-seed": "anonvma_seed",
    "--anonvma-generated": "anonvma_generated",
    "--anonvma-examples": "anonvma_examples",
    "--anonvma-timeout": "anonvma_timeout",
    "--anonvma-report": "anonvma_report",
    "--anonvma-conformance": "anonvma_conformance",
    "--anonvma-harness-summary": "anonvma_harness_summary",
    "--anonvma-explore": "anonvma_explore",
    "--anonvma-save-failures": "anonvma_save_failures",
    "--anonvma-explore-db": "anonvma_explore_db",
}
#: the ini keys holding one path (relative to the ini file's folder)
INI_PATH_KEYS = ("anonvma_report", "anonvma_save_failures", "anonvma_explore_db")


@dataclass(frozen=True)
class Settings:
    """Every ``--anonvma-*`` value after validation (``read_settings``)."""

    #: implementation specs in the order given (``all`` not yet expanded)
    impl_specs: tuple[str, ...]
    #: ``--anonvma-cases``: case files and folders of them, checked to exist, in the order given
    case_paths: tuple[Path, ...]
    #: ``--anonvma-no-bundled``: of the case files, only ``case_paths`` run
    no_bundled: bool
    xfail_files: tuple[Path, ...]
    skip_files: tuple[Path, ...]
    seed: int
    #: how the seed was chosen: "option", "random" or "default"
    seed_source: str
    generated: int
    examples: int
    #: was ``examples`` given (option or ini); if not, the hypothesis profile decides
    examples_given: bool
    #: seconds per test phase; 0 disables the limit
    timeout: float
    report: Path | None
    conformance: bool
    harness_summary: bool
    explore: bool
    save_failures: Path | None
    #: ``--anonvma-explore-db``: the explorer's hypothesis example database folder, or None
    explore_db: Path | None
    export_c: Path | None


def add_options(parser: pytest.Parser) -> None:
    """Declare every option in the ``anonvma`` group, and the ini keys (:func:`_add_ini_keys`)."""
    group = parser.getgroup("anonvma", "anonvma conformance (pytest-anonvma)")
    group.addoption(
        "--anonvma-impl",
        action="append",
        default=[],
        metavar="SPEC[,SPEC...]",
        help="implementations to check: a registered name ("
        + ", ".join(sorted(DESIGNS, key=lambda name: name != DEFAULT_IMPL))
        + ", live, entry points, hook names), name@era, package.module:attr, "
        f"or 'all' (the bundled designs and third-party ones). Default: ini anonvma_impl, "
        f"else {DEFAULT_IMPL}.",
    )
    group.addoption(
        "--anonvma-cases",
        action="append",
        default=[],
        metavar="PATH",
        help="also run the cases of this case file, or of the .toml files in this folder "
        "(multi-allowed), as test_case[IMPL-ID] like the bundled ones",
    )
    group.addoption(
        "--anonvma-no-bundled",
        action="store_true",
        default=False,
        help="run only the --anonvma-cases cases, not the bundled suite",
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
        "--anonvma-skip-file",
        action="append",
        default=[],
        metavar="PATH",
        help="tests not to run at all (reported as skipped with the reason): the xfail file's "
        "format without finding=, line= or '?' (multi-allowed)",
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
        help=f"write the conformance report to PATH ({', '.join(REPORT_SUFFIXES)})",
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
        "--anonvma-explore-db",
        default=None,
        metavar="DIR",
        help="keep the explorer's hypothesis example database in DIR, so that a failure found "
        "once is replayed first next time (default: none, every run the same)",
    )
    group.addoption(
        "--anonvma-export-c",
        default=None,
        metavar="DIR",
        help="export the cases as C selftest programs into DIR",
    )
    _add_ini_keys(parser)


def _add_ini_keys(parser: pytest.Parser) -> None:
    """The ini keys of :data:`INI_KEYS` (the option given on the command line wins)."""
    parser.addini(
        "anonvma_impl",
        help="default implementations for --anonvma-impl (comma-separated; "
        f"default {DEFAULT_IMPL})",
        type="string",
        default="",
    )
    for key, what in (
        ("anonvma_cases", "case files and folders for --anonvma-cases"),
        ("anonvma_xfail_files", "expected-failure files for --anonvma-xfail-file"),
        ("anonvma_skip_files", "skip files for --anonvma-skip-file"),
    ):
        parser.addini(key, help=f"{what} (relative to the ini file)", type="paths", default=[])
    for key, what in (
        ("anonvma_no_bundled", "--anonvma-no-bundled"),
        ("anonvma_conformance", "--anonvma-conformance"),
        ("anonvma_harness_summary", "--anonvma-harness-summary"),
        ("anonvma_explore", "--anonvma-explore"),
    ):
        # read as text and judged here, so that a bad value names its key (pytest's own
        # conversion of typed keys reports only the value, on some versions before us)
        parser.addini(key, help=f"turn on {what} (true/false)", type="string", default="")
    parser.addini("anonvma_seed", help="--anonvma-seed (N or random)", type="string",
                  default="")
    parser.addini("anonvma_generated", help="--anonvma-generated", type="string", default="")
    parser.addini("anonvma_examples", help="--anonvma-examples", type="string", default="")
    parser.addini("anonvma_timeout", help="--anonvma-timeout (seconds, 0: off)",
                  type="string", default="")
    for option, key in INI_KEYS.items():
        if key in INI_PATH_KEYS:
            parser.addini(key, help=f"{option} (relative to the ini file)", type="string",
                          default="")


def default_seed() -> int:
    """The seed used without ``--anonvma-seed``: fixed for a given plugin version."""
    from pytest_anonvma import __version__

    return zlib.crc32(f"pytest-anonvma {__version__}".encode())


def _split_specs(source: str, values: list[str]) -> tuple[str, ...]:
    """The specs of comma- (or whitespace-) separated ``values``, duplicates dropped.

    An empty item (``""``, ``" "``, ``","``, ``"a,,b"``, ``"a,"``) is a usage error naming
    ``source``: it is most likely an unset variable or a typo, and dropping it silently would
    check fewer implementations than were asked for.
    """
    specs: list[str] = []
    for value in values:
        for item in value.split(","):
            words = item.split()
            if not words:
                raise pytest.UsageError(
                    f"{source}: empty implementation name in {value!r} "
                    "(expected SPEC[,SPEC...])"
                )
            specs += [word for word in words if word not in specs]
    return tuple(specs)


def _impl_specs(config: pytest.Config) -> tuple[str, ...]:
    """``--anonvma-impl`` values, else the ini key ``anonvma_impl`` unless it is unset or
    blank, else :data:`DEFAULT_IMPL`."""
    values: list[str] = config.getoption("anonvma_impl")
    if values:
        return _split_specs("--anonvma-impl", values)
    ini = str(config.getini("anonvma_impl"))
    return _split_specs("ini anonvma_impl", [ini]) if ini.strip() else (DEFAULT_IMPL,)


def _whole_number(option: str, raw: str | None, default: int, minimum: int, maximum: int) -> int:
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not minimum <= value <= maximum:
        raise pytest.UsageError(
            f"{option}: expected a whole number from {minimum} to {maximum}, got {raw!r}"
        )
    return value


def _seed(source: str, raw: str | None) -> tuple[int, str]:
    if raw is None:
        return default_seed(), "default"
    if raw == "random":
        return secrets.randbelow(2**32), "random"
    how = "ini" if source.startswith("ini ") else "option"
    return _whole_number(source, raw, 0, 0, MAX_SEED), how


def _timeout(source: str, raw: str | None) -> float:
    if raw is None:
        return DEFAULT_TIMEOUT
    low, high = TIMEOUT_RANGE
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if value == 0:
        return 0.0
    if not low <= value <= high:  # nan and inf too
        raise pytest.UsageError(
            f"{source}: expected 0 (off) or seconds from {low:g} to {high:g}, got {raw!r}"
        )
    return value


def _writable_folder(option: str, folder: Path, what: str) -> None:
    """Make ``folder`` and write and remove a file in it, or a usage error naming ``option``
    and ``what`` (the folder as the user gave it)."""
    why = unwritable(folder)
    if why == "not a folder":
        raise pytest.UsageError(
            f"{option}: cannot write into {what}: {str(folder)!r} is not a folder")
    if why is not None:
        raise pytest.UsageError(f"{option}: cannot write into {what}: {why}")


def _report(raw: str | None, option: str = "--anonvma-report") -> Path | None:
    """``--anonvma-report``: a .json/.html/.md path whose folder can be written (checked now,
    so that a run does not end without its report). ``option`` names it in messages."""
    if raw is None:
        return None
    path = Path(raw)
    if path.suffix.lower() not in REPORT_SUFFIXES:
        raise pytest.UsageError(
            f"{option}: {raw!r} must end in {', '.join(REPORT_SUFFIXES)}"
        )
    _writable_folder(option, path.parent, f"the folder of {raw!r}")
    if path.is_symlink() and not path.exists():
        raise pytest.UsageError(f"{option}: {raw!r} is a dangling symbolic link")
    if path.exists() and not path.is_file():
        raise pytest.UsageError(f"{option}: {raw!r} exists and is not a regular file")
    return path


def _optional_dir(option: str, raw: str | None) -> Path | None:
    """A folder option (``--anonvma-save-failures``, ``--anonvma-export-c``): made and checked
    writable now, so that a run does not find out test by test."""
    if raw is None:
        return None
    if not raw.strip():
        raise pytest.UsageError(f"{option}: expected a folder, got {raw!r}")
    path = Path(raw)
    _writable_folder(option, path, f"the folder {raw!r}")
    return path


def _ini(config: pytest.Config, key: str) -> Any:
    """``config.getini(key)``; a value of the wrong type is a usage error naming the key."""
    try:
        return config.getini(key)
    except (TypeError, ValueError) as exc:
        raise pytest.UsageError(f"ini {key}: cannot read the value: {exc}") from None


def _dest(option: str) -> str:
    return option.removeprefix("--").replace("-", "_")


def _single(config: pytest.Config, option: str) -> tuple[str, str | None]:
    """A one-value setting as text, and where it came from for messages: the option if given,
    else its ini key if set (a path made relative to the ini file's folder), else None."""
    raw = config.getoption(_dest(option))
    if raw is not None:
        return option, str(raw)
    key = INI_KEYS[option]
    value = _ini(config, key)
    if value is None or not str(value).strip():
        return option, None
    if key in INI_PATH_KEYS:
        return f"ini {key}", str(_ini_dir(config) / str(value).strip())
    return f"ini {key}", str(value).strip()


def _ini_dir(config: pytest.Config) -> Path:
    """The folder ini paths are relative to (pytest's rule for ``paths`` keys)."""
    return config.inipath.parent if config.inipath is not None else config.invocation_params.dir


#: the ini spellings of a flag's value (pytest's own for ``bool`` keys)
_TRUTH = {"1": True, "true": True, "yes": True, "on": True, "t": True, "y": True,
          "0": False, "false": False, "no": False, "off": False, "f": False, "n": False, "": False}


def _flag(config: pytest.Config, option: str) -> bool:
    """A flag: on if given, else the ini key's value (off if unset)."""
    if config.getoption(_dest(option)):
        return True
    key = INI_KEYS[option]
    text = str(_ini(config, key)).strip()
    if text.lower() not in _TRUTH:
        raise pytest.UsageError(f"ini {key}: expected true or false, got {text!r}")
    return _TRUTH[text.lower()]


def _paths(config: pytest.Config, option: str) -> tuple[str, tuple[Path, ...]]:
    """A repeatable path option's values, else its ini key's, and where they came from."""
    given: list[str] = config.getoption(_dest(option))
    if given:
        return option, tuple(Path(p) for p in given)
    key = INI_KEYS[option]
    return f"ini {key}", tuple(Path(p) for p in _ini(config, key))


def _case_paths(config: pytest.Config) -> tuple[Path, ...]:
    """``--anonvma-cases``: each path must be a ``.toml`` file or a folder."""
    source, paths = _paths(config, "--anonvma-cases")
    blank = [raw for raw in config.getoption("anonvma_cases") if not raw.strip()]
    if blank:
        raise pytest.UsageError(f"{source}: expected a case file or folder, got {blank[0]!r}")
    for path in paths:
        if not path.exists():
            raise pytest.UsageError(f"{source}: {str(path)!r} does not exist")
        if not path.is_dir() and (not path.is_file() or path.suffix != ".toml"):
            raise pytest.UsageError(
                f"{source}: {str(path)!r} is not a .toml case file or a folder of them"
            )
    return paths


SETTINGS_KEY = pytest.StashKey[Settings]()


def get_settings(config: pytest.Config) -> Settings:
    """The run's settings (available from ``pytest_configure`` on, while the plugin is active).

    Other modules read sizes and the seed here, e.g. ``get_settings(config).generated``.
    """
    return config.stash[SETTINGS_KEY]


def read_settings(config: pytest.Config) -> Settings:
    """Validate every option and ini key; bad values raise ``pytest.UsageError`` naming the
    option (or ``ini KEY``).

    On an xdist worker the seed comes from the controller (``workerinput``).
    """
    specs = _impl_specs(config)
    seed, seed_source = _seed(*_single(config, "--anonvma-seed"))
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and "anonvma_seed" in workerinput:
        seed, seed_source = workerinput["anonvma_seed"], workerinput["anonvma_seed_source"]
    examples_source, examples = _single(config, "--anonvma-examples")
    report_source, report = _single(config, "--anonvma-report")
    case_paths = _case_paths(config)
    no_bundled = _flag(config, "--anonvma-no-bundled")
    if no_bundled and not case_paths:
        raise pytest.UsageError(
            "--anonvma-no-bundled: there are no --anonvma-cases (ini anonvma_cases) to run "
            "instead of the bundled cases"
        )
    return Settings(
        impl_specs=specs,
        case_paths=case_paths,
        no_bundled=no_bundled,
        xfail_files=_paths(config, "--anonvma-xfail-file")[1],
        skip_files=_paths(config, "--anonvma-skip-file")[1],
        seed=seed,
        seed_source=seed_source,
        generated=_whole_number(
            *_single(config, "--anonvma-generated"), DEFAULT_GENERATED, 0, MAX_GENERATED
        ),
        examples=_whole_number(examples_source, examples, DEFAULT_EXAMPLES, 1, MAX_EXAMPLES),
        examples_given=examples is not None,
        timeout=_timeout(*_single(config, "--anonvma-timeout")),
        report=_report(report, report_source),
        conformance=_flag(config, "--anonvma-conformance"),
        harness_summary=_flag(config, "--anonvma-harness-summary"),
        explore=_flag(config, "--anonvma-explore"),
        save_failures=_optional_dir(*_single(config, "--anonvma-save-failures")),
        explore_db=_optional_dir(*_single(config, "--anonvma-explore-db")),
        export_c=_optional_dir("--anonvma-export-c", config.getoption("anonvma_export_c")),
    )
