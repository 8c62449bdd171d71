"""Mutation operators: find every mutation site of a module with :mod:`ast`, apply one of them.

A site is named by the path of fields from the module node to the node it changes, so applying
it re-parses the pristine source and changes that one node: nothing is ever written back.
Sites come in source order (line, column, operator), so numbering is deterministic.

Operators (each site changes one node):

``compare``  ``==``/``!=``, ``<``/``>=``, ``>``/``<=``, ``is``/``is not``, ``in``/``not in``
``negate``   an ``if``/``while``/ternary/comprehension condition ``c`` -> ``not c``;
             ``not x`` -> ``x``
``boolop``   ``and`` <-> ``or``
``drop``     a statement inside a function -> ``pass``
``constant`` ``True`` <-> ``False``, ``0`` <-> ``1``
``arith``    ``+`` <-> ``-`` (``x + 1`` -> ``x - 1``; ``+=`` <-> ``-=``)
``bitop``    ``|`` <-> ``&``; an ``|=``/``&=``/``^=`` statement removed

Not mutated: docstrings, imports, ``__all__``, annotations, decorators, f-strings and the
``if TYPE_CHECKING:`` block (none of them is behaviour); ``assert`` statements (the model's
self-checks: a correct model never trips one, so weakening or dropping it is equivalent by
construction); ``__repr__``/``__str__`` bodies (debugging text).
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import CodeType

__all__ = [
    "OPERATORS",
    "Mutant",
    "apply",
    "compile_mutant",
    "find_mutants",
    "iter_sources",
    "module_name",
]

OPERATORS = ("compare", "negate", "boolop", "drop", "constant", "arith", "bitop")

_COMPARE_FLIP: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Lt: ast.GtE,
    ast.GtE: ast.Lt,
    ast.Gt: ast.LtE,
    ast.LtE: ast.Gt,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
}
_ARITH_SWAP: dict[type[ast.operator], type[ast.operator]] = {ast.Add: ast.Sub, ast.Sub: ast.Add}
_BIT_SWAP: dict[type[ast.operator], type[ast.operator]] = {
    ast.BitOr: ast.BitAnd,
    ast.BitAnd: ast.BitOr,
}
_BIT_ASSIGN = (ast.BitOr, ast.BitAnd, ast.BitXor)
#: statements ``drop`` leaves alone: declarations rather than behaviour
_KEEP_STATEMENTS = (
    ast.Pass,
    ast.Import,
    ast.ImportFrom,
    ast.Global,
    ast.Nonlocal,
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
)
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_TEXT_METHODS = frozenset({"__repr__", "__str__"})
#: fields never descended into (annotations and decorators)
_SKIP_FIELDS = frozenset({"annotation", "returns", "decorator_list", "type_comment"})
_SNIPPET = 60

NodePath = tuple[tuple[str, int | None], ...]


@dataclass(frozen=True)
class Mutant:
    """One mutation of one module: where it is and what it does."""

    #: the file, relative to the project root (posix separators)
    path: str
    #: the dotted module name the file is imported as
    module: str
    #: position among the file's mutants (source order, from 0)
    index: int
    line: int
    col: int
    operator: str
    #: the changed code before and after (one line, shortened)
    original: str
    mutated: str

    def describe(self) -> str:
        """``file:line: operator: original -> mutated``."""
        return f"{self.path}:{self.line}: {self.operator}: {self.original} -> {self.mutated}"


@dataclass(frozen=True)
class _Site:
    node_path: NodePath
    operator: str
    #: which comparison of a chain (``compare``); 0 otherwise
    variant: int
    line: int
    col: int


def module_name(path: Path, root: Path) -> str:
    """The dotted import name of ``path`` (a .py file under ``root``)."""
    parts = list(path.resolve().relative_to(root.resolve()).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_docstring(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def _is_type_checking(stmt: ast.AST) -> bool:
    if not isinstance(stmt, ast.If):
        return False
    test = stmt.test
    name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
    return name == "TYPE_CHECKING"


def _is_dunder_all(stmt: ast.AST) -> bool:
    targets = stmt.targets if isinstance(stmt, ast.Assign) else []
    return any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets)


def _skipped(node: ast.AST) -> bool:
    """Subtrees no operator touches."""
    return (
        isinstance(node, (ast.Import, ast.ImportFrom, ast.JoinedStr, ast.Assert))
        or (isinstance(node, _FUNCTIONS) and node.name in _TEXT_METHODS)
        or _is_type_checking(node)
        or _is_dunder_all(node)
    )


def _conditions(node: ast.AST) -> list[tuple[str, int | None]]:
    """The condition fields of ``node`` that ``negate`` may wrap in ``not``."""
    if isinstance(node, (ast.If, ast.While, ast.IfExp)):
        return [("test", None)]
    if isinstance(node, ast.comprehension):
        return [("ifs", i) for i in range(len(node.ifs))]
    return []


class _SiteFinder:
    """Walks a module collecting sites in source order."""

    def __init__(self) -> None:
        self.sites: list[_Site] = []

    def add(self, node: ast.AST, path: NodePath, operator: str, variant: int = 0) -> None:
        line = getattr(node, "lineno", 0)
        col = getattr(node, "col_offset", 0)
        self.sites.append(_Site(path, operator, variant, line, col))

    def visit(self, node: ast.AST, path: NodePath, in_function: bool) -> None:
        self.sites_of(node, path, in_function)
        inner = in_function or isinstance(node, (*_FUNCTIONS, ast.Lambda))
        for field, value in ast.iter_fields(node):
            if field in _SKIP_FIELDS:
                continue
            if isinstance(value, list):
                for i, child in enumerate(value):
                    if isinstance(child, ast.AST) and not self.passed_over(node, field, i, child):
                        self.visit(child, (*path, (field, i)), inner)
            elif isinstance(value, ast.AST) and not _skipped(value):
                self.visit(value, (*path, (field, None)), inner)

    @staticmethod
    def passed_over(parent: ast.AST, field: str, i: int, child: ast.AST) -> bool:
        docstring = (
            field == "body"
            and i == 0
            and isinstance(parent, (ast.Module, ast.ClassDef, *_FUNCTIONS))
            and isinstance(child, ast.stmt)
            and _is_docstring(child)
        )
        return docstring or _skipped(child)

    def sites_of(self, node: ast.AST, path: NodePath, in_function: bool) -> None:
        if isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                if type(op) in _COMPARE_FLIP:
                    self.add(node, path, "compare", i)
        for field, index in _conditions(node):
            test = getattr(node, field) if index is None else getattr(node, field)[index]
            if not (isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not)):
                self.add(test, (*path, (field, index)), "negate")
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            self.add(node, path, "negate")
        if isinstance(node, ast.BoolOp):
            self.add(node, path, "boolop")
        if isinstance(node, ast.Constant) and (
            isinstance(node.value, bool) or (type(node.value) is int and node.value in (0, 1))
        ):
            self.add(node, path, "constant")
        if isinstance(node, (ast.BinOp, ast.AugAssign)) and type(node.op) in _ARITH_SWAP:
            self.add(node, path, "arith")
        if isinstance(node, ast.BinOp) and type(node.op) in _BIT_SWAP:
            self.add(node, path, "bitop")
        if isinstance(node, ast.AugAssign) and isinstance(node.op, _BIT_ASSIGN):
            self.add(node, path, "bitop")
        elif in_function and isinstance(node, ast.stmt) and not isinstance(node, _KEEP_STATEMENTS):
            self.add(node, path, "drop")


def _sites(tree: ast.Module) -> list[_Site]:
    finder = _SiteFinder()
    finder.visit(tree, (), False)
    order = {name: i for i, name in enumerate(OPERATORS)}
    return sorted(finder.sites, key=lambda s: (s.line, s.col, order[s.operator], s.variant))


def _locate(tree: ast.AST, path: NodePath) -> tuple[ast.AST, str, int | None, ast.AST]:
    """The parent, field and index of the node at ``path``, and the node."""
    parent, field, index = tree, "", None
    node = tree
    for field, index in path:
        parent = node
        value = getattr(node, field)
        node = value if index is None else value[index]
    return parent, field, index, node


def _replace(parent: ast.AST, field: str, index: int | None, new: ast.AST) -> None:
    if index is None:
        setattr(parent, field, new)
    else:
        getattr(parent, field)[index] = new


def _mutate(node: ast.AST, site: _Site) -> ast.AST:
    """The replacement for ``node`` (may be ``node`` itself, changed in place)."""
    op = site.operator
    if op == "compare":
        assert isinstance(node, ast.Compare)
        node.ops[site.variant] = _COMPARE_FLIP[type(node.ops[site.variant])]()
        return node
    if op == "negate":
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return node.operand
        assert isinstance(node, ast.expr)
        return ast.UnaryOp(op=ast.Not(), operand=node)
    if op == "boolop":
        assert isinstance(node, ast.BoolOp)
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        return node
    if op == "constant":
        assert isinstance(node, ast.Constant)
        value = node.value
        node.value = (not value) if isinstance(value, bool) else 1 - value
        return node
    if op == "arith":
        assert isinstance(node, (ast.BinOp, ast.AugAssign))
        node.op = _ARITH_SWAP[type(node.op)]()
        return node
    if op == "bitop" and isinstance(node, ast.BinOp):
        node.op = _BIT_SWAP[type(node.op)]()
        return node
    # drop, or bitop on an augmented assignment: the statement becomes ``pass``
    return ast.Pass()


def _snippet(node: ast.AST) -> str:
    text = ast.unparse(node)
    first, _, rest = text.partition("\n")
    if rest:
        first += " ..."
    return first if len(first) <= _SNIPPET else first[: _SNIPPET - 3] + "..."


def _apply_site(tree: ast.Module, site: _Site) -> None:
    """Apply ``site`` to ``tree`` in place."""
    parent, field, index, node = _locate(tree, site.node_path)
    new = _mutate(node, site)
    if new is not node:
        ast.copy_location(new, node)
        _replace(parent, field, index, new)
    ast.fix_missing_locations(tree)


def _snippets(tree: ast.Module, site: _Site) -> tuple[str, str]:
    """The code ``site`` changes, before and after (``tree`` is left as it is)."""
    node = _locate(tree, site.node_path)[3]
    return _snippet(node), _snippet(_mutate(copy.deepcopy(node), site))


def _relative(path: Path, root: Path) -> str:
    return path.resolve().relative_to(root.resolve()).as_posix()


def find_mutants(path: Path, root: Path) -> list[Mutant]:
    """Every mutant of the module at ``path`` (under the project ``root``), in source order."""
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, filename=str(path))
    rel, module = _relative(path, root), module_name(path, root)
    mutants = []
    for index, site in enumerate(_sites(tree)):
        before, after = _snippets(tree, site)
        mutants.append(
            Mutant(rel, module, index, site.line, site.col, site.operator, before, after)
        )
    return mutants


def apply(source: str, mutant: Mutant) -> ast.Module:
    """The tree of ``source`` with ``mutant`` applied (checked against its recorded position)."""
    tree = ast.parse(source, filename=mutant.path)
    sites = _sites(tree)
    if mutant.index >= len(sites):
        raise LookupError(f"{mutant.path}: mutant {mutant.index} is gone (source changed?)")
    site = sites[mutant.index]
    if (site.line, site.col, site.operator) != (mutant.line, mutant.col, mutant.operator):
        raise LookupError(f"{mutant.describe()}: the source changed since it was listed")
    _apply_site(tree, site)
    return tree


def compile_mutant(source: str, mutant: Mutant, filename: str) -> CodeType:
    """The code object of the mutated module (``filename`` shows in tracebacks)."""
    return compile(apply(source, mutant), filename, "exec", dont_inherit=True)


def iter_sources(root: Path, patterns: tuple[str, ...]) -> Iterator[Path]:
    """The .py files matching ``patterns`` (globs relative to ``root``), sorted, no duplicates."""
    seen: set[Path] = set()
    for pattern in patterns:
        for path in sorted(root.glob(pattern)):
            if path.suffix == ".py" and path not in seen:
                seen.add(path)
                yield path
