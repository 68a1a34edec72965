"""Validation predictions after a classifier's run: wrong ones first, as image tiles or a table."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QBrush, QColor, QIcon, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from netbuilder_ui.training.outcomes import Gallery, tile
from netbuilder_ui.training.results.common import RIGHT, WRONG
from netbuilder_ui.training.widgets import to_qimage


class GalleryView(QWidget):
    """Validation predictions after a run: image tiles with a green (right) or red (wrong) frame, or a table."""

    ICON = 72

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        self.summary = QLabel("Sample predictions appear when a classifier has finished training.")
        self.summary.setObjectName("hint")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.stack = QStackedWidget()
        self.list = QListWidget()
        self.list.setObjectName("gallery")
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setIconSize(QSize(self.ICON, self.ICON))
        self.list.setGridSize(QSize(self.ICON + 30, self.ICON + 40))
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setWordWrap(True)
        self.list.setSpacing(2)
        self.list.setUniformItemSizes(True)
        self.table = QTableWidget()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.stack.addWidget(self.list)
        self.stack.addWidget(self.table)
        layout.addWidget(self.summary)
        layout.addWidget(self.stack, 1)
        self.gallery: Gallery | None = None

    def set_gallery(self, gallery: Gallery) -> None:
        self.gallery = gallery
        wrong = gallery.total - gallery.correct
        order = (f"the {wrong} wrong predictions first (most confident first), then the right ones the network "
                 "was least sure of" if wrong else "the right predictions the network was least sure of first")
        self.summary.setText(
            f"<b>{gallery.correct:,} of {gallery.total:,}</b> validation samples right "
            f"({gallery.correct / max(1, gallery.total):.1%}). Showing {len(gallery.items)}: {order}.")
        if gallery.images is not None:
            self._fill_icons(gallery)
            self.stack.setCurrentWidget(self.list)
        else:
            self._fill_table(gallery)
            self.stack.setCurrentWidget(self.table)

    def _fill_icons(self, gallery: Gallery) -> None:
        assert gallery.images is not None
        self.list.clear()
        for item in gallery.items:
            rgb = tile(gallery.images[item.index:item.index + 1], 1, pad=0)
            pixmap = QPixmap(self.ICON, self.ICON)
            pixmap.fill(QColor("#ffffff"))
            painter = QPainter(pixmap)
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
            painter.drawImage(pixmap.rect().adjusted(4, 4, -4, -4), to_qimage(rgb))
            painter.setPen(QPen(QColor(RIGHT if item.correct else WRONG), 4))
            painter.drawRect(pixmap.rect().adjusted(2, 2, -2, -2))
            painter.end()
            text = f"{item.true} → {item.predicted}\n{item.confidence:.0%}"
            entry = QListWidgetItem(QIcon(pixmap), text)
            entry.setToolTip(f"Validation sample {item.index + 1}: true {item.true}, predicted {item.predicted} "
                             f"with {item.confidence:.1%} (true class: {item.true_probability:.1%}).")
            entry.setForeground(QBrush(QColor(WRONG if not item.correct else "#28303b")))
            self.list.addItem(entry)

    def _fill_table(self, gallery: Gallery) -> None:
        table = self.table
        features = gallery.feature_names or []
        width = min(6, len(gallery.items[0].features) if gallery.items and gallery.items[0].features is not None
                    else 0)
        headers = ["#", "True", "Predicted", "Confidence"] + [
            (features[i] if i < len(features) else f"x{i}") for i in range(width)]
        table.clear()
        table.setColumnCount(len(headers))
        table.setRowCount(len(gallery.items))
        table.setHorizontalHeaderLabels(headers)
        for row, item in enumerate(gallery.items):
            values = [str(item.index + 1), item.true, item.predicted, f"{item.confidence:.0%}"]
            if item.features is not None:
                values += [f"{float(v):.3g}" for v in item.features[:width]]
            for col, text in enumerate(values):
                cell = QTableWidgetItem(text)
                if col == 2:
                    cell.setForeground(QBrush(QColor(RIGHT if item.correct else WRONG)))
                table.setItem(row, col, cell)
        table.resizeColumnsToContents()

    def clear_view(self) -> None:
        self.gallery = None
        self.list.clear()
        self.table.clear()
        self.summary.setText("Sample predictions appear when a classifier has finished training.")
