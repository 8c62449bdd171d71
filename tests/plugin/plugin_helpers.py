"""Helpers for the plugin's meta-tests: toy implementations and result parsing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

#: toy implementations of the contract: just enough to exercise the plugin, modelling nothing
TOY_SOURCE = '''
import os
import time

from pytest_anonvma.contract import VMAInfo

#: ids of closed instances, so tests can check the fixtures close what they make
CLOSED = []


class _Base:
    capabilities = frozenset({"layout", "fork"})
    design = "reference"
    era = "2025-03"

    def __init__(self):
        self._vmas = {}

    def mmap(self, addr, length, prot, flags, file=None, offset=0):
        self._vmas[addr] = VMAInfo(addr, addr + length, prot)
        return addr

    def munmap(self, addr, length):
        for start in [s for s in self._vmas if addr <= s < addr + length]:
            del self._vmas[start]

    def vmas(self):
        return sorted(self._vmas.values(), key=lambda v: v.start)

    def close(self):
        CLOSED.append(id(self))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class ToyMM(_Base):
    """A toy that can fork."""

    def fork(self):
        child = type(self)()
        child._vmas = dict(self._vmas)
        return child


class NoForkMM(_Base):
    """Declares fork but has no fork() method."""


class LayoutOnlyMM(ToyMM):
    capabilities = frozenset({"layout"})


class NewEraMM(ToyMM):
    era = "6.18"


class RaisingMM(ToyMM):
    def __init__(self):
        raise RuntimeError("toy: cannot create an address space")


class BrokenMM(ToyMM):
    def mmap(self, addr, length, prot, flags, file=None, offset=0):
        raise RuntimeError("toy: mmap is broken")


class SpinningMM(ToyMM):
    def mmap(self, addr, length, prot, flags, file=None, offset=0):
        n = 0
        while True:
            n += 1


class SleepingMM(ToyMM):
    def mmap(self, addr, length, prot, flags, file=None, offset=0):
        time.sleep(3600)


class CrashingMM(ToyMM):
    def mmap(self, addr, length, prot, flags, file=None, offset=0):
        os._exit(17)


class SometimesMM(ToyMM):
    """Fails mmap at random (through the random module the plugin seeds per test)."""

    def mmap(self, addr, length, prot, flags, file=None, offset=0):
        import random

        if random.random() < 0.5:
            raise OSError(12, "toy: unlucky")
        return super().mmap(addr, length, prot, flags, file, offset)
'''

#: the bundled reference broken in small ways, as a model's bugs: ``ForkBug``'s fork drops the
#: child's guard markers; ``MergesAll.vmas()`` shows touching VMAs of equal protection as one;
#: ``Raising`` fails inside mprotect
BUGGY_SOURCE = """
import dataclasses

from pytest_anonvma import constants as C
from pytest_anonvma import registry


class Wrapped:
    def __init__(self, mm=None):
        self._mm = mm if mm is not None else registry.resolve("reference")()

    def __getattr__(self, name):
        return getattr(self._mm, name)

    def fork(self):
        return type(self)(self._mm.fork())


class ForkBug(Wrapped):
    def fork(self):
        child = super().fork()
        for vma in child.vmas():
            for addr in range(vma.start, vma.end, C.PAGE_SIZE):
                if child.page(addr).char == "G":
                    child.madvise(addr, C.PAGE_SIZE, C.MADV_GUARD_REMOVE)
        return child


class MergesAll(Wrapped):
    def vmas(self):
        merged = []
        for vma in self._mm.vmas():
            if merged and merged[-1].end == vma.start and merged[-1].prot == vma.prot:
                merged[-1] = dataclasses.replace(merged[-1], end=vma.end)
            else:
                merged.append(vma)
        return merged


def _deep(n):
    if n == 0:
        raise RuntimeError("toy: mprotect is broken")
    _deep(n - 1)


class Raising(Wrapped):
    def mprotect(self, *args):
        _deep(2)
"""

#: a user test module exercising an implementation through the fixtures
USER_TESTS = '''
def test_map(mm):
    assert mm.mmap(0x10000, 0x2000, 3, 0x32) == 0x10000
    assert [(v.start, v.end) for v in mm.vmas()] == [(0x10000, 0x12000)]


def test_fork(mm):
    mm.mmap(0x10000, 0x1000, 3, 0x32)
    assert mm.fork().vmas() == mm.vmas()
'''


#: a case file of one guard-tier case, its id to fill in (``GUARD_CASE.format(id=...)``):
#: a guarded page reads as a guard marker and faults on touch (docs/spec.md §2)
GUARD_CASE = """
[[case]]
id = "{id}"
about = "A guarded page faults on touch."
source = "docs/spec.md §2"
tier = "guard"
needs = ["pages"]
steps = '''
mmap 0 2 rw anon
guard 1 1
pages 0..1 = . G
read 1 -> SIGSEGV
'''
"""


def make_entry_point_dist(pytester: pytest.Pytester, name: str, value: str) -> None:
    """An installed-looking distribution on sys.path declaring one implementation entry point."""
    info = pytester.mkdir("toy_models-1.0.dist-info")
    info.joinpath("METADATA").write_text("Metadata-Version: 2.1\nName: toy-models\nVersion: 1.0\n")
    info.joinpath("entry_points.txt").write_text(
        f"[pytest_anonvma.implementations]\n{name} = {value}\n"
    )


def one_line_usage_error(result: pytest.RunResult, *patterns: str) -> None:
    """Exit code 4, a single ``ERROR:`` line on stderr matching ``patterns``, no traceback."""
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    lines = [line for line in result.errlines if line.strip()]
    assert len(lines) == 1, lines
    result.stderr.fnmatch_lines(list(patterns))
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def outcomes(result: pytest.RunResult) -> dict[str, str]:
    """``{nodeid: PASSED/FAILED/...}`` from a ``-rA``-style run's short summary (``-rA``)."""
    found: dict[str, str] = {}
    for line in result.outlines:
        word, _, rest = line.partition(" ")
        if word in {"PASSED", "FAILED", "ERROR", "SKIPPED", "XFAIL", "XPASS"} and "::" in rest:
            found[rest.split(" - ")[0].strip()] = word
    return found


def read_json(path: Path) -> Any:
    """A JSON file's content."""
    return json.loads(path.read_text(encoding="utf-8"))


def timeless(report: Any) -> Any:
    """A JSON report without the tests' durations (measured: they differ from run to run)."""
    for case in report["cases"]:
        case.pop("duration")
    return report


def phase_report(nodeid: str, when: str, outcome: str, tier: str = "guard", impl: str = "ref",
                 longrepr: Any = None, **extra: Any) -> pytest.TestReport:
    """A phase report as pytest makes it, with the plugin's user properties."""
    rep = pytest.TestReport(
        nodeid=nodeid, location=("t.py", 0, nodeid), keywords={}, outcome=outcome,  # type: ignore[arg-type]
        longrepr=longrepr, when=when,  # type: ignore[arg-type]
        user_properties=[("anonvma_impl", impl), ("anonvma_tier", tier),
                         ("anonvma_case", nodeid)],
    )
    for key, value in extra.items():
        setattr(rep, key, value)
    return rep


def literal(text: str) -> str:
    """``text`` as an ``fnmatch_lines`` pattern matching itself (``[`` escaped)."""
    return text.replace("[", "[[]")
