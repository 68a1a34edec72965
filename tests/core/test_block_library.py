"""The user block library: save a block to a folder of .nbg files, list it, import it into another document."""

from __future__ import annotations

from block_docs import define_basic_block, residual_document

from netbuilder.analysis import analyze
from netbuilder.document import Document
from netbuilder.document.block_commands import RepeatBlock
from netbuilder.fs.userdata import block_library_dir
from netbuilder.io import dumps_document
from netbuilder.io.block_library import import_block, list_library, save_block


def test_library_folder_is_under_the_user_data_dir(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("NETBUILDER_DATA_DIR", str(tmp_path / "data"))
    assert block_library_dir() == tmp_path / "data" / "blocks"


def test_a_saved_block_is_listed_and_imported_with_the_blocks_it_uses(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("NETBUILDER_DATA_DIR", str(tmp_path))
    source = residual_document(instances=1)
    source.execute(RepeatBlock("model", source.network().find("layer1").id, 2))
    path = save_block(source, "BasicBlockX2")
    assert path == tmp_path / "blocks" / "BasicBlockX2.nbg"
    (tmp_path / "blocks" / "broken.nbg").write_text("{not json")
    listed = {entry.name: entry for entry in list_library()}
    assert listed["BasicBlockX2"].inputs == ("x",) and listed["BasicBlockX2"].params == ("filters",)
    assert listed["broken"].problem
    target = Document()
    name = import_block(target, path)
    assert name == "BasicBlockX2" and list(target.blocks) == ["BasicBlock", "BasicBlockX2"]
    assert target.undo_stack.count() == 1  # the import is one undo step
    net = target.network()
    x = net.add("Input", shape=(8, 6, 6))
    net.chain(x, net.add_block(name), net.add("Output", role="features"))
    result = analyze(net)
    assert result.ok and result.total_params == 2 * (2 * 8 * 8 * 9 + 32)
    while target.undo_stack.can_undo():
        target.undo_stack.undo()
    assert not target.blocks


def test_import_reuses_an_identical_block_and_renames_a_different_one(tmp_path) -> None:
    source = Document()
    define_basic_block(source)
    path = save_block(source, "BasicBlock", tmp_path)
    same = Document()
    define_basic_block(same)
    before = dumps_document(same)
    assert import_block(same, path) == "BasicBlock" and dumps_document(same) == before
    other = Document()
    define_basic_block(other)
    inner = other.network("BasicBlock")
    inner.set_params(inner.find("conv1").id, kernel_size=(1, 1))
    assert import_block(other, path) == "BasicBlock2"
    assert other.block("BasicBlock2").network.find("conv1").params["kernel_size"] == (3, 3)
