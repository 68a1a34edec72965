"""Shared test set-up: Qt always runs headless, and tests never write outside tmp folders.

Tests marked ``packaging`` build the frozen bundle (minutes of PyInstaller): they are deselected unless
NETBUILDER_PACKAGING_TESTS=1, so the default run (slow tests included) stays as fast as before. (This lives here,
not in a tests/packaging/conftest.py: a second module named ``conftest`` shadows tests/gui/conftest.py for the
tests that import helpers from it.)
"""

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("NETBUILDER_NO_GPU_WARNINGS", "1")

PACKAGING_OPT_IN = "NETBUILDER_PACKAGING_TESTS"


def _packaging_wanted() -> bool:
    return os.environ.get(PACKAGING_OPT_IN) == "1"


def pytest_report_header(config: pytest.Config) -> str:
    wanted = "run" if _packaging_wanted() else f"deselected (set {PACKAGING_OPT_IN}=1 to build and test the bundle)"
    return f"packaging tests: {wanted}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _packaging_wanted():
        return
    deselected = [item for item in items if item.get_closest_marker("packaging")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker("packaging")]


@pytest.fixture(scope="module")
def one_torch_thread():
    """Small networks train fastest on one thread, and a busy 2-core machine makes two threads much slower. Test
    modules that train opt in with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
