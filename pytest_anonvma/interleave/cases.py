"""Interleave cases: the case language with threads (docs/case-format.md, "Threads").

A case's ``steps`` may hold thread blocks after its ordinary setup steps::

    mmap 0 4 rw anon
    guard 0 4
    thread A:
        unguard 0 4
    thread B:
        guard 1 1
        write 2 0x5a -> ok|SIGSEGV
    in every interleaving:
    fork as child
    in child: pages 1 = G

Each ``thread NAME:`` line starts a thread; its steps are the indented action lines below it.
``in every interleaving:`` ends the threads: the steps after it run once all threads finished, in
every interleaving the locks allow, and must hold in each. A thread's action may list the
outcomes it may have, ``ok`` for success (``-> ok|SIGSEGV``), since racing threads change them.
Every line is read by the ordinary step parser; this module only adds the block structure.
"""

from __future__ import annotations

import errno
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_anonvma.cases import schema
from pytest_anonvma.cases.corpus import (
    Case,
    Problem,
    _case_regions,
    _key_lines,
    _steps_first_line,
    check_case,
)
from pytest_anonvma.cases.steps import (
    ROOT_MM,
    SIGNALS,
    Action,
    Checkpoint,
    Memfd,
    Step,
    StepError,
    Touch,
    parse_step,
)
from pytest_anonvma.inputfile import InputFileError, read_input_file
from pytest_anonvma.tiers import INTERLEAVE

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = [
    "CAPABILITY",
    "EVERY_INTERLEAVING",
    "MAX_THREADS",
    "Thread",
    "ThreadOp",
    "Threads",
    "load_interleave_file",
    "parse_interleave_cases",
    "parse_thread_steps",
    "threads_of",
]

#: the capability of models that can run a call step by step (docs/contract.md)
CAPABILITY = "interleave"
#: the line that ends the thread blocks
EVERY_INTERLEAVING = "in every interleaving:"
#: a case runs two or three threads
MIN_THREADS, MAX_THREADS = 2, 3
#: the outcome word for success in a list of alternatives
OK = "ok"
_THREAD = re.compile(r"^thread\s+([A-Za-z][A-Za-z0-9_-]*)\s*:\s*$")
_INDENT = "    "


@dataclass(frozen=True)
class ThreadOp:
    """One action of a thread and the outcomes it may have: None means exactly the step's own
    (success, or its ``-> OUTCOME``); else a set of ``ok``, errno names and signal names."""

    step: Action
    outcomes: frozenset[str] | None = None

    def format(self) -> str:
        """The line as written in the thread block (without the indentation)."""
        if self.outcomes is None:
            return self.step.format()
        return f"{self.step.format()} -> {'|'.join(sorted(self.outcomes))}"

    def allows(self, got: str | None) -> bool:
        """Is ``got`` (None for success, else an errno or signal name) an allowed outcome?"""
        if self.outcomes is None:
            return got == self.step.outcome
        return (OK if got is None else got) in self.outcomes


@dataclass(frozen=True)
class Thread:
    """A thread of an interleave case: its name and its actions, run in order."""

    name: str
    ops: tuple[ThreadOp, ...]
    line: int = 0


@dataclass(frozen=True, kw_only=True)
class Threads(Step):
    """The thread blocks of a case (a step of its own, between the setup and the steps checked
    in every interleaving); it formats as the blocks and the ``in every interleaving:`` line."""

    threads: tuple[Thread, ...] = ()

    keyword = "thread"

    def body(self) -> str:
        """The thread blocks, then ``in every interleaving:``."""
        lines = []
        for thread in self.threads:
            lines.append(f"thread {thread.name}:")
            lines.extend(_INDENT + op.format() for op in thread.ops)
        lines.append(EVERY_INTERLEAVING)
        return "\n".join(lines)

    def actions(self) -> Iterator[Action]:
        """Every thread's actions."""
        for thread in self.threads:
            yield from (op.step for op in thread.ops)

    def capabilities(self) -> frozenset[str]:
        """What the threads' actions need, and ``interleave``."""
        needs = {CAPABILITY}
        for step in self.actions():
            needs |= step.capabilities()
        return frozenset(needs)

    def page_ranges(self) -> tuple[tuple[int, int], ...]:
        """The pages the threads' actions name."""
        return tuple(r for step in self.actions() for r in step.page_ranges())


