"""Fast checks of what packaging relies on: the entry points, resources found inside a frozen bundle, a windowed
process without standard streams, and the PyInstaller spec's structure (run against stand-ins for PyInstaller,
so no build is needed). tests/packaging/test_frozen_bundle.py builds the real bundle on request."""

from __future__ import annotations

import shutil
import sys
import tomllib
import types
from pathlib import Path

import pytest

import netbuilder
from netbuilder.cli import CliError, main
from netbuilder.resources import FROZEN_FOLDER, resource_dir
from netbuilder.templates import TEMPLATE_ORDER, list_templates

ROOT = Path(__file__).resolve().parents[2]


def _object(reference: str) -> object:
    module, _, name = reference.partition(":")
    return getattr(__import__(module, fromlist=[name]), name)


def test_console_and_gui_entry_points_resolve() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"] == {"netbuilder": "netbuilder.cli:main"}
    assert project["gui-scripts"] == {"netbuilder-app": "netbuilder_ui.gui_entry:main"}
    assert callable(_object(project["scripts"]["netbuilder"]))
    assert callable(_object(project["gui-scripts"]["netbuilder-app"]))


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"NetBuilder {netbuilder.__version__}"


def test_frozen_bundle_resources_come_from_meipass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(ROOT / "resources" / "templates", tmp_path / FROZEN_FOLDER / "templates")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert resource_dir("templates") == tmp_path / FROZEN_FOLDER / "templates"
    templates = list_templates()
    assert [t.id for t in templates] == list(TEMPLATE_ORDER)
    assert all(t.path.parent == tmp_path / FROZEN_FOLDER / "templates" for t in templates)


def test_windowed_process_without_streams_logs_to_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from netbuilder_ui import gui_entry

    monkeypatch.setattr(gui_entry.tempfile, "gettempdir", lambda: str(tmp_path))
    monkeypatch.setattr(sys, "stdout", None)
    monkeypatch.setattr(sys, "stderr", None)
    gui_entry.ensure_streams()
    assert sys.stdout is not None and sys.stderr is not None
    print("to the log", file=sys.stderr)
    sys.stderr.flush()
    assert "to the log" in (tmp_path / gui_entry.LOG_NAME).read_text()


