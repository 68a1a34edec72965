"""Where bundled resources live, both in a source checkout and when installed (``netbuilder_resources``)."""

from __future__ import annotations

from pathlib import Path


def resource_dir(*parts: str) -> Path:
    """A folder under resources/, e.g. ``resource_dir("templates")``."""
    try:
        import netbuilder_resources

        base = Path(next(iter(netbuilder_resources.__path__))).resolve()
    except (ImportError, StopIteration):
        base = Path(__file__).resolve().parent.parent / "resources"
    return base.joinpath(*parts)
