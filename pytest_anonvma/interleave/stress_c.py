"""``stress_c(case)``: an interleave case as a C stress program for the running kernel.

The program repeats, until its time is up: map the arena fresh and run the case's setup steps;
start one pthread per thread block, all released together by a barrier, each running its
actions once; join; then run the steps after ``in every interleaving:`` (page states from
``/proc/self/pagemap``, touches, forks). At each fork the child compares its guard markers with
the parent's, page by page: a marker the parent has and the child lacks is a marker lost by the
fork. A ``pages`` expectation of ``G`` the parent misses is a marker lost in the parent. It
prints ``iterations N lost M (fork F, parent P) mismatches K`` and exits 0 only if nothing was lost
and every expectation held. Expectations a kernel does not show are comments.
"""

from __future__ import annotations

import os
from pathlib import Path

from pytest_anonvma.cases.arena import ARENA_BASE
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
    Munlock,
    Munmap,
    Pages,
    Read,
    Step,
    Write,
)
from pytest_anonvma.interleave.cases import Thread, ThreadOp, threads_of
from pytest_anonvma.live.export_c import _c_string, _comment, _prot

__all__ = ["DEFAULT_SECONDS", "stress_c", "write_stress_c"]

#: how long the program runs without an argument
DEFAULT_SECONDS = 5
#: the most thread actions a program counts outcomes for (``op_ok`` in the C)
_MAX_OPS = 64

_PRELUDE = r"""#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#define MADV_GUARD_REMOVE 103
#endif
#define PS 4096UL
#define PAGE(n) (ARENA_BASE + (unsigned long)(n) * PS)

static int pagemap = -1;
static unsigned long mismatches;
/* per thread action: how often it succeeded, and how often it failed as allowed */
static unsigned long op_ok[64], op_failed[64];

static void count(int op, const char *got)
{
    if (op >= 0)
        __atomic_add_fetch(strcmp(got, "ok") ? &op_failed[op] : &op_ok[op], 1,
                   __ATOMIC_RELAXED);
}
static __thread sigjmp_buf fault_jmp;
static __thread volatile int touching;

static void on_fault(int sig)
{
    if (!touching)
        abort();
    siglongjmp(fault_jmp, sig);
}

/* One-byte access to arena page n: 0, or the signal it raised. */
static __attribute__((unused)) int touch(int n, int write, unsigned char value)
{
    volatile unsigned char *p = (volatile unsigned char *)PAGE(n);
    int sig = sigsetjmp(fault_jmp, 1);

    if (sig) {
        touching = 0;
        return sig;
    }
    touching = 1;
    if (write)
        *p = value;
    else
        (void)*p;
    touching = 0;
    return 0;
}

/* '.', 'P' or 'G' for arena page n (pagemap: bit 58 guard marker, 63 present, 62 swapped). */
static char page_state(int n)
{
    uint64_t e = 0;

    if (pread(pagemap, &e, sizeof(e), (PAGE(n) / PS) * sizeof(e)) != sizeof(e))
        return '?';
    if (e & (1ULL << 58))
        return 'G';
    return (e & (3ULL << 62)) ? 'P' : '.';
}

static __attribute__((unused)) int check_pages(const char *where, int first, const char *want,
                                               unsigned long *lost)
{
    int ok = 1;

    for (int i = 0; want[i]; i++) {
        char got = page_state(first + i);

        if (got == want[i])
            continue;
        ok = 0;
        if (want[i] == 'G')
            ++*lost;
        fprintf(stderr, "%s: page %d is %c, expected %c\n", where, first + i, got, want[i]);
    }
    return ok;
}

/* The outcome of a call: "ok" or the errno's name (the names the case uses). */
static const char *outcome(long r)
{
    if (r != -1)
        return "ok";
    switch (errno) {
    case EINVAL: return "EINVAL";
    case ENOMEM: return "ENOMEM";
    case EFAULT: return "EFAULT";
    case EAGAIN: return "EAGAIN";
    case EINTR: return "EINTR";
    case EPERM: return "EPERM";
    case EBUSY: return "EBUSY";
    default: return "errno";
    }
}

static __attribute__((unused)) const char *sig_outcome(int sig)
{
    return sig == SIGSEGV ? "SIGSEGV" : sig == SIGBUS ? "SIGBUS" : "ok";
}

/* Is `got` one of the '|'-separated outcomes in `allowed`? (`op`: the thread action, or -1) */
static int allowed(int op, const char *got, const char *allow, const char *what)
{
    size_t n = strlen(got);

    count(op, got);
    for (const char *p = allow; *p; p = strchr(p, '|') ? strchr(p, '|') + 1 : p + strlen(p))
        if (!strncmp(p, got, n) && (p[n] == '|' || !p[n]))
            return 1;
    fprintf(stderr, "%s: got %s, expected %s\n", what, got, allow);
    __atomic_add_fetch(&mismatches, 1, __ATOMIC_RELAXED);
    return 0;
}
"""


