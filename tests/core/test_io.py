"""`.nbg` documents (round trip, migration, error locations, atomic save, fuzz) and safetensors weights."""

from __future__ import annotations

import copy
import dataclasses
import errno
import json
import os
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import netbuilder.specs as specs
from netbuilder.analysis import analyze
from netbuilder.compile import compile_network, example_inputs
from netbuilder.document import Document
from netbuilder.io import (
    FORMAT_VERSION,
    LoadError,
    SaveError,
    apply_weights,
    document_from_dict,
    document_to_dict,
    dumps_document,
    load_document,
    load_weights,
    parse_bytes,
    read_weights_metadata,
    save_document,
    save_weights,
)
from netbuilder.specs import all_specs, get_spec

# ---------------------------------------------------------------------------------------------------------------
# Helpers


def mlp_document(hidden: int = 32) -> Document:
    doc = Document(("classifier", "catalog"))
    net = doc.network("classifier")
    x = net.add("Input", name="x", shape=(64,), position=(0, 0))
    h = net.add("Linear", name="hidden", units=hidden, position=(150, 0))
    r = net.add("ReLU", position=(300, 0))
    y = net.add("Linear", name="head", units=10, position=(450, 12.5))
    o = net.add("Output", name="logits", position=(600, 0))
    net.chain(x, h, r, y, o)
    net.set_options(h, trainable=False, lr_mult=0.5)
    net.set_options(y, l2=1e-4)
    doc.set_setting("training", {"epochs": 3, "lr": 0.001, "betas": (0.9, 0.999), "optimizer": "adam"})
    doc.set_setting("data", {"source": "digits", "split": [0.8, 0.1, 0.1]})
    doc.info.title = "Ziffern — a test ✓"
    doc.info.description = "Two networks.\nSecond line."
    return doc


def full_document() -> Document:
    """A classifier network, plus every layer type of the catalog (default params) in a second network."""
    doc = mlp_document()
    catalog = doc.network("catalog")
    for index, spec in enumerate(all_specs()):
        catalog.add(spec.id, position=(index * 10.0, -index * 2.5))
    seq = catalog.add("Input", name="tokens", shape=("T",), dtype="int64")
    emb = catalog.add("Embedding", vocab_size=100, dim=8)
    catalog.connect(seq, emb)
    return doc


def assert_same_document(a: Document, b: Document) -> None:
    assert a.info == b.info
    assert a.settings == json.loads(json.dumps(b.settings))
    assert list(a.networks) == list(b.networks)
    for net_a, net_b in zip(a, b, strict=True):
        assert net_a.name == net_b.name
        assert net_a.nodes == net_b.nodes  # ids, types, names, params, positions, options
        assert net_a.wires == net_b.wires


def load_text(text: str, source: str = "test.nbg") -> Document:
    return document_from_dict(parse_bytes(text.encode("utf-8"), source), source)


def load_problems(data: dict[str, Any]) -> LoadError:
    with pytest.raises(LoadError) as info:
        document_from_dict(data, "broken.nbg")
    return info.value


# ---------------------------------------------------------------------------------------------------------------
# Round trip and layout


def test_round_trip_is_exact_and_byte_identical(tmp_path: Path) -> None:
    doc = full_document()
    first = tmp_path / "first.nbg"
    save_document(doc, first)
    loaded = load_document(first)
    assert_same_document(loaded, doc)
    assert not loaded.modified and loaded.undo_stack.count() == 0 and not loaded.undo_stack.can_undo()
    second = tmp_path / "second.nbg"
    save_document(loaded, second)
    assert first.read_bytes() == second.read_bytes()
    catalog = {n.type for n in loaded.network("catalog").nodes}
    assert {s.id for s in all_specs()} <= catalog


