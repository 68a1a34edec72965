"""One-click fixes in the app: the Problems list's Fix button, the layer's context menu, and the toast of a refused
wire (a real drag, then a real click on the toast's button) each make the fix as one undo step."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QPushButton

from netbuilder.document import Document, Wire
from netbuilder_ui.canvas import CanvasView
from netbuilder_ui.qt_document import QtDocument


def snapshot(doc: Document) -> tuple:
    net = doc.network("model")
    return (tuple((n.id, n.name, n.position, tuple(sorted(n.params.items()))) for n in net.nodes), tuple(net.wires))


def flat_input_doc(wired: bool) -> QtDocument:
    """Input of 64 features, a Conv2d (wired to it or not), Flatten, Output."""
    doc = Document()
    net = doc.network()
    x = net.add("Input", shape=(64,), name="x")
    net.node(x).position = (0.0, 0.0)
    conv = net.add("Conv2d", name="conv")
    net.node(conv).position = (400.0, 0.0)
    flat = net.add("Flatten", name="flat")
    net.node(flat).position = (800.0, 0.0)
    out = net.add("Output", name="out")
    net.node(out).position = (1200.0, 0.0)
    if wired:
        net.connect(x, conv)
    net.chain(conv, flat, out)
    doc.undo_stack.clear()
    return QtDocument(doc)


def make_view(qtbot, qt_doc: QtDocument) -> CanvasView:
    view = CanvasView(qt_doc, "model")
    qtbot.addWidget(view)
    view.resize(1400, 500)
    view.show()
    qtbot.waitExposed(view)
    view.reset_zoom()
    view.centerOn(view.scene().nodes_rect().center())
    return view


def test_the_problems_list_offers_the_fix_and_it_is_one_undo_step(main_window):
    window = main_window
    qt_doc = flat_input_doc(wired=True)
    window.load_document(qt_doc.document, "flat")
    window.qt_doc.flush()
    QApplication.processEvents()
    problems = window.problems
    before = snapshot(window.qt_doc.document)
    row = next(i for i, r in enumerate(problems.rows()) if r[0] == "conv")
    widget = problems.tree.itemWidget(problems.tree.topLevelItem(row), 2)
    buttons = widget.findChildren(QPushButton)
    assert [b.text() for b in buttons][0] == "Set the Input shape to 1×8×8"
    buttons[0].click()
    window.qt_doc.flush()
    net = window.qt_doc.document.network("model")
    assert net.find("x").params["shape"] == (1, 8, 8)
    assert problems.rows() == [] or all(r[0] != "conv" for r in problems.rows())
    assert window.qt_doc.undo_stack.count() == 1
    window.qt_doc.undo_stack.undo()
    assert snapshot(window.qt_doc.document) == before


def test_the_layer_context_menu_offers_the_fix(qtbot):
    qt_doc = flat_input_doc(wired=True)
    view = make_view(qtbot, qt_doc)
    net = qt_doc.document.network("model")
    conv = net.find("conv").id
    item = view.scene().node_items[conv]
    menu = view.context_menu(item.sceneBoundingRect().center())
    titles = [a.text() for a in menu.actions() if a.text()]
    assert titles[0] == "Set the Input shape to 1×8×8"
    before = snapshot(qt_doc.document)
    menu.actions()[0].trigger()
    assert net.find("x").params["shape"] == (1, 8, 8) and view.selected_node_ids() == [conv]
    qt_doc.undo_stack.undo()
    assert snapshot(qt_doc.document) == before
    ok = view.context_menu(view.scene().node_items[net.find("flat").id].sceneBoundingRect().center())
    assert not any(a.text().startswith(("Set the", "Insert")) for a in ok.actions())  # nothing to fix there


def test_a_refused_wire_offers_the_fix_and_a_click_makes_it_with_the_wire(qtbot):
    qt_doc = flat_input_doc(wired=False)
    view = make_view(qtbot, qt_doc)
    scene = view.scene()
    net = qt_doc.document.network("model")
    x, conv = net.find("x").id, net.find("conv").id
    before = snapshot(qt_doc.document)
    start = view.mapFromScene(scene.port_scene_pos(x, "out", False))
    end = view.mapFromScene(scene.port_scene_pos(conv, "in", True))
    viewport = view.viewport()
    QTest.mouseMove(viewport, start)
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    for i in range(1, 5):
        QTest.mouseMove(viewport, start + (end - start) * i / 4)
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)
    toast = scene.toast
    assert toast is not None and "rank 4" in toast.text
    assert toast.actions[0][0] == "Set the Input shape to 1×8×8 and connect"
    assert snapshot(qt_doc.document) == before  # refused: nothing changed yet
    button = toast.mapToScene(toast._action_rects[0].center())
    click = view.mapFromScene(button)
    QTest.mouseClick(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, click)
    assert net.has_wire(Wire(x, "out", conv, "in")) and net.find("x").params["shape"] == (1, 8, 8)
    assert scene.toast is None and qt_doc.undo_stack.count() == 1
    qt_doc.undo_stack.undo()
    assert snapshot(qt_doc.document) == before
    qt_doc.undo_stack.redo()
    qt_doc.flush()
    assert not qt_doc.analysis("model").errors


def test_a_fix_is_refused_in_words_while_the_network_is_locked(main_window):
    window = main_window
    qt_doc = flat_input_doc(wired=True)
    window.load_document(qt_doc.document, "flat")
    window.qt_doc.flush()
    fixes = window.problems.fixes[0]
    window.qt_doc.set_locked("Training is running: stop it to change the network.")
    messages = []
    window.problems.message.connect(messages.append)
    assert not window.problems.apply_fix(fixes[0])
    assert "Training is running" in messages[-1]
    window.qt_doc.set_locked("")