def _ident(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name)


def _addr(first: int) -> str:
    return f"(void *)PAGE({first})"


def _call(step: Action, allow: str, files: dict[str, int], op: int = -1) -> list[str]:
    """C statements performing ``step`` and checking its outcome against ``allow`` (``op``: the
    index of a thread action, whose outcomes are counted)."""
    what = _c_string(step.format())
    if isinstance(step, (Read, Write)):
        lines = []
        for page in range(step.first, step.last + 1):
            write = 1 if isinstance(step, Write) else 0
            value = step.value if isinstance(step, Write) else 0
            lines.append(f"allowed({op}, sig_outcome(touch({page}, {write}, {value:#x})), "
                         f"{_c_string(allow)}, {what});")
        return lines
    if isinstance(step, Mmap):
        options = (("MAP_ANONYMOUS", not step.file), ("MAP_POPULATE", step.populate),
                   ("MAP_NORESERVE", step.noreserve))
        flags = " | ".join(["MAP_FIXED", "MAP_SHARED" if step.shared else "MAP_PRIVATE",
                            *(name for name, on in options if on)])
        fd = f"memfd_{_ident(step.file)}" if step.file else "-1"
        expr = (f"mmap({_addr(step.first)}, {step.count} * PS, {_prot(step.prot)}, {flags}, "
                f"{fd}, {step.offset} * PS) == MAP_FAILED ? -1 : 0")
    elif isinstance(step, Madvise):
        expr = (f"madvise({_addr(step.first)}, {step.count} * PS, {ADVICE[step.advice]} "
                f"/* MADV_{step.advice.upper()} */)")
    elif isinstance(step, Mprotect):
        expr = f"mprotect({_addr(step.first)}, {step.count} * PS, {_prot(step.prot)})"
    elif isinstance(step, (Munmap, Mlock, Munlock)):
        expr = f"{step.keyword}({_addr(step.first)}, {step.count} * PS)"
    else:
        raise ValueError(f"the stress reproducer cannot run {step.format()!r} in a thread or "
                         "its setup")
    return [f"allowed({op}, outcome({expr}), {_c_string(allow)}, {what});"]


def _allow(op: ThreadOp) -> str:
    if op.outcomes is not None:
        return "|".join(sorted(op.outcomes))
    return op.step.outcome or "ok"


def _trailing(steps: list[Step], files: dict[str, int]) -> list[str]:
    """The checks after the threads, in the main thread; a fork's child checks its own."""
    lines: list[str] = []
    for index, step in enumerate(steps):
        lines.append(f"/* line {step.line}: {_comment(step.format())} */")
        if isinstance(step, Fork):
            later = [s for s in steps[index + 1:] if s.mm == step.child]
            lines += _fork(step, later, files)
        elif step.mm != ROOT_MM:
            continue  # run by its child, at the fork
        elif isinstance(step, Pages):
            lines.append(f"if (!check_pages(\"parent\", {step.first}, "
                         f"{_c_string(step.states)}, &lost_parent)) mismatches++;")
        elif isinstance(step, Action):
            lines += _call(step, step.outcome or "ok", files)
        else:
            lines.append("/* not observable on a running kernel: not checked */")
    return lines