def test_file_layout_is_stable_readable_json(tmp_path: Path) -> None:
    doc = mlp_document()
    path = tmp_path / "m.nbg"
    save_document(doc, path)
    text = path.read_text(encoding="utf-8")
    assert "Ziffern — a test ✓" in text  # UTF-8, not \u escapes
    assert text.endswith("}\n") and '\n  "networks": [' in text  # indent 2
    data = json.loads(text)
    assert list(data) == ["format", "format_version", "info", "networks", "settings"]
    assert data["format"] == "netbuilder" and data["format_version"] == FORMAT_VERSION == 3
    nodes = data["networks"][0]["nodes"]
    assert list(nodes[0]) == ["id", "type", "version", "name", "params", "position"]
    assert nodes[0]["params"] == {"shape": [64], "dtype": "float32"}
    assert nodes[1]["options"] == {"trainable": False, "lr_mult": 0.5}  # only what differs from defaults
    assert nodes[3]["options"] == {"l2": 0.0001}
    assert "options" not in nodes[2]
    assert nodes[3]["position"] == [450.0, 12.5]
    wires = data["networks"][0]["wires"]
    assert wires[0] == {"from": ["n1", "out"], "to": ["n2", "in"]}
    assert '{"from": ["n1", "out"], "to": ["n2", "in"]}' in text  # one wire per line
    assert data["settings"]["training"]["betas"] == [0.9, 0.999]
    assert dumps_document(doc) == text


def test_loading_marks_nothing_modified_and_edits_then_undo() -> None:
    doc = load_text(dumps_document(mlp_document()))
    net = doc.network("classifier")
    net.set_param("hidden", "units", 7)
    assert doc.modified
    doc.undo_stack.undo()
    assert not doc.modified and net.find("hidden").params["units"] == 32
    assert net.new_id() not in {n.id for n in net.nodes}


def test_document_from_dict_does_not_modify_its_input() -> None:
    data = document_to_dict(mlp_document())
    before = copy.deepcopy(data)
    document_from_dict(data)
    assert data == before


def test_edits_of_a_loaded_document_never_reach_the_callers_dict() -> None:
    data = document_to_dict(mlp_document())
    data["settings"] = {"training": {"epochs": 2}}
    doc = document_from_dict(data)
    doc.settings["training"]["epochs"] = 9
    doc.network().nodes[0].params["shape"] = (3,)
    assert data["settings"] == {"training": {"epochs": 2}}
    assert data["networks"][0]["nodes"][0]["params"]["shape"] != (3,)


@pytest.mark.parametrize("name, words", [("load_state_dict", "reserved"), ("_private", "starting with a letter")])
def test_names_a_compiled_module_cannot_take_are_refused_on_load(name: str, words: str) -> None:
    data = {"format": "netbuilder", "format_version": 2,
            "networks": [{"name": "m", "nodes": [{"id": "a", "type": "Input", "name": name}], "wires": []}]}
    with pytest.raises(LoadError, match=words) as caught:
        document_from_dict(data, "f.nbg")
    assert "node a" in str(caught.value) and "field 'name'" in str(caught.value)


def test_nodes_without_optional_fields_get_defaults() -> None:
    data = {"format": "netbuilder", "format_version": 2,
            "networks": [{"name": "m", "nodes": [{"id": "a", "type": "Input"}, {"id": "b", "type": "Linear"}],
                          "wires": [{"from": ["a", "out"], "to": ["b", "in"]}]}]}
    doc = document_from_dict(data)
    a, b = doc.network().nodes
    assert a.name == "input1" and a.params == get_spec("Input").defaults() and a.position == (0.0, 0.0)
    assert b.params["units"] == 64 and b.trainable and doc.info.title == "" and doc.settings == {}

    data["networks"][0]["nodes"].append({"id": "c", "type": "Linear", "name": "linear1"})
    doc = document_from_dict(data)  # the generated name of b must not take the name c has in the file
    assert [n.name for n in doc.network().nodes] == ["input1", "linear2", "linear1"]


# ---------------------------------------------------------------------------------------------------------------
# Migration


V1_FILE = """{
  "format": "netbuilder",
  "format_version": 1,
  "title": "Old classifier",
  "description": "Saved by NetBuilder 0.0",
  "networks": [
    {
      "name": "model",
      "nodes": [
        {"id": "n1", "type": "Input", "version": 1, "name": "pixels", "config": {"shape": [1, 8, 8]},
         "position": [0, 0]},
        {"id": "n2", "type": "Flatten", "version": 1, "name": "flat", "config": {}, "position": [100, 0]},
        {"id": "n3", "type": "Linear", "version": 1, "name": "fc", "config": {"units": 10, "bias": false},
         "position": [200, 0]},
        {"id": "n4", "type": "Output", "version": 1, "name": "scores", "config": {"role": "logits"},
         "position": [300, 0]}
      ],
      "links": ["n1:out -> n2:in", "n2:out -> n3:in", "n3:out->n4:in"]
    }
  ],
  "settings": {"training": {"epochs": 2}}
}
"""


