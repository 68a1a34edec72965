"""Blocks in the app: Ctrl+G / Ctrl+Shift+G with undo, opening a block (double-click) and going back (breadcrumb,
Esc), dragging a block from the palette (document and library), editing block parameters and Make unique in the
inspector, and expanding / collapsing a block node in place."""

from __future__ import annotations

import pytest
from conftest import build_mlp
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import QSpinBox

from netbuilder.document import AddNode
from netbuilder.document.block_commands import AddBlockNode, BindParam, SetBlockParams
from netbuilder.io.block_library import save_block
from netbuilder.specs import Param, ParamKind
from netbuilder_ui.blocks.node_item import BlockNodeItem
from netbuilder_ui.palette import BLOCK_MIME, BLOCK_ROLE
from netbuilder_ui.qt_document import QtDocument


@pytest.fixture
def window(main_window, monkeypatch, tmp_path):
    monkeypatch.setenv("NETBUILDER_DATA_DIR", str(tmp_path / "data"))  # the block library: data/blocks
    main_window.qt_doc.set_document(build_mlp())
    main_window.qt_doc.flush()
    return main_window


NAME = "LinearBlock"  # what grouping hidden (Linear) and act (ReLU) names the block


def snapshot(qt_doc: QtDocument) -> tuple:
    """The document's networks and blocks as plain values (names, types, params, wires)."""
    doc = qt_doc.document
    nets = list(doc.networks.values()) + [d.network for d in doc.blocks.values()]
    return tuple((net.name, tuple(sorted((n.id, n.type, n.name, n.block, repr(n.params)) for n in net.nodes)),
                  tuple(sorted(w.key for w in net.wires))) for net in nets)


def node_named(qt_doc: QtDocument, name: str, network: str = "model"):
    return qt_doc.document.network(network).find(name)


def group(window, names: list[str]) -> str:
    """Select the layers by name and press Ctrl+G on the canvas; returns the block node's id."""
    view = window.current_view()
    view.select_nodes([node_named(window.qt_doc, n).id for n in names])
    view.setFocus()
    window.blocks.acts["group"].trigger()
    window.qt_doc.flush()
    ids = view.selected_node_ids()
    assert len(ids) == 1
    return ids[0]


def press(qtbot, window, key: Qt.Key, modifiers: Qt.KeyboardModifier) -> None:
    """A key press as the window system delivers it (so window shortcuts such as Ctrl+G apply)."""
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=3000)
    qtbot.keyClick(window.windowHandle(), key, modifiers)


def item_centre(view, node_id: str) -> QPoint:
    item = view.scene().node_items[node_id]
    g = item.visual.geometry
    return view.mapFromScene(item.mapToScene(QPointF(g.width / 3, g.height / 2)))


# ---- Group / Ungroup -----------------------------------------------------------------------------------------

