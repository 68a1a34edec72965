"""The one adapter between the Qt-free document and Qt: core events become signals, and the document's undo
stack becomes a QUndoStack so Edit menus, clean state and shortcuts work the Qt way.

Views never mutate the document directly: they build a core command and call `QtDocument.execute`, which raises
(DocumentError / ParamError) without changing anything when the edit is impossible.
"""

from __future__ import annotations

import zlib
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from netbuilder.analysis import Analysis, analyze
from netbuilder.document import Command, Document, DocumentError
from netbuilder.document import events as ev

_BLOCK_EVENTS = (ev.BlockAdded, ev.BlockRemoved, ev.BlockRenamed, ev.BlockChanged)


class _QtCommand(QUndoCommand):
    """Wraps a core command. Its first redo is skipped: the command was already done (and checked) by push."""

    def __init__(self, command: Command, doc: Document):
        super().__init__(command.text)
        self.command = command
        self.doc = doc
        self._first = True

    def redo(self) -> None:
        if self._first:
            self._first = False
            return
        self.command.do(self.doc)

    def undo(self) -> None:
        self.command.undo(self.doc)

    def id(self) -> int:  # noqa: A003 (Qt's name)
        merge_id = self.command.merge_id
        return zlib.crc32(merge_id.encode()) & 0x7FFFFFFF if merge_id else -1

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802 (Qt's name)
        if isinstance(other, _QtCommand) and self.command.merge(other.command):
            self.setText(self.command.text)
            return True
        return False


class QtUndoStack:
    """Implements the core UndoStack interface on top of a QUndoStack."""

    def __init__(self, doc: Document, stack: QUndoStack):
        self.doc = doc
        self.stack = stack

    def push(self, command: Command) -> Command:
        command.do(self.doc)  # errors surface here, before Qt sees the command
        self.stack.push(_QtCommand(command, self.doc))
        return command

    def undo(self) -> None:
        self.stack.undo()

    def redo(self) -> None:
        self.stack.redo()

    def can_undo(self) -> bool:
        return self.stack.canUndo()

    def can_redo(self) -> bool:
        return self.stack.canRedo()

    def undo_text(self) -> str:
        return self.stack.undoText()

    def redo_text(self) -> str:
        return self.stack.redoText()

    def is_clean(self) -> bool:
        return self.stack.isClean()

    def set_clean(self) -> None:
        self.stack.setClean()

    def clear(self) -> None:
        self.stack.clear()

    def count(self) -> int:
        return self.stack.count()

    def subscribe(self, listener: Any) -> None:
        self.stack.indexChanged.connect(lambda _index: listener())


class QtDocument(QObject):
    """Owns the open Document, its QUndoStack, and re-emits core events as Qt signals.

    Analysis results are cached per network and invalidated by any edit, so every view asks `analysis(name)` and
    the incremental analyzer does the minimum of work.
    """

    nodeAdded = Signal(str, str)  # network, node id
    nodeRemoved = Signal(str, str)
    nodeChanged = Signal(str, str, str)  # network, node id, field ("params", "name", "options")
    nodeMoved = Signal(str, str)
    wireAdded = Signal(str, object)  # network, wire key (src, src_port, dst, dst_port)
    wireRemoved = Signal(str, object)
    networksChanged = Signal()
    settingsChanged = Signal(str)
    analysisChanged = Signal(str)  # network whose analysis may have changed (coalesced, see flush)
    documentReplaced = Signal()
    lockChanged = Signal(str)  # the reason structural edits are refused now ("" when they are allowed again)
    blocksChanged = Signal()  # a block definition was added, removed, renamed or its parameters changed

    def __init__(self, document: Document | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.undo_stack = QUndoStack(self)
        self.document: Document = Document(network_names=())  # replaced below; empty, so it costs nothing
        self._unsubscribe: Any = None
        self._analyses: dict[str, Analysis] = {}
        self._lock_reason = ""
        self._pending: set[str] = set()
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(0)
        self._flush_timer.timeout.connect(self.flush)
        self.set_document(document if document is not None else Document())

    # ---- document lifetime ------------------------------------------------------------------------------------
    def set_document(self, document: Document) -> None:
        """Show another document (New/Open). The undo history starts empty and clean."""
        if self._unsubscribe:
            self._unsubscribe()
        self.undo_stack.clear()
        self.document = document
        document.undo_stack = QtUndoStack(document, self.undo_stack)  # type: ignore[assignment]
        self._unsubscribe = document.events.subscribe(self._on_event)
        self._analyses.clear()
        self.undo_stack.setClean()
        self.documentReplaced.emit()

    def execute(self, command: Command) -> Command:
        if self._lock_reason and not getattr(command, "view_only", False):  # moving nodes, expanding blocks: allowed while training
            raise DocumentError(self._lock_reason)
        return self.document.execute(command)

    # ---- locking while training ------------------------------------------------------------------------------
    def set_locked(self, reason: str) -> None:
        """Refuse edits that change the network (moving nodes stays allowed) while ``reason`` is non-empty, e.g.
        "Training is running: stop it to change the network." Every view learns why through lockChanged."""
        if reason != self._lock_reason:
            self._lock_reason = reason
            self.lockChanged.emit(reason)

    @property
    def lock_reason(self) -> str:
        return self._lock_reason

    def analysis(self, network: str) -> Analysis:
        cached = self._analyses.get(network)
        if cached is None:
            cached = self._analyses[network] = analyze(self.document.network(network))
        return cached

    def cached_analysis(self, network: str) -> Analysis | None:
        """The analysis if it is already worked out (painting code must not start one mid-edit)."""
        return self._analyses.get(network)

    @property
    def modified(self) -> bool:
        return not self.undo_stack.isClean()

    # ---- core events -> signals ---------------------------------------------------------------------------------
    def _on_event(self, event: ev.DocumentEvent) -> None:
        if isinstance(event, ev.NodeChanged) and event.field == "expanded":  # drawn otherwise, analysed the same
            self.nodeChanged.emit(event.network, event.node_id, event.field)
            return
        if isinstance(event, _BLOCK_EVENTS) or (event.network in self.document.blocks and
                                                not isinstance(event, ev.NodeMoved | ev.SettingsChanged)):
            # A definition changed: every network using it (and every block using it) is analysed afresh.
            self._analyses.clear()
            self._pending.update(self.document.networks)
            self._pending.update(self.document.blocks)
            self._flush_timer.start()
            if isinstance(event, _BLOCK_EVENTS):
                self.blocksChanged.emit()
                return
        if not isinstance(event, ev.NodeMoved | ev.SettingsChanged):
            self._analyses.pop(event.network, None)
        match event:
            case ev.NodeAdded():
                self.nodeAdded.emit(event.network, event.node_id)
            case ev.NodeRemoved():
                self.nodeRemoved.emit(event.network, event.node_id)
            case ev.NodeChanged():
                self.nodeChanged.emit(event.network, event.node_id, event.field)
            case ev.NodeMoved():
                self.nodeMoved.emit(event.network, event.node_id)
            case ev.WireAdded():
                self.wireAdded.emit(event.network, event.wire_key)
            case ev.WireRemoved():
                self.wireRemoved.emit(event.network, event.wire_key)
            case ev.NetworkAdded() | ev.NetworkRemoved() | ev.NetworkRenamed():
                self._analyses.clear()
                self.networksChanged.emit()
            case ev.SettingsChanged():
                self.settingsChanged.emit(event.key)
        if not isinstance(event, ev.NodeMoved | ev.SettingsChanged):
            self._pending.add(event.network)
            self._flush_timer.start()

    def flush(self) -> None:
        """Emit the coalesced analysisChanged signals now. A paste of 50 nodes makes one re-analysis, not 100;
        tests and benchmarks call this instead of waiting for the event loop."""
        self._flush_timer.stop()
        pending, self._pending = self._pending, set()
        for network in pending:
            if network in self.document.networks or network in self.document.blocks:
                self.analysisChanged.emit(network)