def test_version_1_file_is_migrated(tmp_path: Path) -> None:
    doc = load_text(V1_FILE)
    assert doc.info.title == "Old classifier" and doc.info.description == "Saved by NetBuilder 0.0"
    net = doc.network("model")
    assert [n.name for n in net.nodes] == ["pixels", "flat", "fc", "scores"]
    assert net.find("fc").params == {"units": 10, "bias": False, "tie_weight_to": ""}
    assert net.find("pixels").params == {"shape": (1, 8, 8), "dtype": "float32"}
    assert [(w.src, w.dst) for w in net.wires] == [("n1", "n2"), ("n2", "n3"), ("n3", "n4")]
    assert doc.settings == {"training": {"epochs": 2}} and not doc.modified
    assert analyze(net).ok
    path = tmp_path / "new.nbg"
    save_document(doc, path)
    data = json.loads(path.read_text())
    assert data["format_version"] == 3 and data["info"]["title"] == "Old classifier"
    assert "links" not in data["networks"][0] and "config" not in data["networks"][0]["nodes"][0]
    assert_same_document(load_document(path), doc)


def test_version_1_bad_link_is_reported_with_its_place() -> None:
    with pytest.raises(LoadError) as info:
        load_text(V1_FILE.replace('"n2:out -> n3:in"', '"n2 to n3"'))
    assert "network 'model', link #2 ('n2 to n3')" in str(info.value)
    assert 'n1:out -> n2:in' in str(info.value)  # the message shows the expected form


def test_layer_param_migrations_run_from_the_saved_version(monkeypatch: pytest.MonkeyPatch) -> None:
    def rename_features(params: dict[str, Any]) -> dict[str, Any]:
        params["units"] = params.pop("features")
        return params

    linear_v2 = dataclasses.replace(get_spec("Linear"), version=2, migrations={1: rename_features})
    monkeypatch.setitem(specs._REGISTRY, "Linear", linear_v2)
    old = {"format": "netbuilder", "format_version": 2, "networks": [{"name": "m", "nodes": [
        {"id": "n1", "type": "Linear", "version": 1, "name": "fc", "params": {"features": 16, "bias": False}}]}]}
    doc = document_from_dict(old)
    assert doc.network().find("fc").params == {"units": 16, "bias": False, "tie_weight_to": ""}
    assert document_to_dict(doc)["networks"][0]["nodes"][0]["version"] == 2

    newer = copy.deepcopy(old)
    newer["networks"][0]["nodes"][0]["version"] = 3
    assert "saved by a newer NetBuilder" in str(load_problems(newer))

    monkeypatch.setitem(specs._REGISTRY, "Linear", dataclasses.replace(linear_v2, migrations={}))
    assert "cannot convert that version" in str(load_problems(old))


# ---------------------------------------------------------------------------------------------------------------
# Errors, each with its place


def test_every_problem_is_reported_at_once_with_its_location() -> None:
    data = document_to_dict(mlp_document())
    nodes = data["networks"][0]["nodes"]
    nodes[1]["params"]["units"] = 0  # bad param value
    nodes[2]["type"] = "Conv9d"  # unknown layer type
    del nodes[3]["type"]  # missing field
    data["networks"][0]["wires"].append({"from": ["n5", "out"], "to": ["n99", "in"]})  # wire to a missing node
    error = load_problems(data)
    text = str(error)
    assert len(error.problems) == 4 and error.location == "broken.nbg"
    assert text.startswith("broken.nbg cannot be opened: 4 problems were found.")
    assert "network 'classifier', node n2 (hidden), param 'units': Units must be at least 1; got 0." in text
    assert "network 'classifier', node n3 (relu1): Unknown layer type 'Conv9d'" in text
    assert "network 'classifier', node n4 (head), field 'type': The node has no layer type." in text
    assert "network 'classifier', wire #5 (n5:out -> n99:in): There is no node 'n99' in this network." in text
    # wires of nodes that were already reported add no noise
    assert "wire #2" not in text and "wire #3" not in text


