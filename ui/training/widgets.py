"""Small building blocks the training panels share: section titles, banners, an image grid that stays crisp
when scaled, and the style of the panels (which match the main window's look when shown on their own)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QFont, QImage, QPixmap, QResizeEvent
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QScrollArea, QSizePolicy, QVBoxLayout, QWidget

ACCENT = "#2f6fde"
TRAIN_COLOR = "#2f6fde"
VAL_COLOR = "#e8833a"
EXTRA_COLORS = ("#2e9e5b", "#8e5bd6", "#c2417a", "#1f9bb0")
GREY = "#aab2bd"
TEXT = "#1f2630"
MUTED = "#6b7482"

PANEL_STYLE = """
QWidget#trainingPanel, QWidget#dataPanel, QWidget#resultsPage, QWidget#plotsPanel { background: #ffffff; }
QScrollArea#trainingPanelScroll, QScrollArea#dataPanelScroll { border: none; background: #ffffff; }
QLabel#sectionTitle { color: #7a8391; font-size: 10px; font-weight: 700; letter-spacing: 1px;
    padding-top: 4px; border-bottom: 1px solid #eceef2; padding-bottom: 3px; }
QLabel#hint, QLabel#placeholder { color: #7a8391; }
QLabel#fieldLabel { color: #3d4551; }
QFrame#banner { border-radius: 6px; }
QFrame#banner[severity="info"] { background: #eef4fd; border: 1px solid #c9daf6; }
QFrame#banner[severity="locked"] { background: #eef4fd; border: 1px solid #c9daf6; }
QFrame#banner[severity="ok"] { background: #eef8f1; border: 1px solid #c4e4cf; }
QFrame#banner[severity="warning"] { background: #fff8e8; border: 1px solid #f0dca8; }
QFrame#banner[severity="error"] { background: #fdf0f0; border: 1px solid #f2c9c9; }
QLabel#bannerText { color: #2a313b; }
QLabel#bannerTitle { color: #1f2630; font-weight: 600; }
QFrame#progressCard { background: #f6f8fa; border: 1px solid #e4e7ec; border-radius: 8px; }
QLabel#progressHeadline { color: #1f2630; font-weight: 600; font-size: 13px; }
QLabel#progressDetail { color: #4f5865; }
QLabel#statCaption { color: #7a8391; font-size: 9px; font-weight: 700; letter-spacing: 1px; }
QLabel#statValue { color: #1f2630; font-weight: 600; }
QProgressBar { border: 1px solid #d6dbe3; border-radius: 5px; background: #ffffff; height: 12px;
    text-align: center; color: #1f2630; font-size: 10px; }
QProgressBar::chunk { background: #2f6fde; border-radius: 4px; }
QPushButton { border: 1px solid #cfd5dd; border-radius: 5px; padding: 5px 12px; background: #ffffff;
    color: #1f2630; }
QPushButton:hover { background: #f1f4f8; border-color: #b9c2ce; }
QPushButton:pressed { background: #e3e8ef; }
QPushButton:disabled { color: #a3aab4; background: #f6f7f9; border-color: #e1e4e9; }
QPushButton#primaryButton { background: #2f6fde; color: #ffffff; border-color: #2f6fde; font-weight: 600; }
QPushButton#primaryButton:hover { background: #2a63c7; }
QPushButton#primaryButton:disabled { background: #a9c1ee; border-color: #a9c1ee; color: #f4f7fd; }
QPushButton#dangerButton:enabled { color: #b42b2b; }
QPushButton#fixButton { padding: 3px 10px; color: #2f6fde; border-color: #bfd0ee; font-weight: 600; }
QFrame#fitCard { border-radius: 6px; background: #fff8e8; border: 1px solid #f0dca8; }
QFrame#fitCard[state="ok"] { background: #eef8f1; border: 1px solid #c4e4cf; }
QTableWidget { border: 1px solid #e4e7ec; gridline-color: #eef0f3; background: #ffffff; }
QListWidget#gallery { border: none; background: #ffffff; }
QListWidget#gallery::item { border-radius: 6px; padding: 4px; }
QListWidget#gallery::item:selected { background: #dbe6fa; color: #1f2630; }
QTreeWidget#runList { border: 1px solid #e4e7ec; alternate-background-color: #f8f9fb; }
QTabWidget#resultsTabs::pane { border: none; }
QTabWidget#resultsTabs QTabBar::tab { background: transparent; color: #5b6472; padding: 5px 12px; border: none;
    border-bottom: 2px solid transparent; }
QTabWidget#resultsTabs QTabBar::tab:selected { color: #1f2630; border-bottom: 2px solid #2f6fde; }
QTabWidget#resultsTabs QTabBar::tab:hover:!selected { color: #1f2630; background: #f1f3f6; }
QPlainTextEdit#generatedText { border: 1px solid #e4e7ec; background: #fbfbfc; }
"""


def scrolled_panel(owner: QWidget, name: str) -> QVBoxLayout:
    """Give a dock's panel a vertically scrolling content area and return that area's layout: a narrow or short
    dock then scrolls instead of squeezing the form or forcing the window to grow. ``name`` is the content
    widget's object name (the style sheet's hook); the scroll area is ``name`` + "Scroll"."""
    outer = QVBoxLayout(owner)
    outer.setContentsMargins(0, 0, 0, 0)
    scroll = QScrollArea()
    scroll.setObjectName(f"{name}Scroll")
    scroll.setWidgetResizable(True)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    outer.addWidget(scroll)
    content = QWidget()
    content.setObjectName(name)
    scroll.setWidget(content)
    layout = QVBoxLayout(content)
    layout.setContentsMargins(12, 10, 12, 12)
    layout.setSpacing(8)
    return layout


def section_title(text: str) -> QLabel:
    label = QLabel(text.upper())
    label.setObjectName("sectionTitle")
    return label


def hint(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setObjectName("hint")
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def field_label(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("fieldLabel")
    return label


def repolish(widget: QWidget) -> None:
    """Re-apply the style sheet after a dynamic property (severity, state) changed."""
    style = widget.style()
    style.unpolish(widget)
    style.polish(widget)
    widget.update()


class Banner(QFrame):
    """A coloured message box: severity "info", "locked", "ok", "warning" or "error"; hidden when empty."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("banner")
        self.setProperty("severity", "info")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.setSpacing(2)
        self.title = QLabel()
        self.title.setObjectName("bannerTitle")
        self.title.setWordWrap(True)
        self.text = QLabel()
        self.text.setObjectName("bannerText")
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.title)
        layout.addWidget(self.text)
        self.hide()

    def show_message(self, severity: str, title: str, text: str = "") -> None:
        self.setProperty("severity", severity)
        self.title.setText(title)
        self.title.setVisible(bool(title))
        self.text.setText(text)
        self.text.setVisible(bool(text))
        repolish(self)
        self.show()

    def clear(self) -> None:
        self.title.clear()
        self.text.clear()
        self.hide()

    @property
    def severity(self) -> str:
        return str(self.property("severity"))

    def message(self) -> str:
        return " ".join(t for t in (self.title.text(), self.text.text()) if t) if self.isVisible() else ""


def to_qimage(rgb: np.ndarray) -> QImage:
    """An H×W×3 uint8 array as a QImage that owns its pixels (the array may go away)."""
    array = np.ascontiguousarray(rgb, dtype=np.uint8)
    height, width = array.shape[:2]
    image = QImage(array.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    return image.copy()


class PixelImage(QLabel):
    """Shows an image scaled to fit, by whole multiples with nearest-neighbour sampling, so 8×8 digits stay sharp
    pixels instead of a blur."""

    def __init__(self, parent: QWidget | None = None, max_scale: int = 24):
        super().__init__(parent)
        self._image: QImage | None = None
        self.max_scale = max_scale
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.setMinimumSize(64, 64)

    def set_array(self, rgb: np.ndarray | None) -> None:
        self._image = to_qimage(rgb) if rgb is not None else None
        self._rescale()

    def image(self) -> QImage | None:
        return self._image

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        return QSize(240, 240)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self._rescale()

    def _rescale(self) -> None:
        if self._image is None or self._image.isNull():
            self.clear()
            return
        width, height = max(1, self.width() - 8), max(1, self.height() - 8)
        factor = min(width / self._image.width(), height / self._image.height())
        scale = max(1, min(self.max_scale, int(factor))) if factor >= 1 else factor
        size = QSize(max(1, int(self._image.width() * scale)), max(1, int(self._image.height() * scale)))
        self.setPixmap(QPixmap.fromImage(self._image).scaled(size, Qt.AspectRatioMode.KeepAspectRatio,
                                                             Qt.TransformationMode.FastTransformation))


def labelled_row(*widgets: QWidget, stretch_last: bool = False) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(6)
    for widget in widgets:
        layout.addWidget(widget)
    if not stretch_last:
        layout.addStretch(1)
    return row


def human_duration(seconds: float) -> str:
    """0:07, 3:25, 1:02:03 — how long-running things are usually shown."""
    if seconds != seconds or seconds < 0 or seconds == float("inf"):
        return "–"
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def human_rate(value: float) -> str:
    if value >= 10_000:
        return f"{value / 1000:,.0f}k"
    return f"{value:,.0f}"


def tick_font(point_size: int = 8) -> QFont:
    """The application's font at ``point_size``, for plot axes' tick labels.

    Never a font made from an empty family name: one with no family crashes Qt 6.9-6.11 (PySide6 6.9.3 to 6.11.3) when
    pyqtgraph records an axis into its QPicture cache (``QDataStream << QFont`` reads the first family of an empty
    list: a segmentation fault in ``QPainter.boundingRect`` on the first repaint of a plot with data).
    """
    font = QFont()
    font.setPointSize(point_size)
    return font
