"""Compiling C for the live backend: the sandbox (built at first use, cached) and exported cases.

The sandbox is C rather than Python because a touch must fault in the sandbox's own mm exactly as
the CPU would and survive the SIGSEGV/SIGBUS: Python cannot catch a fault raised under ctypes, and
``process_vm_readv``-style access goes through get_user_pages, which refuses reads of write-only
or exec-only VMAs that the x86 CPU allows and reports every fault as EFAULT (no SIGBUS). A static
C binary also keeps the sandbox's own address space to a handful of loader-made VMAs.

The compiler is ``$CC`` (default ``cc``). Binaries are cached under ``$PYTEST_ANONVMA_CACHE``,
else ``$XDG_CACHE_HOME/pytest-anonvma``, else ``~/.cache/pytest-anonvma``, keyed by a hash of the
sources and the compiler, and written atomically (safe under pytest-xdist).

A cached binary is executed only if nobody else could have written it or can still replace it:
the file is a regular file owned by us and not writable by group or others, and the folder and
every folder above it belong to us or root and are not writable by group or others, unless
sticky (like ``/tmp``: others may add names there, but not rename or remove ours, and a name they
took first fails the owner check). Otherwise the sandbox is built in a private folder (mode
0700, made by :func:`tempfile.mkdtemp`, removed at exit) and that copy is used for the process.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import os
import shlex
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

__all__ = [
    "BuildError",
    "c_compiler",
    "c_source",
    "cache_dir",
    "compile_c",
    "sandbox_binary",
    "touch_header",
]

_CFLAGS = ("-O2", "-Wall", "-Wextra", "-Werror")


class BuildError(RuntimeError):
    """A C program could not be built; the message carries the compiler's first error line."""


def c_compiler() -> list[str] | None:
    """The compiler command (``$CC``, default ``cc``) as an argv prefix, or None if not found."""
    argv = shlex.split(os.environ.get("CC", "") or "cc")
    if not argv or shutil.which(argv[0]) is None:
        return None
    return argv


def cache_dir() -> Path:
    """The directory holding compiled sandboxes (created on demand)."""
    explicit = os.environ.get("PYTEST_ANONVMA_CACHE")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "pytest-anonvma"


def c_source(name: str) -> str:
    """The text of one of the C files shipped in this package (``sandbox.c``, ``touch.h``...)."""
    return resources.files("pytest_anonvma.live").joinpath(name).read_text(encoding="utf-8")


def touch_header() -> str:
    """The text of ``touch.h``: fault-catching one-byte touches shared by sandbox and exports."""
    return c_source("touch.h")


def _sandbox_source() -> str:
    """``sandbox.c`` with ``touch.h`` inlined, so the build needs no include path."""
    return c_source("sandbox.c").replace('#include "touch.h"\n', touch_header())


def _first_error(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    for line in lines:
        if "error" in line:
            return line.strip()
    return lines[0].strip() if lines else "no compiler output"


def compile_c(source: str, output: Path, *, extra_flags: Sequence[str] = ()) -> None:
    """Compile one C translation unit ``source`` into the executable ``output``.

    Raises :class:`BuildError` if there is no compiler or the compiler fails.
    """
    cc = c_compiler()
    if cc is None:
        raise BuildError("no C compiler found (set CC or install cc)")
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="anonvma-cc-") as tmp:
        src = Path(tmp) / "program.c"
        src.write_text(source, encoding="utf-8")
        argv = [*cc, *_CFLAGS, *extra_flags, "-o", str(output), str(src)]
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BuildError(f"{shlex.join(cc)} failed: {_first_error(proc.stderr + proc.stdout)}")


def _compiler_identity(cc: list[str]) -> str:
    proc = subprocess.run([*cc, "--version"], capture_output=True, text=True, check=False)
    return shlex.join(cc) + "\n" + proc.stdout


def _safe_folder(folder: Path) -> bool:
    """Can only we (or root) change what ``folder`` and every folder above it hold?"""
    for path in (folder, *folder.parents):
        st = os.stat(path)
        if st.st_uid not in (os.geteuid(), 0) or not stat.S_ISDIR(st.st_mode):
            return False
        if st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX:
            return False
    return True


def _safe_binary(path: Path) -> bool:
    """Is ``path`` a regular file of ours that neither group nor others may write?"""
    st = os.lstat(path)
    return stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o022


def _cache_folder() -> Path | None:
    """The cache folder resolved, or None if it is not safe; the folders it needs are made
    0700 (as the XDG spec asks of cache folders), so that a umask of 002 does not spoil them."""
    try:
        folder = cache_dir().absolute()
        for missing in reversed([p for p in (folder, *folder.parents) if not p.exists()]):
            missing.mkdir(mode=0o700, exist_ok=True)
        folder = folder.resolve(strict=True)
        return folder if _safe_folder(folder) else None
    except OSError:
        return None


def _private_folder() -> Path:
    """A new folder only we can use (mode 0700), removed at interpreter exit."""
    folder = tempfile.mkdtemp(prefix="pytest-anonvma-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return Path(folder)


def _build_sandbox(source: str, target: Path) -> None:
    """Compile the sandbox into ``target`` atomically (a temporary name, then a rename)."""
    fd, tmp_name = tempfile.mkstemp(prefix=".sandbox-", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        try:
            compile_c(source, tmp, extra_flags=("-static",))
        except BuildError:
            compile_c(source, tmp)
        os.chmod(tmp, 0o755)  # the linker's mode follows the umask: maybe group-writable
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@functools.cache
def sandbox_binary() -> Path:
    """The path of the compiled sandbox, building it on first use (static if libc.a exists).

    A cached copy that someone else could have written is never used (see the module's text).
    """
    cc = c_compiler()
    if cc is None:
        raise BuildError("no C compiler found (set CC or install cc)")
    source = _sandbox_source()
    key = hashlib.sha256((source + _compiler_identity(cc)).encode()).hexdigest()[:16]
    name = f"sandbox-{key}"
    folder = _cache_folder()
    if folder is not None:
        target = folder / name
        try:
            if _safe_binary(target):
                return target
        except FileNotFoundError:
            try:
                _build_sandbox(source, target)
                return target
            except OSError:  # a folder we may not write (a root-owned one, read-only...)
                pass
    target = _private_folder() / name
    _build_sandbox(source, target)
    return target
