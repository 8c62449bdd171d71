"""The model engine: :class:`ModelMM`, one simulated address space implementing ``contract.MM``.

Each method is a syscall (or a CPU access) routed to the module mirroring the kernel file that
implements it; a design (``pytest_anonvma.designs``) supplies the policy at the patch's
decision points. Kernel errors come back as ``OSError(errno)``; touches raise
``SegmentationFault`` / ``BusError``.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pytest_anonvma.capabilities import CAPABILITIES, STATS_KEYS
from pytest_anonvma.contract import PageState, SegmentationFault, VMAInfo
from pytest_anonvma.designs import get_design
from pytest_anonvma.model.fork import dup_mmap
from pytest_anonvma.model.khugepaged import retractable
from pytest_anonvma.model.madvise import do_madvise_steps
from pytest_anonvma.model.memory import (
    PTE,
    handle_mm_fault_steps,
    page_state,
    pagemap_read,
    zap_page_range,
)
from pytest_anonvma.model.mlock import do_mlock, sys_munlock
from pytest_anonvma.model.mm import (
    vma_anon_vma_addr,
    vma_anon_vma_flags,
    vma_maybe_has_pagetables,
)
from pytest_anonvma.model.mm_types import (
    ERAS,
    PAGE_SIZE,
    ULONG_MAX,
    VM_EXEC,
    VM_READ,
    VM_WRITE,
    VMA,
    Kernel,
    MMStruct,
    vm_flag_names,
)
from pytest_anonvma.model.mmap import TASK_SIZE, do_mmap, sys_munmap
from pytest_anonvma.model.mprotect import do_mprotect_pkey
from pytest_anonvma.model.mremap import do_mremap
from pytest_anonvma.model.shmem import ShmemFile, memfd_create
from pytest_anonvma.model.stepping import MMAP_WRITE, LockStep, Steps, run_steps
from pytest_anonvma.model.vma import validate_mm

if TYPE_CHECKING:
    from pytest_anonvma.model.internals import ModelInternals

__all__ = ["BASE_CAPABILITIES", "STATS_KEYS", "STEPPED_METHODS", "ModelMM"]

#: what every model address space can show: every capability but ``guard-flag``, which the
#: designs showing ``VM_MAYBE_GUARD`` add
BASE_CAPABILITIES = frozenset(CAPABILITIES) - {"guard-flag"}
#: the calls :meth:`ModelMM.stepped` takes: the contract's system calls and touches
STEPPED_METHODS = frozenset(
    {"mmap", "munmap", "mprotect", "madvise", "mlock", "munlock", "mremap", "memfd", "read",
     "write", "fork"}
)
#: memfd_create's limit on the name (``MFD_NAME_MAX_LEN``)
MFD_NAME_MAX_LEN = 249


def _int_arg(method: str, name: str, value: object) -> int:
    """``value`` as an int argument of ``method``; TypeError naming it otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{method}(): {name} must be an int, not {type(value).__name__}")
    return value


def _check(result: int) -> int:
    """Raise ``OSError`` for a negative errno, else pass the result through."""
    if result < 0:
        raise OSError(-result, os.strerror(-result))
    return result


def _prot_of(vm_flags: int) -> int:
    """PROT_* bits of VM_READ/WRITE/EXEC (their values coincide on Linux)."""
    return vm_flags & (VM_READ | VM_WRITE | VM_EXEC)


