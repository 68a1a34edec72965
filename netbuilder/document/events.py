"""Plain-Python change events. The Qt front end re-emits them as signals through one adapter."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class DocumentEvent:
    network: str  # the network's name; "" for document-wide events


@dataclass(frozen=True)
class NodeAdded(DocumentEvent):
    node_id: str


@dataclass(frozen=True)
class NodeRemoved(DocumentEvent):
    node_id: str


@dataclass(frozen=True)
class NodeChanged(DocumentEvent):
    """Params, name or per-node training options changed; ``field`` says which ("params", "name", "options")."""

    node_id: str
    field: str


@dataclass(frozen=True)
class NodeMoved(DocumentEvent):
    node_id: str


@dataclass(frozen=True)
class WireAdded(DocumentEvent):
    wire_key: tuple[str, str, str, str]


@dataclass(frozen=True)
class WireRemoved(DocumentEvent):
    wire_key: tuple[str, str, str, str]


@dataclass(frozen=True)
class NetworkAdded(DocumentEvent):
    pass


@dataclass(frozen=True)
class NetworkRemoved(DocumentEvent):
    pass


@dataclass(frozen=True)
class NetworkRenamed(DocumentEvent):
    old_name: str


@dataclass(frozen=True)
class SettingsChanged(DocumentEvent):
    key: str


@dataclass(frozen=True)
class BlockAdded(DocumentEvent):
    """A block definition joined the document (``network`` is ""); its network is named ``block``."""

    block: str


@dataclass(frozen=True)
class BlockRemoved(DocumentEvent):
    block: str


@dataclass(frozen=True)
class BlockRenamed(DocumentEvent):
    block: str
    old_name: str


@dataclass(frozen=True)
class BlockChanged(DocumentEvent):
    """A definition's declared parameters or doc changed (its graph's edits are ordinary node/wire events)."""

    block: str


Listener = Callable[[DocumentEvent], None]


class EventHub:
    """A minimal synchronous publisher; listeners are called in subscription order."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._muted = 0

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def emit(self, event: DocumentEvent) -> None:
        if self._muted:
            return
        for listener in list(self._listeners):
            listener(event)
