"""Expected-failure files: parsing, matching test ids and failures, and finding stale entries.

A file holds one entry a line: a node id or a prefix of one, optionally what the failure is,
then optionally the reason::

    # rfc-v1 loses the flag on merge (docs/spec.md §4)
    test_case[rfc-v1-hazard-mprotect-merge-left]  line=22  the child loses the markers
    test_merge_new[rfc-v1                                  prefix: every parametrization
    ?test_generated[rfc-v1-  finding=fork-lost-guard-marker  may fail: depends on the seed

Entries are strict: a listed test that passes fails the run (``XPASS(strict)``). An entry
starting with ``?`` is not: its tests may pass or fail (a pass is reported as ``XPASS``); use
it only where the outcome legitimately varies, such as seed-dependent generated cases.

An entry may say which failure it expects; any other failure of the test (a crash, another
finding, a timeout) is then a plain failure whose message names the entry:

* ``finding=KIND``: a generated case's (or an interleave case's) failure whose every finding is
  ``KIND`` (one of :data:`pytest_anonvma.generate.oracles.FINDING_KINDS`);
* ``line=N``: a curated case's failure at the step on line ``N`` of its case file.

An entry matches a test when one of the test's ids starts with it: the full node id, the node id
from the module's file name on (``test_cases.py::test_case[...]``), or the part after the module
(``test_case[...]``). The last two do not depend on where the package is installed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_anonvma.inputfile import InputFileError, read_input_file

__all__ = [
    "ENTRY_KEY",
    "DocumentedFailure",
    "StaleXfailWarning",
    "XfailEntry",
    "XfailFileError",
    "documented_or_not",
    "find_entry",
    "match_keys",
    "read_xfail_file",
]


class XfailFileError(ValueError):
    """An expected-failure file that cannot be read (the message names the file and line)."""


class DocumentedFailure(AssertionError):
    """The failure an entry names (what its ``xfail`` marker expects as ``raises=``)."""


@dataclass(frozen=True)
class XfailEntry:
    """One line of an expected-failure file."""

    pattern: str
    reason: str
    #: the file it came from (as named in messages)
    source: str
    line: int
    #: False for ``?`` entries: the test may pass
    strict: bool = True
    #: ``finding=KIND``: the only finding kind a generated case's failure may have ('' if any)
    finding: str = ""
    #: ``line=N``: the case-file line of the step a curated case must fail at (0 if any)
    step_line: int = 0

    @property
    def where(self) -> str:
        """``source:line``, for messages."""
        return f"{self.source}:{self.line}"

    @property
    def precise(self) -> bool:
        """Does the entry say which failure it expects?"""
        return bool(self.finding or self.step_line)

    @property
    def expects(self) -> str:
        """The expected failure in words."""
        if self.finding:
            return f"finding {self.finding}"
        return f"the failing step at line {self.step_line}"

    def matches(self, keys: Sequence[str]) -> bool:
        """Does any of a test's ids (see :func:`match_keys`) start with this entry?"""
        return any(key.startswith(self.pattern) for key in keys)


#: the precise entry of an item (set at collection, read when its test fails)
ENTRY_KEY = pytest.StashKey[XfailEntry]()


def _finding(value: str, where: str, option: str) -> str:
    from pytest_anonvma.generate.oracles import FINDING_KINDS

    if value not in FINDING_KINDS:
        raise XfailFileError(f"{option}: {where}: unknown finding {value!r}; "
                             f"known: {', '.join(FINDING_KINDS)}")
    return value


