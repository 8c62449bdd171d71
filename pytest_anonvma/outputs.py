"""Files a test writes besides its verdict (``--anonvma-save-failures``, ``--anonvma-export-c``).

A write that fails never replaces or hides the verdict: :func:`write_output` returns a line
saying what could not be written, and records it on the test (``user_properties``), so the
run lists it at the end and does not exit 0. The folders were checked at start
(:mod:`pytest_anonvma.options`); this covers what goes wrong later (a full disk).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

__all__ = ["OUTPUT_ERROR", "export_c_if_asked", "unwritable", "write_output"]

#: the ``user_properties`` key of a file a test could not write
OUTPUT_ERROR = "anonvma_output_error"


def write_output(item: pytest.Item, what: str, write: Callable[[], Path]) -> str:
    """Call ``write`` (which writes ``what`` and returns its path): ``"WHAT saved to PATH"``,
    or, if it raises ``OSError``, ``"could not save WHAT: ERROR"``, also recorded on ``item``."""
    try:
        return f"{what} saved to {write()}"
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        problem = f"could not save {what}: {exc.strerror or exc}{where}"
    item.user_properties.append((OUTPUT_ERROR, f"{item.nodeid}: {problem}"))
    return problem


def export_c_if_asked(request: pytest.FixtureRequest, what: str,
                      write: Callable[[Path], Path]) -> None:
    """With ``--anonvma-export-c=DIR``: ``write(DIR)`` through :func:`write_output` (a failed
    write is listed at the end of the run, never held against the implementation)."""
    from pytest_anonvma.options import get_settings

    folder = get_settings(request.config).export_c
    if folder is not None:
        write_output(request.node, what, lambda: write(folder))


def unwritable(folder: Path) -> str | None:
    """Make ``folder`` (and its parents) and create and remove a file in it: None if that
    worked, else why not, in words (checked at start, so a run does not find out at its end)."""
    try:
        if folder.exists() and not folder.is_dir():
            return "not a folder"
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".anonvma-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except FileExistsError:
        return "not a folder"
    except (OSError, ValueError) as exc:
        return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return None
