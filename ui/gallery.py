"""The template gallery (File > New from Template): each example network with its name, description, figures
and a picture of it, plus a blank network.

Pictures are schematics drawn here: one block per layer in its category colour, wired as on the canvas.
Most examples are long chains, which the full diagram renderer would shrink to an unreadable strip at
thumbnail size; the schematic wraps long chains into bands so each picture shows the network's shape at a
glance. Templates are loaded one per event-loop turn after the dialog opens, so the dialog appears at once."""

from __future__ import annotations

import html
import math
from collections import deque

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, QTimer
from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from netbuilder.analysis import analyze
from netbuilder.document import Document, Network
from netbuilder.templates import TemplateInfo, list_templates, load_template
from netbuilder_ui.icons import category_color
from netbuilder_ui.inspector import human_count

BLANK = ""  # the id the gallery uses for "Blank network"
THUMB = QSize(208, 124)
MAX_COLUMNS = 6  # layers per band before a chain wraps
ID_ROLE = 0x0101


def blank_document() -> Document:
    """A new network with an Input and an Output, ready for layers to be dragged in between."""
    doc = Document()
    net = doc.network()
    net.add("Input", name="data", position=(0.0, 0.0))
    net.add("Output", name="output", position=(630.0, 0.0))
    doc.undo_stack.clear()
    return doc


def schematic(network: Network | None, size: QSize = THUMB, ratio: float = 2.0) -> QPixmap:
    """A small picture of a network: one block per layer in its category colour, wired as on the canvas.

    Columns and rows come from the nodes' canvas positions; columns wrap into bands, read left to right and
    top to bottom like text. ``None`` draws an empty card."""
    card = QPixmap(size * ratio)
    card.setDevicePixelRatio(ratio)
    card.fill(QColor("#ffffff"))
    painter = QPainter(card)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    nodes = network.nodes if network is not None else []
    if nodes:
        assert network is not None
        xs = sorted({round(n.position[0] / 20) for n in nodes})
        ys = sorted({round(n.position[1] / 20) for n in nodes})
        column = {n.id: xs.index(round(n.position[0] / 20)) for n in nodes}
        row = {n.id: ys.index(round(n.position[1] / 20)) for n in nodes}
        per_band = math.ceil(len(xs) / math.ceil(len(xs) / MAX_COLUMNS))
        bands = math.ceil(len(xs) / per_band)
        gap = 0.8  # empty rows between bands, where wrapping wires run
        total_rows = bands * len(ys) + (bands - 1) * gap
        margin = 14.0
        cell_w = (size.width() - 2 * margin) / per_band
        cell_h = min((size.height() - 2 * margin) / total_rows, cell_w * 0.7)
        block_w, block_h = cell_w * 0.66, min(cell_h * 0.62, 16.0)
        top = (size.height() - total_rows * cell_h) / 2

        def centre(node_id: str) -> QPointF:
            band, col = divmod(column[node_id], per_band)
            y = top + (band * (len(ys) + gap) + row[node_id] + 0.5) * cell_h
            return QPointF(margin + (col + 0.5) * cell_w, y)

        painter.setPen(QPen(QColor("#aeb6c2"), 1.1))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for wire in network.wires:
            a, b = centre(wire.src), centre(wire.dst)
            start, end = QPointF(a.x() + block_w / 2, a.y()), QPointF(b.x() - block_w / 2, b.y())
            path = QPainterPath(start)
            if column[wire.dst] // per_band == column[wire.src] // per_band and end.x() >= start.x():
                mid = (start.x() + end.x()) / 2
                path.cubicTo(QPointF(mid, start.y()), QPointF(mid, end.y()), end)
            else:  # wraps to the next band: down through the gap, back left, into the node
                lane = a.y() + (len(ys) - row[wire.src] - 0.5 + gap / 2) * cell_h
                for point in ((start.x() + 4, start.y()), (start.x() + 4, lane), (end.x() - 4, lane),
                              (end.x() - 4, end.y()), (end.x(), end.y())):
                    path.lineTo(QPointF(*point))
            painter.drawPath(path)
        painter.setPen(Qt.PenStyle.NoPen)
        for node in nodes:
            c = centre(node.id)
            try:
                painter.setBrush(category_color(node.spec.category))
            except Exception:  # noqa: BLE001  an unknown layer type still gets a block
                painter.setBrush(QColor("#7a8391"))
            painter.drawRoundedRect(QRectF(c.x() - block_w / 2, c.y() - block_h / 2, block_w, block_h), 3, 3)
    painter.setPen(QPen(QColor("#d5dae1"), 1))
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.drawRoundedRect(QRectF(0.5, 0.5, size.width() - 1, size.height() - 1), 6, 6)
    painter.end()
    return card


def _card_icon(card: QPixmap) -> QIcon:
    """The card as an icon that looks the same when selected (the list's highlight frames it instead)."""
    icon = QIcon()
    for mode in (QIcon.Mode.Normal, QIcon.Mode.Selected, QIcon.Mode.Active):
        icon.addPixmap(card, mode)
    return icon


