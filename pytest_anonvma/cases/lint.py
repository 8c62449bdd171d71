"""``python -m pytest_anonvma lint [PATHS]``: check case files, one ``file:line: message`` each."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from pytest_anonvma.cases.corpus import Problem, load_corpus

__all__ = ["add_lint_command", "lint"]


def lint(paths: Sequence[str | Path] = ()) -> tuple[list[Problem], int]:
    """Every problem in the case files under ``paths`` (the bundled corpus when empty), and the
    number of valid cases."""
    problems = [
        Problem(str(p), 0, "no such file or directory") for p in paths if not Path(p).exists()
    ]
    present = [p for p in paths if Path(p).exists()]
    for p in present:
        if Path(p).is_dir() and not any(Path(p).rglob("*.toml")):
            problems.append(Problem(str(p), 0, "no *.toml case files here"))
    if paths and not present:
        return problems, 0
    corpus = load_corpus(present or None)
    for file_problems in corpus.errors.values():
        problems.extend(file_problems)
    return problems, len(corpus.cases)


def _run(args: argparse.Namespace) -> int:
    problems, ncases = lint(args.paths)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"ok: {ncases} case(s)", file=sys.stderr)
    return 0


def add_lint_command(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``lint`` subcommand."""
    parser = subparsers.add_parser(
        "lint",
        help="check conformance case files",
        description="Check case files (TOML) against the case format; print one "
        "'file:line: message' per problem; exit 1 if there is any.",
    )
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="case files or directories (default: the bundled corpus)",
    )
    parser.set_defaults(func=_run)
