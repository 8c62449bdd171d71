"""The matrix and failure causes on pytest-html's page (``--html``), through its hook.

Registered by the plugin only where pytest-html is importable; the hook is optional, so
registering it elsewhere is harmless too.
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_anonvma.report_html import summary_fragment

__all__ = ["SESSION_PLUGIN", "pytest_html_results_summary"]

#: the name the anonvma plugin registers its run state under
SESSION_PLUGIN = "anonvma.session"


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_summary(
    prefix: list[str], summary: list[str], postfix: list[str], session: pytest.Session
) -> None:
    """Put the conformance matrix and the failure causes before pytest-html's summary (when
    the run tested an implementation)."""
    plugin: Any = session.config.pluginmanager.get_plugin(SESSION_PLUGIN)
    collector = getattr(plugin, "collector", None)
    if collector is None or not collector.results:
        return
    prefix.append(summary_fragment(collector, plugin.report_meta()))