def test_a_single_problem_names_file_network_node_and_param() -> None:
    data = document_to_dict(mlp_document())
    data["networks"][0]["nodes"][3]["params"]["units"] = "many"
    error = load_problems(data)
    assert str(error) == ("broken.nbg, network 'classifier', node n4 (head), param 'units': Units must be a whole "
                          "number, not 'many'.")


@pytest.mark.parametrize(("mutate", "expected"), [
    (lambda d: d["networks"][0]["wires"].append({"from": ["n1", "out"], "to": ["n4", "in"]}),
     "wire #5 (n1:out -> n4:in): Input 'in' of head is already fed by relu1"),
    (lambda d: d["networks"][0]["wires"].__setitem__(0, {"from": ["n3", "out"], "to": ["n2", "in"]}),
     "would make a loop"),
    (lambda d: d["networks"][0]["wires"].append({"from": ["n1", "nope"], "to": ["n5", "in"]}),
     "x has no output 'nope'"),
    (lambda d: d["networks"][0]["nodes"][1].__setitem__("name", "x"), "field 'name': Another node is already"),
    (lambda d: d["networks"][0]["nodes"][1].__setitem__("id", "n1"), "Another node already has the id 'n1'"),
    (lambda d: d["networks"][0]["nodes"][1].__setitem__("position", [1, "a"]), "field 'position': must be two"),
    (lambda d: d["networks"][0]["nodes"][1]["options"].__setitem__("lr_mult", -1), "lr_mult must be between"),
    (lambda d: d["networks"][0]["nodes"][1]["params"].__setitem__("colour", 3), "has no parameter 'colour'"),
    (lambda d: d["networks"][1].__setitem__("name", "classifier"), "Another network already has this name"),
    (lambda d: d.__setitem__("networks", {}), "field 'networks': must be a list, not an object"),
    (lambda d: d.__setitem__("settings", []), "field 'settings': must be an object"),
    (lambda d: d["info"].__setitem__("title", 5), "info, field 'title': must be text"),
])
def test_structural_problems_are_located(mutate: Any, expected: str) -> None:
    data = document_to_dict(mlp_document())
    mutate(data)
    assert expected in str(load_problems(data))


@pytest.mark.parametrize(("content", "expected"), [
    (b"", "The file is empty."),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file"),
    (b"\xff\xfe\xfa garbage", "not UTF-8 text"),
    (b'{"format": "netbuilder",\n "format_version": 2\n "networks": []}', "not valid JSON: Expecting ',' "
                                                                          "delimiter at line 3, column 2"),
    (b"hello world", "not valid JSON"),
    (b'{"format": "netbuilder", "format_version": NaN}', "NaN, which is not a number JSON allows"),
    (b'[1, 2, 3]', "its top level is a list"),
    (b'{"name": "my-package", "version": "1.0.0"}', "JSON from another program"),
    (b'{"format": "excalidraw"}', "'excalidraw' file, not a NetBuilder document"),
    (b'{"format": "netbuilder", "format_version": 99, "networks": []}', "made by a newer NetBuilder"),
    (b'{"format": "netbuilder", "format_version": "2"}', "format_version must be a whole number"),
    (b'{"format": "netbuilder", "format_version": 2}', "no 'networks' list"),
    (b"[" * 5000 + b"]" * 5000, "nests"),
])
def test_wrong_files_get_a_clear_message(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "wrong.nbg"
    path.write_bytes(content)
    with pytest.raises(LoadError) as info:
        load_document(path)
    assert expected in str(info.value)
    assert "wrong.nbg" in str(info.value)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="does not exist"):
        load_document(tmp_path / "nothing.nbg")
    with pytest.raises(LoadError, match="folder"):
        load_document(tmp_path)


def test_long_problem_lists_are_cut_after_twenty() -> None:
    data = {"format": "netbuilder", "format_version": 2, "networks": [
        {"name": "m", "nodes": [{"id": f"n{i}", "type": "Nope"} for i in range(30)]}]}
    error = load_problems(data)
    assert len(error.problems) == 30
    assert "… and 10 more" in str(error) and str(error).count("Unknown layer type") == 20


