"""The node pages: one layer (name, parameters, training options) or several layers at once (freeze or
unfreeze them together). Every change is one command pushed through ``QtDocument.execute``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QFormLayout, QLabel, QVBoxLayout, QWidget

from netbuilder.analysis import Analysis, Diagnostic
from netbuilder.document import DocumentError, Macro, Network, Node, RenameNode, SetNodeOptions, SetParams
from netbuilder.document.model import check_node_options
from netbuilder.specs import Param, ParamError
from netbuilder_ui.inspector.editors import Field, LineEdit, make_editor
from netbuilder_ui.inspector.page import DocLabel, Page, count_text, diag_text, format_number

OPTION_LABELS = {
    "lr_mult": "LR multiplier",
    "l1": "L1 penalty",
    "l2": "L2 penalty",
}
OPTION_DOCS = {
    "trainable": "Untick to freeze this layer: its weights are not updated during training (transfer "
                 "learning).",
    "lr_mult": "Multiplies the learning rate for this layer's weights; 0.1 fine-tunes gently, 0 freezes.",
    "l1": "Adds this factor times the sum of absolute weights to the loss; pushes weights to exactly zero.",
    "l2": "Adds this factor times the sum of squared weights to the loss (weight decay for this layer).",
}


class NodePage(Page):
    """One layer: its name, its parameters (editors by kind) and its training options."""

    def __init__(self, inspector: Any, net: Network, node: Node):
        super().__init__(inspector)
        self.network_name = net.name
        self.node_id = node.id
        self.training: QWidget | None = None
        self.no_weights: QLabel | None = None

    @property
    def node(self) -> Node | None:
        return self.inspector.node

    # ---- building ------------------------------------------------------------------------------------------
    def build(self, layout: QVBoxLayout) -> None:
        net = self.qt_doc.document.network(self.network_name)
        node = net.node(self.node_id)
        spec = node.spec
        self.header(layout, node.name, f"{spec.title} · {spec.category}", spec.category,
                    ("Output", "Parameters", "Multiply-adds", "Trainable"))
        layout.addWidget(DocLabel(spec.doc))
        self.build_name(layout, node, "Layer")
        form = self.section(layout, "Parameters")
        if not spec.params:
            none = QLabel("This layer has no parameters to set.")
            none.setObjectName("hint")
            form.addRow(none)
        for param in spec.params:
            editor = make_editor(param, self._param_committer(net.name, node.id, param), self.inspector)
            editor.set_value(node.params.get(param.name, param.default))
            self.add_param_field(form, editor)
        self.build_training(layout, node)

    def build_name(self, layout: QVBoxLayout, node: Node, section: str) -> None:
        form = self.section(layout, section)
        self.name_edit = self.line_field(form, "name", "nodeName", node.name, self._commit_name,
                                         "The layer's name: used in diagnostics, exported code and ONNX. Letters, "
                                         "digits and _; unique in the network.")
        self.name_edit.textEdited.connect(self._check_name)

    def line_field(self, form: QFormLayout, key: str, object_name: str, text: str, commit: Callable[[], None],
                   tip: str) -> LineEdit:
        """A text row (the node's name, a block's name): committed when editing finishes, its error cleared when
        Escape reverts it; its Field kept in ``fields[key]``."""
        edit = LineEdit()
        edit.setObjectName(object_name)
        edit.show_text(text)
        edit.setToolTip(tip)
        field = Field(edit)
        self.fields[key] = field
        edit.editingFinished.connect(commit)
        edit.reverted.connect(lambda: field.set_input_error(""))
        form.addRow(self.form_label(key.capitalize(), tip), field)
        return edit

    def build_training(self, layout: QVBoxLayout, node: Node) -> None:
        self.section_title(layout, "Training")
        self.no_weights = QLabel("This layer has no weights, so there is nothing to train or regularise.")
        self.no_weights.setObjectName("hint")
        self.no_weights.setWordWrap(True)
        self.no_weights.hide()
        layout.addWidget(self.no_weights)
        self.training = QWidget()
        form = self.form(self.training)
        layout.addWidget(self.training)
        self.trainable_box = QCheckBox("Update weights")
        self.trainable_box.setObjectName("option_trainable")
        self.trainable_box.setToolTip(OPTION_DOCS["trainable"])
        self.trainable_box.setChecked(node.trainable)
        self.trainable_box.toggled.connect(self._commit_trainable)
        form.addRow(self.form_label("Trainable", OPTION_DOCS["trainable"]), self.trainable_box)
        for key, label in OPTION_LABELS.items():
            edit = LineEdit()
            edit.setObjectName(f"option_{key}")
            edit.setToolTip(OPTION_DOCS[key])
            edit.show_text(format_number(getattr(node, key)))
            field = Field(edit)
            self.option_edits[key] = edit
            self.fields[key] = field
            edit.editingFinished.connect(lambda k=key: self._commit_option(k))
            edit.reverted.connect(lambda f=field: f.set_input_error(""))
            form.addRow(self.form_label(label, OPTION_DOCS[key]), field)

    # ---- refreshing ----------------------------------------------------------------------------------------
    def refresh_analysis(self, analysis: Analysis) -> None:
        net = self.inspector.network
        node = net.node(self.node_id)
        info = analysis.nodes.get(node.id)
        out = ", ".join(str(t) for t in info.outputs.values()) if info and info.outputs else "–"
        self.set_stat("Output", out)
        self.set_stat("Parameters", count_text(info.params) if info and info.outputs else "–")
        self.set_stat("Multiply-adds", count_text(info.macs) if info and info.outputs else "–")
        has_weights = not (info and info.outputs and info.params == 0)
        trainable = ("yes" if node.trainable else "frozen") if has_weights else "no weights"
        self.set_stat("Trainable", trainable)
        if self.training is not None and self.no_weights is not None:
            self.training.setVisible(has_weights)
            self.no_weights.setVisible(not has_weights)
        diagnostics: list[Diagnostic] = list(info.diagnostics) if info else []
        diagnostics += [d for d in analysis.diagnostics if d.node_id == node.id and d not in diagnostics]
        if info and info.blocked and not diagnostics:
            waiting = "Waiting for a problem upstream to be fixed before its shape is known."
            diagnostics = [Diagnostic(waiting, net.name, node.id, node.name, severity="warning")]
        by_param = {d.param: d for d in diagnostics if d.param}
        for name, field in self.fields.items():
            diag = by_param.get(name)
            field.set_diagnostic(diag_text(diag) if diag else "")
        self.show_diagnostics(diagnostics)

    def refresh_values(self) -> None:
        node = self.node
        if node is None:
            return
        if self.title is not None:
            self.title.setText(node.name)
        if self.name_edit is not None and not self.fields["name"].input_error:
            self.name_edit.show_text(node.name)
        for name, editor in self.editors.items():
            editor.set_value(node.params.get(name, editor.param.default))
            self.fields[name].set_input_error("")
        if self.trainable_box is not None:
            blocked = self.trainable_box.blockSignals(True)
            self.trainable_box.setChecked(node.trainable)
            self.trainable_box.blockSignals(blocked)
        for key, edit in self.option_edits.items():
            edit.show_text(format_number(getattr(node, key)))
            self.fields[key].set_input_error("")

    def node_changed(self, node_id: str, field: str) -> bool:
        if field == "name":
            self.fields["name"].set_input_error("")
        self.refresh_values()
        return False

    # ---- committing edits ----------------------------------------------------------------------------------
    def _param_committer(self, network: str, node_id: str, param: Param) -> Callable[[Any], None]:
        def commit(raw: Any) -> None:
            self._commit_param(network, node_id, param, raw)
        return commit

    def _commit_param(self, network: str, node_id: str, param: Param, raw: Any) -> None:
        field = self.fields.get(param.name) if node_id in self.inspector.node_ids else None
        try:
            value = param.coerce(raw)
            node = self.qt_doc.document.network(network).node(node_id)
            if value == node.params.get(param.name):
                if field is not None:
                    field.set_input_error("")
                    self.editors[param.name].set_value(value)  # show the canonical form, e.g. "3" -> "3, 3"
                return
            self.qt_doc.execute(SetParams(network, node_id, {param.name: value}))
        except (ParamError, DocumentError) as error:
            if field is not None:
                field.set_input_error(str(error))

    def _check_name(self, text: str) -> None:
        net, node = self.inspector.network, self.node
        if net is None or node is None:
            return
        try:
            net.check_name(text.strip(), node.id)
        except DocumentError as error:
            self.fields["name"].set_input_error(str(error))
        else:
            self.fields["name"].set_input_error("")

    def _commit_name(self) -> None:
        net, node, edit = self.inspector.network, self.node, self.name_edit
        if net is None or node is None or edit is None:
            return
        text = edit.text().strip()
        if text == node.name:
            self.fields["name"].set_input_error("")
            return
        try:
            self.qt_doc.execute(RenameNode(net.name, node.id, text))
        except (DocumentError, ParamError) as error:
            self.fields["name"].set_input_error(str(error))

    def _commit_trainable(self, checked: bool) -> None:
        net, node = self.inspector.network, self.node
        if net is None or node is None or node.trainable == checked:
            return
        self.qt_doc.execute(SetNodeOptions(net.name, node.id, {"trainable": bool(checked)}))

    def _commit_option(self, key: str) -> None:
        net, node = self.inspector.network, self.node
        edit = self.option_edits.get(key)
        if net is None or node is None or edit is None or edit.text() == edit.shown:
            return
        label = OPTION_LABELS[key]
        field = self.fields[key]
        try:
            try:
                value = float(edit.text().strip())
            except ValueError:
                typed = edit.text().strip()
                raise ParamError(f"{label} must be a number, such as 0.001; got {typed!r}.") from None
            try:
                check_node_options({key: value})
            except ParamError as error:
                raise ParamError(str(error).replace(key, label, 1)) from None
            if value == getattr(node, key):
                field.set_input_error("")
                edit.show_text(format_number(value))
                return
            self.qt_doc.execute(SetNodeOptions(net.name, node.id, {key: value}))
        except (ParamError, DocumentError) as error:
            field.set_input_error(str(error))

    def commit_pending(self) -> None:
        super().commit_pending()
        if self.name_edit is not None and self.name_edit.text() != self.name_edit.shown:
            self._commit_name()
        for key, edit in list(self.option_edits.items()):
            if edit.text() != edit.shown:
                self._commit_option(key)


class MultiNodePage(Page):
    """Several layers: their totals, and one switch that freezes or unfreezes them all (one undo step)."""

    def __init__(self, inspector: Any, net: Network, node_ids: list[str]):
        super().__init__(inspector)
        self.network_name = net.name
        self.node_ids = list(node_ids)

    def build(self, layout: QVBoxLayout) -> None:
        net = self.qt_doc.document.network(self.network_name)
        nodes = [net.node(i) for i in self.node_ids]
        names = ", ".join(n.name for n in nodes[:6]) + ("…" if len(nodes) > 6 else "")
        self.header(layout, f"{len(nodes)} layers selected", names, None, ("Parameters", "Multiply-adds"))
        form = self.section(layout, "Training")
        box = QCheckBox("Update weights")
        box.setObjectName("option_trainable")
        box.setToolTip("Freeze or unfreeze every selected layer at once (one undo step).")
        states = {n.trainable for n in nodes}
        box.setTristate(len(states) > 1)
        box.setCheckState(Qt.CheckState.PartiallyChecked if len(states) > 1 else
                          Qt.CheckState.Checked if states == {True} else Qt.CheckState.Unchecked)
        box.clicked.connect(self._commit_trainable_all)
        self.trainable_box = box
        form.addRow(self.form_label("Trainable", box.toolTip()), box)
        hint = QLabel("Select a single layer to edit its parameters.")
        hint.setObjectName("hint")
        hint.setWordWrap(True)
        layout.addWidget(hint)

    def refresh_analysis(self, analysis: Analysis) -> None:
        infos = [analysis.nodes.get(i) for i in self.node_ids]
        self.set_stat("Parameters", count_text(sum(i.params for i in infos if i)))
        self.set_stat("Multiply-adds", count_text(sum(i.macs for i in infos if i)))
        self.show_diagnostics([d for d in analysis.diagnostics if d.node_id in self.node_ids])

    def node_changed(self, node_id: str, field: str) -> bool:
        return field == "options"  # the tri-state switch is rebuilt from the nodes' new states

    def _commit_trainable_all(self) -> None:
        net, box = self.inspector.network, self.trainable_box
        if net is None or box is None:
            return
        wanted = box.checkState() != Qt.CheckState.Unchecked
        box.setTristate(False)
        box.setChecked(wanted)
        commands = [SetNodeOptions(net.name, i, {"trainable": wanted}) for i in self.node_ids
                    if net.node(i).trainable != wanted]
        if commands:
            verb = "Unfreeze" if wanted else "Freeze"
            self.qt_doc.execute(Macro(f"{verb} {len(commands)} layers", commands))
