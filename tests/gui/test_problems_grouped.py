"""The Problems list shows one row per root cause, and the status bar counts the same rows."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication

from netbuilder.document import AddNode, RemoveWires


@pytest.fixture
def window(main_window):
    win = main_window
    win.open_template("lenet", ask=False)
    QApplication.processEvents()
    return win


def test_a_deleted_wire_is_one_row_with_the_cut_off_layers_inside(window):
    network = window.qt_doc.document.network("model")
    fc2 = network.find("fc2")
    wire = network.wires_into(fc2.id)[0]
    upstream = len(network) - 2  # everything but fc2 and the Output is cut off
    window.qt_doc.execute(RemoveWires("model", [wire]))
    window.qt_doc.flush()
    rows = window.problems.rows()
    assert len(rows) == 1 and rows[0][0] == "fc2" and "not connected" in rows[0][1]
    assert window.status_state.text() == "1 problem"
    assert window.problems_dock.windowTitle() == "Problems (1)"
    top = window.problems.tree.topLevelItem(0)
    summary = top.child(0)
    assert summary.text(1) == f"{upstream} layers no longer reach an Output"
    assert summary.childCount() == upstream
    window.problems.activate_row(0)
    assert window.current_view().selected_node_ids() == [fc2.id]


def test_unwired_layers_count_the_same_in_the_list_and_the_status_bar(window):
    for i in range(6):
        window.qt_doc.execute(AddNode("model", "ReLU", position=(300.0 * i, 900.0)))
    window.qt_doc.flush()
    rows = window.problems.rows()
    assert len(rows) == 6
    assert window.problems_dock.windowTitle() == "Problems (6)"
    assert window.status_state.text() == "Valid, 6 warnings"
