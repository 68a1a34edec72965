"""Block definition names survive an ONNX round trip: the export records which definition each block instance was
(metadata ``netbuilder.blocks``), and the import names the blocks it finds by structure after that record.

One small network (two instances of a residual block named ``BasicBlock``, which the import's structural naming
would call ``ResidualBlock``) is exported once per module; damaged copies of its record are written with onnx and
imported without the parity run: a record only ever names blocks, so every damaged copy imports the same
structure as an undamaged one, under the structural name.
"""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest
import torch.nn as nn
from block_docs import residual_document

from netbuilder.analysis import analyze
from netbuilder.export import export_onnx
from netbuilder.export.onnx_blocks import BLOCKS_KEY, MAX_RECORD_BYTES, record_blocks, recorded_blocks
from netbuilder.importers import import_onnx

STRUCTURAL = "ResidualBlock"  # what the import calls the block when no usable record names it


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("blocknames") / "residual.onnx"
    report = export_onnx(residual_document().network(), path)
    assert report.ok and report.checked, report.summary()
    return path


def with_record(source: Path, target: Path, *values: str) -> Path:
    """A copy of ``source`` whose block record is replaced by ``values`` (none: no record; several: repeated)."""
    model = onnx.load(str(source))
    kept = [(p.key, p.value) for p in model.metadata_props if p.key != BLOCKS_KEY]
    del model.metadata_props[:]
    for key, value in [*kept, *((BLOCKS_KEY, v) for v in values)]:
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(target))
    return target


def blocks_of(result) -> tuple[list[str], list[tuple[str, str]]]:
    net = result.document.network()
    return sorted(result.document.blocks), [(n.name, n.block) for n in net.nodes if n.type == "Block"]


def test_the_export_records_each_block_instance_with_its_definition(exported):
    model = onnx.load(str(exported))
    records = [p.value for p in model.metadata_props if p.key == BLOCKS_KEY]
    assert len(records) == 1 and " " not in records[0]  # one compact entry
    assert json.loads(records[0]) == {"layer1": "BasicBlock", "layer2": "BasicBlock"}
    onnx.checker.check_model(model, full_check=True)


def test_a_network_without_blocks_gets_no_record(tmp_path):
    untouched = tmp_path / "absent.onnx"
    assert record_blocks(untouched, nn.Sequential(nn.Linear(2, 2), nn.ReLU())) is False
    assert not untouched.exists()


def test_the_import_names_the_blocks_it_finds_after_the_record(exported):
    result = import_onnx(exported)
    assert result.parity is not None and result.parity.ok, result.parity.summary()
    assert blocks_of(result) == (["BasicBlock"], [("layer1", "BasicBlock"), ("layer2", "BasicBlock")])
    assert result.parameter_count == analyze(residual_document().network()).total_params


def test_without_a_record_the_blocks_get_their_structural_name(exported, tmp_path):
    result = import_onnx(with_record(exported, tmp_path / "bare.onnx"), parity=False)
    assert blocks_of(result) == ([STRUCTURAL], [("layer1", STRUCTURAL), ("layer2", STRUCTURAL)])


DAMAGED = {
    "not json": ["{layer1: BasicBlock"],
    "empty": [""],
    "a list": ['["layer1", "BasicBlock"]'],
    "a string": ['"BasicBlock"'],
    "null": ["null"],
    "nested too deep": ["[" * 100_000 + "]" * 100_000],
    "too large": [json.dumps({"layer1": "BasicBlock", "layer2": "BasicBlock", "pad": "x" * MAX_RECORD_BYTES})],
    "names not strings": ['{"layer1": 1, "layer2": 1}'],
    "names are objects": ['{"layer1": {"a": 1}, "layer2": {"a": 1}}'],
    "reserved Block": ['{"layer1": "Block", "layer2": "Block"}'],
    "reserved Input": ['{"layer1": "Input", "layer2": "Input"}'],
    "reserved Output": ['{"layer1": "Output", "layer2": "Output"}'],
    "reserved attribute": ['{"layer1": "forward", "layer2": "forward"}'],
    "not identifiers": ['{"layer1": "Basic Block", "layer2": "Basic Block"}'],
    "trailing newline": ['{"layer1": "BasicBlock\\n", "layer2": "BasicBlock\\n"}'],
    "starts with a digit": ['{"layer1": "9Block", "layer2": "9Block"}'],
    "huge name": [json.dumps({"layer1": "B" * 5000, "layer2": "B" * 5000})],
    "bad paths": ['{"layer1/..": "BasicBlock", "": "BasicBlock", "layer2 ": "BasicBlock"}'],
    "one instance only": ['{"layer1": "BasicBlock"}'],
    "two definitions": ['{"layer1": "BasicBlock", "layer2": "OtherBlock"}'],
    "paths that are not the instances": ['{"layer": "BasicBlock", "layer1.conv1": "BasicBlock", "layer2.add": "BasicBlock"}'],
    "two records": ['{"layer1": "BasicBlock", "layer2": "BasicBlock"}', '{"layer1": "X", "layer2": "X"}'],
}


@pytest.mark.parametrize("case", DAMAGED, ids=str)
def test_a_damaged_record_is_ignored_and_changes_nothing_else(exported, tmp_path, case):
    bare = import_onnx(with_record(exported, tmp_path / "bare.onnx"), parity=False)
    result = import_onnx(with_record(exported, tmp_path / "damaged.onnx", *DAMAGED[case]), parity=False)
    assert blocks_of(result) == blocks_of(bare) == ([STRUCTURAL], [("layer1", STRUCTURAL), ("layer2", STRUCTURAL)])
    assert result.parameter_count == bare.parameter_count
    assert sorted(result.weights) == sorted(bare.weights)


def test_a_usable_record_only_names_blocks_and_a_taken_name_is_numbered(exported, tmp_path):
    """A well-formed record naming the network itself: the definition takes the next free name; the structure is
    what the import found without the record."""
    bare = import_onnx(with_record(exported, tmp_path / "bare.onnx"), parity=False)
    network = bare.document.network().name
    record = json.dumps({"layer1": network, "layer2": network, "fc": "Head", "nowhere.0": "Ghost"})
    result = import_onnx(with_record(exported, tmp_path / "named.onnx", record), parity=False)
    names, nodes = blocks_of(result)
    assert names == [f"{network}2"] and [n for n, _ in nodes] == ["layer1", "layer2"]
    assert result.parameter_count == bare.parameter_count
    assert [n.type for n in result.document.network().nodes] == [n.type for n in bare.document.network().nodes]


def test_recorded_blocks_keeps_only_well_formed_entries():
    model = onnx.ModelProto()
    entry = model.metadata_props.add()
    entry.key = BLOCKS_KEY
    entry.value = json.dumps({"layer1.0": "BasicBlock", "layer2.0.downsample": "Downsample", "bad path": "A",
                              "x": "Block", "y": 3, "z": "ok_name"})
    assert recorded_blocks(model) == {"layer1.0": "BasicBlock", "layer2.0.downsample": "Downsample",
                                      "z": "ok_name"}
    assert recorded_blocks(onnx.ModelProto()) == {}
