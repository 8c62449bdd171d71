"""Putting one mutated module into this process's imports, in memory only.

:func:`install` compiles the mutant from the pristine source file and registers a meta-path
finder that serves the compiled code for that one module name, then imports it, so every
later ``import`` of the module (by the package, the plugin or the tests) gets the mutant. Call
it in a throwaway process before anything imported the module; the file on disk is only read.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import CodeType, ModuleType

from mutate.operators import Mutant, compile_mutant

__all__ = ["MutantFinder", "install", "prepare"]


class _CodeLoader(importlib.abc.Loader):
    """Executes a ready code object as the module body."""

    def __init__(self, code: CodeType) -> None:
        self.code = code

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        """The default module object."""
        return None

    def exec_module(self, module: ModuleType) -> None:
        """Run the mutated module body."""
        exec(self.code, module.__dict__)


class MutantFinder(importlib.abc.MetaPathFinder):
    """Serves ``code`` as module ``name`` (file ``path``); defers every other import."""

    def __init__(self, name: str, path: Path, code: CodeType) -> None:
        self.name, self.path, self.code = name, path, code

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        """A spec for the mutated module; None for any other name."""
        if fullname != self.name:
            return None
        package_dirs = [str(self.path.parent)] if self.path.name == "__init__.py" else None
        return importlib.util.spec_from_file_location(
            fullname,
            self.path,
            loader=_CodeLoader(self.code),
            submodule_search_locations=package_dirs,
        )

    def load(self) -> ModuleType:
        """Import the mutated module (and its packages); RuntimeError if another copy won."""
        module = importlib.import_module(self.name)
        if not isinstance(getattr(module.__spec__, "loader", None), _CodeLoader):
            raise RuntimeError(f"{self.name} was not loaded from the mutant")
        return module


def prepare(mutant: Mutant, root: Path) -> MutantFinder:
    """Compile ``mutant`` (``root``: the project directory) and put its finder first in
    ``sys.meta_path``; :meth:`MutantFinder.load` then imports it."""
    if mutant.module in sys.modules:
        raise RuntimeError(f"{mutant.module} is already imported: cannot mutate it here")
    path = (root / mutant.path).resolve()
    code = compile_mutant(path.read_text(encoding="utf-8"), mutant, str(path))
    finder = MutantFinder(mutant.module, path, code)
    sys.meta_path.insert(0, finder)
    return finder


def install(mutant: Mutant, root: Path) -> ModuleType:
    """Import ``mutant``'s module in its mutated form (:func:`prepare`, then load)."""
    return prepare(mutant, root).load()
