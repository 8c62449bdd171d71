"""``LiveMM``: the MM contract on the running kernel, one sandbox process per address space.

Every operation is the real system call made by the sandbox (``sandbox.c``) in its own mm;
errors come back as ``OSError`` with the kernel's errno, touches fault like the CPU and come back
as :class:`SegmentationFault` / :class:`BusError`. Observations come from the sandbox's
``/proc/PID/smaps`` (VMAs) and ``/proc/PID/pagemap`` (page states), read by the controller.

The sandbox's own VMAs (its static binary, ``[heap]``, ``[stack]``, ``[vdso]``...) are recorded
at start and left out of :meth:`LiveMM.vmas`; they lie far from the arena and the sandbox maps
nothing after start, so nothing of its own can appear in or next to the arena.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pytest_anonvma.cases.arena import ARENA_BASE, ARENA_PAGES
from pytest_anonvma.constants import ERA_6_18, ERA_2025_03, PAGE_SIZE
from pytest_anonvma.contract import BusError, MemoryFault, PageState, SegmentationFault, VMAInfo
from pytest_anonvma.live.probe import kernel_features
from pytest_anonvma.live.process import Sandbox, SandboxError
from pytest_anonvma.live.procfs import page_state, parse_smaps, vma_info
from pytest_anonvma.live.protocol import Op, Reply

__all__ = ["DEFAULT_TIMEOUT", "KERNEL_CAPABILITIES", "LiveMM", "LiveShmemFile"]

#: seconds a sandbox may take to answer one request before it is killed
DEFAULT_TIMEOUT = 10.0
#: no VMA of the sandbox's own may lie this close to the arena
_ARENA_MARGIN = 1 << 30

#: what a running kernel with VM_MAYBE_GUARD lets us observe (no anon_vma, stats, thp, internals)
KERNEL_CAPABILITIES = frozenset(
    {"pages", "layout", "files", "fork", "mremap", "mlock", "guard-flag"}
)

_SEGV_CODES = {1: "SEGV_MAPERR", 2: "SEGV_ACCERR", 3: "SEGV_BNDERR", 4: "SEGV_PKUERR"}
_BUS_CODES = {1: "BUS_ADRALN", 2: "BUS_ADRERR", 3: "BUS_OBJERR"}


@dataclass(frozen=True, eq=False)
class LiveShmemFile:
    """A memfd created in a sandbox: ``name`` as given, ``fd`` its number in the sandbox.

    Usable by the sandbox that created it and by every sandbox forked from it afterwards
    (they inherit the descriptor).
    """

    name: str
    fd: int
    length: int


@dataclass(frozen=True)
class _Family:
    """What a sandbox and its forks share: the VMAs the first sandbox had at start."""

    own: tuple[tuple[int, int], ...]

    def is_own(self, start: int, end: int) -> bool:
        """Does [start, end) overlap a VMA the sandbox had before the test mapped anything?"""
        return any(start < own_end and own_start < end for own_start, own_end in self.own)


def _own_vmas(sandbox: Sandbox) -> _Family:
    own = tuple((e.start, e.end) for e in parse_smaps(sandbox.smaps()))
    lo = ARENA_BASE - _ARENA_MARGIN
    hi = ARENA_BASE + ARENA_PAGES * PAGE_SIZE + _ARENA_MARGIN
    for start, end in own:
        if start < hi and lo < end:
            sandbox.close()
            raise SandboxError(
                f"live sandbox has its own mapping {start:#x}-{end:#x} within 1 GiB of the arena"
            )
    return _Family(own)


def _fault(reply: Reply, addr: int) -> MemoryFault:
    if reply.sig == signal.SIGSEGV:
        return SegmentationFault(addr, _SEGV_CODES.get(reply.code, f"si_code {reply.code}"))
    if reply.sig == signal.SIGBUS:
        return BusError(addr, _BUS_CODES.get(reply.code, f"si_code {reply.code}"))
    raise SandboxError(f"touch at {addr:#x} raised unexpected signal {reply.sig}")


class LiveMM:
    """An address space on the running kernel (the ``live`` implementation).

    ``LiveMM(timeout=10.0)`` starts a sandbox process; raises ``LiveUnavailable`` (with the
    reason :func:`live_unavailable_reason` gives) when the kernel cannot serve. Not thread-safe.
    A sandbox that dies makes the next operation raise ``SandboxDied``; one that does not answer
    within ``timeout`` seconds is killed and the operation raises ``SandboxTimeout``.
    """

    capabilities: frozenset[str]
    design: str
    era: str

    def __init__(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        features = kernel_features()
        if features.maybe_guard_flag:
            self.design, self.era = "maybe-guard", ERA_6_18
            self.capabilities = KERNEL_CAPABILITIES
        else:
            # a kernel with guard regions but no VM_MAYBE_GUARD prepares an anon_vma on install
            self.design, self.era = "baseline", ERA_2025_03
            self.capabilities = KERNEL_CAPABILITIES - {"guard-flag"}
        sandbox = Sandbox.spawn(timeout)
        self._attach(sandbox, _own_vmas(sandbox), {})

    def _attach(self, sandbox: Sandbox, family: _Family, files: dict[int, LiveShmemFile]) -> None:
        self._sandbox = sandbox
        self._family = family
        self._files = files

    @property
    def pid(self) -> int:
        """The sandbox process id (for diagnostics)."""
        return self._sandbox.pid

    @property
    def timeout(self) -> float:
        """Seconds one request may take before the sandbox is killed."""
        return self._sandbox.timeout

    def __repr__(self) -> str:
        state = "closed" if self._sandbox.closed else f"pid {self.pid}"
        return f"<LiveMM {self.design}@{self.era} {state}>"

    def _syscall(self, op: Op, *args: int) -> int:
        reply = self._sandbox.call(op, *args)
        if reply.err:
            raise OSError(reply.err, os.strerror(reply.err))
        return reply.ret

    def _fd_of(self, file: Any) -> int:
        if not isinstance(file, LiveShmemFile):
            raise TypeError(f"file must be a memfd from LiveMM.memfd(), got {type(file).__name__}")
        if self._files.get(file.fd) is not file:
            raise ValueError(
                f"memfd {file.name!r} was not created in this address space or one it forked from"
            )
        return file.fd

    def mmap(
        self,
        addr: int | None,
        length: int,
        prot: int,
        flags: int,
        file: Any = None,
        offset: int = 0,
    ) -> int:
        """``mmap(2)`` in the sandbox; returns the start address."""
        fd = -1 if file is None else self._fd_of(file)
        return self._syscall(Op.MMAP, addr or 0, length, prot, flags, fd, offset)

    def munmap(self, addr: int, length: int) -> None:
        """``munmap(2)`` in the sandbox."""
        self._syscall(Op.MUNMAP, addr, length)

    def mprotect(self, addr: int, length: int, prot: int) -> None:
        """``mprotect(2)`` in the sandbox."""
        self._syscall(Op.MPROTECT, addr, length, prot)

    def madvise(self, addr: int, length: int, advice: int) -> None:
        """``madvise(2)`` in the sandbox (guard install/remove included)."""
        self._syscall(Op.MADVISE, addr, length, advice)

    def mlock(self, addr: int, length: int) -> None:
        """``mlock(2)`` in the sandbox (its RLIMIT_MEMLOCK is raised to the hard limit)."""
        self._syscall(Op.MLOCK, addr, length)

    def munlock(self, addr: int, length: int) -> None:
        """``munlock(2)`` in the sandbox."""
        self._syscall(Op.MUNLOCK, addr, length)

    def mremap(
        self,
        old_addr: int,
        old_length: int,
        new_length: int,
        flags: int = 0,
        new_addr: int | None = None,
    ) -> int:
        """``mremap(2)`` in the sandbox; returns the new address."""
        return self._syscall(Op.MREMAP, old_addr, old_length, new_length, flags, new_addr or 0)

    def memfd(self, name: str, length: int) -> LiveShmemFile:
        """``memfd_create(name, 0)`` + ``ftruncate(length)`` in the sandbox."""
        raw = name.encode()
        if b"\0" in raw:
            raise ValueError(f"memfd name {name!r} contains a NUL byte")
        reply = self._sandbox.call(Op.MEMFD, length, name=raw)
        if reply.err:
            raise OSError(reply.err, os.strerror(reply.err))
        handle = LiveShmemFile(name=name, fd=reply.ret, length=length)
        self._files[handle.fd] = handle
        return handle

    def read(self, addr: int) -> int:
        """Load one byte in the sandbox as the CPU would; faults raise MemoryFault."""
        reply = self._sandbox.call(Op.READ, addr)
        if reply.sig:
            raise _fault(reply, addr)
        return reply.ret

    def write(self, addr: int, value: int) -> None:
        """Store one byte (0..255) in the sandbox as the CPU would; faults raise MemoryFault."""
        if not isinstance(value, int) or not 0 <= value <= 0xFF:
            raise ValueError(f"write value must be a byte 0..255, got {value!r}")
        reply = self._sandbox.call(Op.WRITE, addr, value)
        if reply.sig:
            raise _fault(reply, addr)

    def page(self, addr: int) -> PageState:
        """The page's state from pagemap: guard bit 58 -> GUARD; present or swapped -> PRESENT."""
        return page_state(self._sandbox.pagemap(addr)[0])

    def pages(self, addr: int, npages: int) -> list[PageState]:
        """States of ``npages`` consecutive pages from ``addr`` in one pagemap read."""
        return [page_state(entry) for entry in self._sandbox.pagemap(addr, npages)]

    def page_states(self, addr: int, npages: int) -> str:
        """:meth:`pages` as the contract's optional bulk method: ``.``/``P``/``G`` characters."""
        return "".join(state.char for state in self.pages(addr, npages))

    def fork(self) -> LiveMM:
        """Fork the sandbox (same ``dup_mmap`` as fork(2)); returns the child's LiveMM."""
        child = LiveMM.__new__(LiveMM)
        child.capabilities, child.design, child.era = self.capabilities, self.design, self.era
        child._attach(self._sandbox.fork(), self._family, dict(self._files))
        return child

    def vmas(self) -> list[VMAInfo]:
        """Every VMA the test made, from smaps, sorted by start (the sandbox's own left out)."""
        return [
            vma_info(entry)
            for entry in parse_smaps(self._sandbox.smaps())
            if not self._family.is_own(entry.start, entry.end)
        ]

    def stats(self) -> Mapping[str, int]:
        """Not observable on a running kernel (no ``stats`` capability)."""
        raise NotImplementedError("live: the kernel does not expose anon_vma allocation counts")

    def retractable(self, addr: int) -> bool:
        """Not observable on a running kernel (no ``thp`` capability)."""
        raise NotImplementedError("live: khugepaged retraction eligibility is not observable")

    def close(self) -> None:
        """Kill and reap the sandbox (idempotent)."""
        self._sandbox.close()

    def __enter__(self) -> LiveMM:
        """Context-manager entry: returns self."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Context-manager exit: closes."""
        self.close()
