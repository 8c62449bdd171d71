"""The step language: every step kind parses and formats back to an equal step, canonical forms,
and one clear error per kind of bad line. Expected texts come from the grammar in
docs/case-format.md."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_anonvma import constants as C
from pytest_anonvma.cases import steps as S
from pytest_anonvma.cases.arena import ARENA_PAGES

#: one line per step kind and option, already in canonical form
CANONICAL = [
    "mmap 0 4 rw anon",
    "mmap 0 4 none anon",
    "mmap 2 8 rwx shared anon",
    "mmap 0 4 rw shared memfd:f",
    "mmap 0 4 r memfd:data offset 3 populate noreserve",
    "mmap 0+12 1 rw anon -> EINVAL",
    "munmap 1 1",
    "mprotect 2 2 r",
    "madvise 0 4 dontneed",
    "madvise 0 4 populate_write -> EFAULT",
    "guard 2 1",
    "unguard 0 4",
    "guard 1+100 1 -> EINVAL",
    "mlock 0 2",
    "munlock 0 2 -> ENOMEM",
    "mremap 0 4 -> 8",
    "mremap 0 4 -> 4 maymove fixed 8",
    "mremap 0 4 -> 4 maymove fixed 8 dontunmap -> EINVAL",
    "mremap 0 5 -> 3 maymove",
    "memfd f 8",
    "fork as child",
    "in child: fork as grandchild",
    "checkpoint",
    "read 3",
    "read 3 == 0",
    "read 0..9 == 0x5a",
    "read 2 -> SIGSEGV",
    "in child: read 2..3 -> SIGBUS",
    "write 3 0x5a",
    "write 0..3 7 -> SIGSEGV",
    "pages 0..3 = . G P P",
    "pages 7 = G",
    "pages 0..99 = G*10 . . . P*87",
    'layout "AA*B  DD"',
    "vma 0 has VM_MAYBE_GUARD  [maybe-guard]",
    "vma 4 lacks VM_LOCKED",
    "vma 2 anon_vma_flags = 1  [not baseline]",
    "vma 0 anon_vma = none",
    "vma 0 maybe_has_pagetables = true",
    "vma 1 prot = rw",
    "vma 1 pgoff = 3",
    "vma 0 anon_vma == vma 4",
    "in child: vma 0 anon_vma != vma 4  [6.18 maybe-guard]",
    "stats anon_vma_allocs +0",
    "in child: stats fork_pagetable_copies +2",
    "retractable 0 == false",
]


@pytest.mark.parametrize("text", CANONICAL)
def test_canonical_lines_round_trip(text: str) -> None:
    step = S.parse_step(text)
    assert step is not None
    assert step.format() == text
    assert S.parse_step(step.format()) == step


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("madvise 0 4 guard_install", "guard 0 4"),
        ("madvise 0 4 guard_remove", "unguard 0 4"),
        ("mmap 0 4 wr private anon", "mmap 0 4 rw anon"),
        ("pages 0..3 = .GPP", "pages 0..3 = . G P P"),
        ("pages 0..5 = GGGG..", "pages 0..5 = G*4 . ."),
        ("read 3 == 90", "read 3 == 0x5a"),
        ("in parent: read 1", "read 1"),
        ("vma 0 prot = wr", "vma 0 prot = rw"),
        ("vma 0 has VM_MAYBE_GUARD [maybe-guard]", "vma 0 has VM_MAYBE_GUARD  [maybe-guard]"),
        ("guard 0 1   # a comment", "guard 0 1"),
    ],
)
def test_accepted_spellings_format_canonically(text: str, canonical: str) -> None:
    step = S.parse_step(text)
    assert step is not None
    assert step.format() == canonical


def test_blank_and_comment_lines_are_not_steps() -> None:
    assert S.parse_step("") is None
    assert S.parse_step("   # just a comment") is None


def test_step_fields() -> None:
    mmap = S.parse_step("in c: mmap 3 2 rx shared memfd:f offset 1")
    assert mmap == S.Mmap(3, 2, C.PROT_READ | C.PROT_EXEC, "f", True, 1, mm="c")
    assert mmap.capabilities() == {"files"}
    assert mmap.page_ranges() == ((3, 5),)
    remap = S.parse_step("mremap 0 4 -> 2 maymove fixed 10")
    assert remap == S.Mremap(0, 4, 2, True, 10, False)
    assert remap.page_ranges() == ((0, 4), (10, 12))
    touch = S.parse_step("read 2..4 -> SIGSEGV")
    assert touch == S.Read(2, 4, outcome="SIGSEGV")
    flag = S.parse_step("vma 1 has VM_MAYBE_GUARD [not baseline]")
    assert isinstance(flag, S.VmaFlag)
    assert flag.designs == S.DesignFilter(frozenset({"baseline"}), exclude=True)
    assert flag.capabilities() == {"guard-flag"}


def test_line_numbers_are_kept_but_not_compared() -> None:
    a = S.parse_step("guard 0 1", line=7)
    b = S.parse_step("guard 0 1", line=9)
    assert a == b
    assert a is not None and a.line == 7
    steps = S.parse_steps("mmap 0 1 rw anon\n\n# note\nguard 0 1\n", first_line=20)
    assert [s.line for s in steps] == [20, 23]


@pytest.mark.parametrize(
    ("filter_text", "design", "era", "applies"),
    [
        ("[maybe-guard]", "maybe-guard", "6.18", True),
        ("[maybe-guard]", "reference", "6.18", False),
        ("[not baseline rfc-v1]", "reference", "2025-03", True),
        ("[not baseline rfc-v1]", "rfc-v1", "2025-03", False),
        ("[6.18]", "reference", "6.18", True),
        ("[6.18]", "reference", "2025-03", False),
        ("[6.18]", "reference", None, False),
        ("[maybe-guard 6.18]", "maybe-guard", "2025-03", False),
        ("[maybe-guard 6.18]", "maybe-guard", "6.18", True),
        ("[baseline reference 2025-03]", "reference", "2025-03", True),
    ],
)
def test_design_filters(filter_text: str, design: str, era: str | None, applies: bool) -> None:
    step = S.parse_step(f"pages 0 = . {filter_text}")
    assert isinstance(step, S.Expectation) and step.designs is not None
    assert step.designs.applies(design, era) is applies


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("frobnicate 0 1", "unknown step 'frobnicate'"),
        ("guard 0", "expected 'guard FIRST COUNT'"),
        ("guard 0 0", "page count must be at least 1"),
        ("guard -1 2", "page -1 is outside the arena"),
        (f"guard {ARENA_PAGES} 1", f"page {ARENA_PAGES} is outside the arena"),
        (f"guard {ARENA_PAGES - 1} 2", "run past the arena end"),
        ("guard x 2", "page: expected a number, got 'x'"),
        ("guard 0+5000 1", "byte offset in '0+5000' must be within the page"),
        ("read 5..3", "page range '5..3' runs backwards"),
        ("mmap 0 4 rwq anon", "bad protection 'rwq'"),
        ("mmap 0 4 rr anon", "bad protection 'rr'"),
        ("mmap 0 4 rw", "expected 'mmap FIRST COUNT PROT"),
        ("mmap 0 4 rw shared", "missing backing"),
        ("mmap 0 4 rw file:x", "unknown backing 'file:x'"),
        ("mmap 0 4 rw anon sideways", "mmap: unexpected 'sideways'"),
        ("mmap 0 4 rw memfd:Bad", "bad memfd name 'Bad'"),
        ("madvise 0 4 nap", "unknown madvise advice 'nap'"),
        ("mremap 0 4 8", "expected 'mremap FIRST COUNT -> NEW_COUNT"),
        ("mremap 0 4 -> 0", "new page count must be at least 1"),
        ("mremap 0 4 -> 4 teleport", "mremap: unexpected 'teleport'"),
        ("fork", "expected 'fork as NAME'"),
        ("fork as parent", "'parent' is the first address space's name"),
        ("checkpoint now", "expected 'checkpoint'"),
        ("guard 0 1 -> EWHATEVER", "unknown outcome 'EWHATEVER'"),
        ("guard 0 1 -> SIGSEGV", "guard takes an errno outcome, not SIGSEGV"),
        ("read 0 -> ENOMEM", "read takes a signal outcome, not ENOMEM"),
        ("read 0 == 1 -> SIGSEGV", "a value and a SIGSEGV outcome exclude each other"),
        ("read 0 == 300", "byte value '300' is not in 0..0xff"),
        ("guard 0 1 [maybe-guard]", "design filter on the action 'guard'"),
        ("pages 0 = G -> ENOMEM", "'-> ENOMEM' follows an action, not the expectation 'pages'"),
        ("pages 0..3 = G G", "pages 0..3 names 4 pages but 2 states are given"),
        ("pages 0 = X", "bad page state 'X'"),
        ("pages 0..3 = G*x", "run length: expected a number"),
        ("pages 0..3", "expected 'pages A[..B] = STATES'"),
        ('layout "AA#"', "is not a VMA label"),
        ('layout "ABA"', "label 'A' used for two VMAs"),
        ("vma 0 has VM_SPARKLY", "unknown VMA flag 'VM_SPARKLY'"),
        ("vma 0 colour = red", "unknown VMA field 'colour'"),
        ("vma 0 anon_vma = maybe", "anon_vma: expected none or set"),
        ("vma 0 maybe_has_pagetables = yes", "expected true or false, got 'yes'"),
        ("vma 0 pgoff = -1", "pgoff must not be negative"),
        ("stats anon_vma_allocs 1", "stats delta must be written +N"),
        ("stats widgets +1", "unknown stats key 'widgets'"),
        ("retractable 0 = true", "expected 'retractable PAGE == true|false'"),
        ("in child read 0", "expected 'in NAME: STEP'"),
        ("pages 0 = G []", "empty design filter"),
        ("pages 0 = G [Maybe]", "bad design name 'Maybe'"),
        ('layout "AA', "cannot split"),
    ],
)
def test_bad_lines_give_one_clear_error(text: str, message: str) -> None:
    with pytest.raises(S.StepError) as info:
        S.parse_step(text)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_parse_steps_prefixes_the_line_number() -> None:
    with pytest.raises(S.StepError, match=r"^line 12: unknown step 'bogus'"):
        S.parse_steps("guard 0 1\nbogus 1\n", first_line=11)


# --- property: any step built from the data classes formats to text that parses back ----------

_pages = st.integers(0, ARENA_PAGES - 16)
_counts = st.integers(1, 16)
_prots = st.sampled_from(
    [
        C.PROT_NONE,
        C.PROT_READ,
        C.PROT_READ | C.PROT_WRITE,
        C.PROT_READ | C.PROT_EXEC,
        C.PROT_READ | C.PROT_WRITE | C.PROT_EXEC,
    ]
)
_names = st.sampled_from(["parent", "child", "c2"])
_errnos = st.sampled_from([None, "ENOMEM", "EINVAL", "EFAULT"])
_designs = st.none() | st.builds(
    S.DesignFilter,
    st.frozensets(
        st.sampled_from(["baseline", "rfc-v1", "reference", "maybe-guard", "6.18"]), min_size=1
    ),
    st.booleans(),
)


@st.composite
def _touch(draw: st.DrawFn, cls: type[S.Touch]) -> S.Step:
    first = draw(_pages)
    last = first + draw(st.integers(0, 8))
    fault = draw(st.sampled_from([None, "SIGSEGV", "SIGBUS"]))
    value = draw(st.integers(0, 255))
    if cls is S.Read:
        return S.Read(
            first,
            last,
            None if fault else draw(st.none() | st.just(value)),
            outcome=fault,
            mm=draw(_names),
        )
    return S.Write(first, last, value, outcome=fault, mm=draw(_names))


@st.composite
def _mmap(draw: st.DrawFn) -> S.Step:
    file = draw(st.none() | st.just("f"))
    return S.Mmap(
        draw(_pages),
        draw(_counts),
        draw(_prots),
        file,
        draw(st.booleans()),
        draw(st.integers(0, 4)) if file else 0,
        draw(st.booleans()),
        draw(st.booleans()),
        outcome=draw(_errnos),
        mm=draw(_names),
    )


STEPS = st.one_of(
    _mmap(),
    st.builds(S.Munmap, _pages, _counts, outcome=_errnos, skew=st.sampled_from([0, 1, 4095])),
    st.builds(S.Mprotect, _pages, _counts, _prots, outcome=_errnos),
    st.builds(S.Madvise, _pages, _counts, st.sampled_from(sorted(S.ADVICE)), outcome=_errnos),
    st.builds(S.Mlock, _pages, _counts),
    st.builds(S.Munlock, _pages, _counts),
    st.builds(
        S.Mremap,
        _pages,
        _counts,
        _counts,
        st.booleans(),
        st.none() | _pages,
        st.booleans(),
        outcome=_errnos,
    ),
    st.builds(S.Fork, st.sampled_from(["child", "c2"]), mm=_names),
    st.builds(S.Memfd, st.sampled_from(["f", "g-2"]), st.integers(0, 64)),
    st.builds(S.Checkpoint),
    _touch(S.Read),
    _touch(S.Write),
    st.builds(
        S.Pages,
        _pages,
        st.text(alphabet=".PG", min_size=1, max_size=16),
        designs=_designs,
        mm=_names,
    ),
    st.builds(S.LayoutIs, st.sampled_from(["AA*B  DD", "A", " AAB", "abc12"]), designs=_designs),
    st.builds(
        S.VmaFlag,
        _pages,
        st.sampled_from(["VM_MAYBE_GUARD", "VM_LOCKED"]),
        st.booleans(),
        designs=_designs,
    ),
    st.builds(S.VmaField, _pages, st.just("anon_vma_flags"), st.sampled_from(["0", "1"])),
    st.builds(S.VmaSameAnonVma, _pages, _pages, st.booleans(), mm=_names),
    st.builds(S.Stats, st.sampled_from(S.STATS_KEYS), st.integers(0, 9), designs=_designs),
    st.builds(S.Retractable, _pages, st.booleans()),
)


@settings(max_examples=300, derandomize=True, database=None)
@given(STEPS)
def test_every_step_round_trips(step: S.Step) -> None:
    assert S.parse_step(step.format()) == step


# --- each kind of step in one class ------------------------------------------------------------

A0, P = 0x200000000000, C.PAGE_SIZE  # arena page 0 (pytest_anonvma.cases.arena), page size


def test_every_keyword_is_parsed_by_its_own_class() -> None:
    """Each kind's keywords come from the class (the guard shorthand from Madvise, the three
    ``vma`` forms from their shared base), and together they are the language's keywords."""
    owners = {word: kind for kind in S.STEP_KINDS for word in kind.parsers()}
    assert tuple(owners) == S.KEYWORDS
    assert owners["guard"] is owners["unguard"] is S.Madvise
    for word, kind in owners.items():
        example = next(line for line in CANONICAL if line.split()[0] == word)
        assert isinstance(S.parse_step(example), kind)


