"""Command line: ``python -m pytest_anonvma COMMAND ...`` (also installed as ``pytest-anonvma``).

Each subcommand lives next to the code it serves and registers itself through a function that
takes the subparsers object; add one by appending it to :data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from pytest_anonvma.cases.lint import add_lint_command
from pytest_anonvma.live.export_c import add_export_c_command
from pytest_anonvma.soak.cli import add_soak_command

__all__ = ["COMMANDS", "build_parser", "main"]

#: functions registering one subcommand each (their parser sets ``func(args) -> exit code``)
COMMANDS: list[Callable[[Any], None]] = [add_lint_command, add_export_c_command,
                                          add_soak_command]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="python -m pytest_anonvma",
        description="pytest-anonvma tools (the conformance suite itself runs under pytest -p "
        "anonvma)",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in COMMANDS:
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a subcommand; returns the exit code."""
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
