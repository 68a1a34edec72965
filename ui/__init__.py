"""NetBuilder's desktop app (PySide6 + pyqtgraph), installed as ``netbuilder_ui``. It only shows the document and
turns gestures into commands on it; all logic lives in the Qt-free ``netbuilder`` core."""

# The Qt-free core first: once shiboken6 is loaded, its import hook reads the source of every module imported
# after it (for PySide6's ``__feature__`` switches), which costs 0.15-0.35 s at start-up for networkx's few hundred
# modules. Imported before Qt, they are not inspected.
import netbuilder.analysis  # noqa: F401
import netbuilder.document  # noqa: F401
import netbuilder.io  # noqa: F401
import netbuilder.templates  # noqa: F401