def test_gui_entry_opens_the_named_files_and_reports_failures(monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    import netbuilder.cli
    from netbuilder_ui import gui_entry

    opened: list[list[str]] = []
    monkeypatch.setattr(netbuilder.cli, "open_app", lambda files: opened.append(files) or 0)
    monkeypatch.setattr(sys, "argv", ["netbuilder-app", "a.nbg"])
    assert gui_entry.main() == 0 and opened == [["a.nbg"]]

    def broken(files: list[str]) -> int:
        raise CliError("The desktop app needs PySide6.")

    monkeypatch.setattr(netbuilder.cli, "open_app", broken)
    assert gui_entry.main() == 2
    assert "netbuilder-app: The desktop app needs PySide6." in capsys.readouterr().err


class _Recorder:
    """Stands in for one of PyInstaller's spec builders (Analysis, EXE, ...) and keeps its arguments."""

    made: list[_Recorder] = []

    def __init__(self, kind: str, *args: object, **kwargs: object):
        self.kind, self.args, self.kwargs = kind, args, kwargs
        _Recorder.made.append(self)


def _run_spec(monkeypatch: pytest.MonkeyPatch, workpath: Path) -> list[_Recorder]:
    hooks = types.ModuleType("PyInstaller.utils.hooks")
    hooks.collect_data_files = lambda package, **kwargs: [(f"/site/{package}/data.bin", package)]
    hooks.collect_submodules = lambda package, **kwargs: [package]
    for name in ("PyInstaller", "PyInstaller.utils"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "PyInstaller.utils.hooks", hooks)
    _Recorder.made = []

    def analysis(scripts: list[str], **kwargs: object) -> _Recorder:
        made = _Recorder("Analysis", scripts, **kwargs)
        made.scripts = [("pyi_rth_inspect", "rth.py", "PYSOURCE")] + [
            (Path(s).stem, s, "PYSOURCE") for s in scripts]
        made.pure = []
        made.datas = [("torch/include/ATen/core.h", "x", "DATA"), ("torch/lib/libtorch_cpu.so", "x", "BINARY"),
                      ("netbuilder_resources/templates/mlp.nbg", "x", "DATA")]
        made.binaries = [("torch/bin/test_api", "x", "BINARY"), ("torch/bin/torch_shm_manager", "x", "BINARY")]
        return made

    spec = ROOT / "packaging" / "netbuilder.spec"
    namespace = {"SPECPATH": str(spec.parent), "workpath": str(workpath), "Analysis": analysis,
                 **{kind: (lambda *a, _kind=kind, **k: _Recorder(_kind, *a, **k))
                    for kind in ("PYZ", "EXE", "COLLECT", "BUNDLE")}}
    exec(compile(spec.read_text(), str(spec), "exec"), namespace)
    return _Recorder.made


def test_spec_builds_a_windowed_app_and_a_console_cli_sharing_one_folder(monkeypatch: pytest.MonkeyPatch,
                                                                         tmp_path: Path) -> None:
    made = _run_spec(monkeypatch, tmp_path)
    analysis = next(m for m in made if m.kind == "Analysis")
    for script in analysis.args[0]:
        assert Path(script).is_file(), script
    # ui/ and resources/ are found by the analysis under their import names, whatever the install mode.
    staged = Path(analysis.kwargs["pathex"][-1])
    assert (staged / "netbuilder_ui" / "app.py").is_file()
    assert (staged / "netbuilder_resources" / "__init__.py").is_file()
    assert {"torch", "netbuilder_resources", "onnxruntime"} <= set(analysis.kwargs["hiddenimports"])
    assert "tkinter" in analysis.kwargs["excludes"]
    assert analysis.kwargs["module_collection_mode"]["onnxscript"] == "pyz+py"  # its ONNX functions need source
    assert (str(ROOT / "resources" / "templates" / "*.nbg"), "netbuilder_resources/templates") \
        in analysis.kwargs["datas"]

    exes = {m.kwargs["name"]: m for m in made if m.kind == "EXE"}
    assert set(exes) == {"netbuilder", "netbuilder-app"}
    assert exes["netbuilder-app"].kwargs["console"] is False and exes["netbuilder"].kwargs["console"] is True
    app_scripts = [s[0] for s in exes["netbuilder-app"].args[1]]
    cli_scripts = [s[0] for s in exes["netbuilder"].args[1]]
    assert app_scripts == ["pyi_rth_inspect", "launch_app"] and cli_scripts == ["pyi_rth_inspect", "launch_cli"]

    (collect,) = [m for m in made if m.kind == "COLLECT"]
    assert collect.args[0] is exes["netbuilder-app"] and collect.args[1] is exes["netbuilder"]
    kept = {entry[0] for group in collect.args[2:] for entry in group}
    assert kept == {"torch/lib/libtorch_cpu.so", "netbuilder_resources/templates/mlp.nbg",
                    "torch/bin/torch_shm_manager"}


def test_spec_on_macos_makes_a_foreground_app_that_runs_the_windowed_executable(monkeypatch: pytest.MonkeyPatch,
                                                                                 tmp_path: Path) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    made = _run_spec(monkeypatch, tmp_path)
    (bundle,) = [m for m in made if m.kind == "BUNDLE"]
    (collect,) = [m for m in made if m.kind == "COLLECT"]
    assert bundle.args[0] is collect and collect.args[0].kwargs["name"] == "netbuilder-app"  # the .app's executable
    plist = bundle.kwargs["info_plist"]
    assert plist["LSBackgroundOnly"] is False
    assert plist["CFBundleDocumentTypes"][0]["CFBundleTypeExtensions"] == ["nbg"]
    assert bundle.kwargs["version"] == netbuilder.__version__
