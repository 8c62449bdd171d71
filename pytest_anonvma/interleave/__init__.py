"""The interleave tier: operations that share ``mmap_lock`` run in every interleaving the locks
allow (docs/spec.md §5.7; the case syntax: docs/case-format.md, "Threads")."""

from __future__ import annotations

from pytest_anonvma.interleave.cases import load_interleave_file, parse_interleave_cases
from pytest_anonvma.interleave.explorer import Exploration, explore
from pytest_anonvma.interleave.runner import InterleaveFailure, explore_case, run_interleave_case

__all__ = [
    "Exploration",
    "InterleaveFailure",
    "explore",
    "explore_case",
    "load_interleave_file",
    "parse_interleave_cases",
    "run_interleave_case",
]
