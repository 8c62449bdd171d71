"""Fixtures of the engine's unit tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from engine_helpers import DESIGNS

from pytest_anonvma.model.engine import ModelMM


@pytest.fixture(params=DESIGNS)
def mm(request: pytest.FixtureRequest) -> Iterator[ModelMM]:
    """A fresh model MM of each bundled design, closed afterwards."""
    with ModelMM(request.param) as model:
        yield model
