"""A sandbox that dies mid-case: the failure names the signal and the step, never the shrinker.

Expected behaviour: issue 10 item 6. A dead implementation is a crash of the implementation, not
a disagreement: ``Lockstep`` raises ``ImplementationDied`` (the contract's) at the step that was
executing instead of recording a finding the shrinker would then fail to reproduce.
"""

from __future__ import annotations

import os
import signal
import textwrap

import pytest

from pytest_anonvma.cases.steps import Action, parse_steps
from pytest_anonvma.contract import ImplementationDied
from pytest_anonvma.generate.check import check_generated
from pytest_anonvma.generate.generator import generate_case
from pytest_anonvma.generate.lockstep import first_failure
from pytest_anonvma.live import LiveMM, SandboxDied
from pytest_anonvma.suite import bundled_suite_dir

#: a LiveMM whose first sandbox is sent SIGKILL once, right before its KILL_AT-th call (as an
#: outside kill would be): a rerun, like the shrinker's, then passes
DYING_MODULE = textwrap.dedent('''
    import os
    import signal

    from pytest_anonvma.live import LiveMM

    KILL_AT = 3
    killed = []


    def _dying(name):
        def method(self, *args):
            self.calls = getattr(self, "calls", 0) + 1
            if self.calls == KILL_AT and not killed:
                killed.append(self.pid)
                os.kill(self.pid, signal.SIGKILL)
            return getattr(LiveMM, name)(self, *args)
        return method


    class DyingLiveMM(LiveMM):
        """Kills the first sandbox, once, before its third mapping call or touch."""


    for _name in ("mmap", "munmap", "mprotect", "madvise", "mremap", "read", "write"):
        setattr(DyingLiveMM, _name, _dying(_name))
''')

#: the death message: the signal, then the request that found the sandbox dead
DEATH = r"SandboxDied: live sandbox pid \d+ died \(killed by SIGKILL\) (before|while executing) "


def _dying_factory() -> type[LiveMM]:
    namespace: dict[str, object] = {}
    exec(compile(DYING_MODULE, "dying_live.py", "exec"), namespace)
    factory = namespace["DyingLiveMM"]
    assert isinstance(factory, type) and issubclass(factory, LiveMM)
    return factory


def _steps(text: str) -> list[Action]:
    return [s for s in parse_steps(text) if isinstance(s, Action)]


def test_liveMM_names_the_signal_and_the_request(live_available: None) -> None:
    """Killed before a call: that call raises SandboxDied naming SIGKILL and the operation."""
    with LiveMM() as mm:
        os.kill(mm.pid, signal.SIGKILL)
        with pytest.raises(SandboxDied, match=DEATH[len("SandboxDied: "):] + r"madvise\(0x"):
            mm.madvise(0x2000_0000_0000, 4096, 21)


def test_lockstep_stops_at_the_dead_step(live_available: None) -> None:
    """The step that found the sandbox dead is named with its number; no finding is made."""
    steps = _steps("mmap 0 4 rw anon\nwrite 0 1\nmadvise 0 4 pageout\nread 0 == 0\n")
    with pytest.raises(ImplementationDied,
                       match=DEATH + r"madvise\(.*\); at step 3: madvise 0 4 pageout$") as info:
        first_failure(steps, _dying_factory())
    assert isinstance(info.value.__cause__, SandboxDied)


def test_generated_case_does_not_go_through_the_shrinker(live_available: None) -> None:
    """check_generated raises the death itself (before: 'shrink: the sequence does not fail')."""
    case = generate_case(1, 0)
    with pytest.raises(ImplementationDied, match=DEATH + r".*; at step \d+: "):
        check_generated(case, _dying_factory(), "dying", "maybe-guard", 1)


def test_killed_sandbox_fails_the_generated_test_with_the_death(
        live_available: None, pytester: pytest.Pytester) -> None:
    """Under the plugin: the generated test fails with the signal and the step, exit 1."""
    pytester.makepyfile(dying_live=DYING_MODULE)
    pytester.syspathinsert()
    result = pytester.runpytest(
        "-p", "anonvma", "-p", "no:cacheprovider", "--anonvma-impl=dying_live:DyingLiveMM",
        "--anonvma-generated=1", "--anonvma-seed=5",
        str(bundled_suite_dir() / "test_generated.py"),
    )
    assert result.ret == 1
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "shrink: the sequence does not fail" not in out
    result.stdout.re_match_lines([r".*ImplementationDied: " + DEATH + r".*; at step \d+: .*"])
