"""Where NetBuilder keeps the user's own files (the block library), per platform.

``NETBUILDER_DATA_DIR`` overrides it (tests, portable installs). Otherwise: ``%APPDATA%\\NetBuilder`` on Windows,
``~/Library/Application Support/NetBuilder`` on macOS, ``$XDG_DATA_HOME/netbuilder`` (``~/.local/share/netbuilder``)
elsewhere. Nothing is created here; writers create the folders they need.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def user_data_dir() -> Path:
    override = os.environ.get("NETBUILDER_DATA_DIR")
    if override:
        return Path(override).expanduser()
    if sys.platform == "win32":
        base = os.environ.get("APPDATA")
        return Path(base) / "NetBuilder" if base else Path.home() / "AppData" / "Roaming" / "NetBuilder"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "NetBuilder"
    base = os.environ.get("XDG_DATA_HOME")
    return (Path(base) if base else Path.home() / ".local" / "share") / "netbuilder"


def block_library_dir() -> Path:
    """The folder of the user's block library: one ``.nbg`` file per block."""
    return user_data_dir() / "blocks"
