"""A frozen copy of the code under test, so a run is not disturbed by edits made meanwhile.

The run lists mutants from the copy and the workers import ``pytest_anonvma`` from it (it is
put first on ``PYTHONPATH``, ahead of the editable install), so every mutant and every baseline
sees the same tree. The copy is laid out both ways the code is used: the checkout's directories
(:data:`SNAPSHOT_PATHS`), and each directory ``[tool.setuptools.package-dir]`` of
``pyproject.toml`` maps into the package also at its installed place (the conformance suite as
``pytest_anonvma/conformance``), so that ``import pytest_anonvma.conformance`` finds the copy
rather than the editable install's mapping to the live tree. :func:`changed_files` says
afterwards what the live tree changed.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["SNAPSHOT_PATHS", "changed_files", "installed_dirs", "take_snapshot"]

#: what the suite needs: the package, the conformance directory, the model's unit tests with the
#: project conftest, and the pytest configuration
SNAPSHOT_PATHS = (
    "pytest_anonvma",
    "conformance",
    "tests/conftest.py",
    "tests/model",
    "pyproject.toml",
)
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis", ".pytest_cache")


def installed_dirs(root: Path) -> dict[str, str]:
    """``pyproject.toml``'s ``[tool.setuptools.package-dir]`` as relative paths: where a package
    installs (``pytest_anonvma/conformance``) -> the checkout directory it comes from."""
    config = tomllib.loads((root / "pyproject.toml").read_text())
    mapping = config.get("tool", {}).get("setuptools", {}).get("package-dir", {})
    return {package.replace(".", "/"): source for package, source in mapping.items() if package}


def take_snapshot(root: Path, dest: Path) -> Path:
    """Copy :data:`SNAPSHOT_PATHS` of ``root`` into ``dest``, and each mapped package directory
    to its installed place too (:func:`installed_dirs`); returns ``dest``."""
    for rel in SNAPSHOT_PATHS:
        source, target = root / rel, dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=_IGNORED)
        else:
            shutil.copy2(source, target)
    for installed, source in installed_dirs(root).items():
        shutil.copytree(root / source, dest / installed, ignore=_IGNORED)
    return dest


def _digests(root: Path) -> dict[str, str]:
    """The checkout layout's files (installed copies left out) and their hashes."""
    installed = set(installed_dirs(root))
    digests = {}
    for rel in SNAPSHOT_PATHS:
        base = root / rel
        files = [base] if base.is_file() else sorted(base.rglob("*")) if base.is_dir() else []
        for path in files:
            name = path.relative_to(root).as_posix()
            if any(name.startswith(f"{prefix}/") for prefix in installed):
                continue
            if path.is_file() and "__pycache__" not in path.parts:
                digests[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def changed_files(root: Path, snapshot: Path) -> list[str]:
    """Files of the snapshot's scope that differ between ``root`` and ``snapshot`` (or exist in
    only one of them), sorted."""
    live, frozen = _digests(root), _digests(snapshot)
    names = live.keys() | frozen.keys()
    return sorted(name for name in names if live.get(name) != frozen.get(name))
