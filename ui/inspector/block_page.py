"""The block pages: a block node (its name, the values of its block parameters, Open and Make unique) and an
opened block definition (what it declares and where it is used).

A block node's parameters are edited like a layer's (one SetParams command each, editors chosen by kind): the
definition's spec declares them, so the same editors and checks apply."""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout

from netbuilder.analysis import Analysis
from netbuilder.document import DocumentError, Node
from netbuilder.document.blocks import BLOCK_CATEGORY, BLOCK_PARAM_KINDS, BLOCK_TYPE
from netbuilder.specs import Param, ParamError, ParamKind
from netbuilder_ui.inspector.editors import Field, LineEdit
from netbuilder_ui.inspector.network_page import NetworkPage, network_subtitle
from netbuilder_ui.inspector.node_page import NodePage
from netbuilder_ui.inspector.page import DocLabel


def block_users(document: Any, block: str) -> list[tuple[str, Node]]:
    """(network, node) for every block node using ``block``, in the networks and in other definitions."""
    found = []
    networks = list(document.networks.values()) + [d.network for d in document.blocks.values()]
    for net in networks:
        found += [(net.name, node) for node in net.nodes if node.type == BLOCK_TYPE and node.block == block]
    return found


class BlockNodePage(NodePage):
    """One block node: as a layer page, with the block's parameters and buttons to open it or fork it."""

    def build(self, layout: QVBoxLayout) -> None:
        net = self.qt_doc.document.network(self.network_name)
        node = net.node(self.node_id)
        definition = self.qt_doc.document.blocks[node.block]
        users = len(block_users(self.qt_doc.document, node.block))
        self.header(layout, node.name, self._subtitle(node.block, users), BLOCK_CATEGORY,
                    ("Output", "Parameters", "Multiply-adds", "Trainable"))
        if definition.doc:
            layout.addWidget(DocLabel(definition.doc))
        self.build_name(layout, node, "Block node")
        form = self.form()
        layout.addLayout(form)
        self.block_edit = self.line_field(form, "block", "blockName", node.block, self._commit_block_name,
                                          "The block's name (a class name in exported code, e.g. BasicBlock); "
                                          "renaming it renames it for every node that uses it.")
        buttons = QHBoxLayout()
        self.open_button = QPushButton("Open block")
        self.open_button.setObjectName("openBlock")
        self.open_button.setToolTip(f"Edit {node.block} (double-click the node does the same). Changes apply to "
                                    f"every {node.block} node.")
        self.open_button.clicked.connect(self._open)
        self.unique_button = QPushButton("Make unique")
        self.unique_button.setObjectName("makeUnique")
        self.unique_button.setToolTip(f"Give {node.name} its own copy of {node.block}, so editing it leaves the "
                                      "other nodes as they are.")
        self.unique_button.setEnabled(users > 1)
        self.unique_button.clicked.connect(self._make_unique)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.unique_button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self.message = QLabel()
        self.message.setObjectName("fieldError")
        self.message.setWordWrap(True)
        self.message.hide()
        layout.addWidget(self.message)

        form = self.section(layout, f"{node.block} parameters")
        if not definition.params:
            none = QLabel(f"{node.block} declares no parameters: every {node.block} node is the same.")
            none.setObjectName("hint")
            none.setWordWrap(True)
            form.addRow(none)
        from netbuilder_ui.inspector.editors import make_editor

        for param in definition.params:
            editor = make_editor(param, self._param_committer(net.name, node.id, param), self.inspector)
            editor.set_value(node.params.get(param.name, param.default))
            self.add_param_field(form, editor)
        self.build_training(layout, node)

    def refresh_analysis(self, analysis: Analysis) -> None:
        super().refresh_analysis(analysis)
        node = self.node
        if node is None or node.block not in self.qt_doc.document.blocks:
            return
        users = len(block_users(self.qt_doc.document, node.block))  # instances come and go in other networks
        self.unique_button.setEnabled(users > 1)
        if self.subtitle is not None:
            self.subtitle.setText(self._subtitle(node.block, users))

    def _subtitle(self, block: str, users: int) -> str:
        layers = len(self.qt_doc.document.blocks[block].network)
        return (f"Block · {layers} layer{'s' * (layers != 1)} · "
                f"{'used once' if users == 1 else f'used by {users} nodes'}")

    def node_changed(self, node_id: str, field: str) -> bool:
        if field == "block":  # made unique, or its definition renamed: the page names the block
            return True
        return super().node_changed(node_id, field)

    def _commit_block_name(self) -> None:
        from netbuilder.document.block_commands import RenameBlock

        node, edit = self.node, self.block_edit
        if node is None or edit.text().strip() == node.block:
            self.fields["block"].set_input_error("")
            return
        try:
            self.qt_doc.execute(RenameBlock(node.block, edit.text().strip()))
        except (DocumentError, ParamError) as error:
            self.fields["block"].set_input_error(str(error))

    def commit_pending(self) -> None:
        super().commit_pending()
        if self.block_edit.text() != self.block_edit.shown:
            self._commit_block_name()

    def forget_pending(self) -> None:
        super().forget_pending()
        self.block_edit.show_text(self.block_edit.shown)

    def _open(self) -> None:
        self.inspector.openBlockRequested.emit(self.network_name, self.node_id)

    def _make_unique(self) -> None:
        from netbuilder.document.block_commands import MakeUnique

        try:
            self.qt_doc.execute(MakeUnique(self.network_name, self.node_id))
        except (DocumentError, ParamError) as error:
            self.message.setText(str(error))
            self.message.show()


