"""The bundled conformance suite: where it is installed and when a run collects it.

* ``pytest -p anonvma`` with no paths: the bundled suite replaces the default paths (the
  invocation directory or ``testpaths``), so ``pytest -p anonvma`` at the root of a project with
  ``testpaths`` still checks conformance.
* Paths named on the command line (``config.args_source`` is ``ARGS``): only those, plus the
  bundled suite if ``--anonvma-conformance`` is given.
* The plugin loaded without ``-p`` (installed and auto-loaded) and no paths: pytest's usual
  behaviour, unless ``--anonvma-conformance`` is given.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterable
from pathlib import Path

import pytest

__all__ = ["PLUGIN_NAMES", "bundled_suite_dir", "explicitly_requested", "include_bundled_suite"]

#: the names ``-p`` accepts for this plugin (entry-point name and module)
PLUGIN_NAMES = frozenset({"anonvma", "pytest_anonvma.plugin"})


def bundled_suite_dir() -> Path:
    """The installed ``pytest_anonvma/conformance`` directory."""
    import pytest_anonvma.conformance

    return Path(pytest_anonvma.conformance.__file__).parent


def _plugin_args(args: Iterable[str]) -> list[str]:
    """The values of ``-p NAME`` / ``-pNAME`` in an argument list."""
    found, take_next = [], False
    for arg in args:
        if take_next:
            found.append(arg.strip())
            take_next = False
        elif arg == "-p":
            take_next = True
        elif arg.startswith("-p"):
            found.append(arg[2:].strip())
    return found


def explicitly_requested(config: pytest.Config) -> bool:
    """Was the plugin asked for by ``-p`` on the command line, ``PYTEST_ADDOPTS`` or
    ``PYTEST_PLUGINS`` (rather than only auto-loaded or named in an ini ``addopts``)?"""
    args = [str(a) for a in config.invocation_params.args]
    args += shlex.split(os.environ.get("PYTEST_ADDOPTS", ""))
    requested = set(_plugin_args(args))
    requested |= {p.strip() for p in os.environ.get("PYTEST_PLUGINS", "").split(",")}
    return bool(requested & PLUGIN_NAMES)


def include_bundled_suite(config: pytest.Config, always: bool) -> bool:
    """Add the bundled suite to ``config.args`` when the rules above say so.

    ``always`` is ``--anonvma-conformance``. Returns whether the suite is part of the run.
    """
    named_paths = config.args_source == pytest.Config.ArgsSource.ARGS
    if named_paths and not always:
        return False
    if not named_paths and not (always or explicitly_requested(config)):
        return False
    suite = str(bundled_suite_dir())
    config.args = [*config.args, suite] if named_paths else [suite]
    return True
