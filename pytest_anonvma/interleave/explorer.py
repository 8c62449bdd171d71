"""Every interleaving the locks allow, of two or three threads' stepped operations.

The search is stateless: each execution replays the program from scratch (a fresh address space,
the setup steps), follows a recorded prefix of choices, then takes the first thread it may at
each new point, and records there which threads were enabled. Backtracking picks the deepest
point with a thread not yet tried. Two rules decide what "may" means:

* **Locks.** A step of an operation under the exclusive ``mmap_lock`` (mmap, munmap, mprotect,
  fork...) runs only while no other thread is inside an operation holding ``mmap_lock`` shared;
  everything else runs whenever its thread is next.
* **Sleep sets** (Godefroid's partial-order reduction). After exploring thread ``u`` from a point,
  its pending step stays *asleep* in the other branches from that point until a step that
  touches something ``u``'s step touches (:meth:`LockStep.resources
  <pytest_anonvma.model.stepping.LockStep.resources>`) runs. Steps that touch nothing in common
  commute, so an interleaving that only reorders them reaches the same state and is skipped;
  every ordering of conflicting steps is still run (``tests/interleave`` checks this against
  the naive enumeration). An execution whose every enabled thread is asleep is abandoned.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pytest_anonvma.model.stepping import MMAP_READ, MMAP_WRITE, LockStep

__all__ = [
    "EXECUTION_LIMIT",
    "Choice",
    "Exploration",
    "Monitor",
    "Op",
    "Scheduler",
    "explore",
    "independent",
]

#: a thread's operation: its label (the step line) and a factory of the stepped call
OpFactory = Callable[[], Any]
#: the most executions one exploration runs before it gives up (RuntimeError)
EXECUTION_LIMIT = 100_000


@dataclass(frozen=True)
class Op:
    """One operation of a thread: ``start()`` returns its stepped call (a generator of
    LockSteps); ``label`` names it in schedules; ``source`` is what the caller made it from."""

    label: str
    start: OpFactory
    source: Any = None


class Monitor(Protocol):
    """What the program checks while the threads run (the interleave runner implements it)."""

    def after_step(self, thread: int, op: Op, record: LockStep) -> None:
        """Just after it; raises to report a broken invariant."""

    def op_done(self, thread: int, op: Op, result: Any, error: BaseException | None) -> None:
        """``op`` returned ``result`` or raised ``error``; raises to report a wrong outcome."""


@dataclass(frozen=True)
class Choice:
    """A step taken: the thread, its operation, and the step's record."""

    thread: int
    op: str
    record: LockStep


def independent(a: LockStep, b: LockStep) -> bool:
    """Do two steps of different threads commute (touch nothing in common)?"""
    ra, rb = a.resources(), b.resources()
    if "*" in ra or "*" in rb:
        return False
    return ra.isdisjoint(rb)


@dataclass
class _Node:
    """A point of the search: the threads enabled there, each one's pending step, the sleep
    set, the threads already explored from it, and the one taken this time."""

    enabled: tuple[int, ...]
    pending: dict[int, LockStep]
    sleep: dict[int, LockStep]
    done: list[int] = field(default_factory=list)
    chosen: int = -1


class _SleepBlocked(Exception):
    """Internal: every enabled thread is asleep; the execution adds nothing."""


class _ThreadState:
    """One thread's progress: its operations, the current stepped call and its pending step."""

    def __init__(self, ops: Sequence[Op]) -> None:
        self.ops = list(ops)
        self.index = 0
        self.call: Any = None
        self.pending: LockStep | None = None
        #: inside an operation that holds mmap_lock shared (at least one step taken)
        self.inside = False

    @property
    def op(self) -> Op:
        return self.ops[self.index]


