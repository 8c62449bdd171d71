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

#: a user test module exercising an implementation through the fixtures
USER_TESTS = '''
def test_map(mm):
    assert mm.mmap(0x10000, 0x2000, 3, 0x32) == 0x10000
    assert [(v.start, v.end) for v in mm.vmas()] == [(0x10000, 0x12000)]


def test_fork(mm):
    mm.mmap(0x10000, 0x1000, 3, 0x32)
    assert mm.fork().vmas() == mm.vmas()
'''


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