# ---------------------------------------------------------------------------------------------------------------
# Atomic save


def _only_file(folder: Path, name: str) -> None:
    assert sorted(p.name for p in folder.iterdir()) == [name]  # no temporary file left behind


@pytest.mark.parametrize(("target", "code", "reason"), [
    ("replace", errno.ENOSPC, "the disk is full"),
    ("fsync", errno.EIO, "input/output error"),
    ("open", errno.EACCES, "permission denied"),
    ("open", errno.EROFS, "the disk is read-only"),
])
def test_failed_save_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str, code: int,
                                        reason: str) -> None:
    path = tmp_path / "model.nbg"
    save_document(mlp_document(hidden=8), path)
    before = path.read_bytes()

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, target, fail)
    with pytest.raises(SaveError) as info:
        save_document(mlp_document(hidden=16), path)
    monkeypatch.undo()
    assert str(path) in str(info.value) and reason in str(info.value)
    assert path.read_bytes() == before
    _only_file(tmp_path, "model.nbg")


def test_failed_write_midway_leaves_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "model.nbg"
    save_document(mlp_document(), path)
    before = path.read_bytes()
    real_fdopen = os.fdopen

    class FullDisk:
        def __init__(self, stream: Any):
            self.stream = stream

        def __enter__(self) -> FullDisk:
            return self

        def __exit__(self, *exc: Any) -> None:
            self.stream.close()

        def write(self, data: bytes) -> int:
            self.stream.write(data[:10])
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fdopen", lambda fd, mode: FullDisk(real_fdopen(fd, mode)))
    with pytest.raises(SaveError, match="the disk is full"):
        save_document(mlp_document(hidden=4), path)
    assert path.read_bytes() == before
    _only_file(tmp_path, "model.nbg")


def test_save_into_missing_folder_or_onto_a_folder(tmp_path: Path) -> None:
    with pytest.raises(SaveError, match="does not exist") as info:
        save_document(mlp_document(), tmp_path / "nope" / "m.nbg")
    assert str(tmp_path / "nope") in str(info.value)
    (tmp_path / "dir.nbg").mkdir()
    with pytest.raises(SaveError, match="a folder already has that name"):
        save_document(mlp_document(), tmp_path / "dir.nbg")


def test_unsavable_setting_is_named_and_nothing_is_written(tmp_path: Path) -> None:
    doc = mlp_document()
    doc.settings["callback"] = object()
    with pytest.raises(SaveError, match="setting 'callback'"):
        save_document(doc, tmp_path / "m.nbg")
    doc.settings["callback"] = float("nan")
    with pytest.raises(SaveError, match="not a finite number"):
        save_document(doc, tmp_path / "m.nbg")
    nested: Any = 1
    for _ in range(100):
        nested = [nested]
    doc.settings["callback"] = nested  # the loader would refuse it, so saving does too
    with pytest.raises(SaveError, match="setting 'callback': it nests values more than 64 levels deep"):
        save_document(doc, tmp_path / "m.nbg")
    assert list(tmp_path.iterdir()) == []


def test_save_keeps_permissions_of_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "m.nbg"
    save_document(mlp_document(), path)
    path.chmod(0o640)
    save_document(mlp_document(hidden=3), path)
    assert path.stat().st_mode & 0o777 == 0o640
    assert load_document(path).network("classifier").find("hidden").params["units"] == 3


# ---------------------------------------------------------------------------------------------------------------
# Fuzz: loading either works or raises LoadError, never anything else


FUZZ = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**30) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def _try_load(data: Any) -> Document | None:
    try:
        doc = document_from_dict(data, "fuzz.nbg")
    except LoadError as error:
        assert str(error)
        return None
    # Whatever loads must save and load again to the same document.
    again = load_text(dumps_document(doc))
    assert_same_document(again, doc)
    return doc


@FUZZ
@given(st.binary(max_size=300))
def test_fuzz_random_bytes(data: bytes) -> None:
    try:
        tree = parse_bytes(data, "fuzz.nbg")
    except LoadError:
        return
    _try_load(tree)


@FUZZ
@given(json_values)
def test_fuzz_random_json(value: Any) -> None:
    _try_load(value)


