"""The app's Qt style sheet, kept as a resource (``resources/style/netbuilder.qss``) instead of Python strings.

Read once per process; a sheet that cannot be read leaves the app in Qt's own look rather than failing to start.
"""

from __future__ import annotations

import functools

from netbuilder.resources import resource_dir

STYLE_FILE = ("style", "netbuilder.qss")


@functools.cache
def app_style_sheet() -> str:
    """The style sheet with its placeholders filled in (``@CHEVRON@``: the combo-box arrow image's path)."""
    from netbuilder_ui.icons import chevron_file

    try:
        text = resource_dir(*STYLE_FILE).read_text(encoding="utf-8")
    except OSError:
        return ""
    return text.replace("@CHEVRON@", chevron_file())
