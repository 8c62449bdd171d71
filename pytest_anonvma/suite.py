"""The bundled conformance suite: where it is installed and when a run collects it.

* ``pytest -p anonvma`` with no paths: the bundled suite replaces the default paths (the
  invocation directory or ``testpaths``), so ``pytest -p anonvma`` at the root of a project with
  ``testpaths`` still checks conformance.
* Paths named on the command line (``config.args_source`` is ``ARGS``): only those, plus the
  bundled suite if ``--anonvma-conformance`` is given.
* The plugin loaded without ``-p`` (installed and auto-loaded) and no paths: pytest's usual
  behaviour, unless ``--anonvma-conformance`` is given.
* ``--anonvma-no-bundled``: never the bundled suite.

``--anonvma-cases`` cases run in the bundled ``test_cases.py``. When the suite is not in the run
(or ``--anonvma-no-bundled``), its folder is added the way the suite would have been (replacing
the default paths under ``-p anonvma``, else beside the paths), and of it only that module is
collected (:func:`beside_case_module`), running the user's cases alone.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterable
from pathlib import Path

import pytest

__all__ = [
    "CASE_MODULE",
    "PLUGIN_NAMES",
    "beside_case_module",
    "bundled_suite_dir",
    "explicitly_requested",
    "include_bundled_suite",
    "include_case_module",
    "named_path",
]

#: the names ``-p`` accepts for this plugin (entry-point name and module)
PLUGIN_NAMES = frozenset({"anonvma", "pytest_anonvma.plugin"})
#: the bundled module that runs the case files
CASE_MODULE = "test_cases.py"


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


def include_bundled_suite(config: pytest.Config, always: bool, never: bool = False) -> bool:
    """Add the bundled suite to ``config.args`` when the rules above say so.

    ``always`` is ``--anonvma-conformance``, ``never`` ``--anonvma-no-bundled``. Returns
    whether the suite is part of the run.
    """
    named_paths = config.args_source == pytest.Config.ArgsSource.ARGS
    if never or (named_paths and not always):
        return False
    if not named_paths and not (always or explicitly_requested(config)):
        return False
    suite = str(bundled_suite_dir())
    config.args = [*config.args, suite] if named_paths else [suite]
    return True


def named_path(arg: object) -> Path:
    """The file or folder a command-line path (``path``, ``path::name``) names, resolved."""
    return Path(str(arg).split("::", 1)[0]).resolve()


def include_case_module(config: pytest.Config, bundled_suite: bool, no_bundled: bool) -> bool:
    """Make sure the bundled ``test_cases.py`` is collected, for the ``--anonvma-cases`` cases
    (``bundled_suite``: the suite is in the run already). Returns whether the module runs its
    own cases too: not with ``no_bundled``, nor when it is in the run for the user's alone
    (then the rest of the bundled suite is not collected either: :func:`beside_case_module`)."""
    if bundled_suite:
        return True
    suite = bundled_suite_dir().resolve()
    named_paths = config.args_source == pytest.Config.ArgsSource.ARGS
    module = suite / CASE_MODULE
    if named_paths and any(named_path(arg) in (module, *module.parents) for arg in config.args):
        return not no_bundled
    if named_paths or not explicitly_requested(config):
        config.args = [*config.args, str(suite)]
    else:
        config.args = [str(suite)]
    return False


def beside_case_module(path: Path, named: Iterable[Path]) -> bool:
    """Is ``path`` part of the bundled suite other than ``test_cases.py`` and not one of the
    ``named`` paths (resolved)? Such paths are not collected while the module runs the user's
    cases alone."""
    resolved = path.resolve()
    return (resolved.parent == bundled_suite_dir().resolve() and resolved.name != CASE_MODULE
            and resolved not in named)
