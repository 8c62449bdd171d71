"""Installing a mutant: the mutated module is what every import sees in that process, and the
tree is never written (the file is only read; a fresh process sees the original again)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import asdict
from pathlib import Path

import pytest
from mutate.loader import install
from mutate.operators import Mutant, find_mutants

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
FLAGS = textwrap.dedent(
    """
    def flags_of(x):
        return 4 if x == 0 else 0
    """
)
#: imports the toy module under the mutant given as JSON in argv[1] (or pristine without one)
SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from mutate.loader import install
    from mutate.operators import Mutant
    if len(sys.argv) > 1:
        module = install(Mutant(**json.loads(sys.argv[1])), Path.cwd())
    import toypkg.flags as again
    import toypkg
    print(json.dumps([again.flags_of(0), len(sys.argv) > 1 and again is module,
                      toypkg.__name__]))
    """
)


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """``toypkg`` (with ``flags``) under ``tmp_path``; returns ``tmp_path``."""
    (tmp_path / "toypkg").mkdir()
    (tmp_path / "toypkg" / "__init__.py").write_text("")
    (tmp_path / "toypkg" / "flags.py").write_text(FLAGS)
    return tmp_path


def _run(root: Path, *args: str) -> list[object]:
    env = dict(os.environ, PYTHONPATH=f"{BENCHMARKS}{os.pathsep}{root}",
               PYTHONDONTWRITEBYTECODE="1")
    out = subprocess.run([sys.executable, "-c", SCRIPT, *args], cwd=root, env=env,
                         capture_output=True, text=True, check=True)
    result: list[object] = json.loads(out.stdout)
    return result


def _snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_mutant_is_applied_in_the_process_and_reverted_after(package: Path) -> None:
    """The compare mutant (``x == 0`` -> ``x != 0``) makes flags_of(0) 0 instead of 4 for
    every importer in the process; the tree is byte-for-byte the same afterwards and a new
    process imports the original."""
    mutant = next(m for m in find_mutants(package / "toypkg" / "flags.py", package)
                  if m.operator == "compare")
    before = _snapshot(package)
    assert _run(package, json.dumps(asdict(mutant))) == [0, True, "toypkg"]
    assert _snapshot(package) == before
    assert _run(package) == [4, False, "toypkg"]


def test_a_package_init_can_be_mutated(package: Path) -> None:
    """``__init__.py`` mutants load as the package itself (submodules still import)."""
    init = package / "toypkg" / "__init__.py"
    init.write_text("def first():\n    return 1\n")
    mutant = next(m for m in find_mutants(init, package) if m.operator == "constant")
    assert mutant.module == "toypkg"
    script = ("import json, sys\nfrom pathlib import Path\nfrom mutate.loader import install\n"
              "from mutate.operators import Mutant\n"
              "m = install(Mutant(**json.loads(sys.argv[1])), Path.cwd())\n"
              "import toypkg.flags\nprint(m.first(), toypkg.flags.flags_of(0))\n")
    env = dict(os.environ, PYTHONPATH=f"{BENCHMARKS}{os.pathsep}{package}",
               PYTHONDONTWRITEBYTECODE="1")
    out = subprocess.run([sys.executable, "-c", script, json.dumps(asdict(mutant))],
                         cwd=package, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "4"]


def test_install_refuses_an_already_imported_module() -> None:
    """Mutating a module this process already imported would leave two copies: refused."""
    mutant = Mutant("benchmarks/mutate/operators.py", "mutate.operators", 0, 1, 0, "drop",
                    "x", "pass")
    with pytest.raises(RuntimeError, match="already imported"):
        install(mutant, BENCHMARKS.parent)
