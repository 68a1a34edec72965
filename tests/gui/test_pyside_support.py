"""The app refuses, in one line, to start on a PySide6 release that would abort it later (netbuilder_ui._compat):
6.12.0 loses references to None/True on Python < 3.12. No reference counts are touched any more."""

from __future__ import annotations

import gc
import sys

import PySide6
import pytest
from PySide6.QtWidgets import QApplication

from netbuilder.cli import main as cli_main
from netbuilder_ui._compat import unsupported_pyside


@pytest.mark.parametrize(("version", "python", "refused"), [
    ("6.12.0", (3, 11), True), ("6.11.3", (3, 11), False), ("6.10.3", (3, 11), False), ("6.9.3", (3, 11), False),
    ("6.12.0", (3, 12), False), ("6.12.0", (3, 13), False),
])
def test_only_the_release_that_loses_references_is_refused_and_only_before_python_312(version, python, refused):
    reason = unsupported_pyside(version, python)
    assert (reason is not None) is refused
    if refused:
        assert "PySide6 6.12.0 is not supported on Python 3.11" in reason
        assert "pip install 'PySide6-Essentials!=6.12.0'" in reason
        assert "\n" not in reason


def test_the_installed_pyside6_is_supported():
    """Fails in an environment that still has the excluded release (pyproject.toml keeps pip from installing it)."""
    assert unsupported_pyside() is None, unsupported_pyside()


def test_no_reference_count_is_raised_by_hand():
    """The old guard added 2**48 to the counts of None, True and False (3.12's immortal count is 2**32 - 1)."""
    assert max(sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False)) < 1 << 40


def test_the_app_refuses_to_start_on_the_faulty_release_with_one_line(qtbot, monkeypatch, capsys):
    monkeypatch.setattr(PySide6, "__version__", "6.12.0")
    monkeypatch.setattr(sys, "version_info", (3, 11, 9, "final", 0))
    windows_before = len(QApplication.topLevelWidgets())
    was_enabled = gc.isenabled()
    try:
        code = cli_main([])  # ``netbuilder`` with no command opens the app
    finally:
        if was_enabled:
            gc.enable()  # the app's start-up switches automatic collection off
    monkeypatch.undo()
    error = capsys.readouterr().err.strip()
    assert code == 2
    assert error.startswith("netbuilder: PySide6 6.12.0 is not supported on Python 3.11") and "\n" not in error
    assert len(QApplication.topLevelWidgets()) == windows_before  # no window was made
