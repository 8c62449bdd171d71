"""Seeded operation sequences over anonymous and shmem memory in the arena, as cases.

Case ``n`` of seed ``s`` (id ``gen-s-n``) comes from its own ``random.Random`` seeded by the text
``"anonvma-generated:s:n"``, so it is the same on every run, every xdist worker and every
implementation, and does not depend on the other cases or on global random state.

A :class:`Builder` writes the steps. It keeps a rough sketch of each address space (what it
mapped, with which protection and backing, and where it put markers) only to aim its operations
at interesting places: it never predicts outcomes, the oracles do. It is biased towards the
shapes where a design may lose guard markers (docs/spec.md §4): mprotect merging a guarded VMA
into a neighbour, MAP_FIXED filling the gap next to a guarded VMA, mremap moving a guarded VMA
next to a compatible neighbour, and fork after those. Every choice goes through a
:class:`Chooser`, so the hypothesis explorer drives the same builder with drawn data.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from pytest_anonvma import constants as C
from pytest_anonvma.cases.corpus import Case
from pytest_anonvma.cases.steps import (
    ADVICE,
    ROOT_MM,
    Action,
    Fork,
    Madvise,
    Memfd,
    Mlock,
    Mmap,
    Mprotect,
    Mremap,
    Munlock,
    Munmap,
    Read,
    Write,
)

__all__ = [
    "CHILDREN",
    "EXPLORER_NEEDS",
    "FILE_PAGES",
    "KINDS",
    "OPERATIONS",
    "ORACLE_NEEDS",
    "OTHER_ADVICE",
    "PRIVATE_FILE",
    "SHARED_FILE",
    "WINDOW",
    "Builder",
    "Chooser",
    "RandomChooser",
    "case_id",
    "case_needs",
    "generate_case",
    "generated_cases",
]

#: arena pages the generated operations use (mremap targets included)
WINDOW = 24
#: size of each memfd the sequences map, in pages (room for a file offset equal to the page)
FILE_PAGES = 32
#: names of the fork children, in creation order (at most this many forks per sequence)
CHILDREN = ("child", "child2")
#: steps per generated sequence (inclusive bounds): long enough to build deep states (several
#: VMAs, forks, moves) and for each case to be a test xdist can hand out profitably
MIN_STEPS, MAX_STEPS = 40, 104
#: every advice except the guard pair (their own operations) and MADV_COLLAPSE, which acts on
#: PMD-sized (512-page) ranges the window never spans and needs the ``thp`` capability
OTHER_ADVICE = tuple(sorted(set(ADVICE) - {"guard_install", "guard_remove", "collapse"}))
#: memfds: one only ever mapped shared, one only ever mapped private (so a private mapping's
#: unwritten pages always read the file's zeros, whatever the shared one holds)
SHARED_FILE, PRIVATE_FILE = "s", "p"
KINDS = ("anon", "shared-anon", "file-shared", "file-private")
#: what the oracles need of every implementation they judge: they look at the pages
ORACLE_NEEDS = frozenset({"pages"})
#: the kinds of step the builder writes
_STEP_KINDS: tuple[type[Action], ...] = (
    Fork, Madvise, Memfd, Mlock, Mmap, Mprotect, Mremap, Munlock, Munmap, Read, Write
)
#: the capabilities the explorer's operations use (an implementation lacking one is skipped): the
#: oracles' and those of the steps the builder writes (a file mapping needs the memfd before it);
#: here rather than in the explorer so that collecting it does not import hypothesis
EXPLORER_NEEDS = ORACLE_NEEDS.union(*(kind.needs for kind in _STEP_KINDS))
PROTS = (C.PROT_READ | C.PROT_WRITE, C.PROT_READ, C.PROT_NONE)
RW = C.PROT_READ | C.PROT_WRITE

T = TypeVar("T")


class Chooser(Protocol):
    """Where the builder's choices come from (a seeded Random, or hypothesis data)."""

    def below(self, n: int) -> int:
        """An integer in ``0..n-1`` (``n >= 1``)."""
        ...

    def chance(self, percent: int) -> bool:
        """True with about ``percent`` % probability."""
        ...


@dataclass
class RandomChooser:
    """Choices from one ``random.Random``."""

    rng: random.Random

    def below(self, n: int) -> int:
        """An integer in ``0..n-1``."""
        return self.rng.randrange(n)

    def chance(self, percent: int) -> bool:
        """True with ``percent`` % probability."""
        return self.rng.randrange(100) < percent


