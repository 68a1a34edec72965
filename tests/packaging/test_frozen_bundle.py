"""Builds the Linux bundle with packaging/build_linux.sh and runs the frozen executables from outside the source
tree: the CLI's --version, validate (a valid and a broken file), templates and an ONNX export, the windowed app,
and the tar.gz's install script.

It takes minutes (PyInstaller analyses torch), so it only runs when asked: NETBUILDER_PACKAGING_TESTS=1
python -m pytest tests/packaging -m packaging. Set NETBUILDER_BUNDLE_TMP to a folder to keep the build there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

import netbuilder
from netbuilder.templates import TEMPLATE_ORDER

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [  # tests/conftest.py deselects these unless NETBUILDER_PACKAGING_TESTS=1
    pytest.mark.slow,
    pytest.mark.packaging,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="build_linux.sh builds the Linux bundle"),
]


def _clean_env(home: Path) -> dict[str, str]:
    """An environment where nothing points back at the source tree or this virtualenv."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV") and not key.startswith("PYTEST")}
    env["PATH"] = "/usr/bin:/bin"
    env["HOME"] = str(home)
    env["QT_QPA_PLATFORM"] = "offscreen"
    return env


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = Path(os.environ.get("NETBUILDER_BUNDLE_TMP") or tmp_path_factory.mktemp("bundle"))
    dist, work = base / "dist", base / "work"
    start = time.monotonic()
    result = subprocess.run(
        ["bash", str(ROOT / "packaging" / "build_linux.sh"), "--dist", str(dist), "--work", str(work)],
        env={**os.environ, "PYTHON": sys.executable}, capture_output=True, text=True, timeout=3600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    print(f"bundle built in {time.monotonic() - start:.0f} s")
    archives = list(dist.glob("netbuilder-*-linux-*.tar.gz"))
    assert len(archives) == 1, list(dist.iterdir())
    outside = base / "elsewhere"  # the cwd for every frozen run: no netbuilder/ or resources/ next to it
    outside.mkdir(exist_ok=True)
    return {"bundle": dist / "NetBuilder", "archive": archives[0], "cwd": outside, "home": base / "home"}


def _cli(built: dict[str, Path], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    built["home"].mkdir(exist_ok=True)
    return subprocess.run([str(built["bundle"] / "netbuilder"), *args], cwd=built["cwd"],
                          env=_clean_env(built["home"]), capture_output=True, text=True, timeout=timeout)


def test_bundle_has_both_executables_and_no_source_tree(built: dict[str, Path]) -> None:
    bundle = built["bundle"]
    assert os.access(bundle / "netbuilder", os.X_OK) and os.access(bundle / "netbuilder-app", os.X_OK)
    internal = bundle / "_internal"
    assert sorted(p.name for p in (internal / "netbuilder_resources" / "templates").glob("*.nbg")) == \
        sorted(f"{t}.nbg" for t in TEMPLATE_ORDER)
    assert not (internal / "torch" / "include").exists() and not (internal / "tkinter").exists()


def test_frozen_cli_version(built: dict[str, Path]) -> None:
    result = _cli(built, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"NetBuilder {netbuilder.__version__}"


def test_frozen_cli_validates_a_template_and_a_broken_copy(built: dict[str, Path]) -> None:
    good = built["cwd"] / "mlp.nbg"
    result = _cli(built, "new", "--template", "mlp", "-o", str(good), "--force")
    assert result.returncode == 0, result.stderr
    result = _cli(built, "validate", "mlp.nbg")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "mlp.nbg: valid"

    data = json.loads(good.read_text())
    for node in data["networks"][0]["nodes"]:
        if node["name"] == "classes":
            node["type"], node["params"] = "Conv2d", {"filters": 10}  # a Conv2d cannot take N×64 features
    bad = built["cwd"] / "bad.nbg"
    bad.write_text(json.dumps(data))
    result = _cli(built, "validate", "bad.nbg", "--json")
    report = json.loads(result.stdout)
    assert result.returncode == 1 and not report["valid"]
    assert any(d["node_name"] == "classes" for d in report["diagnostics"])
    assert "Traceback" not in result.stderr


def test_frozen_cli_finds_every_bundled_template(built: dict[str, Path]) -> None:
    result = _cli(built, "templates", "--json")
    assert result.returncode == 0, result.stderr
    assert [t["id"] for t in json.loads(result.stdout)] == list(TEMPLATE_ORDER)


def test_frozen_cli_exports_onnx_checked_by_onnxruntime(built: dict[str, Path]) -> None:
    """torch, onnx, onnxscript and onnxruntime all work inside the bundle: the dynamo exporter (which needs
    onnxscript's source files) is used, not the TorchScript fallback, and onnxruntime agrees with torch."""
    _cli(built, "new", "--template", "lenet", "-o", "lenet.nbg", "--force")
    result = _cli(built, "export", "lenet.nbg", "--onnx", "lenet.onnx", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    (report,) = json.loads(result.stdout)
    assert report["ok"] and report["exporter"] == "dynamo" and report["max_abs_diff"] < 1e-4, report
    assert (built["cwd"] / "lenet.onnx").stat().st_size > 10_000
    assert "Traceback" not in result.stderr


def test_frozen_app_starts_and_stays_up(built: dict[str, Path]) -> None:
    """The windowed executable opens its window (offscreen) and keeps running; an import missing from the
    bundle would end it at once with a traceback."""
    built["home"].mkdir(exist_ok=True)
    process = subprocess.Popen([str(built["bundle"] / "netbuilder-app")], cwd=built["cwd"],
                               env=_clean_env(built["home"]), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        time.sleep(20)
        alive = process.poll() is None
    finally:
        process.terminate()
        try:
            _, err = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            _, err = process.communicate()
    assert alive, err[-3000:]
    assert "Traceback" not in err, err[-3000:]


def test_archive_installs_for_the_user(built: dict[str, Path], tmp_path: Path) -> None:
    with tarfile.open(built["archive"]) as archive:
        names = set(archive.getnames())
        top = built["archive"].name.removesuffix(".tar.gz")
        for member in ("install.sh", "NetBuilder/netbuilder", "NetBuilder/netbuilder-app",
                       "share/applications/netbuilder.desktop", "share/icons/hicolor/scalable/apps/netbuilder.svg",
                       "share/mime/packages/netbuilder.xml"):
            assert f"{top}/{member}" in names
        archive.extractall(tmp_path, filter="tar")
    home = tmp_path / "home"
    home.mkdir()
    env = {**_clean_env(home), "XDG_DATA_HOME": str(home / ".local" / "share")}
    result = subprocess.run(["bash", str(tmp_path / top / "install.sh")], env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    shutil.rmtree(tmp_path / top)  # the installed copy must not depend on the archive
    desktop = (home / ".local/share/applications/netbuilder.desktop").read_text()
    installed = home / ".local/opt/netbuilder/NetBuilder"
    assert f'Exec="{installed}/netbuilder-app" %F' in desktop
    assert (home / ".local/share/mime/packages/netbuilder.xml").is_file()
    version = subprocess.run([str(home / ".local/bin/netbuilder"), "--version"], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=120)
    assert version.stdout.strip() == f"NetBuilder {netbuilder.__version__}", version.stderr
