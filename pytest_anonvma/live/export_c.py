"""``export_c(case)``: a conformance case as a standalone C program for a real kernel.

The program replays the case's steps with the real system calls, one process per address space
(``fork`` steps fork), and checks what a running kernel shows: each call's errno, each touch's
SIGSEGV/SIGBUS (caught with sigsetjmp, ``touch.h``), page states from ``/proc/self/pagemap``,
VMA boundaries from ``/proc/self/maps`` and flags and protection from ``/proc/self/smaps``
(``replay.h``). Expectations a kernel does not expose (anon_vma identity and flags, slab
counters, retraction) and expectations whose design filter excludes the kernel's design are
written as comments. It prints ``PASS`` and exits 0, or prints ``FAIL <step>: <what>`` and
exits 1: a finding can be sent to kernel developers as is.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_anonvma import constants as C
from pytest_anonvma.cases.arena import ARENA_BASE, ARENA_PAGES
from pytest_anonvma.cases.corpus import Case, load_corpus
from pytest_anonvma.cases.schema import DESIGNS, ERAS
from pytest_anonvma.cases.steps import (
    ADVICE,
    ROOT_MM,
    Checkpoint,
    Expectation,
    Fork,
    LayoutIs,
    Madvise,
    Memfd,
    Mlock,
    Mmap,
    Mprotect,
    Mremap,
    Munlock,
    Munmap,
    Pages,
    RangeAction,
    Read,
    Retractable,
    Stats,
    Step,
    VmaField,
    VmaFlag,
    VmaSameAnonVma,
    Write,
    parse_prot,
)
from pytest_anonvma.layout import parse_layout
from pytest_anonvma.live.build import c_source, touch_header
from pytest_anonvma.live.mm import KERNEL_CAPABILITIES
from pytest_anonvma.live.procfs import SMAPS_FLAGS

__all__ = ["KERNEL_DESIGN", "KERNEL_ERA", "add_export_c_command", "export_c", "write_c"]

#: the design and era the running kernel carries (6.18: the sticky VM_MAYBE_GUARD flag)
KERNEL_DESIGN = "maybe-guard"
KERNEL_ERA = C.ERA_6_18

_MNEMONIC = {name: mnemonic for mnemonic, name in SMAPS_FLAGS.items()}
_ADVICE_NAMES = {value: f"MADV_{name.upper()}" for name, value in ADVICE.items()}
_PROT_NAMES = (("PROT_READ", C.PROT_READ), ("PROT_WRITE", C.PROT_WRITE), ("PROT_EXEC", C.PROT_EXEC))


def _c_string(text: str) -> str:
    """A C string literal for ``text`` (UTF-8 bytes outside printable ASCII as octal escapes)."""
    out = []
    for byte in text.encode():
        char = chr(byte)
        if char in '"\\':
            out.append("\\" + char)
        elif 0x20 <= byte < 0x7F:
            out.append(char)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def _comment(text: str) -> str:
    """``text`` safe inside a C block comment."""
    return text.replace("*/", "* /")


def _ident(prefix: str, names: list[str]) -> dict[str, str]:
    """Distinct C identifiers ``PREFIX_NAME`` for names like ``child-1``."""
    idents: dict[str, str] = {}
    for index, name in enumerate(names):
        ident = f"{prefix}_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()
        if ident in idents.values():
            ident = f"{ident}_{index}"
        idents[name] = ident
    return idents


def _prot(prot: int) -> str:
    names = [name for name, bit in _PROT_NAMES if prot & bit]
    return " | ".join(names) if names else "PROT_NONE"


@dataclass
class _Program:
    """What the step renderers share: identifiers of address spaces and files."""

    case: Case
    design: str
    era: str
    mms: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    created: set[str] = field(default_factory=set)

    def want(self, step: Step) -> tuple[str, str]:
        """The errno macro a call must fail with ('0' for success) and its printed name."""
        outcome = getattr(step, "outcome", None)
        return (outcome, _c_string(outcome)) if outcome else ("0", '""')

    def call(self, step: Step, expr: str) -> list[str]:
        """Check a system call's result against the step's outcome."""
        errno_macro, name = self.want(step)
        return [f"return av_check_call({expr}, {errno_macro}, {name});"]


def _pages(count: int) -> str:
    return f"{count} * AV_PS" if count else "0"


def _address(step: RangeAction) -> str:
    base = f"AV_PAGE({step.first})"
    return f"{base} + {step.skew}" if step.skew else base


def _range(step: RangeAction) -> tuple[str, str]:
    return f"(void *)({_address(step)})", f"{step.count} * AV_PS"


def _render_mmap(prog: _Program, step: Mmap) -> list[str]:
    lines = []
    flags = ["MAP_FIXED", "MAP_SHARED" if step.shared else "MAP_PRIVATE"]
    fd = "-1"
    if step.file:
        fd = f"av_memfd[{prog.files[step.file]}]"
        if step.file not in prog.created:  # the runner creates it on first use
            prog.created.add(step.file)
            pages = prog.case.memfd_sizes()[step.file]
            lines.append(
                f"if (!av_check_call(av_make_memfd({prog.files[step.file]}, "
                f"{_c_string(step.file)}, {pages}), 0, \"\"))"
            )
            lines.append("\treturn 0;")
    else:
        flags.append("MAP_ANONYMOUS")
    if step.populate:
        flags.append("MAP_POPULATE")
    if step.noreserve:
        flags.append("MAP_NORESERVE")
    addr, length = _range(step)
    errno_macro, name = prog.want(step)
    lines += [
        f"long r = (long)mmap({addr}, {length}, {_prot(step.prot)},",
        f"\t\t{' | '.join(flags)}, {fd}, {_pages(step.offset)});",
        "",
        f"return av_check_call(r, {errno_macro}, {name}) && "
        f"av_check_addr(r, {_address(step)});",
    ]
    return lines


def _render_memfd(prog: _Program, step: Memfd) -> list[str]:
    prog.created.add(step.name)
    return prog.call(
        step, f"av_make_memfd({prog.files[step.name]}, {_c_string(step.name)}, {step.pages})"
    )


def _render_range(prog: _Program, step: RangeAction) -> list[str]:
    """``KEYWORD(addr, length)``: the system call named like the step."""
    return prog.call(step, f"{step.keyword}({', '.join(_range(step))})")


def _render_mprotect(prog: _Program, step: Mprotect) -> list[str]:
    return prog.call(step, f"mprotect({', '.join(_range(step))}, {_prot(step.prot)})")


def _render_madvise(prog: _Program, step: Madvise) -> list[str]:
    value = ADVICE[step.advice]
    advice = f"{value} /* {_ADVICE_NAMES[value]} */"
    return prog.call(step, f"madvise({', '.join(_range(step))}, {advice})")


def _render_mremap(prog: _Program, step: Mremap) -> list[str]:
    flags = [name for name, on in (("MREMAP_MAYMOVE", step.maymove),
                                   ("MREMAP_FIXED", step.fixed is not None),
                                   ("MREMAP_DONTUNMAP", step.dontunmap)) if on]
    args = [*_range(step), f"{step.new_count} * AV_PS", " | ".join(flags) or "0"]
    expect = None
    if step.fixed is not None:
        args.append(f"(void *)AV_PAGE({step.fixed})")
        expect = f"AV_PAGE({step.fixed})"
    elif not step.maymove:
        expect = _address(step)
    errno_macro, name = prog.want(step)
    check = f"av_check_call(r, {errno_macro}, {name})"
    if expect:
        check += f" && av_check_addr(r, {expect})"
    return [f"long r = (long)mremap({', '.join(args)});", "", f"return {check};"]


def _render_fork(prog: _Program, step: Fork) -> list[str]:
    return prog.call(step, f"av_fork({prog.mms[step.child]})")


def _render_touch(prog: _Program, step: Read | Write) -> list[str]:
    sig = step.outcome or "0"
    if isinstance(step, Write):
        args = f"1, {step.value:#x}, {sig}, -1"
    else:
        value = -1 if step.value is None else step.value
        args = f"0, 0, {sig}, {value:#x}" if value >= 0 else f"0, 0, {sig}, -1"
    return [f"return av_check_touch({step.first}, {step.last}, {args});"]


def _render_pages(prog: _Program, step: Pages) -> list[str]:
    return [f"return av_check_pages({step.first}, {_c_string(step.states)});"]


def _render_layout(prog: _Program, step: LayoutIs) -> list[str]:
    extents = parse_layout(step.diagram).extents
    rows = ", ".join(f"{{{first}, {end}}}" for first, end in extents) or "{0, 0}"
    return [
        f"static const unsigned long want[][2] = {{{rows}}};",
        "",
        f"return av_check_layout(want, {len(extents)});",
    ]


def _render_vma_flag(prog: _Program, step: VmaFlag) -> list[str]:
    mnemonic = _MNEMONIC[step.flag]
    return [
        f"return av_check_flag({step.page}, {_c_string(mnemonic)}, {_c_string(step.flag)}, "
        f"{int(step.present)});"
    ]


def _render_vma_field(prog: _Program, step: VmaField) -> list[str]:
    if step.name == "prot":
        return [f"return av_check_prot({step.page}, {_prot(parse_prot(step.value))});"]
    return [f"return av_check_pgoff({step.page}, {step.value});"]


_RENDERERS: dict[type[Step], Callable[[_Program, Any], list[str]]] = {
    Mmap: _render_mmap,
    Memfd: _render_memfd,
    Munmap: _render_range,
    Mlock: _render_range,
    Munlock: _render_range,
    Mprotect: _render_mprotect,
    Madvise: _render_madvise,
    Mremap: _render_mremap,
    Fork: _render_fork,
    Read: _render_touch,
    Write: _render_touch,
    Pages: _render_pages,
    LayoutIs: _render_layout,
    VmaFlag: _render_vma_flag,
    VmaField: _render_vma_field,
}
#: steps with nothing to do or check on a running kernel, and why
_UNOBSERVABLE: dict[type[Step], str] = {
    Checkpoint: "stats checkpoint: slab counters are not observable on a running kernel",
    Stats: "slab counters are not observable on a running kernel",
    Retractable: "khugepaged retraction eligibility is not observable on a running kernel",
    VmaSameAnonVma: "anon_vma identity is not observable on a running kernel",
}


def _skip_reason(prog: _Program, step: Step) -> str | None:
    """Why a step is written as a comment only, or None if it is run."""
    reason = _UNOBSERVABLE.get(type(step))
    if reason:
        return reason
    if isinstance(step, Expectation):
        missing = step.capabilities() - KERNEL_CAPABILITIES
        if missing:
            return f"needs {', '.join(sorted(missing))}: not observable on a running kernel"
        if step.designs is not None and not step.designs.applies(prog.design, prog.era):
            return f"not checked for {prog.design}@{prog.era} ({step.designs.format()})"
    return None


def _step_function(prog: _Program, index: int, step: Step) -> list[str]:
    label = f"line {step.line}: {step.format()}" if step.line else step.format()
    head = [f"/* {_comment(label)} */", f"static int step_{index}(void)", "{"]
    reason = _skip_reason(prog, step)
    if reason:
        return [*head, f"\treturn 1; /* {_comment(reason)} */", "}", ""]
    body = _RENDERERS[type(step)](prog, step)
    lines = [*head, f"\tav_step = {_c_string(label)};"]
    lines.extend(f"\t{line}" if line else "" for line in body)
    return [*lines, "}", ""]


def _header(case: Case, design: str) -> list[str]:
    steps = [f" *   {step.line:>4} | {_comment(step.format())}" for step in case.steps]
    return [
        "/*",
        f" * {_comment(case.id)}: {_comment(case.about)}",
        f" * source: {_comment(case.source)}",
        " *",
        " * Reproducer written by pytest-anonvma (python -m pytest_anonvma export-c). It replays",
        " * the case on this kernel, one process per address space, and checks what a running",
        f" * kernel shows (design {design}): errno of each call, SIGSEGV/SIGBUS of each touch,",
        " * page states from /proc/self/pagemap (bit 58 guard marker, 63 present, 62 swapped),",
        " * VMA boundaries from /proc/self/maps, VmFlags and protection from /proc/self/smaps.",
        " * Build and run:  cc -O2 -o repro repro.c && ./repro   (exit 0 PASS, 1 FAIL)",
        " *",
        " * Steps:",
        *steps,
        " */",
        "#define _GNU_SOURCE",
    ]


def export_c(case: Case, design: str = KERNEL_DESIGN, era: str = KERNEL_ERA) -> str:
    """The C source of a standalone program replaying ``case`` on the running kernel.

    ``design`` and ``era`` decide which design-filtered expectations are checked (the kernel's
    own by default).
    """
    mm_names = [ROOT_MM, *(step.child for step in case.steps if isinstance(step, Fork))]
    file_names = sorted({s.name for s in case.steps if isinstance(s, Memfd)}
                        | {s.file for s in case.steps if isinstance(s, Mmap) and s.file})
    prog = _Program(case, design, era, _ident("MM", mm_names), _ident("FILE", file_names))
    lines = _header(case, f"{design}@{era}")
    lines += [
        f"#define AV_NMM {len(mm_names)}",
        f"#define AV_NFILES {len(file_names)}",
        f"#define AV_ARENA_BASE {ARENA_BASE:#x}UL",
        f"#define AV_ARENA_PAGES {ARENA_PAGES}UL",
        "",
        touch_header().rstrip(),
        "",
        c_source("replay.h").rstrip(),
        "",
    ]
    lines.append("enum { " + ", ".join(prog.mms.values()) + " };")
    if prog.files:
        lines.append("enum { " + ", ".join(prog.files.values()) + " };")
    lines.append("")
    for index, step in enumerate(case.steps):
        lines += _step_function(prog, index, step)
    lines += ["static int av_run_step(int n)", "{", "\tswitch (n) {"]
    for index in range(len(case.steps)):
        lines.append(f"\tcase {index}: return step_{index}();")
    lines += ["\t}", '\treturn av_fail("no step %d", n);', "}", ""]
    lines += [
        "int main(void)",
        "{",
        "\tif (av_setup()) {",
        '\t\tperror("setup");',
        "\t\treturn 2;",
        "\t}",
    ]
    for index, step in enumerate(case.steps):
        lines.append(f"\tif (!av_on({prog.mms[step.mm]}, {index}))")
        lines.append("\t\treturn av_finish(1);")
    lines += ["\treturn av_finish(0);", "}", ""]
    return "\n".join(lines)


def write_c(
    case: Case, directory: Path, design: str = KERNEL_DESIGN, era: str = KERNEL_ERA
) -> Path:
    """Write ``export_c(case)`` to ``directory/<case id>.c`` atomically; returns the path.

    Atomic (a temporary file renamed into place) because several xdist workers may export the
    same case at once (``--anonvma-export-c``).
    """
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{case.id}.c"
    tmp = directory / f".{case.id}.c.{os.getpid()}.tmp"
    tmp.write_text(export_c(case, design, era), encoding="utf-8")
    os.replace(tmp, target)
    return target


# --- the export-c command ------------------------------------------------------------------------


def _run_command(args: argparse.Namespace) -> int:
    corpus = load_corpus(args.cases or None)
    for problems in corpus.errors.values():
        for problem in problems:
            print(problem, file=sys.stderr)
    if corpus.errors:
        print("export-c: fix the case files above first", file=sys.stderr)
        return 1
    if args.all:
        cases = corpus.cases
    else:
        known = {case.id: case for case in corpus.cases}
        unknown = [case_id for case_id in args.ids if case_id not in known]
        if unknown:
            where = ", ".join(corpus.files) if args.cases else "the bundled corpus"
            print(f"export-c: no case {unknown[0]!r} in {where} ({len(known)} cases)",
                  file=sys.stderr)
            return 1
        cases = [known[case_id] for case_id in args.ids]
    if not cases:
        print("export-c: name case ids, or --all", file=sys.stderr)
        return 1
    if args.output == "-":
        if len(cases) != 1:
            print("export-c: '-o -' writes one case to stdout; name exactly one", file=sys.stderr)
            return 1
        sys.stdout.write(export_c(cases[0], args.design, args.era))
        return 0
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    for case in cases:
        print(write_c(case, out, args.design, args.era))
    return 0


def add_export_c_command(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``export-c`` subcommand."""
    parser = subparsers.add_parser(
        "export-c",
        help="write cases as standalone C reproducers for a real kernel",
        description="Write each named case as a standalone C program (ID.c) that replays its "
        "steps on the running kernel and checks what the kernel shows (errno, SIGSEGV/SIGBUS, "
        "pagemap, maps, smaps). Build with 'cc -O2 -o repro ID.c'; it exits 0 on PASS.",
    )
    parser.add_argument("ids", nargs="*", metavar="CASE_ID", help="case ids to export")
    parser.add_argument("--all", action="store_true", help="export every case")
    parser.add_argument("--cases", action="append", metavar="PATH",
                        help="case files or directories (default: the bundled corpus)")
    parser.add_argument("-o", "--output", default=".", metavar="DIR",
                        help="directory to write ID.c files into, or - for stdout (one case)")
    parser.add_argument("--design", default=KERNEL_DESIGN, choices=DESIGNS,
                        help=f"design whose filtered expectations are checked "
                        f"(default: {KERNEL_DESIGN}, the kernel's)")
    parser.add_argument("--era", default=KERNEL_ERA, choices=ERAS,
                        help=f"era for era-filtered expectations (default: {KERNEL_ERA})")
    parser.set_defaults(func=_run_command)