def _step_line(value: str, where: str, option: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 10**7:
        raise XfailFileError(f"{option}: {where}: line={value!r} is not a line "
                             "number of a case file")
    return int(value)


def _parse_line(line: str, name: str, lineno: int, option: str) -> XfailEntry:
    where = f"{name}:{lineno}"
    pattern, *rest = line.split(None, 1)
    strict = not pattern.startswith("?")
    pattern = pattern.removeprefix("?")
    if not pattern:
        raise XfailFileError(f"{option}: {where}: '?' without a test id")
    fields: dict[str, str] = {}
    text = rest[0] if rest else ""
    while text.startswith(("finding=", "line=")):
        token, *after = text.split(None, 1)
        key, _, value = token.partition("=")
        if key in fields:
            raise XfailFileError(f"{option}: {where}: {key}= given twice")
        fields[key] = value
        text = after[0] if after else ""
    if len(fields) > 1:
        raise XfailFileError(f"{option}: {where}: give finding= (a generated "
                             "case) or line= (a curated case), not both")
    finding = _finding(fields["finding"], where, option) if "finding" in fields else ""
    step_line = _step_line(fields["line"], where, option) if "line" in fields else 0
    reason = text.lstrip("#:-").strip()
    return XfailEntry(pattern, reason or f"listed in {where}", name, lineno, strict,
                      finding, step_line)


def read_xfail_file(path: Path, label: str | None = None,
                    option: str = "--anonvma-xfail-file") -> list[XfailEntry]:
    """Parse ``path``; ``label`` replaces the path in messages (e.g. ``bundled rfc-v1.txt``),
    ``option`` is the option messages name (skip files share the format)."""
    name = label or str(path)
    try:
        text = read_input_file(path)
    except InputFileError as exc:
        raise XfailFileError(f"{option}: cannot read {name!r}: {exc}") from None
    entries = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line and not line.startswith("#"):
            entries.append(_parse_line(line, name, lineno, option))
    return entries


def match_keys(nodeid: str) -> tuple[str, ...]:
    """The ids entries are matched against, most specific first."""
    module, sep, rest = nodeid.partition("::")
    if not sep:
        return (nodeid,)
    basename = module.rsplit("/", 1)[-1]
    return (nodeid, f"{basename}::{rest}", rest)


def find_entry(entries: Iterable[XfailEntry], nodeid: str) -> XfailEntry | None:
    """The longest entry matching ``nodeid`` (the most specific one), or None."""
    keys = match_keys(nodeid)
    best: XfailEntry | None = None
    for entry in entries:
        if entry.matches(keys) and (best is None or len(entry.pattern) > len(best.pattern)):
            best = entry
    return best


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from or while handling."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _what_failed(exc: BaseException) -> tuple[tuple[str, ...] | None, int | None, str]:
    """A failure's finding kinds (a generated case), failing step line (a curated case), and
    its description."""
    from pytest_anonvma.cases.runner import CaseFailure
    from pytest_anonvma.generate.check import GeneratedCaseFailure

    for link in _chain(exc):
        if isinstance(link, GeneratedCaseFailure):
            kinds = link.finding_kinds
            return kinds, None, f"finding {', '.join(kinds) or '(none)'}"
        interleaved = getattr(link, "finding_kinds", ())  # an interleave case's broken invariant
        if isinstance(link, CaseFailure) and interleaved:
            return interleaved, None, f"finding {', '.join(interleaved)}"
        if isinstance(link, CaseFailure):
            step = link.step
            if step is None:
                return None, None, "a failure outside the case's steps"
            if link.raised:
                return None, None, (f"the implementation broke the contract at line {step.line} "
                                    f"({step.format()})")
            return None, step.line, f"the failing step at line {step.line} ({step.format()})"
    first = str(exc).strip().splitlines()
    return None, None, f"{type(exc).__name__}: {first[0]}" if first else type(exc).__name__


def documented_or_not(entry: XfailEntry, exc: BaseException) -> BaseException:
    """What a test under the precise ``entry`` raises instead of ``exc``: a
    :class:`DocumentedFailure` (xfailed) if ``exc`` is the failure the entry names, else a plain
    failure saying what the entry expects and what this failure is."""
    kinds, line, described = _what_failed(exc)
    if entry.finding:
        documented = bool(kinds) and all(kind == entry.finding for kind in kinds or ())
    else:
        documented = line == entry.step_line
    if documented:
        return DocumentedFailure(f"{described} [{entry.where}]")
    return pytest.fail.Exception(
        f"expected-failure entry {entry.pattern} ({entry.where}) expects {entry.expects}; "
        f"this failure is: {described}", pytrace=False)


class StaleXfailWarning(pytest.PytestWarning):
    """An expected-failure entry that matched no collected test."""
