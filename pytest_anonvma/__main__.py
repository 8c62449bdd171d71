"""Command line: ``pytest-anonvma COMMAND ...`` (also ``python -m pytest_anonvma COMMAND ...``);
``pytest-anonvma --version`` prints the plugin's version.

Each subcommand lives next to the code it serves and registers itself through a function that
takes the subparsers object; add one by appending it to :data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from pytest_anonvma import __version__
from pytest_anonvma.cases.lint import add_lint_command
from pytest_anonvma.live.export_c import add_export_c_command
from pytest_anonvma.soak.cli import add_soak_command

__all__ = ["COMMANDS", "PROG", "build_parser", "main"]

#: the installed command's name (``[project.scripts]``), shown in ``--help`` and ``--version``
PROG = "pytest-anonvma"

#: functions registering one subcommand each (their parser sets ``func(args) -> exit code``)
COMMANDS: list[Callable[[Any], None]] = [add_lint_command, add_export_c_command,
                                          add_soak_command]


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """The argument parser with every subcommand, ``prog`` naming the program in messages."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="pytest-anonvma tools (the conformance suite itself runs under pytest -p "
        "anonvma)",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in COMMANDS:
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    """Run a subcommand; returns the exit code."""
    args = build_parser(prog).parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main(prog="python -m pytest_anonvma"))