class Scheduler:
    """One execution: follows ``prefix`` (the nodes of the previous execution up to the point
    being backtracked), then the first thread it may; records the nodes it passes."""

    def __init__(self, prefix: list[_Node], reduce: bool) -> None:
        self.nodes = prefix
        self.reduce = reduce
        self.depth = 0
        self.trace: list[Choice] = []
        self.ran = False

    def run(self, threads: Sequence[Sequence[Op]], monitor: Monitor) -> None:
        """Run the threads to their end in this execution's interleaving."""
        self.ran = True
        states = [_ThreadState(ops) for ops in threads]
        for t, state in enumerate(states):
            self._advance(t, state, monitor, None)
        while True:
            enabled = self._enabled(states)
            if not enabled:
                return
            t = self._choose(enabled, states)
            state = states[t]
            record = state.pending
            assert record is not None
            self.trace.append(Choice(t, state.op.label, record))
            self._advance(t, state, monitor, record)

    def _enabled(self, states: list[_ThreadState]) -> tuple[int, ...]:
        # A thread inside an operation holds mmap_lock shared while its next step needs it
        # (madvise_collapse drops it around collapse_file, khugepaged never takes it).
        holding = [s.inside and s.pending is not None and s.pending.mmap == MMAP_READ
                   for s in states]
        enabled = []
        for t, state in enumerate(states):
            if state.pending is None:
                continue
            if state.pending.mmap == MMAP_WRITE and any(
                    h for u, h in enumerate(holding) if u != t):
                continue
            enabled.append(t)
        return tuple(enabled)

    def _choose(self, enabled: tuple[int, ...], states: list[_ThreadState]) -> int:
        pending = {t: states[t].pending for t in enabled}
        if self.depth < len(self.nodes):
            node = self.nodes[self.depth]
            if node.enabled != enabled:
                raise RuntimeError(
                    "interleave: the program is not deterministic: replaying the same choices "
                    f"enabled threads {enabled} where the first run enabled {node.enabled}")
        else:
            sleep = self._sleep_below() if self.depth else {}
            node = _Node(enabled, pending, sleep)  # type: ignore[arg-type]
            awake = [t for t in enabled if t not in sleep]
            if not awake:
                raise _SleepBlocked
            node.chosen = awake[0]
            node.done.append(node.chosen)
            self.nodes.append(node)
        self.depth += 1
        return node.chosen

    def _sleep_below(self) -> dict[int, LockStep]:
        """The sleep set of a new point: the parent's asleep and explored threads whose pending
        step commutes with the step the parent took."""
        parent = self.nodes[self.depth - 1]
        if not self.reduce:
            return {}
        taken = parent.pending[parent.chosen]
        candidates = dict(parent.sleep)
        for t in parent.done:
            if t != parent.chosen:
                candidates[t] = parent.pending[t]
        return {t: step for t, step in candidates.items()
                if t != parent.chosen and independent(step, taken)}

    def _advance(self, t: int, state: _ThreadState, monitor: Monitor,
                 record: LockStep | None) -> None:
        """Take the pending step (if ``record``), then prime operations until one has a pending
        step or the thread is done."""
        while state.index < len(state.ops):
            op = state.op
            try:
                if state.call is None:
                    state.call = op.start()
                nxt = next(state.call)
            except StopIteration as stop:
                error, result = None, stop.value
            except Exception as exc:  # the call's error: its outcome
                error, result = exc, None
            else:
                if record is not None:
                    state.inside = state.inside or record.mmap == MMAP_READ
                    monitor.after_step(t, op, record)
                state.pending = nxt
                return
            if record is not None:
                monitor.after_step(t, op, record)
            record = None
            state.call, state.pending, state.inside = None, None, False
            monitor.op_done(t, op, result, error)
            state.index += 1
        state.pending = None


@dataclass
class Exploration:
    """What an exploration ran: complete interleavings, abandoned (sleep-blocked) executions,
    and the failures, each with its schedule (at most ``max_failures`` kept)."""

    interleavings: int = 0
    blocked: int = 0
    failures: list[tuple[list[Choice], BaseException]] = field(default_factory=list)


def explore(execute: Callable[[Scheduler], None], *, reduce: bool = True,
            max_failures: int = 1, limit: int = EXECUTION_LIMIT) -> Exploration:
    """Run ``execute`` (which must call :meth:`Scheduler.run` once, with the same program each
    time) once per interleaving; stop after ``max_failures`` failures or ``limit`` executions.

    An exception out of ``execute`` is a failure of that interleaving (its schedule is the
    trace so far). ``reduce=False`` turns the sleep sets off: every interleaving is run.
    """
    result = Exploration()
    nodes: list[_Node] = []
    for _ in range(limit):
        scheduler = Scheduler(nodes, reduce)
        try:
            execute(scheduler)
        except _SleepBlocked:
            result.blocked += 1
        except Exception as exc:
            result.interleavings += 1
            result.failures.append((scheduler.trace, exc))
            if len(result.failures) >= max_failures:
                return result
        else:
            result.interleavings += 1
        nodes = scheduler.nodes[:]
        while nodes:
            node = nodes[-1]
            rest = [t for t in node.enabled if t not in node.done and t not in node.sleep]
            if rest:
                node.chosen = rest[0]
                node.done.append(rest[0])
                break
            nodes.pop()
        if not nodes:
            return result
    raise RuntimeError(f"interleave: more than {limit} executions; the program is too large "
                       "to explore exhaustively")
