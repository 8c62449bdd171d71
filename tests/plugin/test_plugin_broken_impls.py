"""Implementations that cannot be used, hooks that misbehave, results of the wrong type.

Expected behaviour: issue 10, item 2 (an implementation that cannot be built is one error: a
usage error when it is the only one, the same short failure for each of its tests beside usable
ones; a wrong return type fails the case naming the method, the value and the contract) and
item 5 (a hook that raises or returns invalid names is a usage error naming the plugin). The
contract's types are those of docs/contract.md.
"""

from __future__ import annotations

import textwrap

import pytest
from plugin_helpers import make_entry_point_dist, one_line_usage_error, outcomes

from pytest_anonvma.cases import CaseFailure, parse_cases, run_case
from pytest_anonvma.conformity import ContractViolation, checked, not_an_address_space
from pytest_anonvma.contract import PageState, VMAInfo
from pytest_anonvma.generate.lockstep import Lockstep
from pytest_anonvma.model.engine import ModelMM

#: how many tests of a broken implementation the size checks run
MANY = 40
#: how the usage error about an implementation that cannot be used starts
START = "ERROR: --anonvma-impl: implementation"

#: implementations that cannot be used, and ones returning values of the wrong type
BROKEN_SOURCE = '''
from pytest_anonvma.model.engine import ModelMM


class Raising:
    def __init__(self):
        raise RuntimeError("toy: cannot create an address space\\nsecond line never shown")


def returns_class():
    return ModelMM


class BadClose(ModelMM):
    def close(self):
        raise OSError(5, "toy: close")


def raises_import_error():
    raise ImportError("No module named 'toy_missing_dependency'")


class StrCapabilities(ModelMM):
    def __init__(self):
        super().__init__()
        self.capabilities = "pages layout"


class WithoutVmas:
    capabilities = frozenset()

    def mmap(self, addr, length, prot, flags, file=None, offset=0):
        return addr

    def close(self):
        pass


class VmasInt(ModelMM):
    def vmas(self):
        return 3


class VmasOfTuples(ModelMM):
    def vmas(self):
        return [(v.start, v.end) for v in super().vmas()]


class PageStr(ModelMM):
    def page(self, addr):
        return super().page(addr).char


class StatsList(ModelMM):
    def stats(self):
        return list(super().stats().values())


class StatsStrCounts(ModelMM):
    def stats(self):
        return {key: str(count) for key, count in super().stats().items()}


class ReadStr(ModelMM):
    def read(self, addr):
        return str(super().read(addr))
'''

#: a user test module: MANY tests of the implementation under test
MANY_TESTS = f"""
import pytest

@pytest.mark.parametrize("n", range({MANY}))
def test_map(mm, n):
    mm.mmap(None, 4096, 3, 0x22)
"""

#: a case per observation; the expectations are the kernel's: a write faults in one anonymous
#: page (do_anonymous_page) whose first fault allocates one anon_vma (anon_vma_prepare ->
#: __anon_vma_prepare), and the two-page mapping is one VMA
CASES = '''
[[case]]
id = "pages"
about = "page() after a write fault"
source = "mm/memory.c do_anonymous_page"
tier = "guard"
needs = ["pages"]
steps = """
mmap 0 2 rw anon
write 0 0x5a
read 0 == 0x5a
pages 0..1 = P .
"""

[[case]]
id = "layout"
about = "vmas() of one mapping"
source = "mm/mmap.c do_mmap"
tier = "layout"
needs = ["layout"]
steps = """
mmap 0 2 rw anon
layout "AA"
"""

[[case]]
id = "stats"
about = "stats() after the first fault"
source = "mm/rmap.c __anon_vma_prepare"
tier = "patch"
designs = ["reference"]
needs = ["pages", "stats"]
steps = """
mmap 0 2 rw anon
write 0 0x5a
stats anon_vma_allocs +1
"""
'''


@pytest.fixture
def broken(pytester: pytest.Pytester) -> pytest.Pytester:
    """pytester with ``broken.py`` (BROKEN_SOURCE) importable, also on xdist workers."""
    pytester.makepyfile(broken=BROKEN_SOURCE)
    pytester.makeconftest("")
    pytester.syspathinsert()
    return pytester