class TemplateGalleryDialog(QDialog):
    """Pick a template (or a blank network). ``selected_id()`` is the template id, or BLANK."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("gallery")
        self.setWindowTitle("New network")
        self.resize(1020, 660)
        self.templates: dict[str, TemplateInfo] = {t.id: t for t in list_templates()}
        self.summaries: dict[str, str] = {}  # template id -> "12 layers · 13.7 K parameters", once loaded
        self.errors: dict[str, str] = {}  # template id -> why it could not be loaded

        heading = QLabel("Start from an example")
        heading.setObjectName("galleryHeading")
        intro = QLabel("Each example is sized for a bundled data set, so it trains without edits.")
        intro.setObjectName("hint")

        self.list = QListWidget(self)
        self.list.setObjectName("galleryList")
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setIconSize(THUMB)
        self.list.setGridSize(QSize(THUMB.width() + 22, THUMB.height() + 44))
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setWordWrap(True)
        self.list.setUniformItemSizes(True)
        self.list.setSpacing(4)
        self.list.itemDoubleClicked.connect(lambda _item: self.accept())
        self.list.currentItemChanged.connect(self._show_details)

        self.details_title = QLabel()
        self.details_title.setObjectName("inspectorTitle")
        self.details_title.setWordWrap(True)
        self.details = QLabel()
        self.details.setObjectName("specDoc")
        self.details.setWordWrap(True)
        self.details.setTextFormat(Qt.TextFormat.RichText)
        side = QVBoxLayout()
        side.addWidget(self.details_title)
        side.addWidget(self.details)
        side.addStretch(1)
        side_widget = QWidget()
        side_widget.setLayout(side)
        side_widget.setFixedWidth(250)

        body = QHBoxLayout()
        body.addWidget(self.list, 1)
        body.addWidget(side_widget)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.create_button = buttons.addButton("Create", QDialogButtonBox.ButtonRole.AcceptRole)
        self.create_button.setDefault(True)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(18, 16, 18, 14)
        layout.setSpacing(10)
        layout.addWidget(heading)
        layout.addWidget(intro)
        layout.addLayout(body, 1)
        layout.addWidget(buttons)

        blank = QListWidgetItem(_card_icon(schematic(blank_document().network())), "Blank network")
        blank.setData(ID_ROLE, BLANK)
        blank.setToolTip("An Input and an Output; drag layers in between.")
        self.list.addItem(blank)
        self._pending: deque[QListWidgetItem] = deque()
        empty = _card_icon(schematic(None))
        for info in self.templates.values():
            item = QListWidgetItem(empty, info.title)
            item.setData(ID_ROLE, info.id)
            item.setToolTip(info.description)
            self.list.addItem(item)
            self._pending.append(item)
        self.list.setCurrentRow(1 if self.templates else 0)
        self._timer = QTimer(self)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._load_next)
        self._timer.start()

    # ---- pictures and figures ------------------------------------------------------------------------------
    def _load_next(self) -> None:
        if not self._pending:
            self._timer.stop()
            return
        self._load(self._pending.popleft())

    def _load(self, item: QListWidgetItem) -> None:
        template_id = item.data(ID_ROLE)
        try:
            doc = load_template(template_id)
        except Exception as error:  # noqa: BLE001  a broken template is shown as such, never a crash
            self.errors[template_id] = str(error)
            item.setToolTip(f"Cannot be opened: {error}")
            return
        first = next(iter(doc.networks.values()))
        item.setIcon(_card_icon(schematic(first)))
        layers = sum(len(net) for net in doc)
        params = sum(analyze(net).total_params for net in doc)
        names = ", ".join(doc.networks)
        nets = f" in {len(doc.networks)} networks ({names})" if len(doc.networks) > 1 else ""
        self.summaries[template_id] = f"{layers} layers{nets} · {human_count(params)} parameters"
        if item is self.list.currentItem():
            self._show_details(item)

    def load_all(self) -> None:
        """Load every picture and summary now (tests, screenshots)."""
        while self._pending:
            self._load_next()

    # ---- selection -----------------------------------------------------------------------------------------
    def ids(self) -> list[str]:
        """BLANK followed by the template ids, in gallery order."""
        return [self.list.item(i).data(ID_ROLE) for i in range(self.list.count())]

    def select(self, template_id: str) -> None:
        """Make ``template_id`` (or BLANK) the current entry."""
        for i in range(self.list.count()):
            if self.list.item(i).data(ID_ROLE) == template_id:
                self.list.setCurrentRow(i)
                return
        raise KeyError(template_id)

    def selected_id(self) -> str | None:
        """The chosen template id, BLANK for a blank network, None when nothing is chosen."""
        item = self.list.currentItem()
        return None if item is None else item.data(ID_ROLE)

    def _show_details(self, item: QListWidgetItem | None, _previous: QListWidgetItem | None = None) -> None:
        if item is None:
            return
        info = self.templates.get(item.data(ID_ROLE))
        if info is None:
            self.details_title.setText("Blank network")
            self.details.setText("An Input and an Output node. Drag layers from the palette in between and "
                                 "wire them up.")
            return
        self.details_title.setText(info.title)
        muted = "style='color:#6b7480'"
        parts = [f"<p>{html.escape(info.description)}</p>"]
        if info.id in self.summaries:
            parts.append(f"<p {muted}>{html.escape(self.summaries[info.id])}</p>")
        if info.note:
            parts.append(f"<p {muted}>{html.escape(info.note.capitalize())}</p>")
        elif info.data:
            parts.append(f"<p {muted}>Data: {html.escape(info.data)}</p>")
        if info.id in self.errors:
            parts.append(f"<p style='color:#b42b2b'>{html.escape(self.errors[info.id])}</p>")
        parts.append(f"<p {muted}>Template id: <code>{html.escape(info.id)}</code></p>")
        self.details.setText("".join(parts))
