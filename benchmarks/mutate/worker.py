"""A worker process: evaluates mutants one at a time, each in a fresh forked child.

The worker imports pytest and the other third-party libraries once (never ``pytest_anonvma``),
then for each request forks a child that installs the mutant (:mod:`.loader`), runs the stages
of :mod:`.checks` cheapest first and stops at the first change from the baseline. The child
reports on a pipe as it enters each stage; a stage that outlives its time limit gets the child
killed and the mutant counted as killed by timeout.

Protocol (JSON, one object a line): a request on stdin
``{"id", "mutant": {...} | null, "plan": {...}, "baseline": {stage: [ids]} | null,
"limits": {stage: seconds}}``; the answer on stdout
``{"id", "status", "stage", "check", "seconds", "failing": {stage: [ids]},
"durations": {stage: seconds}}`` with status ``killed``, ``survived``, ``timeout``,
``crashed`` (the child died or raised a ``SystemExit``-like exception: counted as killed) or
``error`` (the tool's own fault).
Run as ``python -m mutate.worker`` with ``benchmarks/`` on ``PYTHONPATH``.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import select
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from mutate.checks import Plan, as_sets, run_stage
from mutate.loader import prepare
from mutate.operators import Mutant

__all__ = ["DEFAULT_LIMIT", "evaluate", "serve"]

#: seconds a stage may take when the request gives no limit for it (the unmutated baselines:
#: generous, so that a loaded machine does not stop the run before it starts)
DEFAULT_LIMIT = 300.0
IMPORT_STAGE = "import"
#: libraries imported once by the worker so that each child starts warm
_WARM = ("pytest", "_pytest.pytester", "hypothesis", "sortedcontainers", "tomllib", "xdist")


def _send(fd: int, message: dict[str, Any]) -> None:
    data = (json.dumps(message) + "\n").encode()
    while data:
        data = data[os.write(fd, data) :]


def _quiet(scratch: str) -> None:
    """Detach the child from the worker's stdio (stdout is the protocol channel)."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.chdir(scratch)


def _child(request: dict[str, Any], fd: int) -> None:
    """Body of the forked child: install the mutant, run the stages, report on ``fd``."""
    plan = Plan(**request["plan"])
    baseline = as_sets(request["baseline"]) if request["baseline"] is not None else None
    failing: dict[str, list[str]] = {}
    durations: dict[str, float] = {}

    def done(status: str, stage: str = "", check: str = "") -> None:
        _send(fd, {"done": {"status": status, "stage": stage, "check": check,
                            "failing": failing, "durations": durations}})

    _send(fd, {"stage": IMPORT_STAGE})
    started = time.monotonic()
    if request["mutant"] is not None:
        mutant = Mutant(**request["mutant"])
        try:
            finder = prepare(mutant, Path(plan.root))
        except Exception as exc:  # the tool's fault, not the suite's
            done("error", IMPORT_STAGE, f"{type(exc).__name__}: {exc}")
            return
        try:
            finder.load()
        except Exception as exc:
            done("killed", IMPORT_STAGE, f"{type(exc).__name__}: {exc}")
            return
    package = importlib.import_module("pytest_anonvma").__file__ or ""
    if not Path(package).resolve().is_relative_to(Path(plan.root).resolve()):
        done("error", IMPORT_STAGE, f"pytest_anonvma imported from {package}, not {plan.root}")
        return
    durations[IMPORT_STAGE] = time.monotonic() - started
    for stage in plan.stages():
        _send(fd, {"stage": stage})
        started = time.monotonic()
        try:
            outcome = run_stage(stage, plan, baseline.get(stage, set()) if baseline else None)
        except Exception as exc:
            lines = traceback.format_exception_only(type(exc), exc)
            done("error" if baseline is None else "killed", stage, lines[-1].strip())
            return
        durations[stage] = time.monotonic() - started
        failing[stage] = sorted(outcome.failing)
        if outcome.changed:
            done("killed", stage, outcome.changed)
            return
    done("survived")


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def _wait(pid: int, fd: int, limits: dict[str, float]) -> dict[str, Any]:
    """Follow the child's reports until it is done, dies or overruns a stage."""
    buffer, stage = b"", IMPORT_STAGE
    deadline = time.monotonic() + limits.get(stage, DEFAULT_LIMIT)
    while True:
        remaining = deadline - time.monotonic()
        ready = select.select([fd], [], [], max(remaining, 0))[0] if remaining > 0 else []
        if not ready:
            _kill(pid)
            limit = limits.get(stage, DEFAULT_LIMIT)
            return {"status": "timeout", "stage": stage, "check": f"over {limit:g} s"}
        chunk = os.read(fd, 65536)
        if not chunk:
            return {"status": "crashed", "stage": stage, "check": "exited without an answer"}
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            message = json.loads(line)
            if "done" in message:
                return dict(message["done"])
            stage = message["stage"]
            deadline = time.monotonic() + limits.get(stage, DEFAULT_LIMIT)


def evaluate(request: dict[str, Any], scratch: str) -> dict[str, Any]:
    """Evaluate one request in a fresh forked child; the answer (see the module docstring)."""
    if any(name.startswith("pytest_anonvma") for name in sys.modules):
        raise RuntimeError("the worker imported pytest_anonvma: children would not be pristine")
    started = time.monotonic()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        try:
            os.setpgid(0, 0)
            os.close(read_fd)
            _quiet(scratch)
            _child(request, write_fd)
        except BaseException as exc:  # SystemExit and the like from the mutated code
            with contextlib.suppress(OSError):
                check = f"{type(exc).__name__}: {exc}"
                _send(write_fd, {"done": {"status": "crashed", "stage": "", "check": check}})
        finally:
            os._exit(0)
    with contextlib.suppress(OSError):
        os.setpgid(pid, pid)
    os.close(write_fd)
    try:
        answer = _wait(pid, read_fd, request.get("limits") or {})
    finally:
        os.close(read_fd)
        _kill(pid)
        os.waitpid(pid, 0)
    answer.setdefault("failing", {})
    answer.setdefault("durations", {})
    answer["id"] = request["id"]
    answer["seconds"] = round(time.monotonic() - started, 3)
    return answer


def serve() -> None:
    """Answer requests from stdin until it closes."""
    for name in _WARM:
        with contextlib.suppress(ImportError):
            __import__(name)
    scratch = tempfile.mkdtemp(prefix="anonvma-mutation-")
    try:
        for line in sys.stdin:
            if line.strip():
                answer = evaluate(json.loads(line), scratch)
                sys.stdout.write(json.dumps(answer) + "\n")
                sys.stdout.flush()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    serve()