class InnerNodePage(NodePage):
    """A layer inside an opened block definition: the layer page, plus which parameters take their value from
    the block's parameters (``filters``, ``filters * 4``). A bound parameter's own editor is disabled: its value
    comes from each block node."""

    def build(self, layout: QVBoxLayout) -> None:
        super().build(layout)
        node = self.node
        if node is None:
            return
        spec = node.spec
        definition = self.qt_doc.document.blocks[self.network_name]
        self.binding_edits: dict[str, LineEdit] = {}
        if not spec.params:
            return
        names = ", ".join(p.name for p in definition.params) or "none yet"
        self.section_title(layout, "From the block's parameters")
        hint = QLabel(f"Type a block parameter ({html.escape(names)}) or a sum of them, e.g. filters * 2; "
                      "empty keeps the layer's own value.")
        hint.setObjectName("hint")
        hint.setWordWrap(True)
        layout.addWidget(hint)
        form = self.form()
        layout.addLayout(form)
        for param in spec.params:
            edit = LineEdit()
            edit.setObjectName(f"bind_{param.name}")
            edit.setPlaceholderText("own value")
            edit.show_text(node.bindings.get(param.name, ""))
            field = Field(edit)
            self.fields[f"bind:{param.name}"] = field
            self.binding_edits[param.name] = edit
            edit.editingFinished.connect(lambda name=param.name: self._commit_binding(name))
            edit.reverted.connect(lambda f=field: f.set_input_error(""))
            form.addRow(self.form_label(param.title, f"Bind {param.name} to the block's parameters."), field)
        self._show_bound()

    def _show_bound(self) -> None:
        node = self.node
        if node is None:
            return
        for name, editor in self.editors.items():
            bound = node.bindings.get(name)
            editor.widget.setEnabled(bound is None)
            if bound is not None:
                editor.widget.setToolTip(f"Set by the block: {name} = {bound}. Clear it below to set it here.")

    def refresh_values(self) -> None:
        super().refresh_values()
        node = self.node
        if node is None:
            return
        for name, edit in getattr(self, "binding_edits", {}).items():
            if not self.fields[f"bind:{name}"].input_error:
                edit.show_text(node.bindings.get(name, ""))
        self._show_bound()

    def _commit_binding(self, name: str) -> None:
        from netbuilder.document.block_commands import BindParam

        node, edit = self.node, self.binding_edits.get(name)
        if node is None or edit is None:
            return
        text = edit.text().strip()
        field = self.fields[f"bind:{name}"]
        if text == node.bindings.get(name, ""):
            field.set_input_error("")
            return
        try:
            self.qt_doc.execute(BindParam(self.network_name, node.id, name, text or None))
        except (DocumentError, ParamError) as error:
            field.set_input_error(str(error))
        else:
            field.set_input_error("")

    def commit_pending(self) -> None:
        super().commit_pending()
        for name, edit in list(getattr(self, "binding_edits", {}).items()):
            if edit.text() != edit.shown:
                self._commit_binding(name)

    def forget_pending(self) -> None:
        super().forget_pending()
        self.binding_edits = {}