garbage = st.one_of(json_values, st.sampled_from(["", "n1", "n2", "out", "in", "in1", "Linear", "T", -1, 0, 1e300,
                                                  10**25, [], {}, [0], ["n1", "out"], True, None]))
ids = st.sampled_from(["n1", "n2", "n3"])
spec_ids = st.sampled_from(["Input", "Linear", "ReLU", "Output", "Add", "Split", "Conv2d", "Embedding", "LSTM"])
param_values = st.dictionaries(
    st.sampled_from(["units", "shape", "dtype", "role", "inputs", "chunks", "filters", "kernel_size", "bogus"]),
    st.one_of(st.integers(-2, 70), st.sampled_from([[4], [3, 8, 8], ["T"], "int64", "logits", 2.5]), garbage),
    max_size=3)
node_like = st.fixed_dictionaries(
    {"id": st.one_of(ids, ids, ids, garbage), "type": st.one_of(spec_ids, spec_ids, spec_ids, garbage)},
    optional={"version": st.one_of(st.just(1), garbage), "name": st.one_of(st.sampled_from(["a", "b", "x"]),
                                                                           garbage),
              "params": st.one_of(param_values, param_values, garbage), "config": param_values,
              "position": st.one_of(st.tuples(st.floats(), st.floats()).map(list), garbage),
              "options": st.one_of(st.dictionaries(st.sampled_from(["trainable", "lr_mult", "l1", "x"]), garbage,
                                                   max_size=2), garbage)})
wire_like = st.one_of(
    st.fixed_dictionaries({"from": st.tuples(ids, st.sampled_from(["out", "out1", "x"])).map(list),
                           "to": st.tuples(ids, st.sampled_from(["in", "in1", "in2"])).map(list)}),
    st.sampled_from(["n1:out -> n2:in", "n2:out -> n3:in", "n1:out -> n3:in1", "bad"]), garbage)
network_like = st.fixed_dictionaries(
    {"name": st.one_of(st.sampled_from(["m", "g"]), garbage), "nodes": st.lists(node_like, max_size=4)},
    optional={"wires": st.lists(wire_like, max_size=4), "links": st.lists(wire_like, max_size=4)})


@FUZZ
@given(st.sampled_from([1, 2]), st.lists(network_like, max_size=3), st.dictionaries(
    st.sampled_from(["info", "settings", "title", "description"]), garbage, max_size=3))
def test_fuzz_document_shaped_json(version: int, networks: list[Any], extra: dict[str, Any]) -> None:
    _try_load({"format": "netbuilder", "format_version": version, "networks": networks, **extra})


def _fuzz_base() -> dict[str, Any]:
    doc = mlp_document()
    net = doc.network("catalog")
    a = net.add("Input", shape=(3, 8, 8))
    b = net.add("Conv2d", filters=4, kernel_size=3)
    c = net.add("Split", chunks=2, axis=1)
    d = net.add("Add")
    net.chain(a, b, c)
    net.connect(c, d, src_port="out1")
    net.connect(c, d, src_port="out2")
    return document_to_dict(doc)


BASE = _fuzz_base()


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


