"""Throughput of the differential soak: sequences per second against the running kernel.

Run ``python benchmarks/bench_soak.py [--sequences N] [--seed S]``; prints one line per
configuration: the oracle, the models, the memory the sequences map, and sequences and steps
per second (shrinking excluded: a correct setup finds no disagreement). The last line runs a
model as the oracle, for the cost of the models alone. The first line, which needs no kernel,
is the cost of the per-step time limit (``--step-timeout``): the models-only soak with and
without it, as a ratio measured in the same run.
"""

from __future__ import annotations

import argparse
import sys

from pytest_anonvma import registry
from pytest_anonvma.live import live_unavailable_reason
from pytest_anonvma.soak.cli import DEFAULT_MODELS, MEMORY, resolve_models
from pytest_anonvma.soak.drive import DEFAULT_STEP_TIMEOUT
from pytest_anonvma.soak.session import Soak

#: (oracle, models, memory) of each measured configuration
CONFIGURATIONS = (
    ("live", DEFAULT_MODELS, "all"),
    ("live", DEFAULT_MODELS, "anonymous"),
    ("live", "maybe-guard", "all"),
    ("maybe-guard", "reference,baseline", "all"),
)


def limit_cost(seed: int, sequences: int) -> str:
    """The models-only soak's rate with the default step time limit and without one."""
    rates = {}
    for seconds in (DEFAULT_STEP_TIMEOUT, 0.0, DEFAULT_STEP_TIMEOUT, 0.0):  # interleaved
        soak = Soak(registry.resolve("maybe-guard"), resolve_models("reference,baseline", "6.18"),
                    oracle_name="maybe-guard", step_timeout=seconds)
        result = soak.run(seed, sequences)
        rates[seconds] = max(rates.get(seconds, 0.0), result.steps / result.seconds)
    limited, free = rates[DEFAULT_STEP_TIMEOUT], rates[0.0]
    return (f"{'step time limit (maybe-guard vs reference,baseline)':60s} {limited:8.0f} "
            f"steps/s with, {free:8.0f} without: {limited / free:.2f}x")


def main(argv: list[str] | None = None) -> int:
    """Print the figures; exit 2 with the reason if the live backend cannot run here."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=200, help="sequences per line")
    parser.add_argument("--seed", type=int, default=1, help="generator seed")
    args = parser.parse_args(argv)
    print(limit_cost(args.seed, args.sequences), flush=True)
    reason = live_unavailable_reason()
    if reason:
        print(f"live backend unavailable: {reason}", file=sys.stderr)
        return 2
    for oracle, models, memory in CONFIGURATIONS:
        factory = registry.resolve(oracle)
        soak = Soak(factory, resolve_models(models, "6.18"), oracle_name=oracle,
                    kinds=MEMORY[memory])
        soak.run(args.seed, 5, start=args.sequences)  # warm up: sandbox build, imports
        result = soak.run(args.seed, args.sequences)
        rate = result.sequences / result.seconds
        label = f"{oracle} vs {models} ({memory} memory)"
        print(f"{label:60s} {rate:7.1f} seq/s {result.steps / result.seconds:8.0f} steps/s  "
              f"({result.sequences} sequences, {len(result.disagreements)} disagreements, "
              f"{result.seconds:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
