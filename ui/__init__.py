"""NetBuilder's desktop app (PySide6 + pyqtgraph), installed as ``netbuilder_ui``. It only shows the document and
turns gestures into commands on it; all logic lives in the Qt-free ``netbuilder`` core."""

from netbuilder_ui._compat import check_pyside

# Before any Qt call: refuse a PySide6 release known to crash on this Python, with what to install (see _compat).
check_pyside()
