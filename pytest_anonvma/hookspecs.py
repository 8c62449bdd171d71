"""Hooks the ``anonvma`` plugin adds to pytest (registered through ``pytest_addhooks``).

Implement them in a ``conftest.py`` or in a plugin of your own::

    def pytest_anonvma_implementations(config):
        from mymodel import MyMM
        return {"mymodel": MyMM}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_anonvma.contract import MM


@pytest.hookspec
def pytest_anonvma_implementations(
    config: pytest.Config,
) -> Mapping[str, Callable[[], MM]] | None:
    """Register implementations: return ``{name: factory}`` (factory: no arguments, a new MM).

    Every plugin's mapping is merged; a name given twice (by two hooks, or by a hook and the
    registry) is a usage error. The names become valid ``--anonvma-impl`` values and are part
    of ``--anonvma-impl=all``, so a name must be a non-empty str other than ``all`` without
    whitespace, ``,``, ``@`` or ``:``. A hook that raises, an invalid name or a value that is not
    callable is a usage error naming the plugin.
    """
