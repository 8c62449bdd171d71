"""The package as a user gets it: ``python -m build`` makes the sdist and the wheel (the wheel
from the sdist) without a single warning; the sdist carries the tests, docs, benchmarks,
``tox.ini`` and the LICENSE; the wheel carries every module and the suite's data, declares its
license as an SPDX expression with its URLs, and installed on its own collects the same tests as
this checkout.

Expected behaviour: issue 11, item 7. The build runs without isolation (no network), so it needs
``build`` and ``setuptools>=77`` installed: the ``test`` extra brings both.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from fnmatch import fnmatch
from importlib.metadata import version
from pathlib import Path

import pytest

import pytest_anonvma

ROOT = Path(__file__).resolve().parents[1]
#: what a source copy leaves out: caches, VCS, earlier builds
IGNORED = ("__pycache__", "*.py[cod]", ".git", ".tox", ".venv", "venv", "build", "dist",
           "*.egg-info", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis",
           ".benchmarks", "site")
#: lines of a build log naming a file that is copied, not a complaint
FILE_LINE = re.compile(r"^(copying|adding|creating|hard linking|removing) ")


def _setuptools_version() -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version("setuptools"))[:2])


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """The sdist, the wheel and the build log of a copy of the checkout."""
    pytest.importorskip("build", reason="needs the build package: pip install -e '.[test]'")
    if _setuptools_version() < (77,):
        pytest.skip(f"needs setuptools>=77 (found {version('setuptools')}): "
                    "pip install -e '.[test]'")
    if not (ROOT / "pyproject.toml").is_file():
        pytest.skip(f"not a source tree: {ROOT}")
    work = tmp_path_factory.mktemp("packaging")
    source = work / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*IGNORED))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    run = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir",
                          str(work / "dist"), str(source)],
                         capture_output=True, text=True, env=env, timeout=300, check=False)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log
    (sdist,) = (work / "dist").glob("*.tar.gz")
    (wheel,) = (work / "dist").glob("*.whl")
    return sdist, wheel, log


def _sources(*folders: str) -> set[str]:
    """The files of the checkout's ``folders`` that the copy keeps, relative to the checkout."""
    return {path.relative_to(ROOT).as_posix() for folder in folders
            for path in (ROOT / folder).rglob("*")
            if path.is_file() and not any(fnmatch(part, pattern)
                                          for part in path.relative_to(ROOT).parts
                                          for pattern in IGNORED)}


def test_the_build_prints_no_warning(built: tuple[Path, Path, str]) -> None:
    """No setuptools deprecation (license table), no 'absent from packages', no manifest miss."""
    log = built[2]
    warnings = [line for line in log.splitlines()
                if "warning" in line.lower() and not FILE_LINE.match(line)]
    assert warnings == [], log


def test_the_sdist_carries_tests_docs_and_tox_ini(built: tuple[Path, Path, str]) -> None:
    """Everything tox and the tests need, and no bytecode."""
    with tarfile.open(built[0]) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    expected = _sources("tests", "docs", "benchmarks", "conformance", "pytest_anonvma")
    expected |= {"LICENSE", "README.md", "tox.ini", "mkdocs.yml", "pyproject.toml", ".ci/run"}
    assert expected - names == set()
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]


def test_the_wheel_carries_every_module_and_the_suite_data(
        built: tuple[Path, Path, str]) -> None:
    """Every module of the package and of the suite (installed as pytest_anonvma.conformance),
    the case files, the expected-failure lists and the live backend's C sources."""
    with zipfile.ZipFile(built[1]) as wheel:
        names = set(wheel.namelist())
    suite = {"pytest_anonvma/" + name for name in _sources("conformance")}
    assert _sources("pytest_anonvma") | suite <= names
    cases = {n for n in suite if n.startswith("pytest_anonvma/conformance/cases/")}
    assert cases and all(n.endswith(".toml") for n in cases)
    assert any(n.startswith("pytest_anonvma/conformance/xfail/") for n in names)
    assert any(n.startswith("pytest_anonvma/live/") and n.endswith(".c") for n in names)


def test_the_metadata_has_an_spdx_license_and_urls(built: tuple[Path, Path, str]) -> None:
    """``License-Expression: MIT`` with the LICENSE file, the project URLs, and the version
    that ``pytest_anonvma.__version__`` states."""
    with zipfile.ZipFile(built[1]) as wheel:
        dist_info = next(n.split("/")[0] for n in wheel.namelist() if ".dist-info/" in n)
        metadata = Parser().parsestr(wheel.read(f"{dist_info}/METADATA").decode())
        license_text = wheel.read(f"{dist_info}/licenses/LICENSE").decode()
    assert metadata["License-Expression"] == "MIT"
    assert metadata["License"] is None
    assert "MIT License" in license_text
    urls = dict(url.split(", ", 1) for url in metadata.get_all("Project-URL"))
    assert set(urls) == {"Homepage", "Documentation", "Source", "Issues"}
    assert metadata["Version"] == pytest_anonvma.__version__


def _collected(cwd: Path, env: dict[str, str]) -> list[str]:
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "anonvma", "-p",
                          "no:cacheprovider", "--co", "-q"],
                         cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
                         check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    return [line for line in run.stdout.splitlines() if "::" in line]


def test_the_installed_wheel_collects_the_same_tests(built: tuple[Path, Path, str],
                                                     tmp_path: Path) -> None:
    """Unpacked into its own folder ahead of this checkout on the path, the wheel's bundled
    suite collects exactly the ids of the installed checkout."""
    site = tmp_path / "site"
    with zipfile.ZipFile(built[1]) as wheel:
        wheel.extractall(site)
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    from_wheel = {**env, "PYTHONPATH": str(site)}
    where = subprocess.run([sys.executable, "-c", "import pytest_anonvma; "
                            "print(pytest_anonvma.__file__)"], env=from_wheel, cwd=empty,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).is_relative_to(site)
    ids = _collected(empty, from_wheel)
    assert ids and ids == _collected(empty, env)