# -- an implementation that cannot be built ---------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "cause"),
    [
        ("broken:Raising",
         "its factory raised RuntimeError: toy: cannot create an address space"),
        ("broken:raises_import_error",
         "its factory raised ImportError: No module named 'toy_missing_dependency'"),
        ("os:getcwd", "its factory returned '*' (str): it has no mmap(), vmas(), close()"),
        ("builtins:object", "its factory returned <object object at *> (object): it has no *"),
        ("broken:WithoutVmas", "its factory returned * (WithoutVmas): it has no vmas()"),
        ("broken:returns_class",
         "its factory returned <class *> (type): it is a class, not an address space made by one"),
        ("broken:BadClose", "closing its address space raised OSError: [[]Errno 5[]] toy: close"),
        ("broken:StrCapabilities",
         "its factory returned *: its capabilities are 'pages layout' (str), not a frozenset*"),
    ],
)
def test_only_implementation_unusable_is_a_usage_error(
    broken: pytest.Pytester, spec: str, cause: str
) -> None:
    """The run stops at start: one line naming the implementation and the cause, exit 4."""
    broken.makepyfile(test_user=MANY_TESTS)
    result = broken.runpytest(f"--anonvma-impl={spec}", "test_user.py")
    one_line_usage_error(result, f"{START} '{spec}' cannot be used: {cause}")
    assert "second line" not in result.stderr.str()
    assert result.duration < 30


def test_every_implementation_unusable_names_each(broken: pytest.Pytester) -> None:
    """Two unusable implementations and nothing else: one line naming both."""
    result = broken.runpytest("--anonvma-impl=broken:Raising,os:getcwd")
    one_line_usage_error(
        result,
        "ERROR: --anonvma-impl: implementation 'broken:Raising' cannot be used: *; "
        "implementation 'os:getcwd' cannot be used: *",
    )


def test_hanging_factory_is_a_usage_error(broken: pytest.Pytester) -> None:
    """A factory that never returns is stopped by ``--anonvma-timeout`` at start."""
    broken.makepyfile(sleepy="import time\ndef make():\n    time.sleep(3600)\n")
    result = broken.runpytest("--anonvma-impl=sleepy:make", "--anonvma-timeout=0.5")
    one_line_usage_error(
        result,
        "ERROR: --anonvma-impl: implementation 'sleepy:make' cannot be used: making and "
        "closing an address space took over 0.5s (--anonvma-timeout=0.5)",
    )
    assert result.duration < 30


def test_live_without_a_compiler(broken: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """``live`` where no C compiler can build its sandbox: one clean line. In a process of its
    own with an empty cache, so that no sandbox another test built is found instead."""
    monkeypatch.setenv("CC", "/nonexistent/cc")
    monkeypatch.setenv("PYTEST_ANONVMA_CACHE", str(broken.path / "empty-cache"))
    result = broken.runpytest_subprocess("--anonvma-impl=live")
    one_line_usage_error(result, f"{START} 'live' cannot be used: *compiler*")


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_unusable_beside_usable_fails_each_test_shortly(
    broken: pytest.Pytester, workers: list[str]
) -> None:
    """Beside a usable implementation, each test of the unusable one fails with the same one
    line (no traceback, no growth from test to test); the usable one's tests pass."""
    broken.makepyfile(test_user=MANY_TESTS)
    result = broken.runpytest(
        "-rA", "--anonvma-impl=reference,broken:Raising", "test_user.py", *workers
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    got = outcomes(result)
    assert sorted(got.values()) == ["ERROR"] * MANY + ["PASSED"] * MANY
    assert {word for node, word in got.items() if "broken:Raising" in node} == {"ERROR"}
    message = (
        "implementation 'broken:Raising' cannot be used: its factory raised RuntimeError: "
        "toy: cannot create an address space"
    )
    out = result.stdout.str()
    assert out.count(f"\n{message}\n") == MANY
    assert "Traceback" not in out
    assert "second line" not in out
    assert len(result.outlines) < 6 * MANY


def test_broken_entry_point_in_all(broken: pytest.Pytester) -> None:
    """``all`` pulls in an entry point whose module cannot be imported: its tests fail with
    one line naming it, the bundled designs pass; named alone it is a usage error."""
    make_entry_point_dist(broken, "toybroken", "toy_no_such_module:Model")
    broken.makepyfile(test_user="def test_map(mm):\n    mm.mmap(None, 4096, 3, 0x22)\n")
    result = broken.runpytest("-rA", "--anonvma-impl=all", "test_user.py")
    got = outcomes(result)
    assert got.pop("test_user.py::test_map[toybroken]") == "ERROR"
    assert set(got.values()) == {"PASSED"}
    assert len(got) == 4
    result.stdout.fnmatch_lines(
        ["implementation 'toybroken' cannot be used: its factory raised ImportError: entry "
         "point 'toybroken' (toy_no_such_module:Model) failed to load: ModuleNotFoundError: *"]
    )
    alone = broken.runpytest("--anonvma-impl=toybroken", "test_user.py")
    one_line_usage_error(alone, f"{START} 'toybroken' cannot be used: *")


def test_hook_factory_raising_import_error(broken: pytest.Pytester) -> None:
    """A hook name whose factory raises ImportError (a broken optional dependency) beside
    ``reference``: its tests fail with one line, reference's pass."""
    broken.makeconftest(
        "from broken import raises_import_error\n"
        "def pytest_anonvma_implementations(config):\n"
        "    return {'hooked': raises_import_error}\n"
    )
    broken.makepyfile(test_user=MANY_TESTS)
    result = broken.runpytest("--anonvma-impl=reference,hooked", "test_user.py")
    result.assert_outcomes(passed=MANY, errors=MANY)
    assert result.stdout.str().count(
        "\nimplementation 'hooked' cannot be used: its factory raised ImportError: "
        "No module named 'toy_missing_dependency'\n"
    ) == MANY


# -- the hook ---------------------------------------------------------------------------------


def test_hook_that_raises_names_the_plugin(pytester: pytest.Pytester) -> None:
    """An exception in ``pytest_anonvma_implementations`` is a usage error naming the plugin
    (here the conftest) and the exception, not an INTERNALERROR."""
    conftest = pytester.makeconftest(
        "def pytest_anonvma_implementations(config):\n    raise RuntimeError('hook boom')\n"
    )
    one_line_usage_error(
        pytester.runpytest(),
        f"ERROR: pytest_anonvma_implementations of plugin '{conftest}' raised RuntimeError: "
        "hook boom",
    )


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ('""', "'' is empty"),
        ('"a b,c"', "'a b,c' contains ' ' ',', which --anonvma-impl reads as syntax"),
        ('"tab\\tname"', "'tab\\tname' contains '\\t', which --anonvma-impl reads as syntax"),
        ('"all"', "'all' is reserved for every implementation"),
        ('"mine@6.18"', "'mine@6.18' contains '@', which --anonvma-impl reads as syntax"),
        ('"pkg:Model"', "'pkg:Model' contains ':', which --anonvma-impl reads as syntax"),
        ("3", "3 (int) is not a str"),
    ],
)
def test_hook_invalid_names_are_usage_errors(
    pytester: pytest.Pytester, name: str, why: str
) -> None:
    """A name ``--anonvma-impl`` could not select is a usage error naming plugin and name."""
    conftest = pytester.makeconftest(
        "from pytest_anonvma.model.engine import ModelMM\n"
        f"def pytest_anonvma_implementations(config):\n    return {{{name}: ModelMM}}\n"
    )
    one_line_usage_error(
        pytester.runpytest(),
        f"ERROR: pytest_anonvma_implementations of plugin '{conftest}': invalid implementation "
        f"name: {why}",
    )