def test_ctrl_g_groups_the_selection_and_undo_restores_the_document(qtbot, window):
    qt_doc = window.qt_doc
    before = snapshot(qt_doc)
    assert window.blocks.acts["group"].shortcut() == QKeySequence("Ctrl+G")
    view = window.current_view()
    view.select_nodes([node_named(qt_doc, "hidden").id, node_named(qt_doc, "act").id])
    view.setFocus()
    press(qtbot, window, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)
    qt_doc.flush()
    doc = qt_doc.document
    assert list(doc.blocks) == [NAME]
    net = doc.network("model")
    blocks = [n for n in net.nodes if n.type == "Block"]
    assert len(blocks) == 1 and view.selected_node_ids() == [blocks[0].id]
    assert {"hidden", "act"}.isdisjoint(n.name for n in net.nodes)
    assert isinstance(view.scene().node_items[blocks[0].id], BlockNodeItem)
    assert window.palette_panel.findChild(type(window.palette_panel.tree)) is not None
    assert "doc:LinearBlock" in window.blocks.palette_section.payloads()
    press(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qt_doc.flush()
    assert snapshot(qt_doc) == before
    assert window.blocks.palette_section.payloads() == []
    assert not any(isinstance(i, BlockNodeItem) for i in view.scene().node_items.values())


def test_snap_to_grid_moved_off_ctrl_g(window):
    assert window.acts["snap"].shortcut() != QKeySequence("Ctrl+G")
    keys = [a.shortcut() for a in window.actions() if not a.shortcut().isEmpty()]
    assert keys.count(QKeySequence("Ctrl+G")) == 1 and keys.count(QKeySequence("Ctrl+Shift+G")) == 1


def test_ctrl_shift_g_ungroups_and_undo_regroups(qtbot, window):
    qt_doc = window.qt_doc
    block_id = group(window, ["hidden", "act"])
    grouped = snapshot(qt_doc)
    view = window.current_view()
    view.select_nodes([block_id])
    press(qtbot, window, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    qt_doc.flush()
    net = qt_doc.document.network("model")
    assert net.find("hidden") is not None and net.find("act") is not None
    assert block_id not in net
    assert {net.node(i).name for i in view.selected_node_ids()} == {"hidden", "act"}
    qt_doc.undo_stack.undo()
    qt_doc.flush()
    assert snapshot(qt_doc) == grouped


def test_group_and_ungroup_without_a_selection_say_what_to_do(window):
    window.current_view().select_nodes([])
    window.blocks.acts["group"].trigger()
    assert "Select the layers" in window.statusBar().currentMessage()
    window.blocks.acts["ungroup"].trigger()
    assert "Select a block node" in window.statusBar().currentMessage()
    assert not window.qt_doc.document.blocks


# ---- open / edit / back ---------------------------------------------------------------------------------------

def test_double_click_opens_the_block_and_the_breadcrumb_goes_back(qtbot, window):
    qt_doc = window.qt_doc
    block_id = group(window, ["hidden", "act"])
    view = window.current_view()
    crumb = window.blocks.breadcrumb(view)
    assert not crumb.isVisible()
    qtbot.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=item_centre(view, block_id))
    qt_doc.flush()
    assert view.network == NAME and window.current_network() == NAME
    assert crumb.isVisible() and crumb.text() == f"model › {NAME}"
    assert window.inspector.network_name == NAME
    assert "Block definition" in window.inspector.header_text()
    # An edit inside applies to the definition, so every instance follows; it is one undo step.
    hidden = node_named(qt_doc, "hidden", NAME)
    view.select_nodes([hidden.id])
    spin = window.inspector.editors["units"].widget
    assert isinstance(spin, QSpinBox)
    spin.setValue(48)
    qt_doc.flush()
    assert qt_doc.document.blocks[NAME].network.node(hidden.id).params["units"] == 48
    assert "units" in qt_doc.undo_stack.undoText()
    # Back through the breadcrumb's first level: the block node we came from is selected.
    crumb.label.linkActivated.emit("0")
    assert view.network == "model" and not crumb.isVisible()
    assert view.selected_node_ids() == [block_id]
    assert window.inspector.node_ids == [block_id]


def test_escape_goes_up_one_level_and_undoing_the_group_leaves_the_block(qtbot, window):
    qt_doc = window.qt_doc
    block_id = group(window, ["hidden", "act"])
    view = window.current_view()
    assert window.blocks.open_block(view, block_id)
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_Escape)
    assert view.network == "model"
    qtbot.keyClick(view, Qt.Key.Key_Escape)  # at the top level Esc does nothing
    assert view.network == "model"
    # Undoing the group while the block is open takes the canvas back to the network that still exists.
    assert window.blocks.open_block(view, block_id)
    qt_doc.undo_stack.undo()
    qt_doc.flush()
    assert view.network == "model" and window.blocks.path(view) == ["model"]
    assert len(view.scene().node_items) == 5


def test_opening_a_layer_explains_there_is_nothing_inside(window):
    view = window.current_view()
    assert not window.blocks.open_block(view, node_named(window.qt_doc, "hidden").id)
    assert "is a layer, not a block" in window.statusBar().currentMessage()
    assert view.network == "model"


# ---- palette --------------------------------------------------------------------------------------------------

