"""Exporting a trained network: which finished run to take the weights from, and whether to bake its preprocessing.

A network trained in NetBuilder expects inputs scaled the way its training data was (the run's
``preprocessing.json``), so an ONNX file or PyTorch module exported without that scaling silently gives wrong
answers on data as users have it. When the network has a finished run, File > Export asks (`ExportOptionsDialog`)
which run to use and whether to bake its preprocessing into the exported model (yes by default), naming what the
preprocessing does; the finished message then says which was done. With no run, the export is the bare network.

`trained_export` is the part that runs on the export's worker thread: it never touches Qt.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

RAW_INPUT = "No preprocessing: the model takes the network's raw input, as the Input node declares it."


@dataclass(frozen=True)
class ExportRun:
    """A finished training run of the network as it is now, which an export can take its weights from."""

    run: Any  # netbuilder.train.Run
    preprocessing: Any  # netbuilder.data.preprocess.Preprocessing, or None when the run has none
    problem: str = ""  # why preprocessing.json could not be read

    @property
    def name(self) -> str:
        return str(self.run.name)

    @property
    def path(self) -> Path:
        return Path(self.run.path)

    @property
    def bakeable(self) -> bool:
        """Whether there is input or target scaling to bake (a vocabulary alone changes nothing in the graph)."""
        pre = self.preprocessing
        return pre is not None and (pre.inputs is not None or pre.targets is not None)

    def label(self) -> str:
        """One line for the run chooser: name, status, epochs and the headline metric."""
        metrics = self.run.final_metrics
        parts = [self.run.status, f"{len(self.run.metrics)} epoch{'s' * (len(self.run.metrics) != 1)}"]
        if isinstance(metrics.get("val_accuracy"), int | float):
            parts.append(f"val accuracy {metrics['val_accuracy']:.1%}")
        elif isinstance(metrics.get("val_loss"), int | float):
            parts.append(f"val loss {metrics['val_loss']:.4g}")
        return f"{self.name} ({', '.join(parts)})"


@dataclass(frozen=True)
class ExportChoice:
    """What the user chose: the run whose weights to export (None: the untrained network) and whether to bake."""

    run: ExportRun | None
    bake: bool
    declined_run: bool = False  # there was a finished run, and the user asked for the untrained network


def describe_preprocessing(pre: Any) -> str:
    """What a run's preprocessing does, in the words a user checks against their data."""
    if pre is None or (pre.inputs is None and pre.targets is None):
        return "This run has no preprocessing: its network takes the data as it is."
    lines = []
    if pre.inputs is not None:
        affine = pre.inputs
        units = pre.units or "the data as given"
        if affine.kind == "range" and pre.output_range is not None:
            low, high = pre.output_range
            what = f"mapped onto the generator's range [{low:g}, {high:g}]"
        else:
            over = {"channel": "per channel", "column": "per column", "all": "over all values"}.get(affine.axis,
                                                                                                  affine.axis)
            what = f"standardised {over}"
            if affine.shift.numel() == 1:
                what += f" (mean {float(affine.shift.reshape(-1)[0]):.4g}, std {float(affine.scale.reshape(-1)[0]):.4g})"
            else:
                what += f" ({affine.shift.numel()} means and stds)"
        lines.append(f"Inputs: {units}, {what}.")
    if pre.targets is not None:
        lines.append("Regression outputs: turned back from standardised values into the target's own units.")
    return "\n".join(lines)


def export_runs(window: QWidget, document: Any) -> tuple[list[ExportRun], int]:
    """The finished runs of ``document`` as it is now (same graph), from the run list the Training UI keeps, and
    the one to offer first: the run selected in Results > Runs when it is one of them, else the newest."""
    training = getattr(window, "training_ui", None)
    view = getattr(getattr(training, "results", None), "runs", None)
    if view is None:
        return [], 0
    from netbuilder.train import RunError, graph_hash
    from netbuilder.train.runs import read_preprocessing

    try:
        current = graph_hash(document)
    except Exception:  # noqa: BLE001 - a document that cannot be hashed has no matching run
        return [], 0
    found: list[ExportRun] = []
    for run in reversed(view.runs):  # newest first
        if not run.finished or run.graph_sha256 != current:
            continue
        try:
            found.append(ExportRun(run, read_preprocessing(run.path)))
        except RunError as error:
            found.append(ExportRun(run, None, str(error)))
    chosen = view.selected_rows()  # the run selected in the Runs view, if any, is offered first
    selected = str(chosen[0].run.path) if chosen else ""
    first = next((i for i, entry in enumerate(found) if str(entry.path) == selected), 0)
    return found, first