def _pick(chooser: Chooser, options: Sequence[T]) -> T:
    return options[chooser.below(len(options))]


def _between(chooser: Chooser, low: int, high: int) -> int:
    """An integer in ``low..high`` inclusive."""
    return low + chooser.below(high - low + 1)


@dataclass(frozen=True)
class Region:
    """A run of pages the builder mapped alike (its guess at a VMA)."""

    first: int
    end: int
    prot: int
    kind: str

    @property
    def count(self) -> int:
        """Pages in the run."""
        return self.end - self.first


@dataclass
class Sketch:
    """The builder's rough picture of one address space (aiming only, never an oracle)."""

    mapped: dict[int, tuple[int, str]] = field(default_factory=dict)
    guarded: set[int] = field(default_factory=set)

    def regions(self) -> list[Region]:
        """Runs of mapped pages with the same protection and backing."""
        out: list[Region] = []
        for page in sorted(self.mapped):
            prot, kind = self.mapped[page]
            last = out[-1] if out else None
            if last and last.end == page and (last.prot, last.kind) == (prot, kind):
                out[-1] = Region(last.first, page + 1, prot, kind)
            else:
                out.append(Region(page, page + 1, prot, kind))
        return out

    def gaps(self) -> list[tuple[int, int]]:
        """Runs of unmapped pages inside the window, as (first, end)."""
        out: list[tuple[int, int]] = []
        for page in range(WINDOW):
            if page in self.mapped:
                continue
            if out and out[-1][1] == page:
                out[-1] = (out[-1][0], page + 1)
            else:
                out.append((page, page + 1))
        return out

    def map(self, first: int, count: int, prot: int, kind: str) -> None:
        """Record a mapping (replacing what was there, markers included)."""
        for page in range(first, first + count):
            self.mapped[page] = (prot, kind)
            self.guarded.discard(page)

    def unmap(self, first: int, count: int) -> None:
        """Record an unmapping."""
        for page in range(first, first + count):
            self.mapped.pop(page, None)
            self.guarded.discard(page)

    def copy(self) -> Sketch:
        """A fork child's picture."""
        return Sketch(dict(self.mapped), set(self.guarded))


