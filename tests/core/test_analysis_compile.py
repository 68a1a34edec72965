"""Validation, shape inference and compilation of networks built with the scripting API."""

import pytest
import torch
import torch.nn as nn

from netbuilder.analysis import analyze, analyzer_for
from netbuilder.compile import CompileError, compile_network, example_inputs
from netbuilder.document import Document, Wire


def chain(*layers: tuple[str, dict]) -> tuple[Document, list[str]]:
    doc = Document()
    net = doc.network()
    ids = [net.add(kind, **params) for kind, params in layers]
    net.chain(*ids)
    return doc, ids


def test_shapes_params_and_macs_of_an_mlp() -> None:
    doc, ids = chain(("Input", {"shape": (64,)}), ("Linear", {"units": 128}), ("ReLU", {}),
                     ("Linear", {"units": 10}), ("Output", {}))
    result = analyze(doc.network())
    assert result.ok
    assert [str(result.nodes[i].output) for i in ids] == ["N×64", "N×128", "N×128", "N×10", "N×10"]
    assert result.total_params == 64 * 128 + 128 + 128 * 10 + 10
    assert result.total_macs == 64 * 128 + 128 + 128 * 10


def test_impossible_shape_names_node_dimension_and_fix() -> None:
    doc, ids = chain(("Input", {"shape": (1, 8, 8)}), ("Conv2d", {"filters": 4, "kernel_size": (3, 3)}),
                     ("MaxPool2d", {"kernel_size": (2, 2)}), ("Conv2d", {"filters": 4, "kernel_size": (5, 5)}),
                     ("Flatten", {}), ("Linear", {"units": 3}), ("Output", {}))
    result = analyze(doc.network())
    assert not result.ok
    [problem] = result.errors
    assert problem.node_id == ids[3] and problem.node_name == "conv2d2"
    assert "5" in problem.message and "3" in problem.message
    assert problem.suggestion
    # Everything downstream waits on the problem instead of repeating it.
    assert result.nodes[ids[4]].blocked and not result.nodes[ids[4]].diagnostics


def test_unconnected_inputs_missing_output_and_dead_nodes_are_reported() -> None:
    doc = Document()
    net = doc.network()
    x = net.add("Input", shape=(4,))
    lin = net.add("Linear", units=2)
    problems = analyze(net)
    messages = [str(d) for d in problems.diagnostics]
    assert any("linear1: The input is not connected" in m for m in messages)
    assert any("no Output" in m for m in messages)
    out = net.add("Output")
    net.connect(lin, out)
    net.add("ReLU")
    result = analyze(net)
    assert [d.node_name for d in result.errors] == ["linear1"]
    # A stray layer is left out of the model, so its own problems do not block compiling.
    assert sorted(d.node_name for d in result.warnings) == ["input1", "relu1", "relu1"]
    net.connect(x, lin)
    assert analyze(net).ok  # warnings only


def test_a_loop_in_a_file_is_reported_not_crashed() -> None:
    doc, ids = chain(("Input", {"shape": (4,)}), ("Linear", {"units": 4}), ("Add", {"inputs": 2}),
                     ("Output", {}))
    net = doc.network()
    net._insert_wire(Wire(ids[2], "out", ids[1], "in") if False else Wire(ids[2], "out", ids[2], "in2"))
    result = analyze(net)
    assert any("loop" in d.message for d in result.errors)


def test_integer_ids_into_linear_suggest_an_embedding() -> None:
    doc, _ = chain(("Input", {"shape": ("T",), "dtype": "int64"}), ("Linear", {"units": 4}), ("Output", {}))
    [problem] = analyze(doc.network()).errors
    assert "Embedding" in (problem.suggestion or "")


def test_reanalysis_after_one_edit_reuses_the_rest() -> None:
    layers = [("Input", {"shape": (16,)})] + [("Linear", {"units": 16}), ("ReLU", {})] * 50 + [("Output", {})]
    doc, ids = chain(*layers)
    net = doc.network()
    analyzer = analyzer_for(net)
    analyze(net)
    calls = 0
    original = analyzer._infer

    def counting(*args):
        nonlocal calls
        calls += 1
        return original(*args)

    analyzer._infer = counting
    net.set_param(ids[-3], "units", 8)  # near the end: only it and what follows change
    result = analyze(net)
    assert result.ok and str(result.nodes[ids[-2]].output) == "N×8"
    assert calls == 3