class ModelMM:
    """A simulated address space of one design on one era (the bundled implementations).

    ``design`` is a bundled design name (``baseline``, ``rfc-v1``, ``reference``,
    ``maybe-guard``); ``era`` the mm/vma.c rules (``"2025-03"`` or ``"6.18"``), by default the
    design's own. Children from :meth:`fork` share the anon_vma "slab" of their parent.
    """

    def __init__(self, design: str = "reference", era: str | None = None) -> None:
        if not isinstance(design, str):
            raise TypeError(f"ModelMM(): design must be a str, not {type(design).__name__}")
        if era is not None and not isinstance(era, str):
            raise TypeError(f"ModelMM(): era must be a str or None, not {type(era).__name__}")
        policy = get_design(design)
        era = era if era is not None else policy.default_era
        if era not in ERAS:
            raise LookupError(f"ModelMM(): unknown era {era!r}; known: {', '.join(ERAS)}")
        self.design: str = design
        self.era: str = era
        self.mm = MMStruct(policy, era, Kernel())
        caps = set(BASE_CAPABILITIES)
        if policy.uses_guard_flag:
            caps.add("guard-flag")
        self.capabilities: frozenset[str] = frozenset(caps)
        self._internals: ModelInternals | None = None
        self.closed = False
        #: this mm and every mm forked from it (they share one kernel): for validate()
        self._family = [self.mm]

    @classmethod
    def _child_of(cls, parent: ModelMM) -> ModelMM:
        """An empty mm for a fork child: same design, era and kernel as ``parent``."""
        child = cls.__new__(cls)
        child.design, child.era, child.capabilities = parent.design, parent.era, parent.capabilities
        child.mm = MMStruct(get_design(parent.design), parent.era, parent.mm.kernel)
        child._internals = None
        child.closed = False
        child._family = parent._family
        parent._family.append(child.mm)
        return child

    def __repr__(self) -> str:
        state = " closed" if self.closed else f" {self.mm.map_count} VMAs"
        return f"<ModelMM {self.design}@{self.era}{state}>"

    def _live(self, method: str) -> MMStruct:
        if self.closed:
            raise ValueError(f"{method}(): the address space is closed")
        return self.mm

    # -- syscalls ------------------------------------------------------------------------------
    def mmap(
        self,
        addr: int | None,
        length: int,
        prot: int,
        flags: int,
        file: Any = None,
        offset: int = 0,
    ) -> int:
        """``mmap(2)``: returns the start address; ``addr=None`` lets the model place it."""
        mm = self._live("mmap")
        start = 0 if addr is None else _int_arg("mmap", "addr", addr)
        length = _int_arg("mmap", "length", length)
        prot = _int_arg("mmap", "prot", prot)
        flags = _int_arg("mmap", "flags", flags)
        offset = _int_arg("mmap", "offset", offset)
        if file is not None and not isinstance(file, ShmemFile):
            raise TypeError(
                f"mmap(): file must be a handle from memfd() or None, not {type(file).__name__}"
            )
        length, offset = length & ULONG_MAX, offset & ULONG_MAX
        return _check(do_mmap(mm, start & ULONG_MAX, length, prot, flags, file, offset))

    def munmap(self, addr: int, length: int) -> None:
        """``munmap(2)``."""
        mm = self._live("munmap")
        addr = _int_arg("munmap", "addr", addr)
        _check(sys_munmap(mm, addr & ULONG_MAX, _int_arg("munmap", "length", length)))

    def mprotect(self, addr: int, length: int, prot: int) -> None:
        """``mprotect(2)``."""
        mm = self._live("mprotect")
        addr = _int_arg("mprotect", "addr", addr)
        length = _int_arg("mprotect", "length", length)
        _check(do_mprotect_pkey(mm, addr & ULONG_MAX, length, _int_arg("mprotect", "prot", prot)))

    def madvise(self, addr: int, length: int, advice: int) -> None:
        """``madvise(2)``, guard install/remove included."""
        run_steps(self._madvise_steps(addr, length, advice))

    def _madvise_steps(self, addr: int, length: int, advice: int) -> Steps[None]:
        mm = self._live("madvise")
        addr = _int_arg("madvise", "addr", addr)
        length = _int_arg("madvise", "length", length)
        advice = _int_arg("madvise", "advice", advice)
        _check((yield from do_madvise_steps(mm, addr & ULONG_MAX, length, advice)))

    def mlock(self, addr: int, length: int) -> None:
        """``mlock(2)``: lock and fault in."""
        mm = self._live("mlock")
        addr = _int_arg("mlock", "addr", addr)
        _check(do_mlock(mm, addr & ULONG_MAX, _int_arg("mlock", "length", length)))

    def munlock(self, addr: int, length: int) -> None:
        """``munlock(2)``."""
        mm = self._live("munlock")
        addr = _int_arg("munlock", "addr", addr)
        _check(sys_munlock(mm, addr & ULONG_MAX, _int_arg("munlock", "length", length)))

    def mremap(
        self,
        old_addr: int,
        old_length: int,
        new_length: int,
        flags: int = 0,
        new_addr: int | None = None,
    ) -> int:
        """``mremap(2)``: returns the resulting address."""
        mm = self._live("mremap")
        old_addr = _int_arg("mremap", "old_addr", old_addr)
        old_length = _int_arg("mremap", "old_length", old_length)
        new_length = _int_arg("mremap", "new_length", new_length)
        flags = _int_arg("mremap", "flags", flags)
        target = 0 if new_addr is None else _int_arg("mremap", "new_addr", new_addr)
        return _check(
            do_mremap(mm, old_addr & ULONG_MAX, old_length, new_length, flags, target & ULONG_MAX)
        )

    def memfd(self, name: str, length: int) -> ShmemFile:
        """``memfd_create(name)`` + ``ftruncate(length)``: a shmem file handle for ``mmap``."""
        self._live("memfd")
        if not isinstance(name, str):
            raise TypeError(f"memfd(): name must be a str, not {type(name).__name__}")
        length = _int_arg("memfd", "length", length)
        if len(name.encode()) > MFD_NAME_MAX_LEN or "\0" in name:
            raise OSError(errno.EINVAL, f"memfd(): invalid name {name!r}")
        if length < 0:
            raise OSError(errno.EINVAL, "memfd(): negative length")
        return memfd_create(name, length)

    # -- the CPU -------------------------------------------------------------------------------
    def _touch_steps(self, method: str, addr: int, write: bool) -> Steps[tuple[PTE, int]]:
        mm = self._live(method)
        addr = _int_arg(method, "addr", addr)
        if not 0 <= addr < TASK_SIZE:
            raise SegmentationFault(addr & ULONG_MAX, "not a user address")
        pte = yield from handle_mm_fault_steps(mm, addr, write)
        return pte, addr & (PAGE_SIZE - 1)

    def _read_steps(self, addr: int) -> Steps[int]:
        pte, offset = yield from self._touch_steps("read", addr, write=False)
        return pte.folio.data[offset]

    def _write_steps(self, addr: int, value: int) -> Steps[None]:
        value = _int_arg("write", "value", value)
        if not 0 <= value <= 0xFF:
            raise ValueError(f"write(): value must be a byte (0..255), got {value}")
        pte, offset = yield from self._touch_steps("write", addr, write=True)
        pte.folio.data[offset] = value

    def read(self, addr: int) -> int:
        """Read one byte, faulting like the CPU (SegmentationFault / BusError)."""
        return run_steps(self._read_steps(addr))

    def write(self, addr: int, value: int) -> None:
        """Write one byte (0..255), faulting like the CPU (SegmentationFault / BusError)."""
        run_steps(self._write_steps(addr, value))

    def stepped(self, method: str, *args: Any) -> Steps[Any]:
        """Capability ``interleave``: the call ``method(*args)`` as atomic steps (see
        docs/contract.md, "The stepping protocol"). Iterating yields a
        :class:`~pytest_anonvma.model.stepping.LockStep` before each step and performs it on the
        next iteration; the generator returns the call's result or raises its error. madvise
        and touches take several steps; every other call is one step under the exclusive
        ``mmap_lock``."""
        if method not in STEPPED_METHODS:
            raise ValueError(f"stepped(): {method!r} is not a method of the contract's MM")
        fine: dict[str, Callable[..., Steps[Any]]] = {
            "madvise": self._madvise_steps, "read": self._read_steps, "write": self._write_steps}
        if method in fine:
            return (yield from fine[method](*args))
        yield LockStep(f"{method}()", "mmap_lock (write)", MMAP_WRITE)
        return getattr(self, method)(*args)

    def page(self, addr: int) -> PageState:
        """The page-table state of ``addr``'s page, without faulting."""
        mm = self._live("page")
        return page_state(mm, _int_arg("page", "addr", addr))

    def page_states(self, addr: int, npages: int) -> str:
        """The states of ``npages`` pages from ``addr``'s as ``.``/``P``/``G``, in one call."""
        mm = self._live("page_states")
        npages = _int_arg("page_states", "npages", npages)
        return pagemap_read(mm, _int_arg("page_states", "addr", addr), npages)

    # -- process ---------------------------------------------------------------------------------
    def fork(self) -> ModelMM:
        """``fork()``: a child address space (``dup_mmap``); COW for private pages."""
        mm = self._live("fork")
        child = ModelMM._child_of(self)
        err = dup_mmap(child.mm, mm)
        if err:
            child.close()
            _check(err)
        return child

    def close(self) -> None:
        """Tear the address space down (``exit_mmap``): every VMA's anon_vmas and PTEs go."""
        if self.closed:
            return
        from pytest_anonvma.model.rmap import unlink_anon_vmas

        mm = self.mm
        for vma in list(mm):
            zap_page_range(mm, vma.vm_start, vma.vm_end, zap_guards=True)
            unlink_anon_vmas(vma)
            mm.unlink(vma)
        self.closed = True

    def __enter__(self) -> ModelMM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- introspection ---------------------------------------------------------------------------
    def vmas(self) -> list[VMAInfo]:
        """Every VMA, sorted by start, as :class:`VMAInfo`."""
        return [self._info(vma) for vma in self._live("vmas")]

    @staticmethod
    def _info(vma: VMA) -> VMAInfo:
        addr = vma_anon_vma_addr(vma)
        return VMAInfo(
            start=vma.vm_start,
            end=vma.vm_end,
            prot=_prot_of(vma.vm_flags),
            flags=vm_flag_names(vma.vm_flags),
            pgoff=vma.vm_pgoff,
            file=vma.vm_file.name if vma.vm_file is not None else None,
            anon_vma=addr or None,
            anon_vma_flags=vma_anon_vma_flags(vma),
            maybe_has_pagetables=vma_maybe_has_pagetables(vma),
        )

    def stats(self) -> Mapping[str, int]:
        """Slab allocations and frees of anon_vma / anon_vma_chain, and fork page-table copies."""
        counters = self._live("stats").stats
        return {key: counters[key] for key in STATS_KEYS} | {
            key: value for key, value in counters.items() if key not in STATS_KEYS
        }

    def retractable(self, addr: int) -> bool:
        """Would khugepaged's ``retract_page_tables`` free the page table covering ``addr``?"""
        return retractable(self._live("retractable"), _int_arg("retractable", "addr", addr))

    @property
    def internals(self) -> ModelInternals:
        """The mm/vma.c-level API (capability ``internals``) over a separate harness mm.

        The harness replaces rmap and page-table teardown by its stubs, so it gets its own
        empty mm of the same design and era; this address space is not affected.
        """
        if self._internals is None:
            from pytest_anonvma.model.internals import ModelInternals

            self._internals = ModelInternals(MMStruct(get_design(self.design), self.era, Kernel()))
        return self._internals

    def validate(self) -> None:
        """Check every invariant of the mm (``validate_mm``); AssertionError naming the breach."""
        validate_mm(self._live("validate"), self._family)
