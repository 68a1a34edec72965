"""The Results panel: what a run learned, in pictures.

Tabs: the confusion matrix with per-class precision and recall (live, from each validation); a gallery of
validation predictions, wrong ones first; inputs next to their reconstructions (autoencoders and VAEs); the grid
of generated samples (GANs, VAEs), refreshed each epoch; generated text (language models); the layer view (a
clicked node's output on a chosen sample, its weights and gradients); and the list of runs with their settings and
final metrics. Every view is fed on the GUI thread by the controller; none of them trains or loads anything.
"""

from netbuilder_ui.training.outcomes import image_batch
from netbuilder_ui.training.results.confusion import ConfusionView
from netbuilder_ui.training.results.gallery import GalleryView
from netbuilder_ui.training.results.panel import ResultsPanel
from netbuilder_ui.training.results.probe import LayerView, feature_map_grid
from netbuilder_ui.training.results.runs import RunsView
from netbuilder_ui.training.results.samples import GeneratedView, ReconstructionView, TextView

__all__ = ["ConfusionView", "GalleryView", "GeneratedView", "LayerView", "ReconstructionView", "ResultsPanel",
           "RunsView", "TextView", "feature_map_grid", "image_batch"]
