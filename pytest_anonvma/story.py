"""What a failing implementation test reports: the case story in place of a traceback, the
failure in one line of words, its cause signature and the command that reruns it.

A curated case's story is :class:`~pytest_anonvma.cases.runner.CaseFailure`'s text; a generated
or explored case's is its report (the findings and the shrunk case). Any other failure keeps its
traceback and is summed up by its message. The cause signature says what failed, never where
(no page numbers or addresses), so that failures of one bug share it.
"""

from __future__ import annotations

import shlex
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from _pytest._code.code import (
    ReprEntryNative,
    ReprExceptionInfo,
    ReprFileLocation,
    ReprTraceback,
)

from pytest_anonvma.casefiles import user_case_file
from pytest_anonvma.cases.runner import CaseFailure, step_kind
from pytest_anonvma.cases.steps import Action, Expectation
from pytest_anonvma.options import DEFAULT_TIMEOUT, get_settings
from pytest_anonvma.xfails import _chain

__all__ = ["Story", "case_story", "plain_story", "rerun_command", "story_repr"]

#: at most this many frames of the implementation are shown under a contract breach
_FRAMES = 8


@dataclass(frozen=True)
class Story:
    """A failure as the reports show it."""

    #: the whole failure (the case story, or the failure's message)
    text: str
    #: the failure in one line of words
    summary: str
    #: what failed, without where (the tier is added by the plugin)
    cause: str
    #: steps of the case that replays it (None: not a case)
    length: int | None = None
    #: the id of the shrunk case a generated failure prints ("" for others)
    reproducer: str = ""


def _breach_frames(failure: CaseFailure) -> list[str]:
    """The implementation's own frames under a failure where it raised (the runner's call
    into it is the first frame of the traceback, left out)."""
    cause = failure.__cause__
    if not failure.raised or cause is None or cause.__traceback__ is None:
        return []
    frames = traceback.extract_tb(cause.__traceback__)[1:][-_FRAMES:]
    if not frames:
        return []
    text = "".join(traceback.format_list(frames)).rstrip()
    return ["", "  the implementation's frames (most recent call last):", *text.splitlines()]


def _curated(failure: CaseFailure) -> Story:
    text = "\n".join([str(failure), *_breach_frames(failure)])
    kinds = getattr(failure, "finding_kinds", ())  # an interleave case's broken invariants
    cause = failure.cause
    if kinds and failure.step is not None:
        cause = f"{kinds[0]} ({step_kind(failure.step)})"
    return Story(text, failure.summary, cause, failure.steps)


def _shrunk(found: Any, text: str) -> Story:
    """A generated or explored case's failure: ``found`` carries the shrunk ``case`` (and
    ``finding_kinds``, ``summary`` when it has them)."""
    actions = [s for s in found.case.steps if isinstance(s, Action)]
    checks = [s for s in found.case.steps if isinstance(s, Expectation)]
    # the first finding names the cause; the others are usually its consequences
    kinds = [*getattr(found, "finding_kinds", ()), *(f"{step_kind(s)} mismatch" for s in checks)]
    cause = kinds[0] if kinds else "failure"
    if actions:
        cause += f" ({step_kind(actions[-1])})"
    summary = getattr(found, "summary", "") or (text.strip().splitlines() or [""])[0]
    return Story(text, summary, cause, len(actions), found.case.id)


def case_story(exc: BaseException) -> Story | None:
    """The story of a case failure raised as ``exc`` or chained under it (an expected-failure
    entry's complaint first), None for any other failure."""
    links = list(_chain(exc))
    for i, link in enumerate(links):
        if isinstance(link, CaseFailure):
            story, top = _curated(link), i
        elif hasattr(link, "case") and isinstance(link, AssertionError):
            # the test re-raises the report with the files it saved, hiding the original
            top = i - 1 if i and links[i - 1].__suppress_context__ else i
            story = _shrunk(link, _message(links[top]))
        else:
            continue
        if top == 0:
            return story
        outer = "\n\n".join(_message(x) for x in links[:top])
        return Story(f"{outer}\n\n{story.text}", story.summary, story.cause, story.length,
                     story.reproducer)
    return None


def _message(exc: BaseException) -> str:
    """An exception's message (``pytest.fail``'s without its ``Failed:``)."""
    return str(exc.msg) if isinstance(exc, pytest.fail.Exception) else str(exc)


def _first_line(text: str, default: str) -> str:
    return (text.strip().splitlines() or [default])[0]


def plain_story(excinfo: pytest.ExceptionInfo[BaseException], test_name: str) -> Story:
    """Any other failure: an AssertionError's message, else the exception; its cause is the
    exception's type in the test function ``test_name``."""
    exc = excinfo.value
    plain = isinstance(exc, (AssertionError, pytest.fail.Exception)) and _message(exc)
    text = _message(exc) if plain else excinfo.exconly()
    return Story(text, _first_line(text, excinfo.typename), f"{excinfo.typename} in {test_name}")


def _node_argument(item: pytest.Item) -> str:
    """The test's id as a command line argument that works from the invocation directory:
    its file relative to it when inside, else absolute."""
    invoked = item.config.invocation_params.dir
    path = Path(item.path)
    try:
        shown = str(path.relative_to(invoked))
    except ValueError:
        shown = str(path)
    rest = item.nodeid.partition("::")[2]
    return f"{shown}::{rest}" if rest else shown


def _rerun_options(item: pytest.Item) -> list[str]:
    """The options besides the implementation and seed that ``item``'s collection and outcome
    depend on."""
    settings = get_settings(item.config)
    options = []
    params = getattr(getattr(item, "callspec", None), "params", {})
    case_file = user_case_file(item.config, params.get("case"))
    if case_file is not None:
        options.append(f"--anonvma-cases={case_file}")
    if "generated_case" in getattr(item, "fixturenames", ()):
        options.append(f"--anonvma-generated={settings.generated}")
    tier = item.get_closest_marker("anonvma_tier")
    if tier is not None and tier.args[:1] == ("explore",):
        options.append("--anonvma-explore")
        if settings.examples_given:
            options.append(f"--anonvma-examples={settings.examples}")
    if settings.timeout != DEFAULT_TIMEOUT:
        options.append(f"--anonvma-timeout={settings.timeout:g}")
    return options


def rerun_command(item: pytest.Item, impl_name: str) -> str:
    """The shell command that reruns ``item`` (a test of implementation ``impl_name``) alone:
    the implementation, the seed, the options its collection depends on, then its id (quoted
    for the shell)."""
    seed = get_settings(item.config).seed
    words = ["pytest", "-p", "anonvma", f"--anonvma-impl={impl_name}", f"--anonvma-seed={seed}",
             *_rerun_options(item), _node_argument(item)]
    return shlex.join(words)


def story_repr(text: str, summary: str, path: str, lineno: int) -> ReprExceptionInfo:
    """A report's ``longrepr`` showing ``text`` alone; pytest's short summary line and
    ``--tb=line`` show ``summary``. It travels through xdist like any traceback."""
    entry = ReprEntryNative([f"{line}\n" for line in text.splitlines()])
    return ReprExceptionInfo(
        reprtraceback=ReprTraceback([entry], None, "native"),
        reprcrash=ReprFileLocation(path, lineno, summary),
    )
