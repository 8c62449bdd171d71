"""Fixtures for the soak tests: the command line run in-process."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pytest_anonvma.__main__ import main


@pytest.fixture
def soak(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run ``python -m pytest_anonvma soak ARGS...``: (exit status, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        status = main(["soak", *args])
        out, err = capsys.readouterr()
        return status, out, err

    return run