def threads_of(case: Case) -> Threads:
    """The thread blocks of an interleave case."""
    for step in case.steps:
        if isinstance(step, Threads):
            return step
    raise ValueError(f"case {case.id!r} has no thread blocks")


# --- parsing the steps ---------------------------------------------------------------------------


def _outcomes(text: str) -> tuple[str, frozenset[str] | None]:
    """Split ``STEP -> A|B`` into the step text and the alternatives (None: no list given)."""
    code = text.partition("#")[0]
    before, arrow, after = code.rpartition("->")
    words = after.split("|")
    if not arrow or (len(words) == 1 and words[0].strip() != OK):
        return text, None
    outcomes = frozenset(word.strip() for word in words)
    for word in sorted(outcomes):
        if word != OK and word not in SIGNALS and word not in errno.errorcode.values():
            raise StepError(f"unknown outcome {word!r} in '-> {after.strip()}' "
                            f"(use ok, an errno name or {', '.join(SIGNALS)})")
    return before, outcomes


def _thread_op(text: str, line: int) -> ThreadOp:
    body, outcomes = _outcomes(text)
    step = parse_step(body, line)
    if step is None:
        raise StepError("empty step")
    if not isinstance(step, Action) or isinstance(step, (Checkpoint, Memfd)):
        raise StepError(f"'{step.keyword}' cannot run in a thread: a thread runs system calls "
                        f"and touches; checks go after '{EVERY_INTERLEAVING}'")
    if step.mm != ROOT_MM:
        raise StepError(f"'in {step.mm}:' in a thread: the threads share the address space "
                        f"{ROOT_MM!r}")
    if outcomes is not None:
        signals = outcomes & set(SIGNALS)
        errnos = outcomes - signals - {OK}
        if (isinstance(step, Touch) and errnos) or (not isinstance(step, Touch) and signals):
            kind = "signal" if isinstance(step, Touch) else "errno"
            raise StepError(f"{step.keyword} takes {kind} outcomes, not "
                            f"{', '.join(sorted(errnos or signals))}")
    return ThreadOp(step, outcomes)


def parse_thread_steps(text: str, first_line: int = 1) -> tuple[Step, ...]:
    """Read a ``steps`` string with thread blocks: the setup steps, one :class:`Threads` step,
    then the steps checked in every interleaving. Raises StepError prefixed ``line N:``."""
    setup: list[Step] = []
    trailing: list[Step] = []
    threads: list[Thread] = []
    current: tuple[str, int, list[ThreadOp]] | None = None
    after = False
    threads_line = 0

    def close() -> None:
        if current is not None:
            name, line, ops = current
            if not ops:
                raise StepError(f"line {line}: thread {name} has no steps (indent them below it)")
            threads.append(Thread(name, tuple(ops), line))

    for offset, raw in enumerate(text.splitlines()):
        line = first_line + offset
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            header = _THREAD.match(stripped)
            if after:
                if header or stripped == EVERY_INTERLEAVING:
                    raise StepError(f"'{stripped}' after '{EVERY_INTERLEAVING}': the threads "
                                    "come first")
                step = parse_step(raw, line)
                if step is not None:
                    trailing.append(step)
            elif header:
                close()
                name = header.group(1)
                if any(t.name == name for t in threads):
                    raise StepError(f"thread {name} is defined twice")
                current = (name, line, [])
                threads_line = threads_line or line
            elif stripped == EVERY_INTERLEAVING:
                if current is None:
                    raise StepError(f"'{EVERY_INTERLEAVING}' without thread blocks before it")
                close()
                current = None
                after = True
            elif current is not None:
                if not raw[:1].isspace():
                    raise StepError(f"'{stripped}' after thread {current[0]}: indent it to run "
                                    f"in the thread, or start '{EVERY_INTERLEAVING}' before it")
                current[2].append(_thread_op(raw, line))
            else:
                step = parse_step(raw, line)
                if step is not None:
                    setup.append(step)
        except StepError as exc:
            message = str(exc)
            raise StepError(message if message.startswith("line ") else f"line {line}: {message}"
                            ) from None
    if current is not None or not after:
        where = f"line {threads_line}: " if threads_line else ""
        raise StepError(f"{where}thread blocks must be followed by '{EVERY_INTERLEAVING}' and "
                        "the steps to check after them")
    if not MIN_THREADS <= len(threads) <= MAX_THREADS:
        raise StepError(f"line {threads_line}: {len(threads)} thread(s); an interleave case "
                        f"runs {MIN_THREADS} or {MAX_THREADS}")
    return (*setup, Threads(threads=tuple(threads), line=threads_line), *trailing)


