"""Commands that only read and analyse a file must not pay for PyTorch (seconds to import) or, except ``render``,
for Qt: each runs in a fresh interpreter and the modules it loaded are checked afterwards."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from netbuilder.document.reserved import GRAPH_MODULE_ATTRIBUTES
from netbuilder.templates import template_path

HEAVY = ("torch", "safetensors", "onnx", "onnxruntime", "pyqtgraph")
QT = ("PySide6", "shiboken6")

RUNNER = textwrap.dedent(
    """
    import json, sys
    from netbuilder.cli import main
    code = main(json.loads(sys.argv[1]))
    loaded = sorted({name.split(".")[0] for name in sys.modules})
    print("LOADED=" + json.dumps(loaded))
    sys.exit(code)
    """
)


def _loaded_by(argv: list[str], cwd: Path) -> tuple[int, set[str], str]:
    result = subprocess.run([sys.executable, "-c", RUNNER, json.dumps(argv)], capture_output=True, text=True,
                            timeout=300, cwd=cwd, env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
    line = next((x for x in result.stdout.splitlines() if x.startswith("LOADED=")), None)
    assert line is not None, result.stdout + result.stderr
    return result.returncode, set(json.loads(line.removeprefix("LOADED="))), result.stdout + result.stderr


@pytest.mark.parametrize("command", ["validate", "summary", "templates", "new", "render"])
def test_reading_commands_import_neither_torch_nor_qt(command: str, tmp_path: Path) -> None:
    mlp = str(template_path("mlp"))
    argv = {"validate": ["validate", mlp, "--json"], "summary": ["summary", mlp],
            "templates": ["templates", "--json"], "new": ["new", "-t", "lenet", "-o", str(tmp_path / "n.nbg")],
            "render": ["render", str(template_path("lenet")), "-o", str(tmp_path / "n.png")]}[command]
    code, loaded, output = _loaded_by(argv, tmp_path)
    assert code == 0, output
    banned = HEAVY if command == "render" else HEAVY + QT
    assert not loaded & set(banned), f"`netbuilder {command}` imported {sorted(loaded & set(banned))}"
    if command == "render":
        assert "PySide6" in loaded and (tmp_path / "n.png").stat().st_size > 0


def test_building_a_layer_still_gives_the_real_torch_class() -> None:
    """Specs name torch classes lazily; a compiled network holds (and PyTorch code export records) the real ones."""
    import torch.nn as nn

    from netbuilder.compile import compile_network
    from netbuilder.templates import load_template

    model = compile_network(load_template("mlp").network())
    linears = [m for m in model.modules() if type(m) is nn.Linear]
    assert linears and all(m._nb_ctor[0] is nn.Linear for m in linears)
    relus = [m for m in model.modules() if type(m) is nn.ReLU]
    assert relus and relus[0]._nb_ctor[0] is nn.ReLU


def test_the_reserved_node_names_cover_what_torch_fx_uses() -> None:
    """The list is written out so that checking a name never imports torch; this keeps it honest when torch is
    upgraded."""
    import torch.fx as fx
    import torch.nn as nn

    live = {name for name in dir(fx.GraphModule(nn.Module(), fx.Graph())) if not name.startswith("_")}
    missing = sorted(live - GRAPH_MODULE_ATTRIBUTES)
    assert not missing, f"add these to netbuilder/document/reserved.py: {missing}"
