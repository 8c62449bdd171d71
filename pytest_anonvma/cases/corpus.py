"""Case files: reading TOML into :class:`Case` objects, checking them, and the :class:`Corpus`.

A file with any problem contributes no cases; its problems are kept in :attr:`Corpus.errors`
under its path (the plugin turns each into a collection error), and every other file loads as
usual. Each problem is a :class:`Problem` that prints as ``file:line: message``.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_anonvma.cases import schema
from pytest_anonvma.cases.steps import (
    ROOT_MM,
    Action,
    Expectation,
    Fork,
    LayoutIs,
    Memfd,
    Mmap,
    Pages,
    Read,
    Retractable,
    Step,
    StepError,
    parse_step,
)
from pytest_anonvma.inputfile import InputFileError, read_input_file
from pytest_anonvma.suite import bundled_suite_dir

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = [
    "BUNDLED_CASES",
    "Case",
    "Corpus",
    "Problem",
    "check_case",
    "load_corpus",
    "load_file",
    "parse_cases",
]

#: the curated corpus shipped with the package
BUNDLED_CASES = bundled_suite_dir() / "cases"

_CASE_HEADER = re.compile(r"^\s*\[\[\s*case\s*\]\]")
_KEY = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(.*)$")
_OPEN_STRING = re.compile(r"^(\"\"\"|'''|\"|')(.*)$")
_TOML_LINE = re.compile(r"at line (\d+)")
#: the deepest nesting of TOML arrays and tables read (a case file needs three levels)
MAX_NESTING = 32


@dataclass(frozen=True)
class Problem:
    """One lint finding: prints as ``file:line: message``."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass(frozen=True)
class Case:
    """One conformance case (a ``[[case]]`` table)."""

    id: str
    about: str
    source: str
    tier: str
    needs: frozenset[str]
    steps: tuple[Step, ...]
    designs: frozenset[str] | None = None
    path: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)

    def memfd_sizes(self) -> dict[str, int]:
        """Pages to create each memfd with when an ``mmap`` names it before any ``memfd`` step:
        large enough for every mapping of it in the case."""
        sizes: dict[str, int] = {}
        explicit = {step.name for step in self.steps if isinstance(step, Memfd)}
        for step in self.steps:
            if isinstance(step, Mmap) and step.file and step.file not in explicit:
                sizes[step.file] = max(sizes.get(step.file, 0), step.offset + step.count)
        return sizes

    def arena_pages(self) -> int:
        """How many arena pages the case touches (the width of its layout pictures)."""
        ends = [end for step in self.steps for _, end in step.page_ranges()]
        widths = [len(step.diagram) for step in self.steps if isinstance(step, LayoutIs)]
        return max([1, *ends, *widths])

    def format(self) -> str:
        """The case as a ``[[case]]`` TOML table (what a case file holds)."""
        order = {name: i for i, name in enumerate(schema.CAPABILITIES)}
        lines = [
            "[[case]]",
            f"id = {json.dumps(self.id)}",
            f"about = {json.dumps(self.about)}",
            f"source = {json.dumps(self.source)}",
            f"tier = {json.dumps(self.tier)}",
            f"needs = {json.dumps(sorted(self.needs, key=lambda n: order.get(n, 99)))}",
        ]
        if self.designs is not None:
            lines.append(f"designs = {json.dumps(sorted(self.designs))}")
        lines.append("steps = '''")
        lines.extend(step.format() for step in self.steps)
        lines.append("'''")
        return "\n".join(lines) + "\n"


@dataclass
class Corpus:
    """Every loaded case, in file then definition order, and the problems of malformed files."""

    cases: list[Case] = field(default_factory=list)
    #: problems per file; a file listed here contributed no cases
    errors: dict[str, list[Problem]] = field(default_factory=dict)
    #: every file read, in order
    files: list[str] = field(default_factory=list)

    def by_id(self, case_id: str) -> Case:
        """The case with this id (KeyError if none)."""
        for case in self.cases:
            if case.id == case_id:
                return case
        raise KeyError(case_id)


# --- locating things in the TOML text -------------------------------------------------------------


def _case_regions(lines: Sequence[str]) -> list[tuple[int, int]]:
    """(first, end) 0-based line ranges of each ``[[case]]`` table."""
    starts = [i for i, text in enumerate(lines) if _CASE_HEADER.match(text)]
    return [(s, starts[k + 1] if k + 1 < len(starts) else len(lines)) for k, s in enumerate(starts)]