def drop(view, payload: str, pos: QPoint, kind: type = QDropEvent) -> QDropEvent:
    from PySide6.QtCore import QByteArray, QMimeData

    mime = QMimeData()
    mime.setData(BLOCK_MIME, QByteArray(payload.encode()))
    point = QPointF(pos) if kind is QDropEvent else pos
    event = kind(point, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    event._mime = mime  # keep the payload alive while the event is handled
    return event


def test_drag_a_block_from_the_palette_adds_an_instance(qtbot, window):
    qt_doc = window.qt_doc
    group(window, ["hidden", "act"])
    section = window.blocks.palette_section
    item = section.items["doc:LinearBlock"]
    assert item.data(0, BLOCK_ROLE) == "doc:LinearBlock" and "used 1×" in item.text(0)
    mime = window.palette_panel.tree.mimeData([item])
    assert mime.hasFormat(BLOCK_MIME) and bytes(mime.data(BLOCK_MIME).data()) == b"doc:LinearBlock"
    view = window.current_view()
    count = len(qt_doc.document.network("model"))
    enter = drop(view, "doc:LinearBlock", QPoint(200, 300), QDragEnterEvent)
    QApplication_send(view.viewport(), enter)
    assert enter.isAccepted()
    QApplication_send(view.viewport(), drop(view, "doc:LinearBlock", QPoint(200, 300)))
    qt_doc.flush()
    net = qt_doc.document.network("model")
    assert len(net) == count + 1, window.statusBar().currentMessage()
    added = net.node(view.selected_node_ids()[0])
    assert added.type == "Block" and added.block == NAME
    assert "used 2×" in window.blocks.palette_section.items["doc:LinearBlock"].text(0)
    qt_doc.undo_stack.undo()
    qt_doc.flush()
    assert len(qt_doc.document.network("model")) == count


def QApplication_send(target, event) -> None:  # noqa: N802 (reads like the Qt call it wraps)
    from PySide6.QtWidgets import QApplication

    QApplication.sendEvent(target, event)


def test_a_library_block_is_copied_into_another_document_in_one_undo_step(qtbot, window, tmp_path):
    qt_doc = window.qt_doc
    group(window, ["hidden", "act"])
    path = save_block(qt_doc.document, NAME)
    assert path.parent == tmp_path / "data" / "blocks" and path.exists()
    qt_doc.set_document(build_mlp())  # another document, without the block
    qt_doc.flush()
    payloads = window.blocks.palette_section.payloads()
    assert payloads == [f"lib:{path}"]
    window.blocks.palette_section.palette.search.setText("block")
    assert not window.blocks.palette_section.header.isHidden()
    window.blocks.palette_section.palette.search.setText("conv")
    assert window.blocks.palette_section.header.isHidden()
    window.blocks.palette_section.palette.search.setText("")
    node_id = window.blocks.add_block_to_current(payloads[0])
    qt_doc.flush()
    doc = qt_doc.document
    assert node_id is not None and NAME in doc.blocks
    assert doc.network("model").node(node_id).block == NAME
    assert {n.name for n in doc.blocks[NAME].network.nodes} >= {"hidden", "act"}
    qt_doc.undo_stack.undo()
    qt_doc.flush()
    assert not doc.blocks and node_id not in doc.network("model")


def test_a_broken_library_file_is_listed_greyed_out_with_its_reason(window, tmp_path):
    folder = tmp_path / "data" / "blocks"
    folder.mkdir(parents=True)
    (folder / "broken.nbg").write_text("{ not json")
    section = window.blocks.palette_section
    section.refresh()
    assert section.payloads() == []  # nothing to drag
    [item] = section.unreadable
    assert "broken.nbg" in item.text(0) and "cannot be used" in item.toolTip(0)
    assert not item.flags() & Qt.ItemFlag.ItemIsDragEnabled


# ---- inspector ------------------------------------------------------------------------------------------------

def parametrised_block(window) -> tuple[str, str]:
    """Group hidden+act into a block with a ``units`` parameter bound to hidden.units; (block node id, hidden id
    inside the block)."""
    qt_doc = window.qt_doc
    block_id = group(window, ["hidden", "act"])
    hidden = node_named(qt_doc, "hidden", NAME)
    qt_doc.execute(SetBlockParams(NAME, [Param("units", ParamKind.INT, 32, "Width of the hidden layer.",
                                                  minimum=1, maximum=4096)]))
    qt_doc.execute(BindParam(NAME, hidden.id, "units", "units"))
    qt_doc.flush()
    return block_id, hidden.id


def test_inspector_edits_a_block_parameter_with_one_undoable_command(qtbot, window):
    qt_doc = window.qt_doc
    block_id, _hidden = parametrised_block(window)
    view = window.current_view()
    view.select_nodes([])
    view.select_nodes([block_id])
    inspector = window.inspector
    assert "Block · 4 layers" in inspector.header_text()
    spin = inspector.editors["units"].widget
    assert isinstance(spin, QSpinBox) and spin.value() == 32
    assert spin.minimum() == 1 and spin.maximum() == 4096
    assert "Width of the hidden layer." in spin.toolTip()
    spin.setValue(96)
    qt_doc.flush()
    node = qt_doc.document.network("model").node(block_id)
    assert node.params["units"] == 96
    assert "units" in qt_doc.undo_stack.undoText()
    qt_doc.undo_stack.undo()
    qt_doc.flush()
    assert node.params["units"] == 32 and inspector.editors["units"].widget.value() == 32


def test_make_unique_forks_the_definition_for_one_node(qtbot, window):
    qt_doc = window.qt_doc
    block_id = group(window, ["hidden", "act"])
    qt_doc.execute(AddBlockNode("model", NAME, position=(300, 400)))
    qt_doc.flush()
    view = window.current_view()
    view.select_nodes([block_id])
    button = window.inspector.findChild(type(window.inspector.page.unique_button), "makeUnique")
    assert button is not None and button.isEnabled()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qt_doc.flush()
    node = qt_doc.document.network("model").node(block_id)
    assert node.block != NAME and node.block in qt_doc.document.blocks
    assert len(qt_doc.document.blocks) == 2
    assert node.block in window.inspector.header_text() or "used once" in window.inspector.header_text()
    qt_doc.undo_stack.undo()
    qt_doc.flush()
    assert node.block == NAME and list(qt_doc.document.blocks) == [NAME]


def test_inspector_open_block_button_opens_it_in_the_canvas(qtbot, window):
    block_id = group(window, ["hidden", "act"])
    button = window.inspector.findChild(type(window.inspector.page.open_button), "openBlock")
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    view = window.current_view()
    assert view.network == NAME and window.blocks.breadcrumb(view).text() == f"model › {NAME}"
    assert block_id  # the block node stays in the model


# ---- expand / collapse ----------------------------------------------------------------------------------------

def test_expand_and_collapse_in_place_moves_the_ports_and_wires(qtbot, window):
    qt_doc = window.qt_doc
    block_id = group(window, ["hidden", "act"])
    view = window.current_view()
    scene = view.scene()
    item = scene.node_items[block_id]
    before = snapshot(qt_doc)
    size = item.geometry_size
    out_wire = next(k for k in scene.wire_items if k[0] == block_id)
    start = scene.wire_items[out_wire].endpoints[0]
    window.blocks.acts["expand_block"].trigger()
    assert item.expanded and item.geometry_size[0] > size[0] and item.geometry_size[1] > size[1]
    assert scene.wire_items[out_wire].endpoints[0] != start  # the wire follows the output port
    assert item.zValue() > 1.0  # drawn over its neighbours
    # A view state of the document (saved, like positions): the network is unchanged, one undoable step is added.
    assert snapshot(qt_doc) == before and qt_doc.undo_stack.count() == 2
    assert qt_doc.document.network().node(block_id).expanded and qt_doc.undo_stack.undoText() == "Expand block1"
    # Editing the definition redraws the expanded inside.
    drawn = len(item._diagram.nodes)
    qt_doc.execute(AddNode(NAME, "Identity", position=(0, 300)))
    qt_doc.flush()
    assert len(item._diagram.nodes) == drawn + 1
    qt_doc.undo_stack.undo()
    qt_doc.flush()
    assert len(item._diagram.nodes) == drawn
    # The ▸ / ▾ button in the title band toggles too.
    corner = view.mapFromScene(item.mapToScene(item.toggle_rect().center()))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=corner)
    assert not item.expanded and item.geometry_size == size
    assert scene.wire_items[out_wire].endpoints[0] == start


