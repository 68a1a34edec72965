"""The tabs of the Results dock."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QFrame, QScrollArea, QTabWidget, QVBoxLayout, QWidget

from netbuilder_ui.training.results.common import make_page
from netbuilder_ui.training.results.confusion import ConfusionView
from netbuilder_ui.training.results.gallery import GalleryView
from netbuilder_ui.training.results.probe import LayerView
from netbuilder_ui.training.results.runs import RunsView
from netbuilder_ui.training.results.samples import GeneratedView, ReconstructionView, TextView
from netbuilder_ui.training.widgets import PANEL_STYLE


class ResultsPanel(QWidget):
    """The tabs of the Results dock; the controller shows the tabs that apply to the run's recipe."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("resultsPage")
        self.setStyleSheet(PANEL_STYLE)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("resultsTabs")
        self.tabs.setDocumentMode(True)
        layout.addWidget(self.tabs)
        self.confusion = ConfusionView()
        self.gallery = GalleryView()
        self.reconstructions = ReconstructionView()
        self.generated = GeneratedView()
        self.text = TextView()
        self.layer = LayerView()
        self.runs = RunsView()
        self.pages: dict[str, QWidget] = {}
        for key, title, view in (("confusion", "Confusion matrix", self.confusion),
                                 ("gallery", "Predictions", self.gallery),
                                 ("reconstructions", "Reconstructions", self.reconstructions),
                                 ("generated", "Generated", self.generated),
                                 ("text", "Generated text", self.text),
                                 ("layer", "Layer", self.layer),
                                 ("runs", "Runs", self.runs)):
            page, page_layout = make_page()
            page_layout.addWidget(view)
            # Scrolled, so a small dock (a laptop screen, a user's layout) shows part of a view instead of
            # forcing the whole window to grow to the largest view's minimum size.
            scroll = QScrollArea()
            scroll.setObjectName("resultsScroll")
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QFrame.Shape.NoFrame)
            scroll.setWidget(page)
            self.tabs.addTab(scroll, title)
            self.pages[key] = scroll
        self.show_tabs_for("")

    def show_tabs_for(self, recipe: str) -> None:
        """Only the tabs that mean something for ``recipe`` ("" = before any run: layer view and runs)."""
        visible = {"layer", "runs"}
        if recipe in ("classification", "sequence_classification"):
            visible |= {"confusion", "gallery"}
        elif recipe in ("autoencoder", "vae"):
            visible |= {"reconstructions"}  # "generated" joins when the run sends image samples
        elif recipe == "gan":
            visible |= {"generated"}
        elif recipe == "language_model":
            visible |= {"text"}
        for key, page in self.pages.items():
            self.tabs.setTabVisible(self.tabs.indexOf(page), key in visible)
        if not self.tabs.isTabVisible(self.tabs.currentIndex()):
            for key in ("confusion", "generated", "text", "reconstructions", "runs"):
                if key in visible:
                    self.show_page(key)
                    break

    def reveal(self, key: str) -> None:
        """Make a tab visible (e.g. the first generated images of a VAE trained on image data)."""
        self.tabs.setTabVisible(self.tabs.indexOf(self.pages[key]), True)

    def show_page(self, key: str) -> None:
        self.tabs.setCurrentWidget(self.pages[key])

    def current_page(self) -> str:
        widget = self.tabs.currentWidget()
        return next((key for key, page in self.pages.items() if page is widget), "")

    def image_of_grid(self) -> Any:
        return self.generated.grid_image()

    def reset(self) -> None:
        for view in (self.confusion, self.gallery, self.reconstructions, self.generated, self.text):
            view.clear_view()

