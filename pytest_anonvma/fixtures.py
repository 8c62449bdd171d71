"""Fixtures the ``anonvma`` plugin gives every test (see docs/usage.md).

A test that uses ``anonvma_impl`` (directly or through ``mm``, ``mm_factory``...) runs once per
selected implementation; the implementation's name is the first part of the test id.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Callable, Iterator

import pytest

from pytest_anonvma.contract import MM
from pytest_anonvma.layout_tools import LayoutTool
from pytest_anonvma.options import get_settings
from pytest_anonvma.selection import Implementation

__all__ = [
    "IMPLEMENTATIONS_KEY",
    "anonvma_impl",
    "anonvma_seed",
    "mm",
    "mm_factory",
    "per_test_seed",
    "vma_layout",
]

#: the selected implementations, in order (set by the plugin at configure time)
IMPLEMENTATIONS_KEY = pytest.StashKey[list[Implementation]]()


@pytest.fixture
def anonvma_impl(request: pytest.FixtureRequest) -> Implementation:
    """The implementation under test: ``.name``, ``.factory``, ``.capabilities``, ``.design``,
    ``.era``. Tests using it are parametrized over ``--anonvma-impl``."""
    param = getattr(request, "param", None)
    if isinstance(param, Implementation):
        return param
    return request.config.stash[IMPLEMENTATIONS_KEY][0]


@pytest.fixture
def mm_factory(anonvma_impl: Implementation) -> Iterator[Callable[[], MM]]:
    """A function making new empty MMs of the implementation; all are closed after the test."""
    made: list[MM] = []

    def make() -> MM:
        new = anonvma_impl.factory()
        made.append(new)
        return new

    with contextlib.ExitStack() as stack:
        yield make
        for each in made:
            stack.callback(each.close)


@pytest.fixture
def mm(mm_factory: Callable[[], MM]) -> MM:
    """A fresh empty MM of the implementation under test, closed after the test."""
    return mm_factory()


@pytest.fixture
def vma_layout() -> LayoutTool:
    """Diagram helpers over the conformance arena: ``build``, ``of``, ``check``, ``page``."""
    from pytest_anonvma.cases.arena import ARENA_BASE, ARENA_PAGES

    return LayoutTool(base=ARENA_BASE, window=ARENA_PAGES)


@pytest.fixture
def anonvma_seed(request: pytest.FixtureRequest) -> int:
    """This test's seed: derived from ``--anonvma-seed`` and the test's id (not its path)."""
    return per_test_seed(get_settings(request.config).seed, request.node.name)


def per_test_seed(session_seed: int, name: str) -> int:
    """The seed of the test called ``name`` (function name plus parameter ids)."""
    return zlib.crc32(f"{session_seed}:{name}".encode())
