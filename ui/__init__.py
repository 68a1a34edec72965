"""NetBuilder's desktop app (PySide6 + pyqtgraph), installed as ``netbuilder_ui``. It only shows the document and
turns gestures into commands on it; all logic lives in the Qt-free ``netbuilder`` core."""