class Builder:
    """Writes operation steps through a :class:`Chooser`, tracking a :class:`Sketch` per
    address space. Each ``op_*`` method appends one or more steps to :attr:`steps`."""

    def __init__(self, chooser: Chooser, kinds: Sequence[str] = KINDS) -> None:
        unknown = sorted(set(kinds) - set(KINDS))
        if unknown or not kinds:
            raise ValueError(f"memory kinds must be some of {', '.join(KINDS)}; got "
                             f"{', '.join(unknown) or 'none'}")
        self.chooser = chooser
        #: the memory kinds the sequence maps (the soak restricts them, e.g. to anonymous)
        self.kinds = tuple(kinds)
        self.steps: list[Action] = []
        self.sketches: dict[str, Sketch] = {ROOT_MM: Sketch()}
        self.files: set[str] = set()

    # -- small helpers ------------------------------------------------------------------------

    def _emit(self, step: Action) -> None:
        self.steps.append(step)

    def _mm(self) -> str:
        """The address space an operation runs on: mostly the parent."""
        names = list(self.sketches)
        if len(names) == 1 or not self.chooser.chance(35):
            return ROOT_MM
        return _pick(self.chooser, names[1:])

    def _region(self, mm: str) -> Region | None:
        regions = self.sketches[mm].regions()
        return _pick(self.chooser, regions) if regions else None

    def _range_in(self, region: Region, most: int = 4) -> tuple[int, int]:
        first = _between(self.chooser, region.first, region.end - 1)
        count = _between(self.chooser, 1, min(most, region.end - first))
        return first, count

    def _any_range(self, most: int = 4) -> tuple[int, int]:
        first = self.chooser.below(WINDOW)
        return first, _between(self.chooser, 1, min(most, WINDOW - first))

    def _target_range(self, mm: str) -> tuple[int, int]:
        """A range to act on: around a marker, inside a mapping, or anywhere."""
        sketch = self.sketches[mm]
        if sketch.guarded and self.chooser.chance(50):
            page = _pick(self.chooser, sorted(sketch.guarded))
            first = max(0, page - self.chooser.below(2))
            return first, _between(self.chooser, page - first + 1, min(page - first + 3,
                                                                        WINDOW - first))
        region = self._region(mm)
        if region is not None and self.chooser.chance(80):
            return self._range_in(region)
        return self._any_range()

    def _mmap(self, mm: str, first: int, count: int, prot: int, kind: str,
              populate: bool = False) -> None:
        file = {"file-shared": SHARED_FILE, "file-private": PRIVATE_FILE}.get(kind)
        if file is not None:
            self.files.add(file)
        offset = first if file is not None else 0  # adjacent file mappings stay mergeable
        shared = kind in ("shared-anon", "file-shared")
        self._emit(Mmap(first, count, prot, file, shared, offset, populate, mm=mm))
        self.sketches[mm].map(first, count, prot, kind)

    def _kind(self) -> str:
        roll = self.chooser.below(100)
        kind = "anon" if roll < 60 else KINDS[1 + roll % 3]
        return kind if kind in self.kinds else self.kinds[roll % len(self.kinds)]

    def _prot_near(self, mm: str, first: int, end: int) -> int:
        """The protection of a neighbour of ``first..end`` (to provoke merges), or any."""
        mapped = self.sketches[mm].mapped
        near = [mapped[p][0] for p in (first - 1, end) if p in mapped]
        if near and self.chooser.chance(70):
            return _pick(self.chooser, near)
        return _pick(self.chooser, PROTS)

    def _kind_near(self, mm: str, first: int, end: int) -> str:
        mapped = self.sketches[mm].mapped
        near = [mapped[p][1] for p in (first - 1, end) if p in mapped]
        return _pick(self.chooser, near) if near and self.chooser.chance(75) else self._kind()

    # -- operations ---------------------------------------------------------------------------

    def op_mmap(self) -> None:
        """A MAP_FIXED mmap: next to a mapping, filling a gap, over markers, or anywhere."""
        mm = self._mm()
        sketch = self.sketches[mm]
        gaps = sketch.gaps()
        roll = self.chooser.below(100)
        if roll < 70 and gaps and sketch.mapped:
            first, end = _pick(self.chooser, gaps)
            count = _between(self.chooser, 1, min(4, end - first))
            if self.chooser.chance(50):  # against the gap's right end
                first = end - count
        elif roll < 85 and sketch.guarded:
            page = _pick(self.chooser, sorted(sketch.guarded))
            first, count = page, _between(self.chooser, 1, min(3, WINDOW - page))
        else:
            first, count = self._any_range()
        end = first + count
        self._mmap(mm, first, count, self._prot_near(mm, first, end),
                   self._kind_near(mm, first, end), populate=self.chooser.chance(8))

    def op_munmap(self) -> None:
        """munmap part of a mapping (or any range)."""
        mm = self._mm()
        first, count = self._target_range(mm)
        self._emit(Munmap(first, count, mm=mm))
        self.sketches[mm].unmap(first, count)

    def op_mprotect(self) -> None:
        """mprotect around markers or inside a mapping, often to a neighbour's protection."""
        mm = self._mm()
        first, count = self._target_range(mm)
        prot = self._prot_near(mm, first, first + count)
        self._emit(Mprotect(first, count, prot, mm=mm))
        sketch = self.sketches[mm]
        for page in range(first, first + count):
            if page in sketch.mapped:
                sketch.mapped[page] = (prot, sketch.mapped[page][1])

    def op_guard(self) -> None:
        """Install markers: part of a mapping, all of it, or a range that may span holes."""
        mm = self._mm()
        region = self._region(mm)
        if region is None or self.chooser.chance(12):
            first, count = self._any_range(3)
        elif self.chooser.chance(25):
            first, count = region.first, region.count
        else:
            first, count = self._range_in(region, 3)
        self._emit(Madvise(first, count, "guard_install", mm=mm))
        sketch = self.sketches[mm]
        sketch.guarded.update(p for p in range(first, first + count) if p in sketch.mapped)

    def op_unguard(self) -> None:
        """Remove markers: the whole mapping holding one (flag clearing) or part of it."""
        mm = self._mm()
        sketch = self.sketches[mm]
        regions = [r for r in sketch.regions() if any(r.first <= g < r.end for g in sketch.guarded)]
        if regions and self.chooser.chance(80):
            region = _pick(self.chooser, regions)
            first, count = ((region.first, region.count) if self.chooser.chance(55)
                            else self._range_in(region, 3))
        else:
            first, count = self._target_range(mm)
        self._emit(Madvise(first, count, "guard_remove", mm=mm))
        sketch.guarded.difference_update(range(first, first + count))

    def op_madvise(self) -> None:
        """Any other advice, over markers or inside a mapping."""
        mm = self._mm()
        first, count = self._target_range(mm)
        self._emit(Madvise(first, count, _pick(self.chooser, OTHER_ADVICE), mm=mm))

    def op_mlock(self) -> None:
        """mlock or munlock a range (an mlocked VMA refuses guard installs)."""
        mm = self._mm()
        first, count = self._target_range(mm)
        cls = Mlock if self.chooser.chance(60) else Munlock
        self._emit(cls(first, count, mm=mm))

    def op_mremap(self) -> None:
        """Shrink or grow a mapping in place, or move it (often next to a neighbour)."""
        mm = self._mm()
        sketch = self.sketches[mm]
        region = self._region(mm)
        if region is None:
            self.op_mmap()
            return
        first, count = ((region.first, region.count) if self.chooser.chance(60)
                        else self._range_in(region))
        roll = self.chooser.below(100)
        if roll < 20 and count > 1:  # shrink in place
            new = _between(self.chooser, 1, count - 1)
            self._emit(Mremap(first, count, new, mm=mm))
            sketch.unmap(first + new, count - new)
            return
        if roll < 35:  # grow in place
            room = WINDOW - first - count
            if room > 0:
                new = count + _between(self.chooser, 1, min(3, room))
                self._emit(Mremap(first, count, new, mm=mm))
            return
        new = count if self.chooser.chance(75) else _between(self.chooser, 1, count + 2)
        target = self._move_target(sketch, region, new)
        if target is None:
            return
        dontunmap = region.kind == "anon" and new == count and self.chooser.chance(10)
        self._emit(Mremap(first, count, new, maymove=True, fixed=target, dontunmap=dontunmap,
                          mm=mm))
        moved = {target + p - first for p in sketch.guarded if first <= p < first + min(count,
                                                                                          new)}
        if not dontunmap:
            sketch.unmap(first, count)
        sketch.unmap(target, new)
        sketch.map(target, new, region.prot, region.kind)
        sketch.guarded |= moved

    def _move_target(self, sketch: Sketch, region: Region, count: int) -> int | None:
        """Where to move: right after or before another mapping (to merge), or any free spot."""
        others = [r for r in sketch.regions() if r != region]
        if others and self.chooser.chance(70):
            other = _pick(self.chooser, others)
            target = other.end if self.chooser.chance(60) else other.first - count
        else:
            target = self.chooser.below(WINDOW)
        overlap = region.first < target + count and target < region.end
        if target < 0 or target + count > WINDOW or overlap:
            return None
        return target

    def op_write(self) -> None:
        """Write a byte to a mapped page (or a marker, or anything)."""
        mm = self._mm()
        page = self._touch_page(mm)
        self._emit(Write(page, page, 1 + self.chooser.below(255), mm=mm))

    def op_read(self) -> None:
        """Read a page: a marker, a mapped page, or anything."""
        mm = self._mm()
        page = self._touch_page(mm)
        self._emit(Read(page, page, mm=mm))

    def _touch_page(self, mm: str) -> int:
        sketch = self.sketches[mm]
        if sketch.guarded and self.chooser.chance(35):
            return _pick(self.chooser, sorted(sketch.guarded))
        if sketch.mapped and self.chooser.chance(85):
            return _pick(self.chooser, sorted(sketch.mapped))
        return self.chooser.below(WINDOW)

    def op_fork(self) -> None:
        """Fork the parent (or a child); then often read the parent's markers in the child."""
        if len(self.sketches) > len(CHILDREN):
            self.op_read()
            return
        parent = ROOT_MM if len(self.sketches) == 1 or self.chooser.chance(75) else self._mm()
        child = CHILDREN[len(self.sketches) - 1]
        self._emit(Fork(child, mm=parent))
        self.sketches[child] = self.sketches[parent].copy()
        guarded = sorted(self.sketches[parent].guarded)
        if guarded and self.chooser.chance(70):
            page = _pick(self.chooser, guarded)
            self._emit(Read(page, page, mm=child))

    def op_cow(self) -> None:
        """Write a page before and after a fork on both sides, then read it on both: private
        data must be copied, shared data shared."""
        mapped = sorted(self.sketches[ROOT_MM].mapped)
        if not mapped:
            self.op_mmap()
            return
        page = _pick(self.chooser, mapped)
        self._emit(Write(page, page, 1 + self.chooser.below(255)))
        if len(self.sketches) == 1:
            self.op_fork()
        if len(self.sketches) == 1:
            return
        child = _pick(self.chooser, list(self.sketches)[1:])
        writer, reader = (child, ROOT_MM) if self.chooser.chance(60) else (ROOT_MM, child)
        self._emit(Write(page, page, 1 + self.chooser.below(255), mm=writer))
        self._emit(Read(page, page, mm=reader))
        self._emit(Read(page, page, mm=writer))

    # -- the hazard shapes --------------------------------------------------------------------

    def op_hazard(self) -> None:
        """One of the shapes that lose markers in rfc-v1 (docs/spec.md §4), with random sizes,
        backing and extras, then often a fork."""
        _pick(self.chooser, (self._mprotect_merge, self._gap_fill, self._move_next_to,
                             self._merge_right))()
        if self.chooser.chance(65):
            self.op_fork()

    def _fresh(self, count: int) -> int | None:
        """A free run of ``count`` pages in the parent (or None)."""
        fits = [(first, end) for first, end in self.sketches[ROOT_MM].gaps()
                if end - first >= count]
        if not fits:
            return None
        first, end = _pick(self.chooser, fits)
        return _between(self.chooser, first, end - count)

    def _maybe_touch(self, page: int) -> None:
        """Sometimes fault the page first (a real anon_vma changes what a merge carries)."""
        if self.chooser.chance(20):
            self._emit(Write(page, page, 1 + self.chooser.below(255)))

    def _mprotect_merge(self) -> None:
        """mprotect a page away and back around a guard install: it merges into a neighbour."""
        count = _between(self.chooser, 2, 4)
        first = self._fresh(count)
        if first is None:
            return
        prot, kind = _pick(self.chooser, (RW, RW, C.PROT_READ)), self._kind()
        self._mmap(ROOT_MM, first, count, prot, kind)
        page = _between(self.chooser, first, first + count - 1)
        other = C.PROT_READ if prot == RW else RW
        self._maybe_touch(first)
        self._emit(Mprotect(page, 1, other))
        self._guard_at(page)
        self._emit(Mprotect(page, 1, prot))

    def _merge_right(self) -> None:
        """mprotect the head of a mapping away, guard it, and back: next grows down over it."""
        count = _between(self.chooser, 2, 4)
        first = self._fresh(count)
        if first is None:
            return
        head = _between(self.chooser, 1, count - 1)
        kind = self._kind()
        self._mmap(ROOT_MM, first, count, RW, kind)
        self._emit(Mprotect(first, head, C.PROT_READ))
        self._guard_at(first + self.chooser.below(head))
        self._maybe_touch(first + count - 1)
        self._emit(Mprotect(first, head, RW))

    def _gap_fill(self) -> None:
        """Map both sides of a gap alike, guard one side, then fill the gap with MAP_FIXED."""
        left, gap, right = (_between(self.chooser, 1, 3) for _ in range(3))
        first = self._fresh(left + gap + right)
        if first is None:
            return
        prot, kind = _pick(self.chooser, (RW, RW, C.PROT_READ)), self._kind()
        self._mmap(ROOT_MM, first, left, prot, kind)
        self._mmap(ROOT_MM, first + left + gap, right, prot, kind)
        guard_left = self.chooser.chance(40)
        self._guard_at(first if guard_left else first + left + gap)
        self._maybe_touch(first + left + gap if guard_left else first)
        self._mmap(ROOT_MM, first + left, gap, prot, kind)

    def _move_next_to(self) -> None:
        """mremap a guarded mapping right next to a compatible one."""
        count, other = _between(self.chooser, 1, 3), _between(self.chooser, 1, 3)
        first = self._fresh(other + count + 1 + count)
        if first is None:
            return
        prot, kind = _pick(self.chooser, (RW, RW, C.PROT_READ)), self._kind()
        source = first + other + count + 1
        self._mmap(ROOT_MM, first, other, prot, kind)
        self._mmap(ROOT_MM, source, count, prot, kind)
        self._guard_at(source + self.chooser.below(count))
        self._maybe_touch(first)
        self._emit(Mremap(source, count, count, maymove=True, fixed=first + other))
        sketch = self.sketches[ROOT_MM]
        moved = {first + other + p - source for p in sketch.guarded
                 if source <= p < source + count}
        sketch.unmap(source, count)
        sketch.map(first + other, count, prot, kind)
        sketch.guarded |= moved

    def _guard_at(self, page: int) -> None:
        """Guard ``page`` (and sometimes the page after it) in the parent."""
        sketch = self.sketches[ROOT_MM]
        count = 2 if page + 1 in sketch.mapped and self.chooser.chance(25) else 1
        self._emit(Madvise(page, count, "guard_install"))
        sketch.guarded.update(range(page, page + count))

    def memfds(self) -> list[Memfd]:
        """The ``memfd`` steps that must open the sequence: every file it maps, created in the
        parent before anything else (a file descriptor made later is not inherited)."""
        return [Memfd(name, FILE_PAGES) for name in sorted(self.files)]

    def op_start(self) -> None:
        """The first mapping of a sequence: a few read-write pages."""
        count = _between(self.chooser, 2, 4)
        self._mmap(ROOT_MM, self.chooser.below(WINDOW - count), count, RW, self._kind())

    # -- the mix ------------------------------------------------------------------------------

    #: (weight, NAME) of each operation ``op_NAME`` a step may be: the one list of them (the
    #: explorer's rules are these too)
    MIX: tuple[tuple[int, str], ...] = (
        (11, "mmap"), (4, "munmap"), (9, "mprotect"), (11, "guard"), (6, "unguard"),
        (9, "madvise"), (3, "mlock"), (7, "mremap"), (8, "write"), (9, "read"), (6, "fork"),
        (12, "hazard"), (4, "cow"),
    )

    def play(self, operation: str) -> None:
        """Append the steps of operation ``op_<operation>``."""
        getattr(self, f"op_{operation}")()

    def op_any(self) -> None:
        """One operation chosen by :attr:`MIX` weight."""
        roll = self.chooser.below(sum(weight for weight, _ in self.MIX))
        for weight, name in self.MIX:
            if roll < weight:
                self.play(name)
                return
            roll -= weight


