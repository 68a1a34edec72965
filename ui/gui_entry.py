"""The ``netbuilder-app`` entry point: the desktop app started without a console window.

On Windows a console script opens a terminal next to the window; a GUI script (``pythonw``) or a windowed frozen
executable does not, but then it has no standard streams at all (``sys.stdout`` and ``sys.stderr`` are None). Any
``print`` or the error hook's traceback would then raise inside the app, so the streams go to a log file that a
bug report can quote.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

LOG_NAME = "netbuilder-app.log"


def log_path() -> Path:
    """Where a windowed NetBuilder writes what would have gone to a console: the user's temp folder."""
    return Path(tempfile.gettempdir()) / LOG_NAME


def ensure_streams() -> None:
    """Give a process started without a console somewhere to write; streams that exist are left alone."""
    if sys.stdout is not None and sys.stderr is not None:
        return
    try:
        stream = open(log_path(), "a", encoding="utf-8", errors="replace", buffering=1)  # noqa: SIM115 (lives as long as the process)
    except OSError:
        stream = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
    if sys.stdout is None:
        sys.stdout = stream
    if sys.stderr is None:
        sys.stderr = stream


def main() -> int:
    """Open the app with the files named on the command line (or the default example), like ``netbuilder``."""
    ensure_streams()
    from netbuilder.cli import CliError, open_app  # the same path as ``netbuilder`` with no command

    try:
        return open_app(sys.argv[1:])
    except CliError as error:
        print(f"netbuilder-app: {error}", file=sys.stderr)
        return error.code


if __name__ == "__main__":
    sys.exit(main())
