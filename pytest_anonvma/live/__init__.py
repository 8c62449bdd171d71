"""The running kernel as an implementation of the MM contract (``live``).

``LiveMM()`` drives a sandbox process (a small C program built with ``cc`` at first use) that
makes the real system calls in its own address space; see ``docs/kernel-fidelity.md``.
:func:`live_unavailable_reason` says, in one line, why this machine cannot run it (or None).
"""

from __future__ import annotations

from pytest_anonvma.live.build import BuildError
from pytest_anonvma.live.mm import DEFAULT_TIMEOUT, LiveMM, LiveShmemFile
from pytest_anonvma.live.probe import (
    KernelFeatures,
    LiveUnavailable,
    kernel_features,
    live_unavailable_reason,
)
from pytest_anonvma.live.process import SandboxDied, SandboxError, SandboxTimeout

__all__ = [
    "DEFAULT_TIMEOUT",
    "BuildError",
    "KernelFeatures",
    "LiveMM",
    "LiveShmemFile",
    "LiveUnavailable",
    "SandboxDied",
    "SandboxError",
    "SandboxTimeout",
    "kernel_features",
    "live_unavailable_reason",
]