#: the operations a generated step may be, by name (``Builder.op_NAME``; the explorer's rules)
OPERATIONS = tuple(name for _, name in Builder.MIX)


def case_id(seed: int, n: int) -> str:
    """The id of generated case ``n`` of ``seed``."""
    return f"gen-{seed}-{n}"


def case_needs(steps: Sequence[Action]) -> frozenset[str]:
    """The capabilities a sequence needs: its steps' plus :data:`ORACLE_NEEDS`."""
    return ORACLE_NEEDS.union(*(step.capabilities() for step in steps))


def generate_case(seed: int, n: int, length: int | None = None,
                  kinds: Sequence[str] = KINDS) -> Case:
    """Generated case ``n`` of ``seed``: a guard-tier Case of actions only (the oracles of
    :mod:`pytest_anonvma.generate.check` supply the expectations).

    ``length`` fixes the number of operations (default: random in ``MIN_STEPS..MAX_STEPS``)
    and ``kinds`` restricts the memory mapped (:data:`KINDS`); with the defaults the case is
    the one the plugin generates.
    """
    chooser = RandomChooser(random.Random(f"anonvma-generated:{seed}:{n}"))
    builder = Builder(chooser, kinds)
    size = _between(chooser, MIN_STEPS, MAX_STEPS)  # drawn anyway: the same choices follow
    builder.op_start()
    while len(builder.steps) < (size if length is None else length):
        builder.op_any()
    actions = builder.steps if length is None else builder.steps[:length]
    steps = (*builder.memfds(), *actions)
    return Case(
        id=case_id(seed, n),
        about=f"Generated sequence {n} of seed {seed} ({len(steps)} steps).",
        source=f"pytest_anonvma.generate: --anonvma-seed={seed}, case {n}",
        tier="guard",
        needs=case_needs(steps),
        steps=steps,
    )


def generated_cases(seed: int, count: int) -> list[Case]:
    """Cases ``0..count-1`` of ``seed``."""
    return [generate_case(seed, n) for n in range(count)]
