"""The step language of conformance cases: one line a step, parsed into frozen data classes.

A step is an *action* (a system call or a touch, run on one address space) or an
*expectation* (a check of the state after the steps before it). Each kind of step is one class
holding all of its behaviour: ``parse`` (a classmethod: the words after its keyword), ``body``
(those words written back: ``parse_step(s.format()) == s``, so generated cases and shrunk
failures print as ready-to-paste case text), and for an action ``calls`` (the MM methods that
perform it, with their arguments), which the case runner, the generated cases, the shadow's
driver and the soak all play. Addresses are arena pages (see
:mod:`pytest_anonvma.cases.arena`); counts are pages; page ranges in expectations and touches are
inclusive (``0..3`` is four pages). The grammar, with examples, is in ``docs/case-format.md``::

    [in NAME:] BODY [-> OUTCOME] [\\[[not] DESIGN ...\\]]   # comment
"""

from __future__ import annotations

import errno
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pytest_anonvma import constants
from pytest_anonvma.capabilities import STATS_KEYS
from pytest_anonvma.cases.arena import ARENA_PAGES, page_addr
from pytest_anonvma.constants import ERAS, VM_FLAG_NAMES

__all__ = [
    "ADVICE",
    "KEYWORDS",
    "ROOT_MM",
    "SIGNALS",
    "STATS_KEYS",
    "STEP_KINDS",
    "VMA_FIELDS",
    "Action",
    "Call",
    "Checkpoint",
    "DesignFilter",
    "Expectation",
    "Fork",
    "LayoutIs",
    "Madvise",
    "Memfd",
    "Mlock",
    "Mmap",
    "Mprotect",
    "Mremap",
    "Munlock",
    "Munmap",
    "PageExpectation",
    "Pages",
    "RangeAction",
    "Read",
    "Retractable",
    "Stats",
    "Step",
    "StepError",
    "Touch",
    "VmaExpectation",
    "VmaField",
    "VmaFlag",
    "VmaSameAnonVma",
    "Write",
    "format_prot",
    "names_apply",
    "parse_prot",
    "parse_step",
    "parse_steps",
]

#: the name of the address space a case starts with
ROOT_MM = "parent"
#: madvise advice names (``MADV_DONTNEED`` is written ``dontneed``)
ADVICE: dict[str, int] = {
    name[len("MADV_") :].lower(): value
    for name, value in vars(constants).items()
    if name.startswith("MADV_")
}
#: touch outcomes (``read 2 -> SIGSEGV``)
SIGNALS = ("SIGSEGV", "SIGBUS")
#: ``vma PAGE FIELD = VALUE`` fields and the capability each needs
VMA_FIELDS: dict[str, str] = {
    "anon_vma": "anon_vma",
    "anon_vma_flags": "anon_vma",
    "maybe_has_pagetables": "anon_vma",
    "prot": "layout",
    "pgoff": "layout",
}
_STATE_CHARS = ".PG"
_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
_DESIGN = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_PROT_BITS = (("r", constants.PROT_READ), ("w", constants.PROT_WRITE), ("x", constants.PROT_EXEC))
_RUN_MIN = 4  # runs of at least this many equal states are written ``G*N``


class StepError(ValueError):
    """A step line that cannot be read; the message says what is wrong, without the location."""


# --- small value syntaxes ------------------------------------------------------------------------


def parse_prot(text: str) -> int:
    """``none``, ``r``, ``rw``, ``rx``, ``rwx``... into PROT_* bits."""
    if text == "none":
        return constants.PROT_NONE
    prot = 0
    letters = "".join(letter for letter, _ in _PROT_BITS)
    for ch in text:
        bit = dict(_PROT_BITS).get(ch)
        if bit is None or prot & bit:
            raise StepError(f"bad protection {text!r} (use letters of {letters!r}, or 'none')")
        prot |= bit
    if not text:
        raise StepError("empty protection")
    return prot


def format_prot(prot: int) -> str:
    """PROT_* bits as ``none`` or ``r``/``rw``/``rwx``..."""
    return "".join(letter for letter, bit in _PROT_BITS if prot & bit) or "none"


