"""pytest-anonvma: conformance checking for Python models of the anon_vma-flags / guard patch.

``import pytest_anonvma as av`` gives the public contract: constants, :class:`MM`,
:class:`VMAInfo`, :class:`PageState`, the fault exceptions, :func:`implementations` and
:func:`load`.
"""

from __future__ import annotations

from pytest_anonvma.constants import *  # noqa: F403
from pytest_anonvma.constants import __all__ as _constants_all
from pytest_anonvma.contract import (
    MM,
    BusError,
    ImplementationDied,
    MemoryFault,
    PageState,
    SegmentationFault,
    ShmemFile,
    VMAInfo,
)
from pytest_anonvma.registry import implementations, load

__version__ = "0.1.0"

__all__ = [
    *_constants_all,
    "MM",
    "BusError",
    "ImplementationDied",
    "MemoryFault",
    "PageState",
    "SegmentationFault",
    "ShmemFile",
    "VMAInfo",
    "__version__",
    "implementations",
    "load",
]
