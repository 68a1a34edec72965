"""Where bundled resources live, both in a source checkout and when installed (``netbuilder_resources``)."""

from __future__ import annotations

import sys
from pathlib import Path

FROZEN_FOLDER = "netbuilder_resources"  # where packaging/netbuilder.spec puts resources/ inside a bundle


def resource_dir(*parts: str) -> Path:
    """A file or folder under resources/, e.g. ``resource_dir("templates")``.

    Installed, resources/ is the package ``netbuilder_resources``; an editable install may expose it as a
    namespace package (no ``__file__``), so its ``__path__`` is used. From a plain checkout the folder sits next
    to ``netbuilder/``. In a PyInstaller bundle it is a folder of the bundle (``sys._MEIPASS``)."""
    bundle = getattr(sys, "_MEIPASS", None)
    if getattr(sys, "frozen", False) and bundle:
        return Path(bundle, FROZEN_FOLDER).joinpath(*parts)
    try:
        import netbuilder_resources

        base = Path(next(iter(netbuilder_resources.__path__))).resolve()
    except (ImportError, StopIteration):
        base = Path(__file__).resolve().parent.parent / "resources"
    return base.joinpath(*parts)
