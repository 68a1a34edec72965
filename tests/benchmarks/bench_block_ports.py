"""Renaming a block's port: the wires on every instance follow in one command. Figures: the rename with its undo
and redo on the 1,000-layer network of 50 block instances (`bench_blocks.blocks_document`), and the same network
re-analysed afterwards (the analysis must still find every wire on a port)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_blocks import INSTANCES, _median_ms, blocks_document  # noqa: E402

from netbuilder.analysis import Analyzer  # noqa: E402
from netbuilder.document import RenameNode  # noqa: E402


def port_rename_figures() -> dict[str, float]:
    doc, _ = blocks_document()
    net = doc.network()
    inner = doc.network("Layer20")
    port = inner.find("x").id
    names = iter(["features", "x"] * 100)

    def rename() -> None:
        command = doc.execute(RenameNode("Layer20", port, next(names)))
        assert sum(len(m.old) for m in command.moves) == INSTANCES

    rename_ms = _median_ms(rename, repeats=9)

    def undo_redo() -> None:
        doc.undo_stack.undo()
        doc.undo_stack.redo()

    undo_redo_ms = _median_ms(undo_redo, repeats=9)
    analyzer = Analyzer(net)

    def reanalyse() -> None:
        doc.execute(RenameNode("Layer20", port, next(names)))
        assert analyzer.analyze().ok

    reanalyse_ms = _median_ms(reanalyse, repeats=5)
    return {"block_port_rename_50_instances_ms": round(rename_ms, 2),
            "block_port_rename_undo_redo_ms": round(undo_redo_ms, 2),
            "block_port_rename_and_reanalysis_ms": round(reanalyse_ms, 2)}


BENCHMARKS = {"block_ports": port_rename_figures}
