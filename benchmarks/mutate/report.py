"""The summary of a mutation run: the kill figure, where mutants died, and every survivor."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from mutate.judged import CATEGORIES, Judgement, Key, key_of
from mutate.operators import OPERATORS, Mutant

__all__ = ["KILLED", "Result", "figure", "judged_figure", "summary", "to_json"]

#: answer statuses that count as a kill (a timeout or a crash is reported apart as well)
KILLED = frozenset({"killed", "timeout", "crashed"})


@dataclass(frozen=True)
class Result:
    """A mutant and what the worker said about it."""

    mutant: Mutant
    status: str
    stage: str
    check: str
    seconds: float

    @classmethod
    def of(cls, mutant: Mutant, answer: dict[str, Any]) -> Result:
        """From a worker answer."""
        return cls(mutant, answer["status"], answer.get("stage", ""), answer.get("check", ""),
                   float(answer.get("seconds", 0.0)))

    @property
    def killed(self) -> bool:
        """Did the suite notice the mutant?"""
        return self.status in KILLED


def _evaluated(results: Sequence[Result]) -> list[Result]:
    return [r for r in results if r.status != "error"]


def figure(results: Sequence[Result]) -> str:
    """``K of N mutants killed (P%)`` over the mutants the tool could evaluate."""
    evaluated = _evaluated(results)
    killed = sum(r.killed for r in evaluated)
    share = 100.0 * killed / len(evaluated) if evaluated else 0.0
    return f"{killed} of {len(evaluated)} mutants killed ({share:.1f}%)"


def judged_figure(results: Sequence[Result], judged: dict[Key, Judgement]) -> str:
    """The figure again, leaving out the survivors judged ``equivalent`` (no test can kill
    them): ``K of N-E mutants killed (P%) once the E judged equivalent are left out``."""
    evaluated = _evaluated(results)
    equivalent = sum(
        not r.killed and judged.get(key_of(r.mutant), _NOT_JUDGED).category == "equivalent"
        for r in evaluated
    )
    killed = sum(r.killed for r in evaluated)
    rest = len(evaluated) - equivalent
    share = 100.0 * killed / rest if rest else 0.0
    return (f"{killed} of {rest} mutants killed ({share:.1f}%) once the {equivalent} judged "
            f"equivalent are left out")


_NOT_JUDGED = Judgement("not judged", "")


def _table(title: str, rows: dict[str, tuple[int, int]]) -> list[str]:
    width = max(len(name) for name in rows)
    lines = [title]
    for name, (killed, total) in rows.items():
        share = 100.0 * killed / total if total else 0.0
        lines.append(f"  {name:<{width}}  {killed:>5} of {total:<5} {share:5.1f}%")
    return lines


def _rows(results: Sequence[Result], key: str, order: Sequence[str]) -> dict[str, tuple[int, int]]:
    totals: Counter[str] = Counter()
    kills: Counter[str] = Counter()
    for r in results:
        name = getattr(r.mutant, key)
        totals[name] += 1
        kills[name] += r.killed
    return {name: (kills[name], totals[name]) for name in order if totals[name]}


def summary(results: Sequence[Result], judged: dict[Key, Judgement] | None = None) -> str:
    """The full text report: figures, stages, operators, modules, timeouts, survivors (each with
    its verdict from ``judged``, and judged entries whose mutant this run killed)."""
    judged = judged or {}
    evaluated = _evaluated(results)
    lines = [figure(results), judged_figure(results, judged)]
    stages = Counter(r.stage or "?" for r in evaluated if r.status == "killed")
    by_stage = ", ".join(f"{stage} {n}" for stage, n in sorted(stages.items()))
    lines.append(f"killed at stage: {by_stage or '-'}")
    for status in ("timeout", "crashed"):
        hit = [r for r in evaluated if r.status == status]
        lines.append(f"{status} (counted as killed): {len(hit)}")
        lines += [f"  {r.mutant.describe()}  [{r.stage}: {r.check}]" for r in hit]
    errors = [r for r in results if r.status == "error"]
    if errors:
        lines.append(f"not evaluated (tool errors, left out of the figure): {len(errors)}")
        lines += [f"  {r.mutant.describe()}  [{r.check}]" for r in errors]
    lines += _table("by operator:", _rows(evaluated, "operator", OPERATORS))
    paths = sorted({r.mutant.path for r in evaluated})
    lines += _table("by module:", _rows(evaluated, "path", paths))
    survivors = [r for r in evaluated if not r.killed]
    verdicts = [judged.get(key_of(r.mutant), _NOT_JUDGED) for r in survivors]
    counts = Counter(v.category for v in verdicts)
    split = ", ".join(f"{c} {counts[c]}" for c in (*CATEGORIES, _NOT_JUDGED.category))
    lines.append(f"survivors: {len(survivors)} ({split})")
    for r, verdict in zip(survivors, verdicts, strict=True):
        note = f"  [{verdict.category}: {verdict.reason}]" if verdict.reason else ""
        lines.append(f"  {r.mutant.describe()}{note}")
    now_killed = [r for r in evaluated if r.killed and key_of(r.mutant) in judged]
    if now_killed:
        lines.append(f"judged survivors this run killed (drop their entries): {len(now_killed)}")
        lines += [f"  {r.mutant.describe()}" for r in now_killed]
    return "\n".join(lines)


def to_json(results: Sequence[Result], meta: dict[str, Any]) -> dict[str, Any]:
    """Everything about the run, for ``--json``."""
    return {
        **meta,
        "figure": figure(results),
        "results": [
            {**asdict(r.mutant), "status": r.status, "stage": r.stage, "check": r.check,
             "seconds": r.seconds}
            for r in results
        ],
    }
