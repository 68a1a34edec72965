"""Data for training: bundled samples, the user's files, previews and the data/network fit check.

Everything a loader returns follows the contract in `netbuilder.data.base`: a `DataInfo` describing the data and
a ``prepare`` that splits it with a seed and hands out batches.
"""

from netbuilder.data.arrays import from_arrays, load_npy, load_npz
from netbuilder.data.augment import Augment, make_augment
from netbuilder.data.base import (
    TASKS,
    ArrayDataset,
    ArraySplit,
    Batch,
    DataError,
    DataInfo,
    Dataset,
    PreparedData,
    SeriesDataset,
    Split,
    TextDataset,
)
from netbuilder.data.bundled import dataset_ids, list_datasets, load_bundled
from netbuilder.data.compat import Fit, check_compatibility
from netbuilder.data.idx import load_idx, read_idx
from netbuilder.data.images import ImageFolderDataset, ImageFolderSplit, load_image_folder
from netbuilder.data.load import FORMATS, detect_format, load_data
from netbuilder.data.preprocess import Affine, Preprocessing, load_preprocessing
from netbuilder.data.preview import Preview, preview
from netbuilder.data.tables import load_csv
from netbuilder.data.text import load_text

__all__ = [
    "Affine", "Preprocessing", "load_preprocessing", "FORMATS", "TASKS", "ArrayDataset", "ArraySplit", "Augment", "Batch", "DataError", "DataInfo", "Dataset", "Fit",
    "ImageFolderDataset", "ImageFolderSplit", "PreparedData", "Preview", "SeriesDataset", "Split",
    "TextDataset", "check_compatibility", "dataset_ids", "detect_format", "from_arrays", "list_datasets",
    "load_bundled", "load_csv", "load_data", "load_idx", "load_image_folder", "load_npy", "load_npz", "load_text",
    "make_augment", "preview", "read_idx",
]