class BlockDefinitionPage(NetworkPage):
    """An opened block definition with nothing selected: its parameters, ports, layers and users."""

    def build(self, layout: QVBoxLayout) -> None:
        doc = self.qt_doc.document
        definition = doc.blocks[self.network_name]
        net = definition.network
        users = block_users(doc, definition.name)
        self.header(layout, definition.name, "Block definition · " + network_subtitle(net).split(" · ", 1)[1],
                    BLOCK_CATEGORY, ("Parameters", "Trainable", "Multiply-adds", "Validation"))
        about = QLabel(f"Edits here apply to every {html.escape(definition.name)} node "
                       f"({len(users)} in this document). Esc goes back.")
        about.setObjectName("specDoc")
        about.setWordWrap(True)
        layout.addWidget(about)
        self._build_params(layout, definition)
        for section in ("Inputs", "Outputs"):
            form = self.section(layout, section)
            label = QLabel()
            label.setObjectName("ioList")
            label.setWordWrap(True)
            self.info_labels[section] = label
            form.addRow(label)
        if users:
            form = self.section(layout, "Used by")
            names = ", ".join(f"{html.escape(node.name)} <span style='color:#6b7480'>({html.escape(net_name)})"
                              "</span>" for net_name, node in users[:12])
            used = QLabel(names + (" …" if len(users) > 12 else ""))
            used.setWordWrap(True)
            form.addRow(used)

    def _build_params(self, layout: QVBoxLayout, definition: Any) -> None:
        """The declared parameters, each with Remove, and a row to declare a new one (one SetBlockParams)."""
        form = self.section(layout, "Block parameters")
        if not definition.params:
            none = QLabel("None yet: every node of this block is the same. Declare one below, then bind layer "
                          "parameters to it (select a layer).")
            none.setObjectName("hint")
            none.setWordWrap(True)
            form.addRow(none)
        for param in definition.params:
            row = QHBoxLayout()
            text = QLabel(f"<b>{html.escape(param.name)}</b> <span style='color:#6b7480'>{param.kind.value}, "
                          f"default {html.escape(param.format(param.default))}</span>")
            row.addWidget(text, 1)
            remove = QPushButton("Remove")
            remove.setObjectName(f"removeParam_{param.name}")
            remove.setToolTip(f"Stop declaring {param.name} (refused while a layer inside still reads it).")
            remove.clicked.connect(lambda _checked=False, n=param.name: self._remove_param(n))
            row.addWidget(remove)
            form.addRow(row)
        add = QHBoxLayout()
        self.new_name = LineEdit()
        self.new_name.setObjectName("newParamName")
        self.new_name.setPlaceholderText("name, e.g. filters")
        self.new_kind = QComboBox()
        self.new_kind.setObjectName("newParamKind")
        for kind in BLOCK_PARAM_KINDS:
            if kind is not ParamKind.CHOICE:  # a choice needs its list of choices: declared in a script or file
                self.new_kind.addItem(kind.value, kind)
        self.new_default = LineEdit()
        self.new_default.setObjectName("newParamDefault")
        self.new_default.setPlaceholderText("default")
        button = QPushButton("Add")
        button.setObjectName("addParam")
        button.clicked.connect(self._add_param)
        self.new_default.returnPressed.connect(self._add_param)
        add.addWidget(self.new_name, 2)
        add.addWidget(self.new_kind, 1)
        add.addWidget(self.new_default, 1)
        add.addWidget(button)
        form.addRow(add)
        self.param_message = QLabel()
        self.param_message.setObjectName("fieldError")
        self.param_message.setWordWrap(True)
        self.param_message.hide()
        form.addRow(self.param_message)

    def _declare(self, params: list[Param]) -> bool:
        from netbuilder.document.block_commands import SetBlockParams

        try:
            self.qt_doc.execute(SetBlockParams(self.network_name, params))
        except (DocumentError, ParamError) as error:
            self.param_message.setText(str(error))
            self.param_message.show()
            return False
        return True

    def _add_param(self) -> None:
        definition = self.qt_doc.document.blocks.get(self.network_name)
        if definition is None:
            return
        name, kind = self.new_name.text().strip(), ParamKind(self.new_kind.currentData())
        try:
            default = Param(name or "value", kind, None).coerce(self.new_default.text().strip())
        except ParamError as error:
            self.param_message.setText(f"Default: {error}")
            self.param_message.show()
            return
        self._declare([*definition.params, Param(name, kind, default)])

    def _remove_param(self, name: str) -> None:
        definition = self.qt_doc.document.blocks.get(self.network_name)
        if definition is not None:
            self._declare([p for p in definition.params if p.name != name])

    def analysis_changed(self) -> None:
        net = self.inspector.network
        if net is not None and self.subtitle is not None:
            self.subtitle.setText("Block definition · " + network_subtitle(net).split(" · ", 1)[1])