# --- case files ----------------------------------------------------------------------------------


def _flattened(case: Case) -> Case:
    """The case with its threads' actions in line (for the corpus's cross-step rules)."""
    steps: list[Step] = []
    for step in case.steps:
        steps.extend(step.actions() if isinstance(step, Threads) else [step])
    return Case(case.id, case.about, case.source, case.tier, case.needs, tuple(steps),
                case.designs, case.path, case.line)


def _build(table: dict[str, Any], path: str, line: int, keys: dict[str, tuple[int, str]],
           problems: list[Problem]) -> Case | None:
    steps_line, rest = keys.get("steps", (line, ""))
    first = _steps_first_line(steps_line, rest)
    try:
        steps = parse_thread_steps(str(table["steps"]), first)
    except StepError as exc:
        where, _, message = str(exc).partition(": ")
        number = int(where.split()[1]) if where.startswith("line ") else line
        problems.append(Problem(path, number, message if where.startswith("line ") else str(exc)))
        return None
    designs = table.get("designs")
    case = Case(table["id"], table["about"], table["source"], table["tier"],
                frozenset(table["needs"]), steps,
                frozenset(designs) if designs is not None else None, path, line)
    if case.tier != INTERLEAVE:
        problems.append(Problem(path, line, f"case {case.id!r}: an interleave case file holds "
                                f"tier {INTERLEAVE!r} cases, not {case.tier!r}"))
    if CAPABILITY not in case.needs:
        problems.append(Problem(path, line, f"case {case.id!r}: a case with threads needs "
                                f"{CAPABILITY!r}: add it to needs"))
    problems.extend(check_case(_flattened(case)))
    return case


def parse_interleave_cases(text: str, path: str = "<string>") -> tuple[list[Case], list[Problem]]:
    """Read an interleave case file's text: its cases, and its problems (any problem: no
    cases). The fields are the corpus's (docs/case-format.md); ``tier`` is ``interleave``."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"at line (\d+)", str(exc))
        return [], [Problem(path, int(m.group(1)) if m else 1, f"invalid TOML: {exc}")]
    lines = text.splitlines()
    regions = _case_regions(lines)
    problems = [Problem(path, 1, f"{where}: {message}")
                for where, message in schema.validate(document)]
    if problems:
        return [], problems
    cases: list[Case] = []
    seen: dict[str, int] = {}
    for index, table in enumerate(document["case"]):
        region = regions[index] if index < len(regions) else (0, 0)
        case = _build(table, path, region[0] + 1, _key_lines(lines, region), problems)
        if case is None:
            continue
        if case.id in seen:
            problems.append(Problem(path, case.line, f"duplicate case id {case.id!r} (first at "
                                    f"line {seen[case.id]})"))
        seen.setdefault(case.id, case.line)
        cases.append(case)
    return ([] if problems else cases), problems


def load_interleave_file(path: str | Path, name: str | None = None
                         ) -> tuple[list[Case], list[Problem]]:
    """Read one interleave case file (``name`` replaces the path in problems)."""
    name = str(path) if name is None else name
    try:
        text = read_input_file(path)
    except InputFileError as exc:
        return [], [Problem(name, 1, f"cannot read: {exc}")]
    return parse_interleave_cases(text, name)
