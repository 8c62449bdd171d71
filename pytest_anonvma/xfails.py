"""Expected-failure files: parsing, matching test ids, and finding stale entries.

A file holds one entry a line: a node id or a prefix of one, then optionally the reason::

    # rfc-v1 loses the flag on merge (spec section 4)
    test_case[rfc-v1-hazard-mprotect-merge-left]   flag not carried by vma_merge_existing_range
    test_merge_new[rfc-v1                          prefix: every parametrization
    ?test_generated[rfc-v1-                        may fail: depends on the seed

Entries are strict: a listed test that passes fails the run (``XPASS(strict)``). An entry
starting with ``?`` is not: its tests may pass or fail (a pass is reported as ``XPASS``); use
it only where the outcome legitimately varies, such as seed-dependent generated cases.

An entry matches a test when one of the test's ids starts with it: the full node id, the node id
from the module's file name on (``test_cases.py::test_case[...]``), or the part after the module
(``test_case[...]``). The last two do not depend on where the package is installed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = [
    "StaleXfailWarning",
    "XfailEntry",
    "XfailFileError",
    "find_entry",
    "match_keys",
    "read_xfail_file",
]


class XfailFileError(ValueError):
    """An expected-failure file that cannot be read (the message names the file and line)."""


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

    @property
    def where(self) -> str:
        """``source:line``, for messages."""
        return f"{self.source}:{self.line}"

    def matches(self, keys: Sequence[str]) -> bool:
        """Does any of a test's ids (see :func:`match_keys`) start with this entry?"""
        return any(key.startswith(self.pattern) for key in keys)


def read_xfail_file(path: Path, label: str | None = None) -> list[XfailEntry]:
    """Parse ``path``; ``label`` replaces the path in messages (e.g. ``bundled rfc-v1.txt``)."""
    name = label or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise XfailFileError(f"--anonvma-xfail-file: cannot read {name!r}: {reason}") from None
    entries = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pattern, *rest = line.split(None, 1)
        strict = not pattern.startswith("?")
        pattern = pattern.removeprefix("?")
        if not pattern:
            raise XfailFileError(f"--anonvma-xfail-file: {name}:{lineno}: '?' without a test id")
        reason = rest[0].lstrip("#:-").strip() if rest else ""
        entries.append(
            XfailEntry(pattern, reason or f"listed in {name}:{lineno}", name, lineno, strict)
        )
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


class StaleXfailWarning(pytest.PytestWarning):
    """An expected-failure entry that matched no collected test."""
