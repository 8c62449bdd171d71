"""The mutation operators: which sites they find, what each does, and that nothing else changes.

Expected mutants are written by hand from the operator definitions in
``benchmarks/mutate/operators.py`` (the tool's own specification).
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest
from mutate.operators import OPERATORS, apply, compile_mutant, find_mutants, module_name

TOY = textwrap.dedent(
    '''
    """Module docstring: never mutated."""
    from __future__ import annotations

    from typing import TYPE_CHECKING

    if TYPE_CHECKING:
        from os import PathLike

    __all__ = ["flags_of"]
    LIMIT = 0


    def flags_of(x: int, ok: bool = True) -> int:
        """Function docstring: never mutated."""
        flags = 0
        if x == LIMIT and ok:
            flags |= 4
        return flags + 1 if not ok else flags


    class Box:
        def __repr__(self) -> str:
            assert self is not None and True
            return "Box" if self else ""
    '''
)


@pytest.fixture
def toy(tmp_path: Path) -> Path:
    """A one-module package ``toypkg.flags`` under ``tmp_path``."""
    package = tmp_path / "toypkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "flags.py").write_text(TOY)
    return package / "flags.py"


def test_sites_of_the_toy_module_in_source_order(toy: Path) -> None:
    """Every site of the toy module, in (line, column, operator-list) order; docstrings, imports,
    ``__all__``, the TYPE_CHECKING block and annotations have none."""
    got = [
        (m.line, m.operator, m.original, m.mutated)
        for m in find_mutants(toy, toy.parent.parent)
    ]
    assert got == [
        (11, "constant", "0", "1"),
        (14, "constant", "True", "False"),
        (16, "drop", "flags = 0", "pass"),
        (16, "constant", "0", "1"),
        (17, "drop", "if x == LIMIT and ok: ...", "pass"),
        (17, "compare", "x == LIMIT", "x != LIMIT"),
        (17, "negate", "x == LIMIT and ok", "not (x == LIMIT and ok)"),
        (17, "boolop", "x == LIMIT and ok", "x == LIMIT or ok"),
        (18, "bitop", "flags |= 4", "pass"),
        (19, "drop", "return flags + 1 if not ok else flags", "pass"),
        (19, "arith", "flags + 1", "flags - 1"),
        (19, "constant", "1", "0"),
        (19, "negate", "not ok", "ok"),
    ]


def test_describe_names_file_line_operator_and_change(toy: Path) -> None:
    """The survivor line format: ``file:line: operator: original -> mutated``."""
    mutant = next(m for m in find_mutants(toy, toy.parent.parent) if m.operator == "compare")
    assert mutant.describe() == "toypkg/flags.py:17: compare: x == LIMIT -> x != LIMIT"
    assert mutant.module == "toypkg.flags"


def test_apply_changes_only_the_chosen_node(toy: Path) -> None:
    """Applying a mutant changes exactly its node: the unparsed module differs from the
    original in that one place."""
    source = toy.read_text()
    for mutant in find_mutants(toy, toy.parent.parent):
        mutated = ast.unparse(apply(source, mutant))
        assert mutated != ast.unparse(ast.parse(source))
        if mutant.operator == "compare":
            assert mutated == ast.unparse(ast.parse(source)).replace("x == LIMIT", "x != LIMIT")


def test_each_mutant_behaves_as_described(toy: Path) -> None:
    """Executing a mutated module shows the change (values worked out by hand)."""
    source = toy.read_text()
    by_change = {(m.line, m.operator): m for m in find_mutants(toy, toy.parent.parent)}

    def run(mutant_key: tuple[int, str], *args: object) -> object:
        namespace: dict[str, object] = {}
        exec(compile_mutant(source, by_change[mutant_key], "toy"), namespace)
        flags_of = namespace["flags_of"]
        assert callable(flags_of)
        return flags_of(*args)

    assert run((17, "compare"), 0) == 0  # the original gives 4: x == LIMIT is now false
    assert run((18, "bitop"), 0) == 0  # |= 4 removed
    assert run((19, "arith"), 0, False) == -1  # flags - 1 with flags 0
    assert run((17, "boolop"), 3, True) == 4  # x == LIMIT or ok


def test_dropped_assignment_unbinds_the_name(toy: Path) -> None:
    """``drop`` really removes the statement: the later read of ``flags`` fails."""
    source = toy.read_text()
    mutant = next(m for m in find_mutants(toy, toy.parent.parent) if m.original == "flags = 0")
    namespace: dict[str, object] = {}
    exec(compile_mutant(source, mutant, "toy"), namespace)
    with pytest.raises(UnboundLocalError):
        namespace["flags_of"](5)  # type: ignore[operator]


def test_apply_refuses_a_changed_source(toy: Path) -> None:
    """A mutant listed from one version of the file is not applied to another."""
    mutant = find_mutants(toy, toy.parent.parent)[3]
    with pytest.raises(LookupError, match="source changed"):
        apply("x = 1\n" + toy.read_text(), mutant)


def test_module_name_of_files_and_packages(tmp_path: Path) -> None:
    """Dotted names as imported: a package's ``__init__`` is the package."""
    assert module_name(tmp_path / "a" / "b.py", tmp_path) == "a.b"
    assert module_name(tmp_path / "a" / "__init__.py", tmp_path) == "a"


def test_every_mutant_of_the_design_modules_compiles() -> None:
    """The operators always produce valid Python on the project's own design modules, and
    every operator kind occurs in the engine and design modules."""
    root = Path(__file__).resolve().parents[2]
    seen = set()
    for path in sorted((root / "pytest_anonvma").glob("*/*.py")):
        if path.parent.name not in ("model", "designs"):
            continue
        source = path.read_text()
        for mutant in find_mutants(path, root):
            seen.add(mutant.operator)
            if path.parent.name == "designs":
                compile_mutant(source, mutant, str(path))
    assert seen == set(OPERATORS)
