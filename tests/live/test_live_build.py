"""Which cached sandbox binary may run: only one nobody else could have written or can replace.

Expected behaviour: issue 10 item 6. A binary in ``$PYTEST_ANONVMA_CACHE`` is executed only if it
is a regular file owned by us, not writable by group or others, in folders only we or root can
change (sticky folders like /tmp included); otherwise the sandbox is built in a private 0700
folder, and the file found is left as it was.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_anonvma.live import LiveMM, build, live_unavailable_reason


@pytest.fixture(scope="module")
def built() -> Path:
    """A sandbox built the usual way (its file name is the cache key the tests plant under)."""
    reason = live_unavailable_reason()
    if reason:
        pytest.skip(reason)
    return build.sandbox_binary()


@pytest.fixture
def fresh(built: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Forget the process's choice of binary before and after the test."""
    build.sandbox_binary.cache_clear()
    yield
    monkeypatch.undo()
    build.sandbox_binary.cache_clear()


def _folder(path: Path, mode: int) -> Path:
    path.mkdir(parents=True)
    path.chmod(mode)
    return path


def _plant(folder: Path, name: str, marker: Path, mode: int = 0o755, uid: int = -1) -> Path:
    """A 'sandbox' that only leaves ``marker`` behind if it is ever executed."""
    fake = folder / name
    fake.write_text(f"#!/bin/sh\ntouch {marker}\n")
    fake.chmod(mode)
    if uid >= 0:
        os.chown(fake, uid, -1)
    return fake


def _nobody() -> int:
    if os.geteuid() != 0:
        pytest.skip("giving a file to another user needs root")
    return pwd.getpwnam("nobody").pw_uid


def _identity(path: Path) -> tuple[bytes, int, int, int, int]:
    """What a file found in the cache must keep: content, mode, owner, inode, mtime."""
    st = os.lstat(path)
    return path.read_bytes(), st.st_mode, st.st_uid, st.st_ino, st.st_mtime_ns


def _rejects(fake: Path, marker: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cache folder holding ``fake`` is used: ``fake`` is neither run nor touched."""
    before = _identity(fake)
    monkeypatch.setenv("PYTEST_ANONVMA_CACHE", str(fake.parent))
    chosen = build.sandbox_binary()
    assert chosen != fake and chosen.name == fake.name
    folder = os.stat(chosen.parent)
    assert (stat.S_IMODE(folder.st_mode), folder.st_uid) == (0o700, os.geteuid())
    assert stat.S_IMODE(os.stat(chosen).st_mode) & 0o022 == 0
    with LiveMM() as mm:
        assert mm.vmas() == []
    assert not marker.exists()
    assert _identity(fake) == before


def test_foreign_binary_in_world_writable_folder_is_not_run(
        fresh: None, built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The issue's case: owned by nobody, in a folder anyone may write."""
    uid = _nobody()
    shared = _folder(tmp_path / "shared", 0o777)
    marker = tmp_path / "ran"
    _rejects(_plant(shared, built.name, marker, uid=uid), marker, monkeypatch)


def test_foreign_binary_in_our_folder_is_not_run(
        fresh: None, built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Owned by another user, even in a private folder of ours."""
    uid = _nobody()
    marker = tmp_path / "ran"
    fake = _plant(_folder(tmp_path / "cache", 0o700), built.name, marker, uid=uid)
    _rejects(fake, marker, monkeypatch)


@pytest.mark.parametrize("mode", [0o775, 0o757], ids=["group-writable", "other-writable"])
def test_writable_binary_is_not_run(fresh: None, built: Path, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch, mode: int) -> None:
    """Ours, but writable by group or others."""
    marker = tmp_path / "ran"
    fake = _plant(_folder(tmp_path / "cache", 0o700), built.name, marker, mode=mode)
    _rejects(fake, marker, monkeypatch)


@pytest.mark.parametrize("mode", [0o770, 0o707], ids=["group-writable", "other-writable"])
def test_binary_under_a_writable_folder_is_not_run(
        fresh: None, built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        mode: int) -> None:
    """Ours and read-only, but a folder above it lets others rename things: not trusted."""
    outer = _folder(tmp_path / "outer", mode)
    marker = tmp_path / "ran"
    fake = _plant(_folder(outer / "cache", 0o700), built.name, marker)
    _rejects(fake, marker, monkeypatch)


def test_symlink_in_the_cache_is_not_run(fresh: None, built: Path, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A link named like the binary is not followed."""
    marker = tmp_path / "ran"
    real = _plant(_folder(tmp_path / "elsewhere", 0o700), "script", marker)
    cache = _folder(tmp_path / "cache", 0o700)
    (cache / built.name).symlink_to(real)
    _rejects(cache / built.name, marker, monkeypatch)


@pytest.mark.parametrize("mode", [0o700, 0o1777], ids=["private", "sticky-world-writable"])
def test_safe_cached_binary_is_reused(fresh: None, built: Path, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch, mode: int) -> None:
    """Our read-only copy in a private or sticky folder (like /tmp) is the one executed."""
    cache = _folder(tmp_path / "cache", mode)
    copy = cache / built.name
    shutil.copyfile(built, copy)
    copy.chmod(0o755)
    monkeypatch.setenv("PYTEST_ANONVMA_CACHE", str(cache))
    assert build.sandbox_binary() == copy.resolve()
    with LiveMM() as mm:
        assert os.path.realpath(f"/proc/{mm.pid}/exe") == str(copy.resolve())


def test_new_cache_folder_is_private_and_the_build_read_only(
        fresh: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A missing cache folder and the folders above it that it needs are made 0700, and the
    binary is not group-writable, under a umask of 002."""
    cache = tmp_path / "new" / "cache"
    monkeypatch.setenv("PYTEST_ANONVMA_CACHE", str(cache))
    old = os.umask(0o002)
    try:
        chosen = build.sandbox_binary()
    finally:
        os.umask(old)
    assert chosen == cache.resolve() / chosen.name
    assert [stat.S_IMODE(os.stat(p).st_mode) for p in (cache, cache.parent)] == [0o700, 0o700]
    assert stat.S_IMODE(os.stat(chosen).st_mode) == 0o755


def test_private_build_is_removed_at_exit(built: Path, tmp_path: Path) -> None:
    """The private folder of a rebuilt sandbox does not outlive the process."""
    shared = _folder(tmp_path / "shared", 0o777)
    code = textwrap.dedent("""
        from pytest_anonvma.live import LiveMM, build
        with LiveMM() as mm:
            print(build.sandbox_binary())
    """)
    env = {**os.environ, "PYTEST_ANONVMA_CACHE": str(shared)}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    chosen = Path(proc.stdout.strip())
    assert chosen.parent != shared and chosen.name == built.name
    assert not chosen.parent.exists()
    assert list(shared.iterdir()) == []