def test_hook_bad_result_names_the_plugin(pytester: pytest.Pytester) -> None:
    """A result that is not a mapping, or a factory that is not callable, names the plugin."""
    conftest = pytester.makeconftest(
        "def pytest_anonvma_implementations(config):\n    return ['mine']\n"
    )
    one_line_usage_error(
        pytester.runpytest(),
        f"ERROR: pytest_anonvma_implementations of plugin '{conftest}' must return "
        "{name: factory}, not list",
    )
    pytester.makeconftest("def pytest_anonvma_implementations(config):\n    return {'mine': 3}\n")
    one_line_usage_error(pytester.runpytest(), "ERROR: *: implementation 'mine' is not callable")


def test_hook_without_config_argument(pytester: pytest.Pytester) -> None:
    """A hook implementation may leave out ``config`` (pluggy passes only what it names)."""
    pytester.makeconftest(
        "from pytest_anonvma.model.engine import ModelMM\n"
        "def pytest_anonvma_implementations():\n    return {'mine': ModelMM}\n"
    )
    pytester.makepyfile(test_user="def test_x(anonvma_impl):\n    assert anonvma_impl.name\n")
    result = pytester.runpytest("--anonvma-impl=mine", "test_user.py")
    result.assert_outcomes(passed=1)


# -- results of the wrong type ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("impl", "case", "message"),
    [
        ("VmasInt", "layout",
         "VmasInt.vmas() returned 3 (int); the contract expects a list of VMAInfo sorted by start"),
        ("VmasOfTuples", "layout",
         "VmasOfTuples.vmas() returned * (list); the contract expects a list of VMAInfo "
         "sorted by start; item 0, (*) (tuple), is not a VMAInfo"),
        ("PageStr", "pages",
         "PageStr.page() returned 'P' (str); the contract expects a PageState (NONE '.', "
         "PRESENT 'P' or GUARD 'G')"),
        ("StatsList", "stats",
         "StatsList.stats() returned * (list); the contract expects a mapping of counter "
         "names (str) to counts (int)"),
        ("StatsStrCounts", "stats",
         "StatsStrCounts.stats() returned {*} (dict); the contract expects a mapping of "
         "counter names (str) to counts (int)"),
        ("ReadStr", "pages",
         "ReadStr.read() returned '90' (str); the contract expects the byte read, an int 0..255"),
    ],
)
def test_wrong_return_type_fails_the_case_naming_the_method(
    broken: pytest.Pytester, impl: str, case: str, message: str
) -> None:
    """A case whose implementation returns a value of the wrong type fails with one line
    naming the method, the value and the contract's type; the reference passes it."""
    broken.makepyfile(
        test_cases=textwrap.dedent(
            f"""
            import pytest
            from pytest_anonvma.cases import parse_cases, run_case

            CASES, PROBLEMS = parse_cases({CASES!r}, "toy.toml")
            assert PROBLEMS == []
            CASES = [c for c in CASES if c.id == {case!r}]

            @pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
            def test_case(anonvma_impl, case):
                run_case(case, anonvma_impl.factory, anonvma_impl.name)
            """
        )
    )
    result = broken.runpytest(
        "-rA", f"--anonvma-impl=reference,broken:{impl}", "test_cases.py"
    )
    assert outcomes(result) == {
        f"test_cases.py::test_case[reference-{case}]": "PASSED",
        f"test_cases.py::test_case[broken:{impl}-{case}]": "FAILED",
    }
    result.stdout.fnmatch_lines([f"case '{case}' failed on 'broken:{impl}'*",
                                 f"*  {message}"])
    assert "TypeError" not in result.stdout.str()


