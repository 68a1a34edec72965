"""NetBuilder's desktop app (PySide6 + pyqtgraph), installed as ``netbuilder_ui``. It only shows the document and
turns gestures into commands on it; all logic lives in the Qt-free ``netbuilder`` core."""

from netbuilder_ui._compat import keep_singletons_alive

# First thing, before any Qt call: PySide6 6.12 on Python 3.11 drops references to None and True (see _compat).
keep_singletons_alive()
