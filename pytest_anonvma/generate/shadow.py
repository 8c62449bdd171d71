"""The shadow: a deliberately tiny model of what each page holds, the independent oracle.

It knows nothing of VMAs, anon_vmas or designs. Per address space and arena page it keeps what
a reader must see, written from the kernel's documented semantics (``madvise(2)``,
``mremap(2)``, ``fork(2)``, docs/spec.md §2):

* whether the page is mapped, and by what: private anonymous memory, or a page of a shared object
  (a memfd page, or the object behind one ``MAP_SHARED|MAP_ANONYMOUS`` mapping) mapped shared or
  private;
* this address space's private copy of the byte at the page's start (``data``; ``None`` is no
  private copy: anonymous memory reads 0, a private file page reads the file);
* the fork disposition flags set by ``madvise`` (``VM_DONTCOPY``, ``VM_WIPEONFORK``).

Objects' bytes live in one store shared by every address space, so shared data is shared and
private data is copied at fork (copy-on-write). The shadow advances on the outcome the
implementation reported for each step; where a failed or partial step leaves it unsure, it stops
claiming anything about the pages concerned (``murky`` pages, unknown data or flags) rather than
guess. Guard markers are not predicted here: they are checked as transitions between the
implementation's own observations (:mod:`pytest_anonvma.generate.oracles`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pytest_anonvma.cases.steps import (
    ROOT_MM,
    Action,
    Fork,
    Madvise,
    Mlock,
    Mmap,
    Mremap,
    Munmap,
    Write,
)
from pytest_anonvma.generate.perform import Outcome

__all__ = ["Shadow", "ShadowMM", "ShadowPage"]

#: advice that changes what a private page reads (the rest leave data alone)
_DATA_ADVICE = frozenset({"dontneed", "free", "remove", "guard_install", "populate_write"})
#: advice that sets or clears a fork disposition flag: (flag attribute, new value)
_FORK_ADVICE = {
    "dontfork": ("dontcopy", True),
    "dofork": ("dontcopy", False),
    "wipeonfork": ("wipe", True),
    "keeponfork": ("wipe", False),
}

ObjectPage = tuple[str, int]


@dataclass
class ShadowPage:
    """One mapped page of one address space."""

    #: the object page mapped here (memfd name or shared-anonymous object, page index);
    #: None for private anonymous memory
    obj: ObjectPage | None
    #: MAP_SHARED (writes go to the object) or MAP_PRIVATE (writes make a private copy)
    shared: bool
    #: this address space's private copy of the byte; None: no private copy
    data: int | None = None
    #: False once a step may have changed the private copy in a way the shadow cannot tell
    data_known: bool = True
    #: VM_DONTCOPY / VM_WIPEONFORK of the page's VMA; None: unknown
    dontcopy: bool | None = False
    wipe: bool | None = False

    def fork_disposition(self) -> str | None:
        """``drop`` (not in the child), ``wipe`` (child starts empty), ``copy``; None: unknown."""
        if self.dontcopy is None:
            return None
        if self.dontcopy:
            return "drop"
        if self.wipe is None:
            return None
        return "wipe" if self.wipe else "copy"

    def extended(self, by: int) -> ShadowPage:
        """The page ``by`` pages further in the same VMA (mremap growing it): same object, next
        object page, no private data, same flags."""
        obj = None if self.obj is None else (self.obj[0], self.obj[1] + by)
        return ShadowPage(obj, self.shared, None, True, self.dontcopy, self.wipe)


@dataclass
class ShadowMM:
    """One address space: mapped pages, and pages the shadow lost track of (``murky``)."""

    pages: dict[int, ShadowPage] = field(default_factory=dict)
    murky: set[int] = field(default_factory=set)

    def forget(self, pages: Iterable[int]) -> None:
        """Stop claiming anything about ``pages`` (mapped or not, contents, flags)."""
        for page in pages:
            self.pages.pop(page, None)
            self.murky.add(page)

    def unmap(self, pages: Iterable[int]) -> None:
        """``pages`` are now unmapped."""
        for page in pages:
            self.pages.pop(page, None)
            self.murky.discard(page)

    def mapped(self, pages: Iterable[int]) -> list[ShadowPage]:
        """The known mapped pages among ``pages``."""
        return [self.pages[p] for p in pages if p in self.pages]

    def entry(self, page: int) -> ShadowPage | str | None:
        """What the shadow knows of ``page``: its ShadowPage, None (unmapped) or ``"murky"``."""
        if page in self.murky:
            return "murky"
        return self.pages.get(page)

    def place(self, page: int, entry: ShadowPage | str | None) -> None:
        """Put an :meth:`entry` value at ``page``."""
        if entry == "murky":
            self.forget([page])
        elif isinstance(entry, ShadowPage):
            self.murky.discard(page)
            self.pages[page] = entry
        else:
            self.unmap([page])


@dataclass
class Shadow:
    """Every address space of a run plus the object store (``parent`` exists from the start)."""

    mms: dict[str, ShadowMM] = field(default_factory=lambda: {ROOT_MM: ShadowMM()})
    #: bytes of object pages; absent means 0 (a new memfd reads zeros); None: unknown
    objects: dict[ObjectPage, int | None] = field(default_factory=dict)
    #: True once a write may have gone to an object page the shadow cannot name
    objects_lost: bool = False
    _shared_anon: int = 0

    # -- queries -------------------------------------------------------------------------------

    def object_value(self, obj: ObjectPage) -> int | None:
        """The byte of an object page (None: unknown)."""
        return None if self.objects_lost else self.objects.get(obj, 0)

    def expected_value(self, mm: str, page: int) -> int | None:
        """The byte a successful read of ``page`` in ``mm`` must return; None: no claim."""
        shadow = self.mms[mm].pages.get(page)
        if shadow is None or not shadow.data_known:
            return None
        if shadow.shared and shadow.obj is not None:
            return self.object_value(shadow.obj)
        if shadow.data is not None:
            return shadow.data
        return 0 if shadow.obj is None else self.object_value(shadow.obj)

    def known_unmapped(self, mm: str, page: int) -> bool:
        """Is ``page`` certainly unmapped in ``mm`` (so any touch must fault)?"""
        return self.mms[mm].entry(page) is None

    def fork_disposition(self, mm: str, page: int) -> str | None:
        """What fork does with ``page`` of ``mm``: ``copy``, ``wipe``, ``drop``; None: unknown
        (``drop`` too for an unmapped page)."""
        entry = self.mms[mm].entry(page)
        if entry == "murky":
            return None
        return entry.fork_disposition() if isinstance(entry, ShadowPage) else "drop"

    # -- advancing -----------------------------------------------------------------------------

    def apply(self, step: Action, outcome: Outcome) -> None:
        """Advance over ``step``, which the implementation reports as ``outcome``. Steps a
        reader sees no change from (mprotect, munlock, reads, memfd) leave the shadow alone."""
        advance = _ADVANCE.get(type(step))
        if advance is not None:
            advance(self, self.mms[step.mm], step, outcome)

    def _munmap(self, mm: ShadowMM, step: Munmap, outcome: Outcome) -> None:
        pages = range(step.first, step.first + step.count)
        mm.unmap(pages) if outcome.ok else mm.forget(pages)

    def _mlock(self, mm: ShadowMM, step: Mlock, outcome: Outcome) -> None:
        # populating a private file page may copy it (writable VMAs): stop claiming its data
        for page in mm.mapped(range(step.first, step.first + step.count)):
            if page.obj is not None and not page.shared and page.data is None:
                page.data_known = False

    def _forked(self, mm: ShadowMM, step: Fork, outcome: Outcome) -> None:
        if outcome.ok:
            self.mms[step.child] = self._child(mm)

    def _mmap(self, mm: ShadowMM, step: Mmap, outcome: Outcome) -> None:
        pages = range(step.first, step.first + step.count)
        if not outcome.ok:
            mm.forget(pages)
            return
        name = step.file
        if name is None and step.shared:
            self._shared_anon += 1
            name = f"shared-anon#{self._shared_anon}"
        for i, page in enumerate(pages):
            obj = None if name is None else (name, step.offset + i)
            entry = ShadowPage(obj, step.shared)
            if step.populate and obj is not None and not step.shared:
                entry.data_known = False  # MAP_POPULATE may copy a private file page
            mm.place(page, entry)

    def _madvise(self, mm: ShadowMM, step: Madvise, outcome: Outcome) -> None:
        pages = mm.mapped(range(step.first, step.first + step.count))
        # a hole makes madvise fail with ENOMEM after every mapped part was advised
        done = outcome.ok or outcome.result == "ENOMEM"
        advice = step.advice
        if advice in _FORK_ADVICE:
            attr, value = _FORK_ADVICE[advice]
            for page in pages:
                setattr(page, attr, value if done else None)
            return
        if advice not in _DATA_ADVICE:
            return
        for page in pages:
            if not done:
                page.data_known = False
                if advice == "remove" and page.shared and page.obj is not None:
                    self.objects[page.obj] = None
            elif advice == "remove":  # punch a hole in the object
                if page.obj is not None:
                    self.objects[page.obj] = 0
                page.data = None
            elif advice == "free" and not page.shared:
                page.data_known = False  # freed lazily: the old byte or zero
            elif advice == "populate_write" and not page.shared:
                if page.data is None and page.obj is not None:  # write fault: private copy
                    page.data = self.object_value(page.obj)
                    page.data_known = page.data is not None
            elif advice in ("dontneed", "guard_install") and not page.shared:
                page.data = None  # private copy zapped
                page.data_known = True

    def _mremap(self, mm: ShadowMM, step: Mremap, outcome: Outcome) -> None:
        old = range(step.first, step.first + step.count)
        target = step.first if step.fixed is None else step.fixed
        keep = min(step.count, step.new_count)
        if not outcome.ok:
            if step.fixed is not None:  # a fixed move unmaps its target and the old tail first
                mm.forget([*old[keep:], *range(step.fixed, step.fixed + step.new_count)])
            return
        # copies: emptying the old range (MREMAP_DONTUNMAP) must not empty what moved
        moved = [copy.copy(mm.entry(page)) for page in old]
        last = moved[-1]
        if step.fixed is not None:
            if step.dontunmap:
                for page in mm.mapped(old):  # the old VMA stays, emptied
                    page.data = None
            else:
                mm.unmap(old)
            mm.unmap(range(step.fixed, step.fixed + step.new_count))
        else:
            mm.unmap(range(step.first + keep, step.first + step.count))
        for i in range(step.new_count):
            if i < keep:
                entry = copy.copy(moved[i])
            elif isinstance(last, ShadowPage):
                entry = last.extended(i - step.count + 1)
            else:
                entry = "murky"
            mm.place(target + i, entry)

    def _write(self, mm: ShadowMM, step: Write, outcome: Outcome) -> None:
        end = step.last + 1 if outcome.ok else (outcome.page or step.first)
        for page in range(step.first, end):
            entry = mm.entry(page)
            if isinstance(entry, ShadowPage):
                if entry.shared and entry.obj is not None:
                    self.objects[entry.obj] = step.value
                else:
                    entry.data, entry.data_known = step.value, True
            elif entry == "murky":
                self.objects_lost = True  # it may have been a shared page of some object

    @staticmethod
    def _child(parent: ShadowMM) -> ShadowMM:
        child = ShadowMM(murky=set(parent.murky))
        for page, entry in parent.pages.items():
            disposition = entry.fork_disposition()
            if disposition is None:
                child.murky.add(page)
            elif disposition == "wipe":  # the child's VMA starts empty, keeps VM_WIPEONFORK
                child.pages[page] = ShadowPage(entry.obj, entry.shared, None, True, False, True)
            elif disposition == "copy":
                child.pages[page] = copy.copy(entry)
        return child


#: how the shadow advances over each kind of action that changes what a reader sees
_ADVANCE: dict[type[Action], Callable[[Shadow, ShadowMM, Any, Outcome], None]] = {
    Mmap: Shadow._mmap,
    Munmap: Shadow._munmap,
    Madvise: Shadow._madvise,
    Mlock: Shadow._mlock,
    Mremap: Shadow._mremap,
    Write: Shadow._write,
    Fork: Shadow._forked,
}
