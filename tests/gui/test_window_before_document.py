"""The app paints its window before it builds the first document: the graph library (networkx) and PyTorch load
after the first paint (issue 9's start-up goal), and the example still opens without a click."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import QSettings

from netbuilder_ui import app as app_module

ROOT = Path(__file__).resolve().parents[2]


def test_window_shows_first_then_the_example_opens(qtbot, tmp_path: Path):
    previous_hook = sys.excepthook
    try:
        win = app_module.launch([], open_after_paint=True,
                                settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
                                recovery_dir=tmp_path / "rec", run_root=tmp_path / "runs")
        qtbot.addWidget(win)
        assert win.isVisible()
        assert dict(win.qt_doc.document.networks) == {}  # nothing built before the first paint
        qtbot.waitUntil(lambda: "model" in win.views, timeout=10_000)
        assert win.windowTitle() == "mlp[*] — NetBuilder"
        assert win.qt_doc.document.network().find("hidden1")
        win.files.maybe_save = lambda *_a, **_k: True  # type: ignore[method-assign]
        win.close()
    finally:
        sys.excepthook = previous_hook


def test_a_file_named_on_the_command_line_opens_after_the_first_paint(qtbot, tmp_path: Path):
    from netbuilder.io import save_document
    from netbuilder.templates import load_template

    doc = load_template("lenet")
    path = tmp_path / "given.nbg"
    save_document(doc, path)
    previous_hook = sys.excepthook
    try:
        win = app_module.launch([str(path)], open_after_paint=True,
                                settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
                                recovery_dir=tmp_path / "rec", run_root=tmp_path / "runs")
        qtbot.addWidget(win)
        qtbot.waitUntil(lambda: win.windowTitle().startswith("given.nbg"), timeout=10_000)
        assert len(win.qt_doc.document.network()) == len(doc.network())
        win.files.maybe_save = lambda *_a, **_k: True  # type: ignore[method-assign]
        win.close()
    finally:
        sys.excepthook = previous_hook


def test_app_process_paints_before_loading_networkx_or_torch(tmp_path: Path):
    """The real `python -m netbuilder`: what was loaded at the first paint, and that the example opened."""
    report = tmp_path / "paint.json"
    env = {k: v for k, v in os.environ.items() if k != "NETBUILDER_FIRST_PAINT_GRAB"}
    env.update(QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"),
               XDG_DATA_HOME=str(tmp_path / "data"), NETBUILDER_FIRST_PAINT_REPORT=str(report))
    result = subprocess.run([sys.executable, "-m", "netbuilder"], env=env, cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    record = json.loads(report.read_text())
    assert record["heavy_modules_at_paint"] == []  # no networkx, torch, pyqtgraph or onnx before the window
    assert record["networks"] == ["model"]  # and the example was open right after
    assert record["document_open"] >= record["painted"]
