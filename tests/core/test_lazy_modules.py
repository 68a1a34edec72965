"""netbuilder.lazy_modules: a deferred module runs on first use, once, and is then an ordinary module."""

from __future__ import annotations

import builtins
import importlib
import sys
import textwrap
from pathlib import Path

import pytest

from netbuilder import lazy_modules


@pytest.fixture()
def probe_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A throwaway package that counts how often its __init__ ran (in a file, so nothing is shared)."""
    name = f"nb_lazy_probe_{tmp_path.name.replace('-', '_')}"
    package = tmp_path / name
    package.mkdir()
    runs = tmp_path / "runs.txt"
    (package / "__init__.py").write_text(textwrap.dedent(f"""
        with open({str(runs)!r}, "a") as out:
            out.write("x")
        import json as _json  # an import inside the package, for the import-hook test
        VALUE = 42
        """))
    (package / "sub.py").write_text("PART = 'sub'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name, runs
    for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
        del sys.modules[key]


def _runs(runs: Path) -> int:
    return len(runs.read_text()) if runs.exists() else 0


def test_import_statement_does_not_run_a_deferred_module(probe_package):
    name, runs = probe_package
    assert lazy_modules.defer(name)
    module = importlib.import_module(name)  # what `import name as x` does
    assert _runs(runs) == 0 and not lazy_modules.is_loaded(name)
    assert module.VALUE == 42  # the first read runs it
    assert _runs(runs) == 1 and lazy_modules.is_loaded(name)
    assert module.VALUE == 42 and type(module).__name__ == "module"  # an ordinary module from now on
    assert _runs(runs) == 1


def test_from_import_and_submodules_load_it_once(probe_package):
    name, runs = probe_package
    lazy_modules.defer(name)
    sub = importlib.import_module(f"{name}.sub")
    assert sub.PART == "sub" and _runs(runs) == 1
    exec(f"from {name} import VALUE as got", namespace := {})  # noqa: S102
    assert namespace["got"] == 42 and _runs(runs) == 1


def test_load_runs_it_and_defer_refuses_what_is_imported_or_missing(probe_package):
    name, runs = probe_package
    lazy_modules.defer(name)
    lazy_modules.load(name)
    assert _runs(runs) == 1 and lazy_modules.is_loaded(name)
    lazy_modules.load(name)
    assert _runs(runs) == 1
    assert not lazy_modules.defer(name)  # already imported
    assert not lazy_modules.defer("nb_no_such_module_anywhere")
    assert not lazy_modules.is_loaded("nb_no_such_module_anywhere")


def test_deferred_load_bypasses_an_import_hook_installed_later(probe_package, monkeypatch):
    """PySide6 replaces builtins.__import__ with a hook that reads every later module's source; the deferred
    module's own imports must not go through it (that is the start-up saving)."""
    name, _ = probe_package
    lazy_modules.defer(name)
    seen: list[str] = []
    plain = builtins.__import__

    def hook(module_name, *args, **kwargs):
        seen.append(module_name)
        return plain(module_name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", hook)
    lazy_modules.load(name)
    assert "json" not in seen
    assert builtins.__import__ is hook  # put back afterwards


def test_a_failing_module_stays_deferred_and_says_why(tmp_path, monkeypatch):
    name = "nb_lazy_broken_probe"
    (tmp_path / f"{name}.py").write_text("raise RuntimeError('broken on purpose')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        lazy_modules.defer(name)
        module = sys.modules[name]
        with pytest.raises(RuntimeError, match="broken on purpose"):
            module.anything  # noqa: B018
        assert not lazy_modules.is_loaded(name)
    finally:
        sys.modules.pop(name, None)