def test_expanding_without_a_block_selected_says_so(window):
    view = window.current_view()
    view.select_nodes([node_named(window.qt_doc, "hidden").id])
    window.blocks.acts["expand_block"].trigger()
    assert "Select a block node" in window.statusBar().currentMessage()


def test_block_node_context_menu_offers_the_block_commands(window):
    block_id = group(window, ["hidden", "act"])
    view = window.current_view()
    item = view.scene().node_items[block_id]
    menu = view.context_menu(item.sceneBoundingRect().center())
    texts = [a.text().replace("&", "") for a in menu.actions() if not a.isSeparator()]
    for wanted in ("Open Block", "Make Block Unique", "Expand / Collapse Block", "Ungroup Block",
                   "Add Block to Library"):
        assert wanted in texts
    layer = view.scene().node_items[node_named(window.qt_doc, "logits").id]
    texts = [a.text().replace("&", "") for a in view.context_menu(layer.sceneBoundingRect().center()).actions()]
    assert "Group into Block" in texts and "Open Block" not in texts


def test_add_block_to_library_lists_it_for_other_documents(window, tmp_path):
    group(window, ["hidden", "act"])
    window.blocks.acts["save_to_library"].trigger()
    saved = tmp_path / "data" / "blocks" / f"{NAME}.nbg"
    assert saved.exists() and str(saved) in window.statusBar().currentMessage()
    window.qt_doc.set_document(build_mlp())
    assert window.blocks.palette_section.payloads() == [f"lib:{saved}"]


