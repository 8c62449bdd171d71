"""The address spaces and memfds of one run, by name, that performing action steps uses.

A run starts with the address space ``parent`` (made by ``factory``); a ``fork as NAME`` step
adds ``NAME`` and a ``memfd NAME`` step the file ``NAME`` (:meth:`Space.keep`, from the
:class:`~pytest_anonvma.cases.steps.Call` that made them). The case runner, the generated cases
and the soak all keep their runs in one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pytest_anonvma.cases.steps import Call
from pytest_anonvma.contract import MM

__all__ = ["Space"]


@dataclass
class Space:
    """The address spaces of one run by name (``parent`` first, then fork children), the
    factory that made the parent, and the run's memfds by name."""

    factory: Callable[[], MM]
    mms: dict[str, MM] = field(default_factory=dict)
    files: dict[str, Any] = field(default_factory=dict)

    def keep(self, call: Call, result: Any) -> None:
        """Name what a successful ``call`` made: a fork child, a memfd."""
        if call.new_mm is not None:
            self.mms[call.new_mm] = result
        if call.new_file is not None:
            self.files[call.new_file] = result

    def close(self) -> None:
        """Close every address space, children first; each is closed even when an earlier
        one's close fails, and the first such error is raised at the end."""
        error: Exception | None = None
        for name in reversed(list(self.mms)):
            try:
                self.mms.pop(name).close()
            except Exception as exc:  # keep closing the others
                error = error or exc
        if error is not None:
            raise error
