"""Survivors a person has looked at and judged: why each one lives (``--judged FILE``).

A mutation run lists its survivors; most deserve a test, some cannot be told apart from the
original program by any test. The judged file (TOML, default ``benchmarks/mutate/judged.toml``)
records the verdict on each survivor looked at, so that the next run prints it beside the
survivor instead of someone working it out again::

    [[survivor]]
    at = "pytest_anonvma/model/engine.py:150:8"    # path:line:col of the mutant
    operator = "drop"
    original = "prot = _int_arg('mmap', 'prot', prot)"
    category = "equivalent"
    reason = "one sentence: why no test can tell the mutant from the original"

Categories: ``equivalent`` (the mutated program behaves the same for every input, which the
reason shows from the code), ``unreachable`` (no path of the contract or of the model's entry
points reaches it; the reason says what would) and ``gap`` (real behaviour no test checks yet).
Only ``equivalent`` mutants leave the denominator of the second figure the summary prints; the
first figure counts every mutant.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from mutate.operators import OPERATORS, Mutant

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["CATEGORIES", "JudgedFileError", "Judgement", "Key", "key_of", "load_judged"]

CATEGORIES = ("equivalent", "unreachable", "gap")
_FIELDS = ("at", "operator", "original", "category", "reason")

#: what names a judged mutant: path, line, col, operator, original text
Key = tuple[str, int, int, str, str]


class JudgedFileError(Exception):
    """The judged file is malformed; ``str()`` is one line naming the file and the entry."""


@dataclass(frozen=True)
class Judgement:
    """The verdict on one survivor."""

    category: str
    reason: str


def key_of(mutant: Mutant) -> Key:
    """The key a judged entry matches ``mutant`` by."""
    return (mutant.path, mutant.line, mutant.col, mutant.operator, mutant.original)


def _entry_key(path: Path, n: int, entry: object) -> tuple[Key, Judgement]:
    where = f"{path}: survivor {n}"
    if not isinstance(entry, dict):
        raise JudgedFileError(f"{where}: not a table")
    unknown = sorted(set(entry) - set(_FIELDS))
    if unknown:
        raise JudgedFileError(f"{where}: unknown field {unknown[0]!r}")
    for field in _FIELDS:
        if not isinstance(entry.get(field), str) or not entry[field].strip():
            raise JudgedFileError(f"{where}: field {field!r} must be a non-empty string")
    file, _, position = entry["at"].partition(":")
    line, _, col = position.partition(":")
    if not (file and line.isdigit() and col.isdigit()):
        raise JudgedFileError(f"{where}: field 'at' must be PATH:LINE:COL, got {entry['at']!r}")
    if entry["operator"] not in OPERATORS:
        raise JudgedFileError(f"{where}: unknown operator {entry['operator']!r}")
    if entry["category"] not in CATEGORIES:
        raise JudgedFileError(f"{where}: category must be one of {', '.join(CATEGORIES)}, "
                              f"got {entry['category']!r}")
    key = (file, int(line), int(col), entry["operator"], entry["original"])
    return key, Judgement(entry["category"], entry["reason"].strip())


def load_judged(path: Path) -> dict[Key, Judgement]:
    """The judgements in ``path`` (a missing file judges nothing)."""
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise JudgedFileError(f"{path}: {exc}") from None
    unknown = sorted(set(data) - {"survivor"})
    if unknown:
        raise JudgedFileError(f"{path}: unknown top-level key {unknown[0]!r}")
    entries = data.get("survivor", [])
    if not isinstance(entries, list):
        raise JudgedFileError(f"{path}: 'survivor' must be an array of tables")
    judged: dict[Key, Judgement] = {}
    for n, entry in enumerate(entries, 1):
        key, judgement = _entry_key(path, n, entry)
        if key in judged:
            raise JudgedFileError(f"{path}: survivor {n}: judged twice ({entry['at']})")
        judged[key] = judgement
    return judged
