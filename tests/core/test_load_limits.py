"""A document that loads can be saved; load errors stay short whatever the file holds; loading is linear."""

from __future__ import annotations

import json
from typing import Any

import pytest

from netbuilder.document import Document
from netbuilder.io import LoadError, document_from_dict, document_to_dict, dumps_document, parse_bytes


def small_document() -> Document:
    doc = Document()
    net = doc.network()
    net.chain(net.add("Input", name="x", shape=(4,)), net.add("Dropout", name="d"), net.add("Output", name="y"))
    return doc


def load_text(text: str) -> Document:
    return document_from_dict(parse_bytes(text.encode(), "test.nbg"), "test.nbg")


def file_text(mutate: Any) -> str:
    data = document_to_dict(small_document())
    mutate(data)
    return json.dumps(data)


@pytest.mark.parametrize("where, mutate", [
    ("settings.training.lr", lambda d: d["settings"].update(training={"lr": "INF"})),
    ("networks[0].nodes[1].params.p", lambda d: d["networks"][0]["nodes"][1]["params"].update(p="INF")),
    ("networks[0].extra", lambda d: d["networks"][0].update(extra=["INF"])),
])
def test_a_number_too_large_for_a_float_is_refused_with_its_place(where: str, mutate: Any) -> None:
    text = file_text(mutate).replace('"INF"', "1e999")
    with pytest.raises(LoadError) as caught:
        load_text(text)
    assert where in str(caught.value)
    assert "finite" in str(caught.value)


@pytest.mark.parametrize("section, value, expected", [
    ("data", 5, "settings, field 'data': must be an object or text"),
    ("data", [1], "settings, field 'data': must be an object or text"),
    ("training", "fast", "settings, field 'training': must be an object"),
    ("training", {"data": 3}, "settings, field 'training.data'"),
    ("training", {"gan": [1]}, "settings, field 'training.gan': must be an object"),
    ("data", {"options": 7}, "settings, field 'data.options'"),
])
def test_settings_of_the_wrong_kind_are_reported_at_load(section: str, value: Any, expected: str) -> None:
    with pytest.raises(LoadError) as caught:
        load_text(file_text(lambda d: d["settings"].update({section: value})))
    assert expected in str(caught.value)


def test_settings_of_the_right_kind_load_and_save() -> None:
    settings = {"data": "digits", "training": {"epochs": 2, "gan": None, "losses": {"y": "mse"}}}
    doc = load_text(file_text(lambda d: d["settings"].update(settings)))
    assert doc.settings == settings
    assert load_text(dumps_document(doc)).settings == settings


@pytest.mark.parametrize("mutate", [
    lambda d, big: d["networks"][0]["nodes"][1]["params"].update(p=big),
    lambda d, big: d["networks"][0]["nodes"][1].update(name=big),
    lambda d, big: d["networks"][0]["nodes"][1].update(id=big),
    lambda d, big: d["networks"][0]["nodes"][1].update(type=big),
    lambda d, big: d["networks"][0]["nodes"][1]["params"].update({big: 1}),
    lambda d, big: d["networks"][0].update(name=big, nodes=big),
    lambda d, big: d["networks"][0]["wires"][0].update({"from": [big, "out"]}),
    lambda d, big: d.update(format_version=[big]),
    lambda d, big: d["networks"][0]["nodes"][1]["params"].update(p=[big] * 3),
    # every node named with it and with several bad params: each problem's location names the node
    lambda d, big: [n.update(name=big, params={f"bad{i}": 1 for i in range(5)}) for n in d["networks"][0]["nodes"]],
])
def test_a_huge_bad_value_gives_a_short_message(mutate: Any) -> None:
    big = "x-" * 2_500_000  # not a name, a type, a number or a node
    with pytest.raises(LoadError) as caught:
        load_text(file_text(lambda d: mutate(d, big)))
    assert len(str(caught.value)) < 6_000  # at most 20 problems listed, each cut short
    for problem in caught.value.problems:
        assert len(str(problem)) < 700


def test_loops_in_a_file_are_reported_on_the_wire_that_closes_them() -> None:
    def loop(d: dict[str, Any]) -> None:
        d["networks"][0]["nodes"][1]["type"] = "Add"
        d["networks"][0]["nodes"][1]["params"] = {"inputs": 2}
        d["networks"][0]["nodes"][2].update(type="ReLU", params={})
        d["networks"][0]["wires"][0]["to"] = ["n2", "in1"]
        d["networks"][0]["wires"].append({"from": ["n3", "out"], "to": ["n2", "in2"]})

    with pytest.raises(LoadError) as caught:
        load_text(file_text(loop))
    assert "wire #3" in str(caught.value) and "would make a loop" in str(caught.value)


def test_unnamed_nodes_get_the_same_names_as_before_and_avoid_names_the_file_gives() -> None:
    doc = Document()
    net = doc.network()
    ids = [net.add("ReLU") for _ in range(4)]
    data = document_to_dict(doc)
    nodes = data["networks"][0]["nodes"]
    for node in nodes:
        del node["name"]
    nodes[3]["name"] = "relu2"  # a later node's own name is not given to an earlier unnamed one
    names = [n.name for n in document_from_dict(data).network().nodes]
    assert names == ["relu1", "relu3", "relu4", "relu2"]
    assert len(ids) == 4


def unnamed_chain(count: int) -> dict[str, Any]:
    nodes = [{"id": f"n{i}", "type": "ReLU"} for i in range(1, count + 1)]
    nodes[0] = {"id": "n1", "type": "Input", "params": {"shape": [8]}}
    wires = [{"from": [f"n{i}", "out"], "to": [f"n{i + 1}", "in"]} for i in range(count - 1, 0, -1)]
    return {"format": "netbuilder", "format_version": 2, "networks": [{"name": "m", "nodes": nodes,
                                                                       "wires": wires}]}


def test_a_large_file_of_unnamed_nodes_with_wires_in_reverse_order_loads() -> None:
    doc = document_from_dict(unnamed_chain(3000))
    net = doc.network()
    assert len(net) == 3000 and len(net.wires) == 2999
    assert net.node("n3000").name == "relu2999"
