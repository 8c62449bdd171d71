"""A frozen copy of the code under test, so a run is not disturbed by edits made meanwhile.

The run lists mutants from the copy and the workers import ``pytest_anonvma`` from it (it is
put first on ``PYTHONPATH``, ahead of the editable install), so every mutant and every baseline
sees the same tree. :func:`changed_files` says afterwards what the live tree changed.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

__all__ = ["SNAPSHOT_PATHS", "changed_files", "take_snapshot"]

#: what the suite needs: the package (its ``conformance`` symlink included), the conformance
#: directory, the model's unit tests with the project conftest, and the pytest configuration
SNAPSHOT_PATHS = (
    "pytest_anonvma",
    "conformance",
    "tests/conftest.py",
    "tests/model",
    "pyproject.toml",
)
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis", ".pytest_cache")


def take_snapshot(root: Path, dest: Path) -> Path:
    """Copy :data:`SNAPSHOT_PATHS` of ``root`` into ``dest`` (symlinks kept); returns ``dest``."""
    for rel in SNAPSHOT_PATHS:
        source, target = root / rel, dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, symlinks=True, ignore=_IGNORED)
        else:
            shutil.copy2(source, target)
    return dest


def _digests(root: Path) -> dict[str, str]:
    digests = {}
    for rel in SNAPSHOT_PATHS:
        base = root / rel
        files = [base] if base.is_file() else sorted(base.rglob("*")) if base.is_dir() else []
        for path in files:
            if path.is_file() and not path.is_symlink() and "__pycache__" not in path.parts:
                name = path.relative_to(root).as_posix()
                digests[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def changed_files(root: Path, snapshot: Path) -> list[str]:
    """Files of the snapshot's scope that differ between ``root`` and ``snapshot`` (or exist in
    only one of them), sorted."""
    live, frozen = _digests(root), _digests(snapshot)
    names = live.keys() | frozen.keys()
    return sorted(name for name in names if live.get(name) != frozen.get(name))