def test_compiled_module_equals_the_same_network_by_hand() -> None:
    doc, ids = chain(("Input", {"shape": (1, 8, 8)}), ("Conv2d", {"filters": 6, "kernel_size": (3, 3)}),
                     ("ReLU", {}), ("Flatten", {}), ("Linear", {"units": 10}), ("Output", {}))
    model = compile_network(doc.network(), seed=0)
    by_hand = nn.Sequential(nn.Conv2d(1, 6, 3), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 6 * 6, 10))
    by_hand.load_state_dict({k.replace("conv2d1", "0").replace("linear1", "3"): v
                             for k, v in model.state_dict().items()})
    x = torch.randn(5, 1, 8, 8)
    assert torch.equal(model(x), by_hand(x))
    assert sum(p.numel() for p in model.parameters()) == analyze(doc.network()).total_params
    assert "self.conv2d1(" in model.code  # generated code, no interpreter


def test_several_inputs_and_outputs_and_frozen_nodes() -> None:
    doc = Document()
    net = doc.network()
    a = net.add("Input", "image", shape=(8,))
    b = net.add("Input", "extra", shape=(3,))
    cat = net.add("Concat", inputs=2)
    net.connect(a, cat)
    net.connect(b, cat)
    head = net.add("Linear", "head", units=4)
    aux = net.add("Linear", "aux", units=1)
    net.connect(cat, head)
    net.connect(cat, aux)
    net.connect(head, net.add("Output", "logits", role="logits"))
    net.connect(aux, net.add("Output", "value", role="regression"))
    net.set_options(head, trainable=False, lr_mult=0.1)
    model = compile_network(net)
    info = model.netbuilder
    assert info.input_names == ["image", "extra"] and info.output_names == ["logits", "value"]
    assert info.output_roles == ["logits", "regression"]
    logits, value = model(*example_inputs(model, batch=3))
    assert logits.shape == (3, 4) and value.shape == (3, 1)
    assert not any(p.requires_grad for p in model.head.parameters())
    assert all(p.requires_grad for p in model.aux.parameters())


def test_compile_refuses_invalid_networks_with_diagnostics() -> None:
    doc, _ = chain(("Input", {"shape": (4,)}), ("Linear", {"units": 2}))
    try:
        compile_network(doc.network())
    except CompileError as error:
        assert "no Output" in str(error) and error.diagnostics
    else:
        raise AssertionError("compile accepted a network without an Output")


def test_compile_with_seed_is_reproducible() -> None:
    doc, _ = chain(("Input", {"shape": (4,)}), ("Linear", {"units": 3}), ("Output", {}))
    a = compile_network(doc.network(), seed=1).state_dict()
    b = compile_network(doc.network(), seed=1).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_several_loops_are_all_reported() -> None:
    doc, ids = chain(("Input", {"shape": (4,)}), ("Add", {}), ("Add", {}), ("Linear", {"units": 4}),
                     ("Output", {}))
    net = doc.network()
    net._insert_wire(Wire(ids[1], "out", ids[1], "in2"))  # a file may hold loops the editor never allows
    net._insert_wire(Wire(ids[3], "out", ids[2], "in2"))
    loops = {d.node_id for d in analyze(net).errors if "loop" in d.message}
    assert loops == {ids[1], ids[2], ids[3]}
    assert analyze(net).nodes[ids[4]].blocked


def test_renaming_a_network_renames_it_in_cached_diagnostics() -> None:
    from netbuilder.document import RenameNetwork

    doc, _ = chain(("Input", {"shape": (4,)}), ("Conv2d", {}), ("Output", {}))
    assert {d.network for d in analyze(doc.network()).errors} == {"model"}
    doc.execute(RenameNetwork("model", "encoder"))
    assert {d.network for d in analyze(doc.network()).errors} == {"encoder"}


def test_totals_count_only_the_compiled_model() -> None:
    doc, ids = chain(("Input", {"shape": (4,)}), ("Linear", {"units": 3}), ("Output", {}))
    net = doc.network()
    net.connect(ids[0], net.add("Linear", units=100))  # feeds no Output: left out of the model
    result = analyze(net)
    assert result.total_params == 4 * 3 + 3 == sum(p.numel() for p in compile_network(net).parameters())
    assert result.total_macs == 4 * 3