class ExportOptionsDialog(QDialog):
    """Asks which finished run to export and whether to bake its preprocessing into the model."""

    def __init__(self, parent: QWidget | None, what: str, network: str, runs: list[ExportRun], first: int = 0):
        super().__init__(parent)
        self.setWindowTitle(f"Export {what}")
        self.setObjectName("exportOptions")
        self.runs = runs
        self.untrained = False
        layout = QVBoxLayout(self)
        count = len(runs)
        heading = QLabel(f"“{network}” has {'a finished training run' if count == 1 else f'{count} finished training runs'}. "
                         "The export uses its trained weights.")
        heading.setWordWrap(True)
        layout.addWidget(heading)
        form = QFormLayout()
        self.run_box = QComboBox()
        self.run_box.setObjectName("exportRun")
        for entry in runs:
            self.run_box.addItem(entry.label())
        self.run_box.setCurrentIndex(max(0, min(first, count - 1)))
        self.run_box.setEnabled(count > 1)
        form.addRow("Training run:", self.run_box)
        layout.addLayout(form)
        self.bake_box = QCheckBox("Include the run's preprocessing in the exported model")
        self.bake_box.setObjectName("bakePreprocessing")
        self.bake_box.setChecked(True)
        layout.addWidget(self.bake_box)
        self.detail = QLabel()
        self.detail.setObjectName("bakeDetail")
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.detail)
        buttons = QDialogButtonBox()
        self.export_button = buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.untrained_button: QPushButton = buttons.addButton("Untrained Network",
                                                               QDialogButtonBox.ButtonRole.ActionRole)
        self.untrained_button.setToolTip("Export the network with freshly initialised weights, without the run.")
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.export_button.setDefault(True)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.untrained_button.clicked.connect(self._export_untrained)
        layout.addWidget(buttons)
        self.run_box.currentIndexChanged.connect(lambda _i: self._sync())
        self.bake_box.toggled.connect(lambda _on: self._sync())
        self._sync()

    @property
    def current(self) -> ExportRun | None:
        index = self.run_box.currentIndex()
        return self.runs[index] if 0 <= index < len(self.runs) else None

    def _sync(self) -> None:
        entry = self.current
        if entry is None:
            return
        self.run_box.setToolTip(str(entry.path))
        if entry.problem:
            self.bake_box.setEnabled(False)
            self.detail.setText(f"Its preprocessing cannot be baked in: {entry.problem}")
            return
        self.bake_box.setEnabled(entry.bakeable)
        if not entry.bakeable:
            self.detail.setText(describe_preprocessing(entry.preprocessing))
        elif self.bake_box.isChecked():
            self.detail.setText(describe_preprocessing(entry.preprocessing) + "\nThe exported model does this "
                                "itself: feed it data in those units.")
        else:
            self.detail.setText(describe_preprocessing(entry.preprocessing) + "\nNot included: the exported model "
                                "takes the network's raw input, so apply this yourself (the run's "
                                "preprocessing.json).")

    def _export_untrained(self) -> None:
        self.untrained = True
        self.accept()

    def choice(self) -> ExportChoice:
        """The choice the dialog shows now (read after it was accepted)."""
        entry = self.current
        if self.untrained or entry is None:
            return ExportChoice(None, False, declined_run=True)
        return ExportChoice(entry, bool(self.bake_box.isEnabled() and self.bake_box.isChecked()))


def ask_export_options(parent: QWidget | None, what: str, network: str, runs: list[ExportRun],
                       first: int = 0) -> ExportChoice | None:
    """Show `ExportOptionsDialog`; None when the user cancelled."""
    dialog = ExportOptionsDialog(parent, what, network, runs, first)
    try:
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        return dialog.choice()
    finally:
        dialog.deleteLater()


AskExport = Callable[[str, str, list[ExportRun], int], "ExportChoice | None"]


# ---- on the worker thread ----------------------------------------------------------------------------------

@dataclass
class TrainedExport:
    """A network compiled with a run's weights, ready for an exporter, and what the finished message says."""

    module: Any  # what export_onnx takes: the compiled network, or it wrapped with the preprocessing
    bare: Any  # the compiled network alone (PyTorch code is written from it)
    plan: Any  # netbuilder.export.preprocessing.BakePlan, or None when not baking
    units: str
    weights: str  # e.g. "run “…”, final weights (epoch 3)"
    weights_file: Path | None  # a safetensors file that loads into the generated PyTorch module
    preprocessing: str  # what was done about preprocessing, in one line


def trained_export(network: Any, entry: ExportRun, bake: bool, gan: bool,
                   step: Callable[[str], None]) -> TrainedExport:
    """Compile ``network``, load the run's final weights (its best checkpoint when it has none) and, with
    ``bake``, wrap it with the run's preprocessing. Raises ExportError in plain words."""
    from netbuilder.compile import CompileError, compile_network
    from netbuilder.export import ExportError
    from netbuilder.export.preprocessing import bake as bake_into
    from netbuilder.export.preprocessing import not_baked, plan
    from netbuilder.train import RunError

    step(f"Loading the weights of run {entry.name}…")
    try:
        try:
            chosen = entry.run.choose_weights("final")
        except RunError:
            chosen = entry.run.choose_weights("best", strict=False)
    except RunError as error:
        raise ExportError(str(error)) from None
    state = chosen.weights.get(network.name)
    if state is None and len(chosen.weights) == 1:
        state = next(iter(chosen.weights.values()))
    if state is None:
        raise ExportError(f"The run {entry.name} has no weights for network “{network.name}”: it trained "
                          f"{', '.join(chosen.weights) or 'nothing'}. Export that network, or train this one.")
    step("Compiling the network…")
    try:
        module = compile_network(network)
    except CompileError as error:
        raise ExportError(f"Cannot export: {error}") from None
    try:
        module.load_state_dict(state)
    except RuntimeError as error:
        detail = str(error).strip().splitlines()[-1].strip()
        raise ExportError(f"The weights of run {entry.name} do not fit “{network.name}” as it is now: {detail}. "
                          "Train it again, or export the untrained network.") from None
    module.eval()
    generator = gan and network.name == "generator"
    file = chosen.path / f"{network.name}.safetensors" if chosen.which == "final" else None
    weights = f"run “{entry.name}”, {chosen.describe()}"
    if chosen.note:
        weights += f" ({chosen.note})"
    pre = entry.preprocessing
    units = pre.units if pre is not None else ""
    if entry.problem:
        return TrainedExport(module, module, None, units, weights, file,
                             f"Preprocessing NOT baked in: {entry.problem} Apply the scaling the run trained with "
                             "yourself, or train again.")
    if not bake:
        return TrainedExport(module, module, None, units, weights, file, not_baked(pre))
    wrapped, text = bake_into(module, pre, generator)
    chosen_plan = plan(module.netbuilder, pre, generator)
    return TrainedExport(wrapped, module, chosen_plan, units, weights, file, text)
