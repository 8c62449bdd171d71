"""Fixtures for the live-kernel backend tests: a sandboxed address space, skipped with the
backend's own one-line reason where the running kernel cannot serve."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pytest_anonvma.live import LiveMM, live_unavailable_reason


@pytest.fixture
def live_available() -> None:
    """Skip unless the running kernel can serve as the live implementation."""
    reason = live_unavailable_reason()
    if reason:
        pytest.skip(reason)


@pytest.fixture
def mm(live_available: None) -> Iterator[LiveMM]:
    """A fresh sandboxed address space, closed after the test."""
    with LiveMM() as space:
        yield space