def _key_lines(lines: Sequence[str], region: tuple[int, int]) -> dict[str, tuple[int, str]]:
    """1-based line of each ``key =`` in a region, and the text after ``=``."""
    found: dict[str, tuple[int, str]] = {}
    for i in range(*region):
        m = _KEY.match(lines[i])
        if m and m.group(1) not in found:
            found[m.group(1)] = (i + 1, m.group(2))
    return found


def _steps_first_line(key_line: int, rest: str) -> int:
    """The line of the first character of the ``steps`` string value."""
    m = _OPEN_STRING.match(rest)
    if m and m.group(1) in ('"""', "'''") and not m.group(2).strip():
        return key_line + 1  # TOML drops the newline right after the opening quotes
    return key_line


# --- checking one case ------------------------------------------------------------------------


def _build_case(
    table: dict[str, Any],
    path: str,
    line: int,
    keys: dict[str, tuple[int, str]],
    problems: list[Problem],
) -> Case | None:
    steps_line, rest = keys.get("steps", (line, ""))
    first = _steps_first_line(steps_line, rest)
    steps: list[Step] = []
    ok = True
    for offset, text in enumerate(str(table["steps"]).splitlines()):
        try:
            step = parse_step(text, first + offset)
        except StepError as exc:
            problems.append(Problem(path, first + offset, str(exc)))
            ok = False
            continue
        if step is not None:
            steps.append(step)
    if not ok:
        return None
    designs = table.get("designs")
    return Case(
        id=table["id"],
        about=table["about"],
        source=table["source"],
        tier=table["tier"],
        needs=frozenset(table["needs"]),
        steps=tuple(steps),
        designs=frozenset(designs) if designs is not None else None,
        path=path,
        line=line,
    )


def check_case(case: Case) -> list[Problem]:
    """Cross-step rules: names defined before use, ``needs`` covering the actions, design names,
    tier rules, and at least one check that runs with just the capabilities in ``needs``."""
    problems: list[Problem] = []

    def report(line: int, message: str) -> None:
        problems.append(Problem(case.path, line or case.line, f"case {case.id!r}: {message}"))

    mms = {ROOT_MM}
    memfds: set[str] = set()
    checks = 0
    for step in case.steps:
        if step.mm not in mms:
            report(
                step.line, f"no address space {step.mm!r} yet (create it with 'fork as {step.mm}')"
            )
        if isinstance(step, Fork):
            if step.child in mms:
                report(step.line, f"address space {step.child!r} already exists")
            mms.add(step.child)
        if isinstance(step, Memfd):
            if step.name in memfds:
                report(step.line, f"memfd {step.name!r} already exists")
            memfds.add(step.name)
        if isinstance(step, Mmap) and step.file:
            memfds.add(step.file)
        missing = step.capabilities() - case.needs
        if isinstance(step, Action) and missing:
            report(
                step.line, f"'{step.body()}' needs {', '.join(sorted(missing))}: add it to needs"
            )
        if isinstance(step, Expectation):
            _check_expectation(case, step, report)
        if _is_check(step) and not missing:
            checks += 1
    if checks == 0:
        report(
            case.line,
            "checks nothing with the capabilities in needs (add an expectation, "
            "or its capability to needs)",
        )
    if case.tier == "patch" and case.designs is None:
        report(case.line, "a patch-tier case must list the designs its claim applies to")
    return problems


def _is_check(step: Step) -> bool:
    if isinstance(step, Expectation):
        return True
    if isinstance(step, Read) and step.value is not None:
        return True
    return isinstance(step, Action) and step.outcome is not None


#: expectations every correct design agrees on (allowed unfiltered in guard-tier cases)
_DESIGN_FREE = (Pages, Retractable)


def _check_expectation(case: Case, step: Expectation, report: Callable[[int, str], None]) -> None:
    if step.designs is not None:
        known = (*schema.DESIGNS, *schema.ERAS)
        unknown = sorted(step.designs.names - set(known))
        if unknown:
            report(
                step.line, f"unknown design {unknown[0]!r} in filter (known: {', '.join(known)})"
            )
    if case.tier == "guard" and step.designs is None and not isinstance(step, _DESIGN_FREE):
        report(
            step.line,
            f"'{step.keyword}' is design-dependent: in a guard-tier case give it a "
            "design filter like [maybe-guard]",
        )


# --- files --------------------------------------------------------------------------------------