def _fork(step: Fork, later: list[Step], files: dict[str, int]) -> list[str]:
    checks = []
    for child_step in later:
        if isinstance(child_step, Pages):
            checks.append(f"        if (!check_pages({_c_string(step.child)}, {child_step.first}, "
                          f"{_c_string(child_step.states)}, &dummy)) bad++;")
        elif isinstance(child_step, (Read, Write)):
            checks += ["        " + line.replace("allowed(", "bad += !allowed(", 1)
                       for line in _call(child_step, child_step.outcome or "ok", files)]
    return [
        "{",
        "    char before[NPAGES];",
        "    int fds[2];",
        "    for (int i = 0; i < NPAGES; i++)",
        "        before[i] = page_state(i);",
        "    if (pipe(fds))",
        "        abort();",
        "    pid_t pid = fork();",
        "    if (pid == 0) {",
        "        unsigned long res[2] = {0, 0}, dummy = 0;",
        "        (void)dummy;",
        "        int bad = 0;",
        "        for (int i = 0; i < NPAGES; i++)",
        "            if (before[i] == 'G' && page_state(i) != 'G') {",
        f"                fprintf(stderr, \"fork lost the marker of page %d in %s\\n\", i, "
        f"{_c_string(step.child)});",
        "                res[0]++;",
        "            }",
        *checks,
        "        res[1] = bad;",
        "        if (write(fds[1], res, sizeof(res)) != sizeof(res))",
        "            _exit(2);",
        "        _exit(0);",
        "    }",
        "    unsigned long res[2] = {0, 1};",
        "    if (pid < 0 || read(fds[0], res, sizeof(res)) != sizeof(res))",
        "        mismatches++;",
        "    close(fds[0]);",
        "    close(fds[1]);",
        "    if (pid > 0)",
        "        waitpid(pid, NULL, 0);",
        "    lost_fork += res[0];",
        "    mismatches += res[1];",
        "}",
    ]


def _thread_function(index: int, thread: Thread, files: dict[str, int],
                     first_op: int) -> list[str]:
    lines = [f"/* thread {thread.name} */", f"static void *thread_{index}(void *arg)", "{",
             "    (void)arg;", "    pthread_barrier_wait(&start);"]
    for number, op in enumerate(thread.ops, start=first_op):
        lines.append(f"    /* line {op.step.line}: {_comment(op.format())} */")
        lines += ["    " + line for line in _call(op.step, _allow(op), files, number)]
    return [*lines, "    return NULL;", "}", ""]