def test_munlock_is_its_own_kind() -> None:
    """munlock shares mlock's capability, not its class: code asking "is this an mlock?" (the
    shadow, the soak's populate rule) must not see munlock."""
    munlock, mlock = S.parse_step("munlock 0 2"), S.parse_step("mlock 0 2")
    assert not isinstance(munlock, S.Mlock) and not isinstance(mlock, S.Munlock)
    assert munlock.capabilities() == mlock.capabilities() == {"mlock"}


@pytest.mark.parametrize(
    ("text", "method", "args"),
    [
        # mmap(2) with MAP_FIXED: the arena address, bytes, PROT_*, MAP_* flags, fd, byte offset
        ("mmap 1 2 r anon", "mmap",
         (A0 + P, 2 * P, C.PROT_READ, C.MAP_FIXED | C.MAP_PRIVATE | C.MAP_ANONYMOUS, None, 0)),
        ("mmap 0 1 rw shared memfd:f offset 3 populate noreserve", "mmap",
         (A0, P, C.PROT_READ | C.PROT_WRITE,
          C.MAP_FIXED | C.MAP_SHARED | C.MAP_POPULATE | C.MAP_NORESERVE, "FD", 3 * P)),
        ("munmap 0+12 1", "munmap", (A0 + 12, P)),
        ("mprotect 2 1 none", "mprotect", (A0 + 2 * P, P, C.PROT_NONE)),
        ("guard 0 3", "madvise", (A0, 3 * P, C.MADV_GUARD_INSTALL)),
        ("unguard 0 3", "madvise", (A0, 3 * P, C.MADV_GUARD_REMOVE)),
        ("madvise 0 1 dontneed", "madvise", (A0, P, C.MADV_DONTNEED)),
        ("mlock 1 1", "mlock", (A0 + P, P)),
        ("munlock 1 1", "munlock", (A0 + P, P)),
        # mremap(2): old address and size, new size, MREMAP_* flags, the fixed target or None
        ("mremap 0 2 -> 3", "mremap", (A0, 2 * P, 3 * P, 0, None)),
        ("mremap 0 2 -> 2 maymove fixed 5 dontunmap", "mremap",
         (A0, 2 * P, 2 * P, C.MREMAP_MAYMOVE | C.MREMAP_FIXED | C.MREMAP_DONTUNMAP, A0 + 5 * P)),
        ("memfd f 4", "memfd", ("f", 4 * P)),
        ("fork as child", "fork", ()),
    ],
)
def test_system_calls_name_their_mm_method(
    text: str, method: str, args: tuple[object, ...]
) -> None:
    """An action is one call of the MM method named after its system call, with the
    system call's arguments (docs/contract.md); an mmap of a memfd passes the run's file."""
    step = S.parse_step(text)
    assert isinstance(step, S.Action)
    (call,) = step.calls({"f": "FD"})
    assert (call.method, call.args, call.page) == (method, args, None)