def test_renaming_the_block_in_the_inspector_renames_it_everywhere(qtbot, window):
    qt_doc = window.qt_doc
    block_id = group(window, ["hidden", "act"])
    edit = window.inspector.findChild(type(window.inspector.name_edit), "blockName")
    edit.setText("Residual")
    edit.editingFinished.emit()
    qt_doc.flush()
    assert list(qt_doc.document.blocks) == ["Residual"]
    assert qt_doc.document.network("model").node(block_id).block == "Residual"
    assert "doc:Residual" in window.blocks.palette_section.payloads()
    edit = window.inspector.findChild(type(window.inspector.name_edit), "blockName")
    edit.setText("not a name")
    edit.editingFinished.emit()
    assert "not a usable block name" in window.inspector.field("block").message_text()
    assert list(qt_doc.document.blocks) == ["Residual"]


def test_exports_take_the_whole_network_while_a_block_is_open(window):
    block_id = group(window, ["hidden", "act"])
    view = window.current_view()
    window.blocks.open_block(view, block_id)
    assert window.current_network() == NAME and window.model_network() == "model"


def test_grouped_block_opened_on_its_own_shows_the_shapes_it_has_in_place(window):
    from conftest import build_cnn

    qt_doc = window.qt_doc
    qt_doc.set_document(build_cnn())
    qt_doc.flush()
    view = window.current_view()
    net = qt_doc.document.network("model")
    view.select_nodes([net.find("conv").id, net.find("relu").id])
    window.blocks.acts["group"].trigger()
    qt_doc.flush()
    [name] = qt_doc.document.blocks
    inner = qt_doc.document.network(name)
    [port] = [n for n in inner.nodes if n.type == "Input"]
    assert tuple(port.params["shape"]) == (1, 8, 8)
    assert qt_doc.analysis(name).ok and qt_doc.analysis("model").ok


