"""Deliberately wrong models for the soak tests (loaded as ``soak_toys:NAME``)."""

from __future__ import annotations

from pytest_anonvma import constants as C
from pytest_anonvma.cases.arena import page_addr
from pytest_anonvma.contract import PageState
from pytest_anonvma.generate.generator import WINDOW
from pytest_anonvma.model.engine import ModelMM


class ForgetfulFork(ModelMM):
    """maybe-guard on 6.18, except that a fork child loses every guard marker (the bug the
    patch is about: fork not copying the page tables of a guarded VMA)."""

    DESIGN = "maybe-guard"

    def __init__(self) -> None:
        super().__init__(self.DESIGN, "6.18")

    def fork(self) -> ModelMM:
        """Fork, then drop the child's markers."""
        child = super().fork()
        for page in range(WINDOW):
            if child.page(page_addr(page)) is PageState.GUARD:
                child.madvise(page_addr(page), C.PAGE_SIZE, C.MADV_GUARD_REMOVE)
        return child


class ForgetfulReference(ForgetfulFork):
    """The same bug in the reference design (a design other than the kernel's)."""

    DESIGN = "reference"


class ForgetfulOnce(ForgetfulFork):
    """A flaky model: only the first address space made (since ``made`` was reset) loses its
    fork children's markers."""

    made = 0

    def __init__(self) -> None:
        super().__init__()
        type(self).made += 1
        self.forgetful = type(self).made == 1

    def fork(self) -> ModelMM:
        """Fork, dropping the child's markers in the first address space only."""
        return super().fork() if self.forgetful else ModelMM.fork(self)