def parse_cases(text: str, path: str = "<string>") -> tuple[list[Case], list[Problem]]:
    """Read one case file's text: its cases, and its problems (if any, no cases are returned)."""
    problems: list[Problem] = []
    try:
        document = tomllib.loads(text)
        invalid = schema.validate(document)
    except tomllib.TOMLDecodeError as exc:
        m = _TOML_LINE.search(str(exc))
        return [], [Problem(path, int(m.group(1)) if m else 1, f"invalid TOML: {exc}")]
    except RecursionError:  # only nesting far deeper than MAX_NESTING gets here
        return [], [Problem(path, _too_deep(text),
                            f"TOML arrays or tables nested deeper than {MAX_NESTING} levels")]
    lines = text.splitlines()
    regions = _case_regions(lines)
    for where, message in invalid:
        problems.append(Problem(path, _schema_line(where, lines, regions), f"{where}: {message}"))
    tables = document.get("case") if isinstance(document.get("case"), list) else []
    broken = {_case_index(where) for where, _ in invalid}
    cases: list[Case] = []
    first_line: dict[str, int] = {}
    for index, table in enumerate(tables):
        region = regions[index] if index < len(regions) else (0, 0)
        if index in broken:
            continue
        case = _build_case(table, path, region[0] + 1, _key_lines(lines, region), problems)
        if case is None:
            continue
        problems.extend(check_case(case))
        if case.id in first_line:
            problems.append(
                Problem(
                    path,
                    case.line,
                    f"duplicate case id {case.id!r} (first at line {first_line[case.id]})",
                )
            )
        else:
            first_line[case.id] = case.line
        cases.append(case)
    return ([] if problems else cases), problems


def _too_deep(text: str) -> int:
    """The line where arrays and inline tables first nest deeper than :data:`MAX_NESTING`
    (strings and comments skipped), 1 if they never do."""
    depth, line, i, n = 0, 1, 0, len(text)
    while i < n:
        char = text[i]
        if char == "\n":
            line += 1
        elif char == "#":  # to the end of the line; its newline is counted next
            end = text.find("\n", i)
            i = (n if end < 0 else end) - 1
        elif char in "\"'":
            quote = text[i:i + 3] if text[i:i + 3] in ('"""', "'''") else char
            end = i + len(quote)
            while end < n and text[end:end + len(quote)] != quote:
                end += 2 if char == '"' and text[end] == "\\" else 1
            line += text.count("\n", i, end)
            i = end + len(quote) - 1
        elif char in "[{":
            depth += 1
            if depth > MAX_NESTING:
                return line
        elif char in "]}":
            depth = max(depth - 1, 0)
        i += 1
    return 1


def _case_index(where: str) -> int | None:
    """The case a schema complaint is about (``case[3].steps`` -> 3), None for the file."""
    m = re.match(r"^case\[(\d+)\]", where)
    return int(m.group(1)) if m else None


def _schema_line(where: str, lines: Sequence[str], regions: list[tuple[int, int]]) -> int:
    m = re.match(r"^case\[(\d+)\](?:\.([A-Za-z_-]+))?", where)
    if not m or int(m.group(1)) >= len(regions):
        return 1
    region = regions[int(m.group(1))]
    key = m.group(2)
    if key:
        found = _key_lines(lines, region).get(key)
        if found:
            return found[0]
    return region[0] + 1


def load_file(path: str | Path, name: str | None = None) -> tuple[list[Case], list[Problem]]:
    """Read one case file; cases and problems name it ``name`` (the path as given by default)."""
    name = str(path) if name is None else name
    try:
        text = read_input_file(path)
    except InputFileError as exc:
        return [], [Problem(name, 1, f"cannot read: {exc}")]
    return parse_cases(text, name)


def _expand(paths: Iterable[str | Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        p = Path(path)
        files.extend(sorted(p.rglob("*.toml")) if p.is_dir() else [p])
    return files


def _display(path: Path) -> str:
    """A path relative to the working directory when it is below it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def load_corpus(paths: Iterable[str | Path] | None = None, known: Iterable[Case] = ()) -> Corpus:
    """Load case files (directories are searched for ``*.toml``); the bundled corpus by default.

    Ids must be unique across everything loaded and the ``known`` cases (loaded already, such as
    the bundled ones beside a user's): a later file reusing an id is malformed.
    """
    corpus = Corpus()
    seen: dict[str, Case] = {case.id: case for case in known}
    for file in _expand([BUNDLED_CASES] if paths is None else paths):
        name = _display(file) if paths is None else str(file)
        corpus.files.append(name)
        cases, problems = load_file(file, name)
        for case in cases:
            first = seen.get(case.id)
            if first is not None:
                problems.append(
                    Problem(
                        name,
                        case.line,
                        f"duplicate case id {case.id!r} (first at {first.path}:{first.line})",
                    )
                )
        if problems:
            corpus.errors[name] = problems
            continue
        for case in cases:
            seen[case.id] = case
        corpus.cases.extend(cases)
    return corpus
