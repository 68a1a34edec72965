"""Shared GUI fixtures: QtDocuments holding small, valid networks (an MLP and a CNN).

Qt runs offscreen (the project's tests/conftest.py sets QT_QPA_PLATFORM too; setting it here keeps this folder
runnable on its own). Node names are fixed so tests can refer to them: see the builders below.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import gc  # noqa: E402

import pytest  # noqa: E402

from netbuilder.document import Document  # noqa: E402
from netbuilder_ui._compat import unsupported_pyside  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    """On the excluded PySide6 release the GUI tests would abort part-way ("Fatal Python error: none_dealloc"):
    stop at once and say why."""
    problem = unsupported_pyside()
    if problem is not None:
        pytest.exit(f"the GUI tests cannot run here: {problem}", returncode=4)


def build_mlp() -> Document:
    """x (Input 64) -> hidden (Linear 32) -> act (ReLU) -> logits (Linear 10) -> y (Output), laid out in a row."""
    doc = Document()
    net = doc.network()
    x = net.add("Input", name="x", position=(0, 0), shape=(64,))
    hidden = net.add("Linear", name="hidden", position=(300, 0), units=32)
    act = net.add("ReLU", name="act", position=(600, 0))
    logits = net.add("Linear", name="logits", position=(900, 0), units=10)
    y = net.add("Output", name="y", position=(1200, 0))
    net.chain(x, hidden, act, logits, y)
    return doc


def build_cnn() -> Document:
    """image (1×8×8) -> conv (Conv2d 8, 3x3) -> relu -> pool (MaxPool 2x2) -> flat -> fc (Linear 10) -> out, plus
    a small residual branch on the features: fc -> fc_skip (Linear 10) and add(fc, fc_skip) -> out. Positions are
    what auto-layout gives (one row, fc_skip below it)."""
    doc = Document()
    net = doc.network()
    image = net.add("Input", name="image", position=(0, 0), shape=(1, 8, 8))
    conv = net.add("Conv2d", name="conv", position=(280, 0), filters=8, kernel_size=3)
    relu = net.add("ReLU", name="relu", position=(560, 0))
    pool = net.add("MaxPool2d", name="pool", position=(840, 0))
    flat = net.add("Flatten", name="flat", position=(1120, 0))
    fc = net.add("Linear", name="fc", position=(1400, 0), units=10)
    skip = net.add("Linear", name="fc_skip", position=(1680, 60), units=10)
    add = net.add("Add", name="add", position=(1960, 0))
    out = net.add("Output", name="out", position=(2240, 0))
    net.chain(image, conv, relu, pool, flat, fc)
    net.connect(fc, skip)
    net.connect(fc, add, dst_port="in1")
    net.connect(skip, add, dst_port="in2")
    net.connect(add, out)
    return doc


@pytest.fixture
def qt_doc(qapp):
    """A QtDocument holding the MLP of `build_mlp` (network "model"), with an empty, clean undo stack."""
    from netbuilder_ui.qt_document import QtDocument

    document = QtDocument(build_mlp())
    yield document
    document.deleteLater()


@pytest.fixture
def cnn_doc(qapp):
    """A QtDocument holding the small CNN of `build_cnn` (network "model")."""
    from netbuilder_ui.qt_document import QtDocument

    document = QtDocument(build_cnn())
    yield document
    document.deleteLater()


def make_main_window(qtbot, tmp_path, size: tuple[int, int] = (1600, 1000), **kwargs):
    """A shown main window whose settings, recovery files and runs live in ``tmp_path`` (autosave effectively off)."""
    from PySide6.QtCore import QSettings

    from netbuilder_ui.main_window import MainWindow

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings, recovery_dir=tmp_path / "recovery", autosave_interval_ms=3_600_000,
                        run_root=tmp_path / "runs", **kwargs)
    qtbot.addWidget(window)
    window.resize(*size)
    window.show()
    qtbot.waitExposed(window)
    return window


@pytest.fixture
def main_window(qtbot, tmp_path, monkeypatch):
    """A 1600×1000 main window that closes without a "save changes?" prompt."""
    from PySide6.QtWidgets import QMessageBox

    monkeypatch.setattr(QMessageBox, "warning", lambda *args, **kwargs: QMessageBox.StandardButton.Discard)
    window = make_main_window(qtbot, tmp_path)
    yield window
    window.qt_doc.undo_stack.setClean()
    window.close()


@pytest.fixture(autouse=True)
def _collect_qt_garbage_on_the_gui_thread():
    """Free the Qt wrappers earlier tests left in reference cycles here, on the GUI thread: collected later on a
    worker thread (an export, a training run), Qt would destroy them there and can deadlock (see gc_guard)."""
    gc.collect()
    yield