def stress_c(case: Case, seconds: int = DEFAULT_SECONDS) -> str:
    """The C source of the stress program of an interleave ``case`` (``./a.out [SECONDS]``)."""
    block = threads_of(case)
    at = case.steps.index(block)
    setup = list(case.steps[:at])
    trailing = list(case.steps[at + 1:])
    sizes = case.memfd_sizes()
    sizes.update({s.name: s.pages for s in case.steps if isinstance(s, Memfd)})
    files = {name: index for index, name in enumerate(sorted(sizes))}
    npages = case.arena_pages()
    header = [
        "/*",
        f" * {_comment(case.id)}: {_comment(case.about)}",
        f" * source: {_comment(case.source)}",
        " *",
        " * Stress reproducer written by pytest-anonvma (--anonvma-export-c). Each iteration maps",
        " * the arena fresh, runs the setup, releases one thread per thread block together, joins",
        " * them and checks the steps after them; every fork's child compares its guard markers",
        " * with the parent's. Build and run:",
        " *   cc -O2 -pthread -o stress stress.c && ./stress [SECONDS]",
        " * It prints the iterations and the markers lost; exit 0 only if none was lost.",
        " *",
        " * Steps:",
        *(f" *   {line}" for line in _comment(_steps_text(case)).splitlines()),
        " */",
        "#define _GNU_SOURCE",
    ]
    lines = [*header, f"#define ARENA_BASE {ARENA_BASE:#x}UL", f"#define NPAGES {npages}",
             f"#define NTHREADS {len(block.threads)}", _PRELUDE.rstrip(), "",
             "static pthread_barrier_t start;",
             "static unsigned long lost_fork, lost_parent;"]
    lines += [f"static int memfd_{_ident(name)} = -1;" for name in files]
    lines += ["", "static void setup(void)", "{"]
    for name in files:
        ident = f"memfd_{_ident(name)}"
        lines += [f"    {ident} = memfd_create({_c_string(name)}, 0);",
                  f"    if ({ident} < 0 || ftruncate({ident}, {sizes[name]} * PS))",
                  "        abort();"]
    for step in setup:
        lines.append(f"    /* line {step.line}: {_comment(step.format())} */")
        if isinstance(step, Action) and not isinstance(step, Memfd):
            lines += ["    " + line for line in _call(step, step.outcome or "ok", files)]
    lines += ["}", ""]
    ops = [f"{thread.name}: {op.format()}" for thread in block.threads for op in thread.ops]
    if len(ops) > _MAX_OPS:
        raise ValueError(f"the stress reproducer runs at most {_MAX_OPS} thread actions")
    first = 0
    for index, thread in enumerate(block.threads):
        lines += _thread_function(index, thread, files, first)
        first += len(thread.ops)
    lines.append("static const char *const op_names[] = {"
                 + ", ".join(_c_string(op) for op in ops) + "};")
    lines += ["static void check(void)", "{"]
    lines += ["    " + line for line in _trailing(trailing, files)]
    lines += ["}", "", "static void teardown(void)", "{",
              "    munmap((void *)ARENA_BASE, NPAGES * PS);"]
    lines += [f"    close(memfd_{_ident(name)});" for name in files]
    functions = ", ".join(f"thread_{index}" for index in range(len(block.threads)))
    main = _MAIN.replace("DEFAULT_SECONDS", str(seconds)).replace("THREAD_FUNCTIONS", functions)
    lines += ["}", "", main.rstrip(), ""]
    return "\n".join(lines)


def _steps_text(case: Case) -> str:
    return "\n".join(step.format() for step in case.steps)


_MAIN = r"""int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : DEFAULT_SECONDS;
    void *(*fns[NTHREADS])(void *) = { THREAD_FUNCTIONS };
    struct timespec t0, now;
    unsigned long iterations = 0;

    signal(SIGSEGV, on_fault);
    signal(SIGBUS, on_fault);
    pagemap = open("/proc/self/pagemap", O_RDONLY);
    if (pagemap < 0) {
        perror("/proc/self/pagemap");
        return 2;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        pthread_t tids[NTHREADS];

        pthread_barrier_init(&start, NULL, NTHREADS);
        setup();
        for (int i = 0; i < NTHREADS; i++)
            if (pthread_create(&tids[i], NULL, fns[i], NULL))
                abort();
        for (int i = 0; i < NTHREADS; i++)
            pthread_join(tids[i], NULL);
        pthread_barrier_destroy(&start);
        check();
        teardown();
        iterations++;
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while ((now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) / 1e9 < seconds);
    printf("iterations %lu lost %lu (fork %lu, parent %lu) mismatches %lu\n", iterations,
           lost_fork + lost_parent, lost_fork, lost_parent, mismatches);
    for (unsigned i = 0; i < sizeof(op_names) / sizeof(op_names[0]); i++)
        printf("  %s: ok %lu, failed %lu\n", op_names[i], op_ok[i], op_failed[i]);
    return lost_fork + lost_parent + mismatches ? 1 : 0;
}
"""


def write_stress_c(case: Case, directory: Path, seconds: int = DEFAULT_SECONDS) -> Path:
    """Write ``stress_c(case)`` to ``directory/<case id>.stress.c`` atomically; the path."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{case.id}.stress.c"
    tmp = directory / f".{case.id}.stress.c.{os.getpid()}.tmp"
    source = stress_c(case, seconds)
    tmp.write_text(source, encoding="utf-8")
    os.replace(tmp, target)
    return target
