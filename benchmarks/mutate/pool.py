"""Driving worker processes in parallel: baselines first, then every mutant; deterministic order.

Each worker (:mod:`.worker`) is a long-lived subprocess fed one request at a time by a thread
of this process; answers are stored by request id, so the report does not depend on which
worker finished first.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from mutate.checks import Plan
from mutate.operators import Mutant

__all__ = ["Job", "Pool", "limits_from"]

BENCHMARKS = Path(__file__).resolve().parent.parent


@dataclass
class Job:
    """One request: a mutant (None for a baseline run) under a plan."""

    mutant: Mutant | None
    plan: Plan
    baseline: dict[str, list[str]] | None = None
    limits: dict[str, float] = field(default_factory=dict)

    def request(self, ident: int) -> dict[str, Any]:
        """The JSON request for the worker."""
        return {
            "id": ident,
            "mutant": asdict(self.mutant) if self.mutant else None,
            "plan": asdict(self.plan),
            "baseline": self.baseline,
            "limits": self.limits,
        }


def limits_from(durations: dict[str, float], floor: float, factor: float) -> dict[str, float]:
    """Time limit per stage: ``factor`` times its baseline duration, at least ``floor`` s."""
    return {stage: round(max(floor, factor * seconds), 1) for stage, seconds in durations.items()}


class _Worker:
    """One worker subprocess and the pipe to it."""

    def __init__(self, path: Sequence[str]) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(BENCHMARKS), *path, env.get("PYTHONPATH", "")) if p
        )
        env["PYTHONHASHSEED"] = "0"
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mutate.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=BENCHMARKS,  # ``-m`` puts the cwd first on sys.path: never the tree's root
        )

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        stdin: IO[str] | None = self.proc.stdin
        stdout: IO[str] | None = self.proc.stdout
        assert stdin is not None and stdout is not None
        stdin.write(json.dumps(request) + "\n")
        stdin.flush()
        line = stdout.readline()
        if not line:
            raise RuntimeError(f"mutation worker exited (status {self.proc.wait()})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait()


class Pool:
    """``jobs`` workers; :meth:`run` evaluates a list of jobs and returns answers in order.

    ``path``: directories put first on the workers' ``PYTHONPATH`` (a snapshot of the tree).
    """

    def __init__(self, jobs: int, path: Sequence[str] = ()) -> None:
        self.jobs = max(1, jobs)
        self.path = tuple(path)

    def run(
        self,
        jobs: Sequence[Job],
        progress: Callable[[int, dict[str, Any]], None] | None = None,
    ) -> list[dict[str, Any]]:
        """Answers to ``jobs``, index for index; ``progress(done_count, answer)`` as they come."""
        answers: list[dict[str, Any] | None] = [None] * len(jobs)
        lock = threading.Lock()
        state = {"next": 0, "done": 0}
        errors: list[BaseException] = []

        def drive() -> None:
            worker = _Worker(self.path)
            try:
                while not errors:
                    with lock:
                        index = state["next"]
                        state["next"] += 1
                    if index >= len(jobs):
                        return
                    answer = worker.ask(jobs[index].request(index))
                    with lock:
                        answers[index] = answer
                        state["done"] += 1
                        if progress:
                            progress(state["done"], answer)
            except BaseException as exc:
                errors.append(exc)
            finally:
                worker.close()

        threads = [threading.Thread(target=drive) for _ in range(min(self.jobs, len(jobs)))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        return [a for a in answers if a is not None]


def elapsed(since: float) -> str:
    """``M:SS`` since ``since`` (a ``time.monotonic()`` value)."""
    seconds = int(time.monotonic() - since)
    return f"{seconds // 60}:{seconds % 60:02d}"
