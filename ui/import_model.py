"""File > Import…: an ONNX model becomes a NetBuilder document with its weights, then opens in the window.

The import runs on a worker thread behind the progress dialog exports use (`run_with_progress`), so the window keeps
painting while a large model is read, turned into layers, laid out and compared with onnxruntime. Then the user
picks where the document goes (its weights are written beside it, as ``<name>.safetensors``), and it opens as any
saved file would. Unsupported operations, a model too large for memory and unreadable files end in a dialog that
says which and why; nothing is written then.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from netbuilder_ui.background import Cancelled, Step, run_with_progress

MODEL_FILTER = "ONNX models (*.onnx);;All files (*)"
DOCUMENT_FILTER = "NetBuilder networks (*.nbg)"


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


class ModelImport:
    """The File > Import… command of one main window; ``files`` is its `FileController`."""

    def __init__(self, window: QWidget, files: Any):
        self.window = window
        self.files = files

    def run(self, source: str | os.PathLike[str] | None = None, target: str | os.PathLike[str] | None = None
            ) -> bool:
        """Import ``source`` (asking for it when None) and save to ``target`` (asking when None); True when the
        imported document is open."""
        if source is None:
            chosen, _ = QFileDialog.getOpenFileName(self.window, "Import model", self.files.last_directory(),
                                                    MODEL_FILTER)
            if not chosen:
                return False
            source = chosen
        path = Path(source)
        if path.suffix.lower() != ".onnx":
            QMessageBox.critical(self.window, "Could not import the model",
                                 f"{path.name} is not an ONNX file (.onnx). Export the model to ONNX first; PyTorch "
                                 "modules import with netbuilder import module.py:ClassName.")
            return False
        result = self._import(path)
        if result is None:
            return False
        if target is None:
            suggested = Path(self.files.last_directory()) / f"{path.stem}.nbg"
            chosen, _ = QFileDialog.getSaveFileName(self.window, "Save the imported network", str(suggested),
                                                    DOCUMENT_FILTER)
            if not chosen:
                self.files.message.emit("Import cancelled; nothing was written.")
                return False
            target = chosen
        document_file = Path(target).with_suffix(".nbg")
        if not self._save(result, document_file):
            return False
        if not self.files.open(document_file):
            return False
        text = f"{result.summary()}\n\nSaved as {document_file.name}, with its weights in " \
               f"{document_file.with_suffix('.safetensors').name}; training starts from them."
        if result.parity is None or result.parity.ok:
            QMessageBox.information(self.window, "Model imported", text)
        else:
            QMessageBox.warning(self.window, "Model imported, but it differs", text)
        self.files.message.emit(f"Imported {path.name}: {result.layer_count} layers")
        return True

    def _import(self, path: Path) -> Any:
        def work(step: Step) -> Any:
            from netbuilder.importers import import_onnx

            return import_onnx(path, step=step)

        from netbuilder.importers import ModelImportError, UnsupportedOpsError

        try:
            return run_with_progress(self.window, "Importing the model…", work)
        except Cancelled:
            self.files.message.emit("Import cancelled; nothing was written.")
        except UnsupportedOpsError as error:
            box = QMessageBox(QMessageBox.Icon.Warning, "The model uses operations NetBuilder lacks",
                              f"{path.name} cannot be imported: "
                              f"{sum(op.count for op in error.ops)} operation(s) of {len(error.ops)} type(s) have no "
                              "NetBuilder layer. Nothing was written.", QMessageBox.StandardButton.Ok, self.window)
            box.setDetailedText(str(error))
            box.setInformativeText("\n".join(op.describe(3) for op in error.ops[:8]))
            box.exec()
        except ModelImportError as error:
            QMessageBox.critical(self.window, "Could not import the model", str(error))
        except Exception as error:  # noqa: BLE001  a bug in an import rule must not reach the user as a traceback
            QMessageBox.critical(self.window, "Could not import the model",
                                 f"{path.name}: unexpected {type(error).__name__}: {_first_line(error)}")
        return None

    def _save(self, result: Any, document_file: Path) -> bool:
        from netbuilder.importers import save_import
        from netbuilder.io import SaveError

        try:
            run_with_progress(self.window, "Saving the imported network…",
                              lambda step: save_import(result, document_file))
        except Cancelled:
            self.files.message.emit("Import cancelled; nothing was written.")
            return False
        except (SaveError, OSError) as error:
            QMessageBox.critical(self.window, "Could not save the imported network", str(error))
            return False
        return True