def test_wrong_type_in_lockstep_names_the_method() -> None:
    """The generated cases' lockstep run: a wrong ``page()`` type is a contract violation at
    the start, a wrong ``vmas()`` type after a step one at that step."""

    class PageStr(ModelMM):
        def page(self, addr: int) -> PageState:
            return super().page(addr).char  # type: ignore[return-value]

    class VmasIntOnceMapped(ModelMM):
        def vmas(self) -> list[VMAInfo]:
            return super().vmas() and 3  # type: ignore[return-value]

    with pytest.raises(ContractViolation, match=r"PageStr\.page\(\) returned '\.' \(str\)"):
        Lockstep(PageStr, 2)
    (case,), problems = parse_cases(
        '[[case]]\nid = "x"\nabout = "x"\nsource = "mm/mmap.c do_mmap"\ntier = "layout"\n'
        'needs = ["layout"]\nsteps = """\nmmap 0 2 rw anon\nlayout "AA"\n"""\n'
    )
    assert problems == []
    with Lockstep(VmasIntOnceMapped, 2) as run, pytest.raises(
        ContractViolation, match=r"VmasIntOnceMapped\.vmas\(\) returned 3 \(int\); the contract"
    ):
        run.step(case.steps[0])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("method", "value"),
    [
        ("vmas", [VMAInfo(0x2000, 0x1000, 3)]),
        ("vmas", [VMAInfo(0x1000, 0x2000, 3, flags="VM_READ")]),  # type: ignore[arg-type]
        ("vmas", "not a list"),
        ("page", None),
        ("stats", {"anon_vma_allocs": True}),
        ("stats", {1: 1}),
        ("read", 256),
        ("read", -1),
        ("mmap", None),
        ("mremap", -4096),
        ("retractable", 1),
        ("fork", object()),
    ],
)
def test_checked_rejects(method: str, value: object) -> None:
    """Each value the contract does not allow is a one-line violation naming the method."""
    with pytest.raises(ContractViolation) as info:
        checked(ModelMM(), method, value)
    text = str(info.value)
    assert text.startswith(f"ModelMM.{method}() returned ")
    assert "the contract expects" in text
    assert "\n" not in text


def test_checked_accepts_what_the_models_return() -> None:
    """The bundled model's own results pass unchanged (the same objects)."""
    mm = ModelMM()
    addr = mm.mmap(None, 8192, 3, 0x22)
    mm.write(addr, 7)
    for method, value in [
        ("vmas", mm.vmas()), ("page", mm.page(addr)), ("stats", mm.stats()),
        ("read", mm.read(addr)), ("mmap", addr), ("retractable", mm.retractable(addr)),
        ("fork", mm.fork()), ("write", None), ("memfd", object()),
    ]:
        assert checked(mm, method, value) is value
    assert not_an_address_space(mm) is None


def test_run_case_reports_a_bad_child_from_fork() -> None:
    """``fork()`` returning something that is not an address space fails at the fork step."""

    class BadFork(ModelMM):
        def fork(self) -> ModelMM:
            return None  # type: ignore[return-value]

    (case,), _ = parse_cases(
        '[[case]]\nid = "f"\nabout = "f"\nsource = "kernel/fork.c dup_mmap"\ntier = "layout"\n'
        'needs = ["fork", "layout"]\nsteps = """\nmmap 0 1 rw anon\nfork as child\n'
        'in child: layout "A"\n"""\n'
    )
    with pytest.raises(CaseFailure) as info:
        run_case(case, BadFork, "badfork")
    assert "BadFork.fork() returned None (NoneType); the contract expects the child address " \
        "space (it has no mmap(), vmas(), close())" in str(info.value)
