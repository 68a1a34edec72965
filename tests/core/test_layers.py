"""The core's layers hold (import-linter "layers" contract in pyproject.toml): specs < document < analysis | io <
compile < train | export < cli, with the app above all. A lower layer importing a higher one fails here, naming
the import, instead of growing into a tangle."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_import_layers_contract_is_kept(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from importlinter.cli import lint_imports

    monkeypatch.chdir(ROOT)
    code = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
    assert code == 0, capsys.readouterr().out


def test_the_document_model_imports_no_higher_layer() -> None:
    """The conveniences that made the model import analysis, compile and io live in netbuilder.facade now."""
    source = (ROOT / "netbuilder" / "document" / "model.py").read_text(encoding="utf-8")
    for higher in ("netbuilder.analysis", "netbuilder.compile", "netbuilder.io"):
        assert higher not in source