def test_inside_a_block_a_layer_parameter_binds_to_a_block_parameter(qtbot, window):
    qt_doc = window.qt_doc
    block_id = group(window, ["hidden", "act"])
    qt_doc.execute(SetBlockParams(NAME, [Param("units", ParamKind.INT, 32, minimum=1)]))
    view = window.current_view()
    window.blocks.open_block(view, block_id)
    hidden = node_named(qt_doc, "hidden", NAME)
    view.select_nodes([hidden.id])
    inspector = window.inspector
    edit = inspector.findChild(type(inspector.name_edit), "bind_units")
    assert edit is not None and edit.text() == "" and inspector.editors["units"].widget.isEnabled()
    edit.setText("units * 2")
    edit.editingFinished.emit()
    qt_doc.flush()
    assert hidden.bindings == {"units": "units * 2"}
    assert not inspector.editors["units"].widget.isEnabled()  # set by the block now
    window.blocks.go_up(view)
    qt_doc.flush()
    analysis = qt_doc.analysis("model")
    assert str(analysis.nodes[block_id].outputs["y"]).endswith("64")  # 32 * 2 units come out of the block
    window.blocks.open_block(view, block_id)
    view.select_nodes([hidden.id])
    edit = inspector.findChild(type(inspector.name_edit), "bind_units")
    edit.setText("nonsense +")
    edit.editingFinished.emit()
    assert "is not an expression" in inspector.field("bind:units").message_text()
    assert hidden.bindings == {"units": "units * 2"}


def test_declaring_and_removing_block_parameters_in_the_opened_block(qtbot, window):
    qt_doc = window.qt_doc
    block_id = group(window, ["hidden", "act"])
    view = window.current_view()
    window.blocks.open_block(view, block_id)
    inspector = window.inspector

    def child(kind, name):  # noqa: ANN001, ANN202
        return inspector.findChild(kind, name)

    from PySide6.QtWidgets import QComboBox, QLabel, QLineEdit, QPushButton

    child(QLineEdit, "newParamName").setText("units")
    combo = child(QComboBox, "newParamKind")
    combo.setCurrentIndex(combo.findText("int"))
    child(QLineEdit, "newParamDefault").setText("32")
    qtbot.mouseClick(child(QPushButton, "addParam"), Qt.MouseButton.LeftButton)
    qt_doc.flush()
    [param] = qt_doc.document.blocks[NAME].params
    assert (param.name, param.kind, param.default) == ("units", ParamKind.INT, 32)
    assert qt_doc.document.network("model").node(block_id).params["units"] == 32  # instances take the default
    child(QLineEdit, "newParamName").setText("2bad")
    child(QLineEdit, "newParamDefault").setText("1")
    qtbot.mouseClick(child(QPushButton, "addParam"), Qt.MouseButton.LeftButton)
    message = [w for w in inspector.findChildren(QLabel, "fieldError") if w.isVisibleTo(inspector)]
    assert any("not a usable parameter name" in w.text() for w in message)
    assert len(qt_doc.document.blocks[NAME].params) == 1
    qtbot.mouseClick(child(QPushButton, "removeParam_units"), Qt.MouseButton.LeftButton)
    qt_doc.flush()
    assert qt_doc.document.blocks[NAME].params == ()
    qt_doc.undo_stack.undo()
    qt_doc.flush()
    assert [p.name for p in qt_doc.document.blocks[NAME].params] == ["units"]



def test_a_copied_block_node_pastes_as_another_instance_of_its_block(qtbot, window):
    from netbuilder_ui.canvas import CanvasView

    qt_doc = window.qt_doc
    block_id = group(window, ["hidden", "act"])
    net = qt_doc.document.network("model")
    block_name = net.node(block_id).block
    view = window.current_view()
    view.select_nodes([block_id])
    assert view.copy()
    view.paste()
    qt_doc.flush()
    blocks = [n for n in net.nodes if n.type == "Block"]
    assert len(blocks) == 2 and {n.block for n in blocks} == {block_name}
    assert qt_doc.undo_stack.undoText() == "Paste 1 layer"
    qt_doc.undo_stack.undo()
    assert [n.type for n in net.nodes].count("Block") == 1

    # Into another document, which has no such block: refused in words, nothing pasted.
    other_doc = QtDocument(build_mlp())
    other = CanvasView(other_doc, "model")
    qtbot.addWidget(other)
    messages: list[str] = []
    other.statusMessage.connect(messages.append)
    before = len(other_doc.document.network("model"))
    other.paste()
    assert len(other_doc.document.network("model")) == before
    assert messages and block_name in messages[-1]
