"""Project-wide test setup: every operation on a model address space is followed by validate_mm.

An autouse fixture wraps the state-changing and touching methods of
:class:`~pytest_anonvma.model.engine.ModelMM` so that, in every test of this project (including
models created through ``av.load``), ``validate()`` runs after each call, even a failing one:
partial effects must leave a consistent mm too.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pytest_anonvma.model.engine import ModelMM

#: the ModelMM methods after which the mm must be consistent
VALIDATED_METHODS = (
    "mmap",
    "munmap",
    "mprotect",
    "madvise",
    "mlock",
    "munlock",
    "mremap",
    "read",
    "write",
    "fork",
    "retractable",
)


def _validating(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: ModelMM, *args: Any, **kwargs: Any) -> Any:
        try:
            result = method(self, *args, **kwargs)
        except BaseException:
            if not self.closed:
                self.validate()
            raise
        if not self.closed:
            self.validate()
        if isinstance(result, ModelMM):
            result.validate()
        return result

    return wrapper


@pytest.fixture(autouse=True)
def _validate_after_every_operation(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run ``ModelMM.validate`` after every operation of the test."""
    for name in VALIDATED_METHODS:
        monkeypatch.setattr(ModelMM, name, _validating(getattr(ModelMM, name)))
    yield