def test_fork_and_memfd_name_what_they_make() -> None:
    (fork,) = S.Fork("kid").calls({})
    (memfd,) = S.Memfd("f", 1).calls({})
    assert (fork.new_mm, fork.new_file) == ("kid", None)
    assert (memfd.new_mm, memfd.new_file) == (None, "f")


def test_a_touch_is_one_access_a_page() -> None:
    """``write 2..4 0x5a`` stores the byte at the start of each page, in page order."""
    calls = S.parse_step("write 2..4 0x5a").calls({})  # type: ignore[union-attr]
    assert [(c.method, c.args, c.page) for c in calls] == [
        ("write", (A0 + page * P, 0x5A), page) for page in (2, 3, 4)
    ]
    (read,) = S.parse_step("read 1 == 0").calls({})  # type: ignore[union-attr]
    assert (read.method, read.args, read.page) == ("read", (A0 + P,), 1)


def test_checkpoint_is_no_mm_operation() -> None:
    with pytest.raises(ValueError, match="cannot perform 'checkpoint'"):
        S.Checkpoint().calls({})


def test_mapped_memfds() -> None:
    assert S.parse_step("mmap 0 1 rw memfd:f").memfds() == {"f"}  # type: ignore[union-attr]
    assert S.parse_step("mmap 0 1 rw shared anon").memfds() == set()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "result", "problem"),
    [
        ("mmap 1 1 rw anon", A0 + P, None),
        ("mmap 1 1 rw anon", A0, "MAP_FIXED mmap returned 0x200000000000, not the requested "
                                 "0x200000001000"),
        ("mremap 0 1 -> 2", A0, None),
        ("mremap 0 1 -> 2", A0 + P, "mremap without maymove moved the mapping to 0x200000001000"),
        ("mremap 0 1 -> 2 maymove", A0 + 9 * P, None),
        ("mremap 0 1 -> 1 maymove fixed 3", A0, "mremap to a fixed address returned "
                                                "0x200000000000, not 0x200000003000"),
        ("munmap 0 1", None, None),
    ],
)
def test_wrong_results(text: str, result: int | None, problem: str | None) -> None:
    """MAP_FIXED maps exactly there; mremap moves only with MREMAP_MAYMOVE and then, with
    MREMAP_FIXED, exactly to the target (mremap(2))."""
    step = S.parse_step(text)
    assert isinstance(step, S.Action)
    assert step.wrong_result(result) == problem
