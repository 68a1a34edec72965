"""Tests marked ``packaging`` build the frozen bundle (minutes of PyInstaller): they are deselected unless
NETBUILDER_PACKAGING_TESTS=1, so the default run (slow tests included) stays as fast as before."""

from __future__ import annotations

import os

import pytest

OPT_IN = "NETBUILDER_PACKAGING_TESTS"


def _wanted() -> bool:
    return os.environ.get(OPT_IN) == "1"


def pytest_report_header(config: pytest.Config) -> str:
    return f"packaging tests: {'run' if _wanted() else f'deselected (set {OPT_IN}=1 to build and test the bundle)'}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _wanted():
        return
    deselected = [item for item in items if item.get_closest_marker("packaging")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker("packaging")]
