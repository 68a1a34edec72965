"""The app shows its editor before PyTorch is loaded: the Train menu and F5 work from the start, Start pressed
early waits with a visible status and starts once the training docks have arrived."""

from __future__ import annotations

from pathlib import Path

import shiboken6
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QDockWidget

from netbuilder_ui.main_window import MainWindow


def test_start_pressed_while_pytorch_loads_starts_training_when_ready(qtbot, tmp_path: Path, monkeypatch):
    from netbuilder_ui.training.controller import TrainingUI

    started: list[TrainingUI] = []
    monkeypatch.setattr(TrainingUI, "start", lambda self: started.append(self) or True)
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings, recovery_dir=tmp_path / "recovery", run_root=tmp_path / "runs",
                        autosave_interval_ms=3_600_000, defer_training=True)
    qtbot.addWidget(window)
    window.files.maybe_save = lambda *_args, **_kwargs: True  # type: ignore[method-assign]
    loader = window.training_loader
    assert loader is not None and window.training_ui is None
    assert window.findChild(QDockWidget, "trainingDock") is None  # no stand-in docks
    assert "Train" in [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert loader.label.text() == "Loading PyTorch…"

    window.acts["train_start"].trigger()  # F5 before PyTorch is there
    assert loader.start_requested and "training starts when it is ready" in loader.label.text()
    window.show()  # the first paint starts the import
    qtbot.waitUntil(lambda: window.training_ui is not None, timeout=60_000)

    assert started == [window.training_ui]
    assert window.findChild(QDockWidget, "trainingDock") is not None
    assert window.acts["train_start"] is window.training_ui.start_action
    menus = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert menus.count("Train") == 1
    label = loader.label  # gone from the status bar: deleted by Qt, or at least hidden
    assert not shiboken6.isValid(label) or label.parent() is None or not label.isVisible()
    window.close()
