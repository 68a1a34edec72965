"""File > Export ONNX / PyTorch Code of a trained network: the app offers the finished run's weights and its
preprocessing (baked in by default), and the finished message says which. Checked with onnxruntime against
``predict`` on the same raw digits: baked, the file takes pixel values as they are; not baked, it takes the
standardised values, so on raw pixels it gives different answers."""

from __future__ import annotations

import json
import runpy
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QDialog, QFileDialog, QMessageBox

from netbuilder.data import load_data
from netbuilder.document import RenameNode
from netbuilder.templates import load_template
from netbuilder.train import TrainConfig, Trainer, predict
from netbuilder_ui.export_options import RAW_INPUT, ExportOptionsDialog, export_runs
from netbuilder_ui.main_window import MainWindow


@pytest.fixture(scope="module")
def trained_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run root holding one finished run: the mlp template trained for one epoch on the bundled digits."""
    root = tmp_path_factory.mktemp("trained") / "runs"
    doc = load_template("mlp")
    config = TrainConfig.from_dict({**doc.settings["training"], "epochs": 1, "device": "cpu"},
                                   doc.settings["data"])
    trainer = Trainer(doc, config, run_root=root)
    for _event in trainer.events():
        pass
    assert trainer.run_dir is not None and (trainer.run_dir / "preprocessing.json").is_file()
    return root


class Shown:
    """Stands in for QMessageBox's static functions and QFileDialog.getSaveFileName; records messages."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.messages: list[tuple[str, str, str]] = []
        self.save_paths: list[str] = []
        self.save_asked = 0
        for kind in ("critical", "warning", "information", "question"):
            monkeypatch.setattr(QMessageBox, kind, self._recorder(kind))
        monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(self._save))

    def _recorder(self, kind: str) -> Any:
        def show(_parent: Any, title: str, text: str, *_a: Any, **_k: Any) -> Any:
            self.messages.append((kind, title, text))
            return QMessageBox.StandardButton.Ok
        return staticmethod(show)

    def _save(self, *_a: Any, **_k: Any) -> tuple[str, str]:
        self.save_asked += 1
        return (self.save_paths.pop(0) if self.save_paths else "", "")


@pytest.fixture
def shown(monkeypatch: pytest.MonkeyPatch) -> Shown:
    return Shown(monkeypatch)


def open_window(qtbot: Any, tmp_path: Path, run_root: Path) -> MainWindow:
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings, recovery_dir=tmp_path / "recovery", autosave_interval_ms=3_600_000,
                        run_root=run_root)
    qtbot.addWidget(window)
    window.show()
    assert window.open_template("mlp", ask=False)
    return window


def answer_dialog(monkeypatch: pytest.MonkeyPatch, bake: bool | None = None, button: str = "export",
                  seen: list[dict[str, Any]] | None = None) -> None:
    """The real export dialog, answered: untick the bake box when ``bake`` is False, then press ``button``.
    ``seen`` gets what each dialog showed when it opened (the dialog itself is deleted afterwards)."""

    def run(dialog: ExportOptionsDialog) -> int:
        if seen is not None:
            seen.append({"bake": dialog.bake_box.isChecked(), "bake_enabled": dialog.bake_box.isEnabled(),
                         "detail": dialog.detail.text(), "run": dialog.run_box.currentText()})
        if bake is not None:
            dialog.bake_box.setChecked(bake)
        if button == "cancel":
            dialog.reject()
        elif button == "untrained":
            dialog.untrained_button.click()
        else:
            dialog.export_button.click()
        return dialog.result()

    monkeypatch.setattr(ExportOptionsDialog, "exec", run)


def run_dir(root: Path) -> Path:
    return next(p for p in sorted(root.iterdir()) if (p / "summary.json").is_file())


def raw_digits() -> np.ndarray:
    return load_data("digits").x[:16].numpy().astype(np.float32)


