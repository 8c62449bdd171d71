"""Can the running kernel serve as the ``live`` implementation? Probed once per process.

The probe builds the sandbox, starts one, checks that its ``smaps`` and ``pagemap`` are readable,
installs a guard marker on one arena page and looks for it in pagemap (bit 58) and for ``gu``
(VM_MAYBE_GUARD) in smaps. Every way it can fail is a one-line reason for a skip.
"""

from __future__ import annotations

import functools
import os
import platform
import sys
from dataclasses import dataclass

from pytest_anonvma.cases.arena import ARENA_BASE
from pytest_anonvma.constants import (
    MADV_GUARD_INSTALL,
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_PRIVATE,
    PAGE_SIZE,
    PROT_READ,
    PROT_WRITE,
)
from pytest_anonvma.live.build import BuildError, sandbox_binary
from pytest_anonvma.live.process import Sandbox, SandboxError
from pytest_anonvma.live.procfs import PM_GUARD_REGION, parse_smaps
from pytest_anonvma.live.protocol import Op

__all__ = ["KernelFeatures", "LiveUnavailable", "kernel_features", "live_unavailable_reason"]

#: machines whose mmap/madvise constants are the ones in pytest_anonvma.constants
_MACHINES = ("x86_64", "aarch64")
_PROBE_TIMEOUT = 10.0


class LiveUnavailable(RuntimeError):
    """The running kernel cannot be used as an implementation; the message is the reason."""


@dataclass(frozen=True)
class KernelFeatures:
    """What the probe found out about the running kernel."""

    release: str
    #: smaps shows ``gu`` (VM_MAYBE_GUARD) on a VMA after a guard install (the sticky-flag design)
    maybe_guard_flag: bool


def _probe_sandbox(sandbox: Sandbox, release: str) -> KernelFeatures | str:
    pid = sandbox.pid
    for name in ("smaps", "pagemap"):
        try:
            with open(f"/proc/{pid}/{name}", "rb") as f:
                f.read(8)
        except OSError as exc:
            return f"cannot read /proc/PID/{name} of a sandbox: {exc.strerror}"
    flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED
    reply = sandbox.call(Op.MMAP, ARENA_BASE, PAGE_SIZE, PROT_READ | PROT_WRITE, flags, -1, 0)
    if reply.err:
        return f"cannot map the arena at {ARENA_BASE:#x}: {os.strerror(reply.err)}"
    reply = sandbox.call(Op.MADVISE, ARENA_BASE, PAGE_SIZE, MADV_GUARD_INSTALL)
    if reply.err:
        return (
            f"kernel {release} has no guard regions (madvise MADV_GUARD_INSTALL: "
            f"{os.strerror(reply.err)}; needs Linux >= 6.13)"
        )
    if not sandbox.pagemap(ARENA_BASE)[0] & PM_GUARD_REGION:
        return (
            f"kernel {release} does not show guard markers in pagemap "
            "(PM_GUARD_REGION, bit 58; needs Linux >= 6.15)"
        )
    entry = next(e for e in parse_smaps(sandbox.smaps()) if e.start == ARENA_BASE)
    return KernelFeatures(release=release, maybe_guard_flag="gu" in entry.vmflags)


@functools.cache
def _probe() -> KernelFeatures | str:
    if not sys.platform.startswith("linux"):
        return f"the live backend needs Linux (this is {sys.platform})"
    machine = platform.machine()
    if machine not in _MACHINES:
        return f"the contract's mmap constants are x86-64/generic ones; {machine} differs"
    if os.sysconf("SC_PAGE_SIZE") != PAGE_SIZE:
        return f"page size is {os.sysconf('SC_PAGE_SIZE')}, the contract assumes {PAGE_SIZE}"
    try:
        sandbox_binary()
    except (BuildError, OSError) as exc:
        return f"cannot build the live sandbox: {exc}"
    release = platform.release()
    try:
        sandbox = Sandbox.spawn(_PROBE_TIMEOUT)
    except (SandboxError, OSError) as exc:
        return f"cannot start a live sandbox: {exc}"
    try:
        return _probe_sandbox(sandbox, release)
    except (SandboxError, OSError) as exc:
        return f"live sandbox probe failed: {exc}"
    finally:
        sandbox.close()


def live_unavailable_reason() -> str | None:
    """Why the live backend cannot run here (one line), or None if it can. Cached."""
    result = _probe()
    return result if isinstance(result, str) else None


def kernel_features() -> KernelFeatures:
    """The probed features; raises :class:`LiveUnavailable` with the reason if unusable."""
    result = _probe()
    if isinstance(result, str):
        raise LiveUnavailable(result)
    return result
