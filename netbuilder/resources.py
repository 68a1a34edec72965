"""Where bundled resources live, both in a source checkout and when installed (``netbuilder_resources``)."""

from __future__ import annotations

from pathlib import Path


def resource_dir(*parts: str) -> Path:
    """A file or folder under resources/, e.g. ``resource_dir("templates")``.

    Installed, resources/ is the package ``netbuilder_resources``; an editable install may expose it as a
    namespace package (no ``__file__``), so its ``__path__`` is used. From a plain checkout the folder sits next
    to ``netbuilder/``."""
    try:
        import netbuilder_resources

        base = Path(next(iter(netbuilder_resources.__path__))).resolve()
    except (ImportError, StopIteration):
        base = Path(__file__).resolve().parent.parent / "resources"
    return base.joinpath(*parts)