def _int(text: str, what: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise StepError(f"{what}: expected a number, got {text!r}") from None


def _page(text: str, what: str = "page") -> int:
    page = _int(text, what)
    if not 0 <= page < ARENA_PAGES:
        raise StepError(f"{what} {page} is outside the arena (0..{ARENA_PAGES - 1})")
    return page


def _count(first: int, text: str) -> int:
    count = _int(text, "page count")
    if count < 1:
        raise StepError(f"page count must be at least 1, got {count}")
    if first + count > ARENA_PAGES:
        raise StepError(f"pages {first}+{count} run past the arena end ({ARENA_PAGES} pages)")
    return count


def _page_range(text: str) -> tuple[int, int]:
    """``A..B`` (inclusive) or ``A`` into (first, last)."""
    first_text, sep, last_text = text.partition("..")
    first = _page(first_text)
    last = _page(last_text) if sep else first
    if last < first:
        raise StepError(f"page range {text!r} runs backwards")
    return first, last


def _format_range(first: int, last: int) -> str:
    return str(first) if first == last else f"{first}..{last}"


def _address(text: str) -> tuple[int, int]:
    """``PAGE`` or ``PAGE+BYTES`` (an unaligned address, for alignment errors)."""
    page_text, sep, skew_text = text.partition("+")
    page = _page(page_text)
    skew = _int(skew_text, "byte offset") if sep else 0
    if sep and not 0 < skew < constants.PAGE_SIZE:
        raise StepError(f"byte offset in {text!r} must be within the page (1..4095)")
    return page, skew


def _format_value(value: int) -> str:
    return str(value) if value < 10 else hex(value)


def _byte(text: str) -> int:
    value = _int(text, "byte value")
    if not 0 <= value <= 0xFF:
        raise StepError(f"byte value {text!r} is not in 0..0xff")
    return value


def _bool(text: str) -> bool:
    if text not in ("true", "false"):
        raise StepError(f"expected true or false, got {text!r}")
    return text == "true"


def _name(text: str, what: str) -> str:
    if not _NAME.match(text):
        raise StepError(f"bad {what} {text!r} (lower-case letters, digits, '-', '_')")
    return text


def _states(tokens: list[str]) -> str:
    """``. G P P`` / ``.GPP`` / ``G*10`` tokens into one string of state characters."""
    out = []
    for token in tokens:
        char, star, times = token.partition("*")
        if star:
            if len(char) != 1 or char not in _STATE_CHARS:
                raise StepError(f"bad page-state run {token!r} (e.g. G*10)")
            count = _int(times, "run length")
            if not 0 < count <= ARENA_PAGES:
                raise StepError(f"page-state run {token!r}: the length must be 1..{ARENA_PAGES} "
                                "(the arena's pages)")
            out.append(char * count)
            continue
        bad = set(token) - set(_STATE_CHARS)
        if bad:
            raise StepError(f"bad page state {sorted(bad)[0]!r} (use . for empty, P, G)")
        out.append(token)
    if not out:
        raise StepError("no page states after '='")
    return "".join(out)


def _format_states(states: str) -> str:
    words = []
    i = 0
    while i < len(states):
        j = i
        while j < len(states) and states[j] == states[i]:
            j += 1
        if j - i >= _RUN_MIN:
            words.append(f"{states[i]}*{j - i}")
        else:
            words.extend(states[i:j])
        i = j
    return " ".join(words)


def _expect_len(args: list[str], n: int, usage: str) -> None:
    if len(args) != n:
        raise StepError(f"expected '{usage}'")


def _range_args(args: list[str], usage: str, extra: int = 0) -> tuple[int, int, int]:
    """FIRST[+BYTES] COUNT at the start of ``args``: (first, skew, count)."""
    if len(args) < 2 + extra:
        raise StepError(f"expected '{usage}'")
    first, skew = _address(args[0])
    return first, skew, _count(first, args[1])


def _range_line(args: list[str], usage: str, words: int) -> tuple[int, int, int]:
    """``FIRST[+BYTES] COUNT`` and nothing else but ``words - 2`` more words."""
    _expect_len(args, words, usage)
    return _range_args(args, usage)


def _advice(name: str) -> str:
    if name not in ADVICE:
        raise StepError(f"unknown madvise advice {name!r} (e.g. dontneed, free, guard_install)")
    return name


# --- the step classes ----------------------------------------------------------------------------


def names_apply(names: frozenset[str], design: str, era: str | None) -> bool:
    """Do design/era names cover an implementation? Designs listed must include ``design``, eras
    listed must include ``era``: ``maybe-guard 6.18`` is maybe-guard on the 6.18 era only."""
    eras = names & set(ERAS)
    designs = names - eras
    return (not designs or design in designs) and (not eras or era in eras)


@dataclass(frozen=True)
class DesignFilter:
    """The implementations an expectation applies to: ``[maybe-guard]``, ``[not baseline
    rfc-v1]``, ``[6.18]`` (every design on that era), ``[maybe-guard 6.18]`` (both must hold)."""

    names: frozenset[str]
    exclude: bool = False

    def applies(self, design: str, era: str | None = None) -> bool:
        """Is an implementation of design family ``design`` on ``era`` covered by this filter?"""
        return names_apply(self.names, design, era) != self.exclude

    def format(self) -> str:
        """The bracketed suffix."""
        return "[" + ("not " if self.exclude else "") + " ".join(sorted(self.names)) + "]"


@dataclass(frozen=True)
class Call:
    """One call of an MM method that performs (part of) an action: ``mm.METHOD(*ARGS)``."""

    method: str
    args: tuple[Any, ...] = ()
    #: the arena page a touch reads or writes (None for a system call)
    page: int | None = None
    #: the name the result is kept under when the call succeeds: a new address space (fork)...
    new_mm: str | None = None
    #: ... or a new memfd
    new_file: str | None = None

    def on(self, mm: Any) -> Any:
        """Make the call on ``mm``; its result (exceptions propagate)."""
        return getattr(mm, self.method)(*self.args)


@dataclass(frozen=True, kw_only=True)
class Step:
    """One line of a case: which address space it runs on (``in NAME:``), and where it was read.

    Each kind of step has its keyword, its :meth:`parse` (the words after the keyword), its
    :meth:`body` (the same words written back) and, for an action, its :meth:`Action.calls`.
    """

    mm: str = ROOT_MM
    line: int = field(default=0, compare=False)

    keyword: ClassVar[str] = ""
    #: the MM capabilities every step of this kind needs (see :meth:`capabilities`)
    needs: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def parse(cls, args: list[str]) -> Step:
        """The step written ``KEYWORD ARGS...`` (its address space and suffixes are set by
        :func:`parse_step`). Raises :class:`StepError`."""
        raise NotImplementedError

    @classmethod
    def parsers(cls) -> dict[str, Callable[[list[str]], Step]]:
        """The keywords that introduce this kind of step, each with its parser."""
        return {cls.keyword: cls.parse}

    def body(self) -> str:
        """The step without the ``in NAME:`` prefix and the suffixes."""
        raise NotImplementedError

    def format(self) -> str:
        """The canonical text of the step (``parse_step(s.format()) == s``)."""
        prefix = "" if self.mm == ROOT_MM else f"in {self.mm}: "
        return prefix + self.body() + self._suffix()

    def _suffix(self) -> str:
        return ""

    def capabilities(self) -> frozenset[str]:
        """The MM capabilities needed to run or check this step."""
        return self.needs

    def page_ranges(self) -> tuple[tuple[int, int], ...]:
        """Arena pages this step names, as half-open (first, end) ranges."""
        return ()


@dataclass(frozen=True, kw_only=True)
class Action(Step):
    """A step that does something; ``outcome`` is the expected errno or signal name, if any."""

    outcome: str | None = None

    def _suffix(self) -> str:
        return f" -> {self.outcome}" if self.outcome else ""

    def calls(self, files: Mapping[str, Any]) -> tuple[Call, ...]:
        """The MM method calls that perform this step, in order (``files``: the run's memfds by
        name, which :meth:`memfds` must all be in). Raises ValueError for a step that is no MM
        operation (``checkpoint``)."""
        raise ValueError(f"cannot perform {self.format()!r}")

    def memfds(self) -> frozenset[str]:
        """The memfds this step maps (they must exist before it runs)."""
        return frozenset()

    def wrong_result(self, result: Any) -> str | None:
        """What is wrong with the value a successful call returned (None: nothing)."""
        return None


@dataclass(frozen=True, kw_only=True)
class Expectation(Step):
    """A check of the state; ``designs`` limits it to some designs."""

    designs: DesignFilter | None = None

    def _suffix(self) -> str:
        return f"  {self.designs.format()}" if self.designs else ""


@dataclass(frozen=True)
class PageExpectation(Expectation):
    """An expectation about the VMA (or page table) holding arena page ``page``."""

    page: int

    def page_ranges(self) -> tuple[tuple[int, int], ...]:
        """The page naming the VMA."""
        return ((self.page, self.page + 1),)


# --- system calls --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RangeAction(Action):
    """A system call on ``count`` pages from ``first`` (``skew`` bytes into it, for EINVAL);
    alone, ``KEYWORD FIRST COUNT`` calling ``MM.KEYWORD(addr, length)``."""

    first: int
    count: int
    skew: int = field(default=0, kw_only=True)

    @classmethod
    def parse(cls, args: list[str]) -> Step:
        """``FIRST COUNT``."""
        first, skew, count = _range_line(args, f"{cls.keyword} FIRST COUNT", 2)
        return cls(first, count, skew=skew)

    def _range(self) -> str:
        start = f"{self.first}+{self.skew}" if self.skew else str(self.first)
        return f"{start} {self.count}"

    def body(self) -> str:
        """``KEYWORD FIRST COUNT``."""
        return f"{self.keyword} {self._range()}"

    def _span(self) -> tuple[int, int]:
        """The call's (address, length) in bytes."""
        return page_addr(self.first, self.skew), self.count * constants.PAGE_SIZE

    def calls(self, files: Mapping[str, Any]) -> tuple[Call, ...]:
        """``MM.KEYWORD(addr, length)``."""
        return (Call(self.keyword, self._span()),)

    def page_ranges(self) -> tuple[tuple[int, int], ...]:
        """The pages the call covers."""
        return ((self.first, self.first + self.count),)


@dataclass(frozen=True)
class Mmap(RangeAction):
    """``mmap FIRST COUNT PROT [shared] (anon | memfd:NAME) [offset N] [populate] [noreserve]``,
    always MAP_FIXED; ``offset`` is in pages."""

    prot: int = constants.PROT_READ | constants.PROT_WRITE
    file: str | None = None
    shared: bool = False
    offset: int = 0
    populate: bool = False
    noreserve: bool = False

    keyword: ClassVar[str] = "mmap"
    USAGE: ClassVar[str] = (
        "mmap FIRST COUNT PROT [shared] (anon | memfd:NAME) [offset N] [populate] [noreserve]"
    )

    def __post_init__(self) -> None:
        if self.offset and not self.file:
            raise ValueError("mmap: a file offset needs a memfd backing")

    @classmethod
    def parse(cls, args: list[str]) -> Step:
        """See :attr:`USAGE`."""
        first, skew, count = _range_args(args, cls.USAGE, extra=2)
        prot = parse_prot(args[2])
        rest = args[3:]
        shared = bool(rest) and rest[0] in ("shared", "private") and rest.pop(0) == "shared"
        if not rest:
            raise StepError(f"mmap: missing backing (anon or memfd:NAME); expected '{cls.USAGE}'")
        backing = rest.pop(0)
        file = None
        if backing.startswith("memfd:"):
            file = _name(backing[len("memfd:") :], "memfd name")
        elif backing != "anon":
            raise StepError(f"mmap: unknown backing {backing!r} (anon or memfd:NAME)")
        offset = 0
        options = {"populate": False, "noreserve": False}
        while rest:
            word = rest.pop(0)
            if word == "offset" and rest and file:
                offset = _int(rest.pop(0), "file offset (pages)")
                if offset < 0:
                    raise StepError(f"mmap: file offset must not be negative, got {offset}")
            elif word in options:
                options[word] = True
            else:
                raise StepError(f"mmap: unexpected {word!r}; expected '{cls.USAGE}'")
        return cls(first, count, prot, file, shared, offset, options["populate"],
                   options["noreserve"], skew=skew)

    def body(self) -> str:
        """The mmap line."""
        words = [self.keyword, self._range(), format_prot(self.prot)]
        if self.shared:
            words.append("shared")
        words.append(f"memfd:{self.file}" if self.file else "anon")
        if self.offset:
            words.append(f"offset {self.offset}")
        if self.populate:
            words.append("populate")
        if self.noreserve:
            words.append("noreserve")
        return " ".join(words)

    def calls(self, files: Mapping[str, Any]) -> tuple[Call, ...]:
        """``MM.mmap(addr, length, prot, MAP_FIXED | ..., file, offset)``."""
        file = files.get(self.file) if self.file else None
        flags = constants.MAP_FIXED | (constants.MAP_SHARED if self.shared
                                       else constants.MAP_PRIVATE)
        flags |= 0 if file is not None else constants.MAP_ANONYMOUS
        flags |= constants.MAP_POPULATE if self.populate else 0
        flags |= constants.MAP_NORESERVE if self.noreserve else 0
        offset = self.offset * constants.PAGE_SIZE
        return (Call(self.keyword, (*self._span(), self.prot, flags, file, offset)),)

    def memfds(self) -> frozenset[str]:
        """The memfd mapped, if any."""
        return frozenset({self.file}) if self.file else frozenset()

    def wrong_result(self, result: Any) -> str | None:
        """MAP_FIXED must map at the address asked for."""
        addr = page_addr(self.first, self.skew)
        if result != addr:
            return f"MAP_FIXED mmap returned {result:#x}, not the requested {addr:#x}"
        return None

    def capabilities(self) -> frozenset[str]:
        """Shared or file-backed mappings need ``files``."""
        return frozenset({"files"}) if self.file or self.shared else frozenset()


@dataclass(frozen=True)
class Munmap(RangeAction):
    """``munmap FIRST COUNT``."""

    keyword: ClassVar[str] = "munmap"


@dataclass(frozen=True)
class Mprotect(RangeAction):
    """``mprotect FIRST COUNT PROT``."""

    prot: int = constants.PROT_NONE

    keyword: ClassVar[str] = "mprotect"

    @classmethod
    def parse(cls, args: list[str]) -> Step:
        """``FIRST COUNT PROT``."""
        first, skew, count = _range_line(args, "mprotect FIRST COUNT PROT", 3)
        return cls(first, count, parse_prot(args[2]), skew=skew)

    def body(self) -> str:
        """The mprotect line."""
        return f"{self.keyword} {self._range()} {format_prot(self.prot)}"

    def calls(self, files: Mapping[str, Any]) -> tuple[Call, ...]:
        """``MM.mprotect(addr, length, prot)``."""
        return (Call(self.keyword, (*self._span(), self.prot)),)


@dataclass(frozen=True)
class Madvise(RangeAction):
    """``madvise FIRST COUNT ADVICE``; ``guard``/``unguard FIRST COUNT`` for the guard advice."""

    advice: str = "normal"

    keyword: ClassVar[str] = "madvise"
    SHORTHAND: ClassVar[dict[str, str]] = {"guard_install": "guard", "guard_remove": "unguard"}

    @classmethod
    def parse(cls, args: list[str]) -> Step:
        """``FIRST COUNT ADVICE``."""
        first, skew, count = _range_line(args, "madvise FIRST COUNT ADVICE", 3)
        return cls(first, count, _advice(args[2]), skew=skew)

    @classmethod
    def parsers(cls) -> dict[str, Callable[[list[str]], Step]]:
        """``madvise``, and ``guard``/``unguard`` (``FIRST COUNT``) for the guard advice."""
        def shorthand(advice: str) -> Callable[[list[str]], Step]:
            def parse(args: list[str]) -> Step:
                usage = f"{cls.SHORTHAND[advice]} FIRST COUNT"
                first, skew, count = _range_line(args, usage, 2)
                return cls(first, count, advice, skew=skew)

            return parse

        short = {word: shorthand(advice) for advice, word in cls.SHORTHAND.items()}
        return {cls.keyword: cls.parse, **short}

    def body(self) -> str:
        """The madvise line (guard advice in its short form)."""
        short = self.SHORTHAND.get(self.advice)
        if short:
            return f"{short} {self._range()}"
        return f"{self.keyword} {self._range()} {self.advice}"

    def calls(self, files: Mapping[str, Any]) -> tuple[Call, ...]:
        """``MM.madvise(addr, length, MADV_...)``."""
        return (Call(self.keyword, (*self._span(), ADVICE[self.advice])),)

    def capabilities(self) -> frozenset[str]:
        """MADV_COLLAPSE needs ``thp``."""
        return frozenset({"thp"}) if self.advice == "collapse" else frozenset()


@dataclass(frozen=True)
class Mlock(RangeAction):
    """``mlock FIRST COUNT``."""

    keyword: ClassVar[str] = "mlock"
    needs: ClassVar[frozenset[str]] = frozenset({"mlock"})


@dataclass(frozen=True)
class Munlock(RangeAction):
    """``munlock FIRST COUNT``."""

    keyword: ClassVar[str] = "munlock"
    needs: ClassVar[frozenset[str]] = frozenset({"mlock"})


@dataclass(frozen=True)
class Mremap(RangeAction):
    """``mremap FIRST COUNT -> NEW_COUNT [maymove] [fixed NEW_FIRST] [dontunmap]``."""

    new_count: int = 0
    maymove: bool = False
    fixed: int | None = None
    dontunmap: bool = False

    keyword: ClassVar[str] = "mremap"
    needs: ClassVar[frozenset[str]] = frozenset({"mremap"})

    @classmethod
    def parse(cls, args: list[str]) -> Step:
        """``FIRST COUNT -> NEW_COUNT [maymove] [fixed NEW_FIRST] [dontunmap]``."""
        usage = "mremap FIRST COUNT -> NEW_COUNT [maymove] [fixed NEW_FIRST] [dontunmap]"
        first, skew, count = _range_args(args, usage, extra=2)
        if args[2] != "->":
            raise StepError(f"expected '{usage}'")
        new_count = _int(args[3], "new page count")
        if new_count < 1:
            raise StepError(f"new page count must be at least 1, got {new_count}")
        maymove = dontunmap = False
        fixed = None
        rest = args[4:]
        while rest:
            word = rest.pop(0)
            if word == "maymove":
                maymove = True
            elif word == "dontunmap":
                dontunmap = True
            elif word == "fixed" and rest:
                fixed = _page(rest.pop(0), "mremap target page")
                _count(fixed, str(new_count))
            else:
                raise StepError(f"mremap: unexpected {word!r}; expected '{usage}'")
        if fixed is None:
            _count(first, str(new_count))
        return cls(first, count, new_count, maymove, fixed, dontunmap, skew=skew)

    def body(self) -> str:
        """The mremap line."""
        words = [self.keyword, self._range(), "->", str(self.new_count)]
        if self.maymove:
            words.append("maymove")
        if self.fixed is not None:
            words.append(f"fixed {self.fixed}")
        if self.dontunmap:
            words.append("dontunmap")
        return " ".join(words)

    def calls(self, files: Mapping[str, Any]) -> tuple[Call, ...]:
        """``MM.mremap(addr, old_length, new_length, MREMAP_..., new_addr or None)``."""
        flags = constants.MREMAP_MAYMOVE if self.maymove else 0
        flags |= constants.MREMAP_DONTUNMAP if self.dontunmap else 0
        new_addr = None
        if self.fixed is not None:
            flags |= constants.MREMAP_FIXED
            new_addr = page_addr(self.fixed)
        new_length = self.new_count * constants.PAGE_SIZE
        return (Call(self.keyword, (*self._span(), new_length, flags, new_addr)),)

    def wrong_result(self, result: Any) -> str | None:
        """A fixed move lands at its target; without maymove the mapping stays put."""
        if self.fixed is not None and result != page_addr(self.fixed):
            return (f"mremap to a fixed address returned {result:#x}, "
                    f"not {page_addr(self.fixed):#x}")
        if not self.maymove and result != page_addr(self.first, self.skew):
            return f"mremap without maymove moved the mapping to {result:#x}"
        return None

    def page_ranges(self) -> tuple[tuple[int, int], ...]:
        """Old range, and the new one if fixed."""
        ranges = [(self.first, self.first + self.count)]
        if self.fixed is not None:
            ranges.append((self.fixed, self.fixed + self.new_count))
        return tuple(ranges)


@dataclass(frozen=True)
class Memfd(Action):
    """``memfd NAME PAGES``: create a shmem file (mmap of an unknown name creates it too)."""

    name: str
    pages: int

    keyword: ClassVar[str] = "memfd"
    needs: ClassVar[frozenset[str]] = frozenset({"files"})

    @classmethod
    def parse(cls, args: list[str]) -> Step:
        """``NAME PAGES``."""
        _expect_len(args, 2, "memfd NAME PAGES")
        pages = _int(args[1], "memfd size (pages)")
        if pages < 0:
            raise StepError(f"memfd size must not be negative, got {pages}")
        return cls(_name(args[0], "memfd name"), pages)

    def body(self) -> str:
        """The memfd line."""
        return f"{self.keyword} {self.name} {self.pages}"

    def calls(self, files: Mapping[str, Any]) -> tuple[Call, ...]:
        """``MM.memfd(name, bytes)``, kept as the run's memfd ``name``."""
        size = self.pages * constants.PAGE_SIZE
        return (Call(self.keyword, (self.name, size), new_file=self.name),)


@dataclass(frozen=True)
class Fork(Action):
    """``fork as NAME``: the child address space is ``NAME`` from now on."""

    child: str

    keyword: ClassVar[str] = "fork"
    needs: ClassVar[frozenset[str]] = frozenset({"fork"})

    @classmethod
    def parse(cls, args: list[str]) -> Step:
        """``as NAME``."""
        if len(args) != 2 or args[0] != "as":
            raise StepError("expected 'fork as NAME'")
        child = _name(args[1], "address-space name")
        if child == ROOT_MM:
            raise StepError(f"'{ROOT_MM}' is the first address space's name; pick another")
        return cls(child)

    def body(self) -> str:
        """The fork line."""
        return f"{self.keyword} as {self.child}"

    def calls(self, files: Mapping[str, Any]) -> tuple[Call, ...]:
        """``MM.fork()``, the child kept as address space ``child``."""
        return (Call(self.keyword, new_mm=self.child),)


@dataclass(frozen=True)
class Checkpoint(Action):
    """``checkpoint``: later ``stats`` deltas count from here (the case runner's bookkeeping,
    no MM operation)."""

    keyword: ClassVar[str] = "checkpoint"

    @classmethod
    def parse(cls, args: list[str]) -> Step:
        """No arguments."""
        _expect_len(args, 0, "checkpoint")
        return cls()

    def body(self) -> str:
        """The keyword."""
        return self.keyword


# --- touches -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Touch(Action):
    """A CPU access to the first byte of each page of ``first..last`` (inclusive): one call of
    ``MM.KEYWORD`` a page."""

    first: int
    last: int

    needs: ClassVar[frozenset[str]] = frozenset({"pages"})

    def _pages(self) -> str:
        return f"{self.keyword} {_format_range(self.first, self.last)}"

    def _args(self, addr: int) -> tuple[Any, ...]:
        raise NotImplementedError

    def calls(self, files: Mapping[str, Any]) -> tuple[Call, ...]:
        """One access a page, in page order."""
        return tuple(Call(self.keyword, self._args(page_addr(page)), page=page)
                     for page in range(self.first, self.last + 1))

    def page_ranges(self) -> tuple[tuple[int, int], ...]:
        """The pages touched."""
        return ((self.first, self.last + 1),)


@dataclass(frozen=True)
class Read(Touch):
    """``read A[..B] [== VALUE]`` or ``read A[..B] -> SIGSEGV``."""

    value: int | None = None

    keyword: ClassVar[str] = "read"

    @classmethod
    def parse(cls, args: list[str]) -> Step:
        """``A[..B] [== VALUE]``."""
        usage = "read A[..B] [== VALUE]"
        if len(args) not in (1, 3) or (len(args) == 3 and args[1] != "=="):
            raise StepError(f"expected '{usage}'")
        first, last = _page_range(args[0])
        return cls(first, last, _byte(args[2]) if len(args) == 3 else None)

    def body(self) -> str:
        """The read line."""
        text = self._pages()
        return text if self.value is None else f"{text} == {_format_value(self.value)}"

    def _args(self, addr: int) -> tuple[Any, ...]:
        return (addr,)


@dataclass(frozen=True)
class Write(Touch):
    """``write A[..B] VALUE`` (``-> SIGSEGV`` when the store must fault)."""

    value: int = 0

    keyword: ClassVar[str] = "write"

    @classmethod
    def parse(cls, args: list[str]) -> Step:
        """``A[..B] VALUE``."""
        _expect_len(args, 2, "write A[..B] VALUE")
        first, last = _page_range(args[0])
        return cls(first, last, _byte(args[1]))

    def body(self) -> str:
        """The write line."""
        return f"{self._pages()} {_format_value(self.value)}"

    def _args(self, addr: int) -> tuple[Any, ...]:
        return addr, self.value


# --- expectations --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pages(Expectation):
    """``pages A..B = . G P P``: page-table states (``.`` empty, ``P`` present, ``G`` guard)."""

    first: int
    states: str

    keyword: ClassVar[str] = "pages"
    needs: ClassVar[frozenset[str]] = frozenset({"pages"})

    @classmethod
    def parse(cls, args: list[str]) -> Step:
        """``A[..B] = STATES``."""
        usage = "pages A[..B] = STATES"
        if len(args) < 3 or args[1] != "=":
            raise StepError(f"expected '{usage}'")
        first, last = _page_range(args[0])
        states = _states(args[2:])
        if len(states) != last - first + 1:
            raise StepError(
                f"pages {args[0]} names {last - first + 1} pages but {len(states)} states are "
                "given"
            )
        return cls(first, states)

    def body(self) -> str:
        """The pages line."""
        rng = _format_range(self.first, self.first + len(self.states) - 1)
        return f"{self.keyword} {rng} = {_format_states(self.states)}"

    def page_ranges(self) -> tuple[tuple[int, int], ...]:
        """The pages checked."""
        return ((self.first, self.first + len(self.states)),)


@dataclass(frozen=True)
class LayoutIs(Expectation):
    """``layout "AA*B  DD"``: the VMA segmentation of the arena, one character a page."""

    diagram: str

    keyword: ClassVar[str] = "layout"
    needs: ClassVar[frozenset[str]] = frozenset({"layout"})

    @classmethod
    def parse(cls, args: list[str]) -> Step:
        """``"DIAGRAM"`` (see :mod:`pytest_anonvma.layout`)."""
        from pytest_anonvma.layout import LayoutError, parse_layout

        _expect_len(args, 1, 'layout "DIAGRAM"')
        try:
            lay = parse_layout(args[0])
        except LayoutError as exc:
            raise StepError(str(exc)) from None
        if lay.width > ARENA_PAGES:
            raise StepError(f"layout is wider than the arena ({ARENA_PAGES} pages)")
        return cls(args[0].rstrip())

    def body(self) -> str:
        """The layout line."""
        return f'{self.keyword} "{self.diagram}"'


@dataclass(frozen=True)
class VmaExpectation(PageExpectation):
    """The three ``vma PAGE ...`` expectations share their keyword: :meth:`parse` reads the
    words after the page and picks the kind."""

    keyword: ClassVar[str] = "vma"
    USAGE: ClassVar[str] = (
        "vma PAGE (has|lacks) VM_FLAG | vma PAGE FIELD = VALUE | vma PAGE anon_vma == vma PAGE"
    )

    @classmethod
    def parse(cls, args: list[str]) -> Step:
        """``PAGE (has|lacks) FLAG``, ``PAGE FIELD = VALUE`` or ``PAGE anon_vma == vma PAGE``."""
        if len(args) < 3:
            raise StepError(f"expected '{cls.USAGE}'")
        page = _page(args[0])
        if args[1] in ("has", "lacks"):
            return VmaFlag.parse_rest(page, args[1:])
        if len(args) == 5 and args[1] == "anon_vma" and args[2] in ("==", "!=") and (
                args[3] == "vma"):
            return VmaSameAnonVma.parse_rest(page, args[1:])
        return VmaField.parse_rest(page, args[1:])


@dataclass(frozen=True)
class VmaFlag(VmaExpectation):
    """``vma PAGE has VM_FLAG`` / ``vma PAGE lacks VM_FLAG`` for the VMA holding PAGE."""

    flag: str
    present: bool = True

    @classmethod
    def parse_rest(cls, page: int, args: list[str]) -> Step:
        """``(has|lacks) VM_FLAG``."""
        _expect_len(args, 2, cls.USAGE)
        if args[1] not in VM_FLAG_NAMES.values():
            raise StepError(f"unknown VMA flag {args[1]!r} (kernel names, e.g. VM_MAYBE_GUARD)")
        return cls(page, args[1], args[0] == "has")

    def body(self) -> str:
        """The vma flag line."""
        return f"{self.keyword} {self.page} {'has' if self.present else 'lacks'} {self.flag}"

    def capabilities(self) -> frozenset[str]:
        """``guard-flag`` for VM_MAYBE_GUARD, ``layout`` for the rest."""
        return frozenset({"guard-flag" if self.flag == "VM_MAYBE_GUARD" else "layout"})


@dataclass(frozen=True)
class VmaField(VmaExpectation):
    """``vma PAGE FIELD = VALUE``: anon_vma (none/set), anon_vma_flags, maybe_has_pagetables,
    prot, pgoff."""

    name: str
    value: str

    @classmethod
    def parse_rest(cls, page: int, args: list[str]) -> Step:
        """``FIELD = VALUE`` (VALUE canonicalized)."""
        if len(args) != 3 or args[1] != "=":
            raise StepError(f"expected '{cls.USAGE}'")
        name, value = args[0], args[2]
        if name not in VMA_FIELDS:
            raise StepError(f"unknown VMA field {name!r} (one of {', '.join(VMA_FIELDS)})")
        return cls(page, name, _vma_value(name, value))

    def body(self) -> str:
        """The vma field line."""
        return f"{self.keyword} {self.page} {self.name} = {self.value}"

    def capabilities(self) -> frozenset[str]:
        """See :data:`VMA_FIELDS`."""
        return frozenset({VMA_FIELDS[self.name]})


def _vma_value(name: str, value: str) -> str:
    """Check and canonicalize the VALUE of ``vma PAGE FIELD = VALUE``."""
    if name == "anon_vma":
        if value not in ("none", "set"):
            raise StepError(f"anon_vma: expected none or set, got {value!r}")
        return value
    if name == "maybe_has_pagetables":
        return str(_bool(value)).lower()
    if name == "prot":
        return format_prot(parse_prot(value))
    number = _int(value, name)
    if number < 0:
        raise StepError(f"{name} must not be negative, got {number}")
    return str(number)


@dataclass(frozen=True)
class VmaSameAnonVma(VmaExpectation):
    """``vma PAGE anon_vma == vma OTHER`` (or ``!=``): do two VMAs share one real anon_vma."""

    other: int
    same: bool = True

    needs: ClassVar[frozenset[str]] = frozenset({"anon_vma"})

    @classmethod
    def parse_rest(cls, page: int, args: list[str]) -> Step:
        """``anon_vma (==|!=) vma OTHER``."""
        return cls(page, _page(args[3]), args[1] == "==")

    def body(self) -> str:
        """The anon_vma comparison line."""
        op = "==" if self.same else "!="
        return f"{self.keyword} {self.page} anon_vma {op} vma {self.other}"

    def page_ranges(self) -> tuple[tuple[int, int], ...]:
        """Both pages."""
        return ((self.page, self.page + 1), (self.other, self.other + 1))


@dataclass(frozen=True)
class Stats(Expectation):
    """``stats KEY +N``: the counter grew by exactly N since the last checkpoint."""

    key: str
    delta: int

    keyword: ClassVar[str] = "stats"
    needs: ClassVar[frozenset[str]] = frozenset({"stats"})

    @classmethod
    def parse(cls, args: list[str]) -> Step:
        """``KEY +N``."""
        _expect_len(args, 2, "stats KEY +N")
        key, delta = args
        if key not in STATS_KEYS:
            raise StepError(f"unknown stats key {key!r} (one of {', '.join(STATS_KEYS)})")
        if not delta.startswith("+"):
            raise StepError(
                f"stats delta must be written +N (since the checkpoint), got {delta!r}")
        return cls(key, _int(delta[1:], "stats delta"))

    def body(self) -> str:
        """The stats line."""
        return f"{self.keyword} {self.key} +{self.delta}"


@dataclass(frozen=True)
class Retractable(PageExpectation):
    """``retractable PAGE == true|false``: would khugepaged free the page table covering PAGE."""

    value: bool

    keyword: ClassVar[str] = "retractable"
    needs: ClassVar[frozenset[str]] = frozenset({"thp"})

    @classmethod
    def parse(cls, args: list[str]) -> Step:
        """``PAGE == true|false``."""
        if len(args) != 3 or args[1] != "==":
            raise StepError("expected 'retractable PAGE == true|false'")
        return cls(_page(args[0]), _bool(args[2]))

    def body(self) -> str:
        """The retractable line."""
        return f"{self.keyword} {self.page} == {'true' if self.value else 'false'}"


# --- parsing -------------------------------------------------------------------------------------

#: every kind of step, in the order its keywords are listed
STEP_KINDS: tuple[type[Step], ...] = (
    Mmap, Munmap, Mprotect, Madvise, Mlock, Munlock, Mremap, Memfd, Fork, Checkpoint,
    Read, Write, Pages, LayoutIs, VmaExpectation, Stats, Retractable,
)
_PARSERS: dict[str, Callable[[list[str]], Step]] = {
    word: parser for kind in STEP_KINDS for word, parser in kind.parsers().items()
}
#: every step keyword
KEYWORDS = tuple(_PARSERS)


def _split_designs(tokens: list[str]) -> tuple[list[str], DesignFilter | None]:
    if not tokens or not tokens[-1].endswith("]"):
        return tokens, None
    starts = [i for i, tok in enumerate(tokens) if tok.startswith("[")]
    if not starts:
        raise StepError("']' without '[' (design filter is written [DESIGN ...])")
    i = starts[-1]
    words = " ".join(tokens[i:])[1:-1].split()
    exclude = bool(words) and words[0] == "not"
    names = words[1:] if exclude else words
    if not names:
        raise StepError("empty design filter")
    for name in names:
        if not _DESIGN.match(name):
            raise StepError(f"bad design name {name!r} in filter")
    return tokens[:i], DesignFilter(frozenset(names), exclude)


def _split_outcome(tokens: list[str]) -> tuple[list[str], str | None]:
    if len(tokens) >= 2 and tokens[-2] == "->" and tokens[-1][:1].isupper():
        outcome = tokens[-1]
        if outcome in SIGNALS or (outcome.startswith("E") and hasattr(errno, outcome)):
            return tokens[:-2], outcome
        raise StepError(f"unknown outcome {outcome!r} (an errno name like ENOMEM, or SIGSEGV)")
    return tokens, None


def _split(text: str) -> list[str]:
    """Shell-like words of a step line, ``#`` starting a comment (``shlex`` rules; a line
    without quotes or backslashes, nearly every one, is split without it)."""
    if not _QUOTING.intersection(text):
        return text.partition("#")[0].split()
    try:
        return shlex.split(text, comments=True)
    except ValueError as exc:
        raise StepError(f"cannot split {text.strip()!r}: {exc}") from None


#: characters that need ``shlex`` to split a step line
_QUOTING = frozenset("'\"\\")


def parse_step(text: str, line: int = 0) -> Step | None:
    """Parse one step line; None for a blank or comment-only line. Raises :class:`StepError`."""
    tokens = _split(text)
    if not tokens:
        return None
    mm = ROOT_MM
    if tokens[0] == "in":
        if len(tokens) < 3 or not tokens[1].endswith(":"):
            raise StepError("expected 'in NAME: STEP'")
        mm = _name(tokens[1][:-1], "address-space name")
        tokens = tokens[2:]
    tokens, designs = _split_designs(tokens)
    tokens, outcome = _split_outcome(tokens)
    if not tokens:
        raise StepError("empty step")
    keyword, args = tokens[0], tokens[1:]
    parser = _PARSERS.get(keyword)
    if parser is None:
        raise StepError(f"unknown step {keyword!r} (one of {', '.join(KEYWORDS)})")
    step = parser(args)
    if isinstance(step, Expectation):
        if outcome:
            raise StepError(f"'-> {outcome}' follows an action, not the expectation {keyword!r}")
        return _replace(step, mm=mm, designs=designs, line=line)
    if designs:
        raise StepError(f"design filter on the action {keyword!r}: only expectations take one")
    if outcome:
        is_touch = isinstance(step, Touch)
        if is_touch != (outcome in SIGNALS):
            kind = "a signal" if is_touch else "an errno"
            raise StepError(f"{keyword} takes {kind} outcome, not {outcome}")
        if isinstance(step, Read) and step.value is not None:
            raise StepError(f"{keyword}: a value and a {outcome} outcome exclude each other")
    return _replace(step, mm=mm, outcome=outcome, line=line)


def _replace(step: Step, **changes: object) -> Step:
    """``step`` with the line's context fields set: the step was just made by its parser and
    nobody else holds it yet, so the frozen fields are set in place (``dataclasses.replace``
    would build and check it a second time, a third of the parser's cost)."""
    for name, value in changes.items():
        object.__setattr__(step, name, value)
    return step


def parse_steps(text: str, first_line: int = 1) -> list[Step]:
    """Parse a block of step lines (blank and ``#`` lines skipped); ``line`` counts from
    ``first_line``. Raises :class:`StepError` with the line number prefixed."""
    steps = []
    for offset, raw in enumerate(text.splitlines()):
        try:
            step = parse_step(raw, first_line + offset)
        except StepError as exc:
            raise StepError(f"line {first_line + offset}: {exc}") from None
        if step is not None:
            steps.append(step)
    return steps