@FUZZ
@given(st.data())
def test_fuzz_mutated_documents(data: st.DataObject) -> None:
    tree = copy.deepcopy(BASE)
    if data.draw(st.booleans()):  # sometimes an old-format file
        tree["format_version"] = 1
    for _ in range(data.draw(st.integers(1, 3))):
        paths = [p for p in _paths(tree) if p]
        path = data.draw(st.sampled_from(paths))
        parent = tree
        for key in path[:-1]:
            parent = parent[key]
        action = data.draw(st.sampled_from(["delete", "replace", "replace", "insert"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "replace":
            parent[path[-1]] = copy.deepcopy(data.draw(garbage))
        elif isinstance(parent, dict):
            parent[data.draw(st.sampled_from(["id", "type", "params", "extra", "wires", "options"]))] = \
                copy.deepcopy(data.draw(garbage))
        else:
            parent.insert(path[-1], copy.deepcopy(data.draw(garbage)))
    _try_load(tree)


# ---------------------------------------------------------------------------------------------------------------
# Weights


def mlp(hidden: int = 32, head: int = 10, extra: bool = False, seed: int = 0) -> Any:
    doc = Document()
    net = doc.network()
    x = net.add("Input", name="x", shape=(16,))
    h = net.add("Linear", name="body", units=hidden)
    r = net.add("ReLU", name="act")
    chain = [x, h, r]
    if extra:
        chain.append(net.add("Linear", name="adapter", units=hidden))
    chain += [net.add("Linear", name="head", units=head), net.add("Output", name="logits")]
    net.chain(*chain)
    return compile_network(net, seed=seed)


def test_weights_round_trip_and_metadata(tmp_path: Path) -> None:
    source = mlp(seed=1)
    path = tmp_path / "w.safetensors"
    save_weights(source, path, {"epochs": "3", "dataset": "digits"})
    state = load_weights(path)
    assert set(state) == set(source.state_dict())
    assert all(torch.equal(state[k], v) for k, v in source.state_dict().items())
    meta = read_weights_metadata(path)
    assert meta["epochs"] == "3" and meta["network"] == "model" and meta["producer"].startswith("NetBuilder")
    target = mlp(seed=2)
    report = apply_weights(target, state)
    assert report.ok and sorted(report.matched) == sorted(state) and report.summary() == "Loaded 4 of 4 tensors."
    inputs = example_inputs(source, batch=3)
    assert torch.equal(source(*inputs), target(*inputs))
    with pytest.raises(TypeError, match="text to text"):
        save_weights(source, path, {"epochs": 3})  # type: ignore[dict-item]


def test_apply_weights_reports_what_does_not_fit(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    save_weights(mlp(seed=1), path)
    target = mlp(head=5, extra=True, seed=2)
    head_before = target.head.weight.clone()
    report = apply_weights(target, load_weights(path))
    assert not report.ok
    assert sorted(report.matched) == ["body.bias", "body.weight"]
    assert sorted(report.missing) == ["adapter.bias", "adapter.weight"]
    assert report.unexpected == []
    mismatch = {m.name: m for m in report.shape_mismatches}
    assert (mismatch["head.weight"].file_shape, mismatch["head.weight"].model_shape) == ((10, 32), (5, 32))
    assert (mismatch["head.bias"].file_shape, mismatch["head.bias"].model_shape) == ((10,), (5,))
    assert "head.weight: the file has 10×32, the model needs 5×32" in report.summary()
    assert torch.equal(target.head.weight, head_before)  # a mismatch leaves the model's tensor alone

    small = mlp(extra=False, seed=3)
    report = apply_weights(small, load_weights(path) | {"adapter.weight": torch.zeros(2, 2)})
    assert report.unexpected == ["adapter.weight"]


def test_apply_weights_to_chosen_nodes_only(tmp_path: Path) -> None:
    source, target = mlp(seed=1), mlp(seed=2)
    head_before = target.head.weight.clone()
    report = apply_weights(target, source.state_dict(), nodes={"body"})
    assert sorted(report.matched) == ["body.bias", "body.weight"] and report.ok
    assert torch.equal(target.body.weight, source.body.weight)
    assert torch.equal(target.head.weight, head_before)
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        apply_weights(target, source.state_dict(), nodes={"nope"})


def test_bad_weights_files_are_refused_clearly(tmp_path: Path) -> None:
    good = tmp_path / "good.safetensors"
    save_weights(mlp(), good)
    cases = {
        "missing.safetensors": (None, "does not exist"),
        "random.safetensors": (os.urandom(64), "not a safetensors weights file"),
        "short.safetensors": (b"abc", "too short"),
        "truncated.safetensors": (good.read_bytes()[:-20], "damaged"),
        "header.safetensors": (good.read_bytes()[:8] + b"{" + b"x" * 200, "damaged"),
    }
    pickled = tmp_path / "model.pt"
    torch.save(mlp().state_dict(), pickled)
    cases["model.pt"] = (pickled.read_bytes(), "pickle checkpoint")
    for name, (content, expected) in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content)
        with pytest.raises(LoadError) as info:
            load_weights(path)
        assert expected in str(info.value) and name in str(info.value), name


def test_weights_save_failure_is_a_save_error(tmp_path: Path) -> None:
    with pytest.raises(SaveError, match="does not exist"):
        save_weights(mlp(), tmp_path / "no" / "w.safetensors")
