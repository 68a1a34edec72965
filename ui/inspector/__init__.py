"""The inspector: editors for the selected node, generated from each parameter's kind.

Every change is one command pushed through `QtDocument.execute` (SetParams, RenameNode, SetNodeOptions), so
it is undoable and the canvas follows through the document's events. A value that does not pass
``Param.coerce`` never reaches the document: the field keeps what the user typed, with the reason in red
underneath, and the model keeps its last good value. Editors are chosen by ``ParamKind`` only
(``editors.EDITOR_FOR_KIND``); the model stores no widget names.

One module per page: ``node_page`` (one layer, or several), ``network_page`` (nothing selected); ``widget``
picks the page for the target and routes the document's events to it."""

from netbuilder_ui.inspector.editors import EDITOR_FOR_KIND, Field, ParamEditor, make_editor
from netbuilder_ui.inspector.page import human_count
from netbuilder_ui.inspector.widget import InspectorWidget

__all__ = ["EDITOR_FOR_KIND", "Field", "InspectorWidget", "ParamEditor", "human_count", "make_editor"]