def test_a_model_too_large_to_build_is_an_error_not_an_allocation() -> None:
    doc, ids = chain(("Input", {"shape": (1_000_000,)}), ("Linear", {"units": 1_000_000}), ("Output", {}))
    [problem] = analyze(doc.network()).errors
    assert problem.node_id == ids[1] and "1,000,001,000,000 parameters" in problem.message
    assert "4.0 TB" in problem.message and problem.suggestion
    with pytest.raises(CompileError, match="parameters"):
        compile_network(doc.network())  # fails at once; nothing is allocated
    # Many layers each below the limit, together above it: one error for the network.
    doc, ids = chain(("Input", {"shape": (40_000,)}), ("Linear", {"units": 20_000}), ("Linear", {"units": 40_000}),
                     ("Output", {}))
    [problem] = analyze(doc.network()).errors
    assert problem.node_id is None and "1,600,060,000 parameters" in problem.message


def test_outputs_keep_document_order_whatever_their_depth() -> None:
    doc = Document()
    net = doc.network()
    x = net.add("Input", shape=(4,))
    first = net.add("Output", "first")
    net.connect(x, first)
    net.chain(x, net.add("Linear", units=3), net.add("Output", "second"))
    assert compile_network(net).netbuilder.output_names == ["first", "second"]
    net.disconnect(net.wires_into(first)[0])
    net.chain(x, net.add("ReLU"), net.add("Tanh"), first)  # "first" is now deeper than "second"
    assert compile_network(net).netbuilder.output_names == ["first", "second"]


def test_input_straight_into_outputs_and_one_layer_into_two_outputs() -> None:
    doc = Document()
    net = doc.network()
    x = net.add("Input", shape=(4,))
    lin = net.add("Linear", units=3)
    net.connect(x, net.add("Output", "same"))
    net.chain(x, lin, net.add("Output", "a"))
    net.connect(lin, net.add("Output", "b"))
    model = compile_network(net)
    inputs = torch.randn(2, 4)
    same, a, b = model(inputs)
    assert torch.equal(same, inputs) and torch.equal(a, b) and a.shape == (2, 3)


def test_a_module_torch_refuses_to_build_is_a_compile_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    import netbuilder.specs as specs

    doc, ids = chain(("Input", {"shape": (4,)}), ("Linear", {"units": 3}), ("Output", {}))

    def refuse(ctx):
        raise RuntimeError("[enforce fail] DefaultCPUAllocator: can't allocate memory\nmore torch detail")

    monkeypatch.setitem(specs._REGISTRY, "Linear", dataclasses.replace(specs.get_spec("Linear"), build=refuse))
    with pytest.raises(CompileError) as caught:
        compile_network(doc.network())
    [problem] = caught.value.diagnostics
    assert problem.node_name == "linear1" and "can't allocate memory" in problem.message
    assert "more torch detail" not in str(caught.value)


@pytest.mark.parametrize(("activation", "role", "warned"), [
    ("Softmax", "logits", True), ("Sigmoid", "logits", True), ("Sigmoid", "score", True),
    ("Softmax", "probabilities", False), ("LogSoftmax", "logits", False), ("ReLU", "logits", False),
])
def test_an_activation_the_loss_applies_again_is_flagged_on_it(activation, role, warned):
    doc = Document()
    net = doc.network()
    squash = net.add(activation, name="squash")
    out = net.add("Output", name="digit", role=role)
    net.chain(net.add("Input", shape=(64,)), net.add("Linear", units=10), squash, out)
    result = analyze(net)
    assert result.ok  # a warning: the network still compiles and trains
    flagged = [d for d in result.warnings if d.node_id == squash]
    if not warned:
        assert flagged == []
        return
    assert len(flagged) == 1 and f"{activation} before Output 'digit' ({role})" in flagged[0].message
    assert f"Delete the {activation}" in flagged[0].suggestion
    if role == "logits":  # the fix it suggests clears it
        net.set_params(out, role="probabilities")
        assert not [d for d in analyze(net).warnings if d.node_id == squash]


@pytest.mark.parametrize(("last", "warned"), [("Linear", True), ("ReLU", True), ("Softmax", False), ("Sigmoid", False)])
def test_probabilities_that_are_not_are_flagged_on_the_output(last, warned):
    doc = Document()
    net = doc.network()
    layers = [net.add("Input", shape=(64,)), net.add("Linear", units=10)]
    if last != "Linear":
        layers.append(net.add(last))
    layers += [net.add("Flatten"), net.add("Output", name="digit", role="probabilities")]  # Flatten: values kept
    net.chain(*layers)
    flagged = [d for d in analyze(net).warnings if d.node_name == "digit"]
    if not warned:
        assert flagged == []
        return
    assert len(flagged) == 1 and flagged[0].param == "role"
    assert f"({last})" in flagged[0].message and "Add a Softmax" in flagged[0].suggestion
