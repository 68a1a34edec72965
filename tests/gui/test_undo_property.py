"""Property-based undo/redo through the app's Qt undo stack: random sequences of edits (add, remove, connect,
disconnect, set param, rename, move, options, paste), valid or not. A refused edit changes nothing; undoing
everything gives back the original document, and redoing everything gives the final one.

The long sequences over every command class (networks and settings included) run here through the Qt stack, with
the generator and checks of ``tests/core/test_undo_sequences.py``; the short hypothesis sequences below shrink to
a minimal failing example when one fails."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netbuilder.document import (
    AddNode,
    AddWire,
    Document,
    DocumentError,
    InsertNodes,
    MoveNodes,
    RemoveNodes,
    RemoveWires,
    RenameNode,
    SetNodeOptions,
    SetParams,
    Wire,
)
from netbuilder.io import document_to_dict
from netbuilder.specs import ParamError, ParamKind, get_spec
from netbuilder_ui.qt_document import QtDocument

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
from edit_sequences import start_document as start_with_settings  # noqa: E402
from test_undo_sequences import run_sequence  # noqa: E402

LAYER_TYPES = ["Input", "Output", "Linear", "ReLU", "Dropout", "Add", "Concat", "Conv2d", "Flatten",
               "Reshape", "LSTM", "Softmax"]
NAMES = ["a", "b", "hidden", "x_1", "1bad", "class", "", "forward", "dense1"]


def canonical(doc: Document) -> dict[str, Any]:
    """The document as plain data, independent of insertion order (undo re-inserts removed nodes last)."""
    result: dict[str, Any] = {}
    for name, net in doc.networks.items():
        nodes = sorted((n.id, n.type, n.name, repr(sorted(n.params.items())), n.position,
                        repr(sorted(n.options().items()))) for n in net.nodes)
        wires = sorted(w.key for w in net.wires)
        result[name] = {"nodes": nodes, "wires": wires}
    file_form = document_to_dict(doc)
    for net in file_form.get("networks", []):
        if isinstance(net, dict):
            for key in ("nodes", "wires"):
                if isinstance(net.get(key), list):
                    net[key] = sorted(net[key], key=repr)
    result["_file"] = repr(file_form)
    return result


def start_document() -> Document:
    doc = Document(("generator", "critic"))
    for net in doc:
        x = net.add("Input", name="x", shape=(16,))
        h = net.add("Linear", name="h", units=8)
        r = net.add("ReLU", name="r")
        y = net.add("Output", name="y")
        net.chain(x, h, r, y)
    doc.undo_stack.clear()
    return doc


def param_values(kind: ParamKind, choices: tuple[Any, ...]) -> st.SearchStrategy[Any]:
    if kind is ParamKind.INT:
        return st.integers(-3, 300) | st.sampled_from(["12", "x", 2.5])
    if kind is ParamKind.FLOAT:
        return st.floats(-1, 2) | st.sampled_from([float("nan"), float("inf"), "abc", "0.5"])
    if kind is ParamKind.BOOL:
        return st.booleans() | st.just("maybe")
    if kind is ParamKind.CHOICE:
        return st.sampled_from([*choices, "bogus"])
    if kind in (ParamKind.INTS, ParamKind.SHAPE):
        return st.lists(st.integers(-1, 9), max_size=4).map(tuple) | st.sampled_from(["3, 3", "T, 8", "a"])
    return st.text(max_size=4)


def random_command(data: st.DataObject, doc: Document) -> Any:
    network = data.draw(st.sampled_from(list(doc.networks)))
    net = doc.network(network)
    ids = net.node_ids()
    wires = net.wires
    kinds = ["add", "move", "paste"]
    kinds += ["remove", "connect", "param", "rename", "options"] if ids else []
    kinds += ["disconnect"] if wires else []
    kind = data.draw(st.sampled_from(kinds))
    if kind == "add":
        type_id = data.draw(st.sampled_from(LAYER_TYPES))
        name = data.draw(st.none() | st.sampled_from(NAMES))
        position = (data.draw(st.integers(-500, 500)), data.draw(st.integers(-500, 500)))
        return AddNode(network, type_id, name=name, position=position)
    if kind == "remove":
        return RemoveNodes(network, data.draw(st.lists(st.sampled_from(ids), min_size=1, max_size=3)))
    if kind == "connect":
        src, dst = data.draw(st.sampled_from(ids)), data.draw(st.sampled_from(ids))
        node = net.node(dst)
        ports = [p.name for p in node.spec.input_ports(node.params)] or ["in"]
        src_node = net.node(src)
        outs = [p.name for p in src_node.spec.output_ports(src_node.params)] or ["out"]
        src_port, dst_port = data.draw(st.sampled_from(outs)), data.draw(st.sampled_from(ports))
        return AddWire(network, Wire(src, src_port, dst, dst_port))
    if kind == "disconnect":
        return RemoveWires(network, data.draw(st.lists(st.sampled_from(wires), min_size=1, max_size=2)))
    if kind == "param":
        node = net.node(data.draw(st.sampled_from(ids)))
        spec = get_spec(node.type)
        if not spec.params:
            return RenameNode(network, node.id, data.draw(st.sampled_from(NAMES)))
        param = data.draw(st.sampled_from(spec.params))
        return SetParams(network, node.id, {param.name: data.draw(param_values(param.kind, param.choices))})
    if kind == "rename":
        return RenameNode(network, data.draw(st.sampled_from(ids)), data.draw(st.sampled_from(NAMES)))
    if kind == "move":
        if not ids:
            return AddNode(network, "ReLU")
        chosen = data.draw(st.lists(st.sampled_from(ids), min_size=1, max_size=3))
        return MoveNodes(network, {i: (data.draw(st.integers(-900, 900)), 40.0) for i in chosen})
    if kind == "paste":
        chosen = data.draw(st.lists(st.sampled_from(ids), max_size=3)) if ids else []
        nodes = [net.node(i) for i in dict.fromkeys(chosen)]
        inner = [w for w in wires if w.src in chosen and w.dst in chosen]
        return InsertNodes(network, nodes, inner, offset=(30, 30))
    options = data.draw(st.dictionaries(
        st.sampled_from(["trainable", "lr_mult", "l1", "l2"]),
        st.booleans() | st.floats(-1, 10, allow_nan=False) | st.just("x"), min_size=1, max_size=2))
    return ("options", network, data.draw(st.sampled_from(ids)), options)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_undo_all_then_redo_all(qapp, data):
    qt_doc = QtDocument(start_document())
    doc = qt_doc.document
    original = canonical(doc)
    steps = data.draw(st.integers(1, 18))
    applied = 0
    for _ in range(steps):
        before = canonical(doc)
        try:
            command = random_command(data, doc)
            if isinstance(command, tuple):  # SetNodeOptions validates in its constructor
                _, network, node_id, options = command
                command = SetNodeOptions(network, node_id, options)
            qt_doc.execute(command)
            applied += 1
        except (DocumentError, ParamError):
            assert canonical(doc) == before, "a refused edit changed the document"
    final = canonical(doc)
    assert qt_doc.modified == (applied > 0)
    while qt_doc.undo_stack.canUndo():
        qt_doc.undo_stack.undo()
    assert canonical(doc) == original
    assert not qt_doc.modified
    while qt_doc.undo_stack.canRedo():
        qt_doc.undo_stack.redo()
    assert canonical(doc) == final
    for name in doc.networks:  # the analysis copes with whatever the edits left
        qt_doc.analysis(name)


@settings(max_examples=2, deadline=None, derandomize=True, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1))
def test_every_command_class_undoes_exactly_through_the_qt_stack(qapp, seed):
    qt_doc = QtDocument(start_with_settings())
    stack = qt_doc.undo_stack
    applied = run_sequence(seed, 600, execute=qt_doc.execute, undo=stack.undo, redo=stack.redo,
                           can_undo=stack.canUndo, can_redo=stack.canRedo, doc=qt_doc.document)
    assert len(applied) >= 12, applied  # most command classes were applied, not only refused
