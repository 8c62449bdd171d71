"""The run's frozen copy of the tree: workers import the package from it, and edits made to
the tree meanwhile are reported rather than mixed into the results.

Expected outcome: reference with rfc-v1's merge behaviour fails the hazard cases
(docs/spec.md §4), which the unmodified reference passes.
"""

from __future__ import annotations

from pathlib import Path

from mutate.checks import Plan
from mutate.pool import Job, Pool
from mutate.snapshot import SNAPSHOT_PATHS, changed_files, installed_dirs, take_snapshot

ROOT = Path(__file__).resolve().parents[2]


def test_snapshot_copies_the_suite_both_ways_it_is_imported(tmp_path: Path) -> None:
    """Every snapshot path is copied, with no symlink; the conformance suite is also where
    ``pyproject.toml``'s package-dir mapping installs it, so the workers import the frozen copy
    as ``pytest_anonvma.conformance``; that installed copy is not reported as a change."""
    snap = take_snapshot(ROOT, tmp_path / "snap")
    assert all((snap / rel).exists() for rel in SNAPSHOT_PATHS)
    assert not [path for path in snap.rglob("*") if path.is_symlink()]
    assert installed_dirs(ROOT) == {"pytest_anonvma/conformance": "conformance"}
    installed = snap / "pytest_anonvma" / "conformance"
    names = sorted(p.relative_to(snap / "conformance") for p in (snap / "conformance").rglob("*"))
    assert names and names == sorted(p.relative_to(installed) for p in installed.rglob("*"))
    assert not list(snap.rglob("__pycache__"))
    assert changed_files(ROOT, snap) == []


def test_changed_files_names_what_differs(tmp_path: Path) -> None:
    """An edited, an added and a removed file are all reported, nothing else."""
    root = tmp_path / "root"
    (root / "pytest_anonvma").mkdir(parents=True)
    for rel in ("conformance", "tests/model"):
        (root / rel).mkdir(parents=True)
    (root / "tests" / "conftest.py").write_text("")
    (root / "pyproject.toml").write_text("")
    (root / "pytest_anonvma" / "a.py").write_text("a = 1\n")
    (root / "pytest_anonvma" / "b.py").write_text("b = 1\n")
    snap = take_snapshot(root, tmp_path / "snap")
    assert changed_files(root, snap) == []
    (root / "pytest_anonvma" / "a.py").write_text("a = 2\n")
    (root / "pytest_anonvma" / "b.py").unlink()
    (root / "conformance" / "new.toml").write_text("")
    assert changed_files(root, snap) == [
        "conformance/new.toml", "pytest_anonvma/a.py", "pytest_anonvma/b.py"]


def test_workers_import_the_snapshot_not_the_tree(tmp_path: Path) -> None:
    """A change made in the snapshot only (reference given rfc-v1's merge behaviour) shows in
    the workers' baseline: reference now fails hazard cases; the tree is untouched."""
    snap = take_snapshot(ROOT, tmp_path / "snap")
    reference = snap / "pytest_anonvma" / "designs" / "reference.py"
    reference.write_text(reference.read_text() + "\nReference.merge_carry = RfcV1.merge_carry\n")
    plan = Plan(("reference",), "corpus", str(snap))
    answer, = Pool(1, [str(snap)]).run([Job(None, plan)])
    failing = answer["failing"]["corpus:reference"]
    assert failing and all(case.startswith("hazard-") for case in failing)
    assert changed_files(ROOT, snap) == ["pytest_anonvma/designs/reference.py"]
