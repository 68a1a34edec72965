"""NetBuilder's desktop app (PySide6 + pyqtgraph), installed as ``netbuilder_ui``. It only shows the document and
turns gestures into commands on it; all logic lives in the Qt-free ``netbuilder`` core."""

from netbuilder_ui._compat import keep_none_alive

# First thing, before any Qt call: PySide6 6.12 on Python 3.11 drops a reference to None per void call (see _compat).
keep_none_alive()
