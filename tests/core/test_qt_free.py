"""The core must run where no display and no Qt exist (CLI, servers, notebooks): importing every module of
``netbuilder`` in a fresh interpreter must not load Qt or pyqtgraph."""

import subprocess
import sys
import textwrap


def test_importing_every_core_module_loads_no_qt() -> None:
    script = textwrap.dedent(
        """
        import importlib, pkgutil, sys
        import netbuilder
        names = [m.name for m in pkgutil.walk_packages(netbuilder.__path__, "netbuilder.")
                 if not m.name.endswith("__main__")]  # __main__ runs the program
        for name in names:
            importlib.import_module(name)
        import netbuilder.specs as specs
        specs.all_specs()
        banned = [m for m in sys.modules if m.split(".")[0] in ("PySide6", "shiboken6", "pyqtgraph", "PyQt5", "PyQt6")]
        print(f"COUNT={len(names)}")
        print(f"BANNED={','.join(banned)}")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    count, banned = lines["COUNT"], lines["BANNED"]
    assert int(count) >= 10, "expected to import the whole core"
    assert banned == "", f"netbuilder imported Qt modules: {banned}"
