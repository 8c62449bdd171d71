"""Writing a soak disagreement up: the printed report, the case file and the C reproducer.

Each disagreement gives two files named after its case id (``soak-SEED-N``) in the output
directory: ``soak-SEED-N.toml``, the shrunk sequence as a ready-to-paste conformance case
stating what the oracle (the running kernel) did, so it passes there and fails on the model;
and ``soak-SEED-N.c``, the C reproducer (:func:`~pytest_anonvma.live.export_c.export_c`) of the
same steps stating what the model expects, so it fails on a kernel that disagrees with the
model (the form to send to kernel developers when the kernel turns out to be the surprise).
Each file is written whole or not at all (a temporary file renamed into place).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from pytest_anonvma.generate.lockstep import StepFailure
from pytest_anonvma.live.export_c import export_c
from pytest_anonvma.soak.session import Disagreement

__all__ = ["disagreement_report", "reproducer", "write_disagreement"]


def _first(failure: StepFailure) -> str:
    step = failure.history[failure.index][0].format()
    return f"step {failure.index + 1} '{step}': {failure.first.message}"


def disagreement_report(found: Disagreement, oracle: str, rerun: str) -> str:
    """The text printed for one disagreement: who disagreed where, the shrunk case, the seed
    and the command that replays the sequence."""
    shrunk = found.failure
    lines = [f"DISAGREEMENT on sequence {found.n} of seed {found.seed} ({found.sequence.id}):"]
    lines += [f"  {label}: {_first(failure)}" for label, failure in found.originals.items()]
    if found.hung:
        how = (f"NOT shrunk: {found.model} hung (each replay would wait out the step timeout); "
               "up to that step:")
    elif found.reproduced:
        how = (f"shrunk against {found.model} from {len(found.sequence.steps)} to "
               f"{len(shrunk.history)} steps:")
    else:
        how = (f"NOT shrunk: replayed on {oracle} and {found.model} alone the sequence agreed "
               "(nondeterminism); as first seen:")
    lines += [
        how,
        *(f"  {f.oracle}: {f.message}" for f in shrunk.findings),
        "",
        f"# case stating what {oracle} did (passes on {oracle}, fails on {found.model}):",
        found.case.format(),
        f"rerun: {rerun}",
    ]
    return "\n".join(lines)


def reproducer(found: Disagreement) -> str:
    """The C reproducer: the model's side when it replays (else the oracle's side)."""
    return export_c(found.model_case or found.case)


def _write(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all; an ``OSError`` leaves nothing behind."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_disagreement(found: Disagreement, directory: Path, oracle: str,
                       rerun: str) -> tuple[Path, Path]:
    """Write ``<id>.toml`` and ``<id>.c`` into ``directory`` (made if needed); their paths.
    Raises ``OSError`` if either cannot be written (each file is whole or absent)."""
    comment = (f"soak disagreement: {found.model} against {oracle}, seed {found.seed}, "
               f"sequence {found.n}\nrerun: {rerun}")
    directory.mkdir(parents=True, exist_ok=True)
    case_path = directory / f"{found.case.id}.toml"
    c_path = directory / f"{found.case.id}.c"
    _write(case_path, "".join(f"# {line}\n" for line in comment.splitlines())
           + found.case.format())
    _write(c_path, reproducer(found))
    return case_path, c_path