def onnx_logits(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def predicted_logits(window: MainWindow, root: Path, x: np.ndarray) -> np.ndarray:
    prediction = predict(window.qt_doc.document, run_dir(root), torch.from_numpy(x), weights="final", device="cpu")
    return next(iter(prediction.outputs.values())).numpy()


def test_onnx_export_bakes_the_runs_preprocessing_by_default(qtbot, tmp_path, trained_root, shown, monkeypatch):
    window = open_window(qtbot, tmp_path, trained_root)
    dialogs: list[dict[str, Any]] = []
    answer_dialog(monkeypatch, seen=dialogs)
    shown.save_paths.append(str(tmp_path / "baked.onnx"))
    assert window.export_onnx()
    assert len(dialogs) == 1 and dialogs[0]["bake"]  # asked, and yes by default
    assert "standardised over all values" in dialogs[0]["detail"]
    kind, title, text = shown.messages[-1]
    name = run_dir(trained_root).name
    assert (kind, title) == ("information", "ONNX export")
    assert f"Trained weights: run “{name}”, final weights (epoch 1)." in text
    assert "Preprocessing baked in: feed it pixel values in [0, 1]" in text
    assert "dynamo exporter" in text and "failed" not in text  # the wrapper exports like the bare network
    raw = raw_digits()
    expected = predicted_logits(window, trained_root, raw)
    assert np.allclose(onnx_logits(tmp_path / "baked.onnx", raw), expected, atol=1e-4)
    assert window.statusBar().currentMessage() == f"Exported baked.onnx with run {name}, preprocessing baked in"
    window.close()


def test_onnx_export_without_baking_takes_standardised_input_and_says_so(qtbot, tmp_path, trained_root, shown,
                                                                         monkeypatch):
    window = open_window(qtbot, tmp_path, trained_root)
    answer_dialog(monkeypatch, bake=False)
    shown.save_paths.append(str(tmp_path / "bare.onnx"))
    assert window.export_onnx()
    text = shown.messages[-1][2]
    assert "Preprocessing NOT baked in: apply the run's preprocessing.json" in text
    assert "Trained weights: run" in text
    saved = json.loads((run_dir(trained_root) / "preprocessing.json").read_text())
    shift, scale = saved["inputs"]["shift"][0], saved["inputs"]["scale"][0]
    raw = raw_digits()
    expected = predicted_logits(window, trained_root, raw)
    bare = tmp_path / "bare.onnx"
    assert np.allclose(onnx_logits(bare, ((raw - shift) / scale).astype(np.float32)), expected, atol=1e-4)
    assert np.abs(onnx_logits(bare, raw) - expected).max() > 0.1  # raw pixels are not what this file takes
    window.close()


def test_pytorch_code_export_wraps_the_preprocessing_and_names_the_weights(qtbot, tmp_path, trained_root, shown,
                                                                           monkeypatch):
    window = open_window(qtbot, tmp_path, trained_root)
    answer_dialog(monkeypatch)
    shown.save_paths.append(str(tmp_path / "model_code.py"))
    assert window.export_pytorch()
    text = shown.messages[-1][2]
    weights = run_dir(trained_root) / "weights" / "model.safetensors"
    assert f"load {weights} into it" in text and "Preprocessing baked in" in text
    namespace = runpy.run_path(str(tmp_path / "model_code.py"))
    model = next(v for k, v in namespace.items() if k.endswith("WithPreprocessing"))().eval()
    from safetensors.torch import load_file

    model.network.load_state_dict(load_file(str(weights)))
    raw = raw_digits()
    with torch.no_grad():
        logits = model(torch.from_numpy(raw)).numpy()
    assert np.allclose(logits, predicted_logits(window, trained_root, raw), atol=1e-4)
    window.close()


def test_the_dialog_names_the_run_and_what_its_preprocessing_does(qtbot, tmp_path, trained_root):
    root = tmp_path / "runs"
    shutil.copytree(trained_root, root)
    original = run_dir(root)
    older = root / "0-older run"
    shutil.copytree(original, older)
    config = json.loads((older / "config.json").read_text())
    config["created"] = "2000-01-01T00:00:00"
    (older / "config.json").write_text(json.dumps(config))
    window = open_window(qtbot, tmp_path, root)
    runs, first = export_runs(window, window.qt_doc.document)
    assert [r.name for r in runs] == [original.name, older.name] and first == 0  # newest first
    view = window.training_ui.results.runs
    view.select_runs([name for name in view.run_names() if "older" in name])  # the user picked it in Results > Runs
    runs, first = export_runs(window, window.qt_doc.document)
    assert runs[first].name == older.name

    dialog = ExportOptionsDialog(window, "ONNX", "model", runs, first)
    qtbot.addWidget(dialog)
    assert dialog.run_box.isEnabled() and dialog.run_box.currentText().startswith(f"{older.name} (done, 1 epoch")
    detail = dialog.detail.text()
    assert "Inputs: pixel values in [0, 1]" in detail and "standardised over all values (mean 0." in detail
    assert dialog.choice().bake and dialog.choice().run is runs[first]
    dialog.bake_box.setChecked(False)
    assert "Not included: the exported model takes the network's raw input" in dialog.detail.text()
    assert not dialog.choice().bake
    dialog.untrained_button.click()
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.choice().run is None and dialog.choice().declined_run
    window.close()


def test_cancel_in_the_dialog_writes_nothing_and_asks_no_file(qtbot, tmp_path, trained_root, shown, monkeypatch):
    window = open_window(qtbot, tmp_path, trained_root)
    answer_dialog(monkeypatch, button="cancel")
    assert not window.export_onnx()
    assert not window.export_pytorch()
    assert shown.save_asked == 0 and not shown.messages
    assert "cancelled" in window.statusBar().currentMessage()
    window.close()


def test_untrained_export_says_the_input_is_raw(qtbot, tmp_path, trained_root, shown, monkeypatch):
    window = open_window(qtbot, tmp_path, trained_root)
    answer_dialog(monkeypatch, button="untrained")
    shown.save_paths.append(str(tmp_path / "untrained.onnx"))
    assert window.export_onnx()
    text = shown.messages[-1][2]
    assert "Untrained weights: exported without its training run, as asked." in text and RAW_INPUT in text

    # An edited network no longer matches the run's graph: no dialog, the bare network, and the message says why.
    monkeypatch.setattr(ExportOptionsDialog, "exec", lambda _self: pytest.fail("asked about a run that "
                                                                                "does not fit"))
    net = window.qt_doc.document.network("model")
    first = net.nodes[1]
    window.qt_doc.execute(RenameNode("model", first.id, "renamed"))
    shown.save_paths.append(str(tmp_path / "edited.onnx"))
    assert window.export_onnx()
    text = shown.messages[-1][2]
    assert "Untrained weights: this network has no finished training run" in text and RAW_INPUT in text
    assert window.statusBar().currentMessage() == "Exported edited.onnx (untrained, raw input)"
    window.qt_doc.undo_stack.setClean()
    window.close()


def test_a_damaged_preprocessing_file_is_named_and_not_baked(qtbot, tmp_path, trained_root, shown, monkeypatch):
    root = tmp_path / "runs"
    shutil.copytree(trained_root, root)
    (run_dir(root) / "preprocessing.json").write_text("{not json")
    window = open_window(qtbot, tmp_path, root)
    dialogs: list[dict[str, Any]] = []
    answer_dialog(monkeypatch, seen=dialogs)
    shown.save_paths.append(str(tmp_path / "model.onnx"))
    assert window.export_onnx()
    assert not dialogs[0]["bake_enabled"] and "preprocessing.json" in dialogs[0]["detail"]
    text = shown.messages[-1][2]
    assert "Preprocessing NOT baked in: " in text and "preprocessing.json" in text and "Trained weights" in text
    window.close()



def test_cancel_while_loading_the_run_writes_nothing(qtbot, tmp_path, trained_root, shown, monkeypatch):
    """Cancel pressed while the worker loads the run's weights: the export stops there and writes no file."""
    from netbuilder_ui import files
    from netbuilder_ui.background import Cancelled

    real = files.trained_export

    def cancelled_midway(network: Any, entry: Any, bake: bool, gan: bool, step: Any) -> Any:
        real(network, entry, bake, gan, step)  # the weights load and the wrapper is built...
        raise Cancelled()  # ...and then the user's Cancel is seen at the next step

    monkeypatch.setattr(files, "trained_export", cancelled_midway)
    window = open_window(qtbot, tmp_path, trained_root)
    answer_dialog(monkeypatch)
    shown.save_paths += [str(tmp_path / "never.onnx"), str(tmp_path / "never.py")]
    assert not window.export_onnx()
    assert window.statusBar().currentMessage() == "ONNX export cancelled; nothing was written."
    assert not window.export_pytorch()
    assert not (tmp_path / "never.onnx").exists() and not (tmp_path / "never.py").exists()
    assert not shown.messages
    window.close()
