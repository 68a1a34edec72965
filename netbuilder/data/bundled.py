"""Sample data that ships with NetBuilder and needs no download.

The five classic tables come from scikit-learn, which installs them with the package (no network). The 2-D toy
problems and the wave series are generated here with a fixed seed, and the text corpus is a file in
``resources/data``. `list_datasets` is cheap (no data is built); `load_bundled` builds the tensors once per
process and hands out a fresh `ArrayDataset` each time.
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from netbuilder.data.base import ArrayDataset, DataError, DataInfo, SeriesDataset
from netbuilder.data.resources import read_resource_text

SEED = 0
TOY_SAMPLES = 1000
WAVE_WINDOW = 32
WAVE_SAMPLES = 1000
TEXT_WINDOW = 64
TEXT_FILE = "tales.txt"


@dataclass(frozen=True)
class _Entry:
    info: DataInfo
    build: Callable[[], tuple[np.ndarray, np.ndarray]]


# ---------------------------------------------------------------------------------------------------------------
# Builders: each returns (x, y) as numpy arrays in their final dtype and shape.


def _sklearn(name: str) -> object:
    from sklearn import datasets  # imported on demand: it takes a second and most sessions never need it

    return getattr(datasets, f"load_{name}")()


def _table(name: str) -> tuple[np.ndarray, np.ndarray]:
    bunch = _sklearn(name)
    return np.asarray(bunch.data, np.float32), np.asarray(bunch.target, np.int64)  # type: ignore[attr-defined]


DIGIT_LEVELS = 16.0  # the scanned digits' grey levels run 0..16


def _digits() -> tuple[np.ndarray, np.ndarray]:
    """The digits' grey levels brought to the declared pixel range [0, 1] (level / 16), the range an 8-bit image
    file of the same digit reaches by / 255: a model trained here reads PNG or IDX digits the same way."""
    x, y = _table("digits")
    return (x / DIGIT_LEVELS).astype(np.float32), y


def _digits_images() -> tuple[np.ndarray, np.ndarray]:
    x, y = _digits()
    return x.reshape(-1, 1, 8, 8), y


def _diabetes() -> tuple[np.ndarray, np.ndarray]:
    """Measurements and the progression score in their own units; training standardises the score with
    training-split statistics and gives predictions back in score units."""
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes(scaled=False)
    target = np.asarray(bunch.target, np.float32).reshape(-1, 1)
    return np.asarray(bunch.data, np.float32), target


def _moons() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SEED)
    half = TOY_SAMPLES // 2
    angle_a = rng.uniform(0, math.pi, half)
    angle_b = rng.uniform(0, math.pi, TOY_SAMPLES - half)
    upper = np.stack([np.cos(angle_a), np.sin(angle_a)], 1)
    lower = np.stack([1 - np.cos(angle_b), 0.5 - np.sin(angle_b)], 1)
    x = np.concatenate([upper, lower]) + rng.normal(0, 0.1, (TOY_SAMPLES, 2))
    y = np.concatenate([np.zeros(half), np.ones(TOY_SAMPLES - half)])
    return _shuffled(x, y, rng)


def _circles() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SEED + 1)
    half = TOY_SAMPLES // 2
    angle = rng.uniform(0, 2 * math.pi, TOY_SAMPLES)
    radius = np.concatenate([np.ones(half), np.full(TOY_SAMPLES - half, 0.5)])
    x = np.stack([radius * np.cos(angle), radius * np.sin(angle)], 1) + rng.normal(0, 0.08, (TOY_SAMPLES, 2))
    y = np.concatenate([np.zeros(half), np.ones(TOY_SAMPLES - half)])
    return _shuffled(x, y, rng)


def _spirals() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SEED + 2)
    arms = 3
    xs, ys = [], []
    for arm, count in enumerate(len(part) for part in np.array_split(np.arange(TOY_SAMPLES), arms)):
        t = np.linspace(0.05, 1.0, count)
        angle = t * 3.5 * math.pi + arm * 2 * math.pi / arms + rng.normal(0, 0.15, count)
        xs.append(np.stack([t * np.cos(angle), t * np.sin(angle)], 1))
        ys.append(np.full(count, arm))
    return _shuffled(np.concatenate(xs), np.concatenate(ys), rng)


def _shuffled(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    order = rng.permutation(len(x))
    return x[order].astype(np.float32), y[order].astype(np.int64)


def wave_series(length: int, seed: int = SEED + 3) -> np.ndarray:
    """The bundled wave signal: three sines of unrelated periods, a slow swell, and a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(length, dtype=np.float64)
    signal = (np.sin(2 * math.pi * t / 50) + 0.5 * np.sin(2 * math.pi * t / 17 + 0.7)
              + 0.25 * np.sin(2 * math.pi * t / 7.3)) * (1 + 0.3 * np.sin(2 * math.pi * t / 400))
    return (signal + rng.normal(0, 0.05, length)).astype(np.float32)


def _waves() -> tuple[np.ndarray, np.ndarray]:
    series = wave_series(WAVE_SAMPLES + WAVE_WINDOW)
    index = np.arange(WAVE_SAMPLES)[:, None] + np.arange(WAVE_WINDOW)[None, :]
    x = series[index][:, :, None]  # N x T x 1
    y = series[WAVE_WINDOW:WAVE_WINDOW + WAVE_SAMPLES, None]  # N x 1: the value right after each window
    return x, y


@functools.cache
def corpus_text() -> str:
    return read_resource_text("data", TEXT_FILE)


@functools.cache
def _vocab() -> list[str]:
    return sorted(set(corpus_text()))


# ---------------------------------------------------------------------------------------------------------------
# The registry.

_DIGITS = [str(i) for i in range(10)]
_IRIS_FEATURES = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
_WINE_FEATURES = [
    "alcohol", "malic_acid", "ash", "alcalinity_of_ash", "magnesium", "total_phenols", "flavanoids",
    "nonflavanoid_phenols", "proanthocyanins", "color_intensity", "hue", "od280/od315_of_diluted_wines", "proline",
]
_CANCER_MEASURES = ("radius", "texture", "perimeter", "area", "smoothness", "compactness", "concavity",
                    "concave points", "symmetry", "fractal dimension")
_CANCER_FEATURES = ([f"mean {m}" for m in _CANCER_MEASURES] + [f"{m} error" for m in _CANCER_MEASURES]
                    + [f"worst {m}" for m in _CANCER_MEASURES])
_DIABETES_FEATURES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]


def _entries() -> dict[str, _Entry]:
    def info(**kwargs: object) -> DataInfo:
        return DataInfo(source=str(kwargs["id"]), **kwargs)  # type: ignore[arg-type]

    entries = [
        _Entry(info(id="digits", title="Handwritten digits (8×8, as 64 features)", task="classification",
                    sample_shape=(64,), num_classes=10, class_names=_DIGITS, samples=1797, kind="table",
                    feature_names=[f"pixel {r},{c}" for r in range(8) for c in range(8)], pixel_range=(0.0, 1.0),
                    description="1,797 scanned digits 0-9 from scikit-learn, each 8×8 grey levels 0-16 scaled "
                                "to pixel values 0-1 and flattened into 64 features. A quick first classifier."),
               _digits),
        _Entry(info(id="digits-images", title="Handwritten digits (1×8×8 images)", task="classification",
                    sample_shape=(1, 8, 8), num_classes=10, class_names=_DIGITS, samples=1797, kind="images",
                    pixel_range=(0.0, 1.0),
                    description="The same 1,797 digits as 1-channel 8×8 images (grey levels 0-16 scaled to 0-1, "
                                "as 8-bit image files are divided by 255), for small convolutional networks."),
               _digits_images),
        _Entry(info(id="iris", title="Iris flowers", task="classification", sample_shape=(4,), num_classes=3,
                    class_names=["setosa", "versicolor", "virginica"], samples=150,
                    feature_names=_IRIS_FEATURES,
                    description="150 irises, 4 measurements each, 3 species. Fisher's classic table."),
               functools.partial(_table, "iris")),
        _Entry(info(id="wine", title="Wine cultivars", task="classification", sample_shape=(13,), num_classes=3,
                    class_names=["class_0", "class_1", "class_2"], samples=178, feature_names=_WINE_FEATURES,
                    description="178 Italian wines, 13 chemical measurements, 3 grape cultivars."),
               functools.partial(_table, "wine")),
        _Entry(info(id="breast-cancer", title="Breast cancer diagnosis", task="classification",
                    sample_shape=(30,), num_classes=2, class_names=["malignant", "benign"], samples=569,
                    feature_names=_CANCER_FEATURES,
                    description="569 tumour samples (Wisconsin), 30 cell-nucleus measurements, malignant or "
                                "benign."),
               functools.partial(_table, "breast_cancer")),
        _Entry(info(id="diabetes", title="Diabetes progression", task="regression", sample_shape=(10,),
                    target_shape=(1,), samples=442, feature_names=_DIABETES_FEATURES,
                    description="442 patients, 10 baseline measurements (age, sex, BMI, blood pressure, six blood "
                                "serum values, unscaled), and a disease-progression score (25-346) one year "
                                "later. Training standardises the score; predictions and errors are in score "
                                "units."),
               _diabetes),
        _Entry(info(id="moons", title="Two moons", task="classification", sample_shape=(2,), num_classes=2,
                    class_names=["upper", "lower"], samples=TOY_SAMPLES, feature_names=["x", "y"],
                    description="1,000 points on two interleaved half circles with noise 0.1: not separable by "
                                "a straight line."),
               _moons),
        _Entry(info(id="circles", title="Two circles", task="classification", sample_shape=(2,), num_classes=2,
                    class_names=["outer", "inner"], samples=TOY_SAMPLES, feature_names=["x", "y"],
                    description="1,000 points on an outer circle and an inner one half its radius, noise 0.08."),
               _circles),
        _Entry(info(id="spirals", title="Three spirals", task="classification", sample_shape=(2,),
                    num_classes=3, class_names=["arm 1", "arm 2", "arm 3"], samples=TOY_SAMPLES,
                    feature_names=["x", "y"],
                    description="1,000 points on three interleaved spiral arms: needs a few hidden layers."),
               _spirals),
        _Entry(info(id="waves", title="Wave forecasting", task="forecasting", sample_shape=(WAVE_WINDOW, 1),
                    target_shape=(1,), samples=WAVE_SAMPLES, kind="series",
                    description=f"Windows of {WAVE_WINDOW} steps of a signal mixing three sine waves with a "
                                "slow swell and light noise; the target is the next value. Splits are "
                                "chronological (validation follows training in time)."),
               _waves),
    ]
    return {e.info.id: e for e in entries}


_REGISTRY = _entries()
TEXT_ID = "text"


def _text_info() -> DataInfo:
    vocab = _vocab()
    count = (len(corpus_text()) - 1) // TEXT_WINDOW
    return DataInfo(id=TEXT_ID, title="Village tales (characters)", task="language_model",
                    sample_shape=(TEXT_WINDOW,), dtype="int64", num_classes=len(vocab),
                    target_shape=(TEXT_WINDOW,), vocab=vocab, source=TEXT_ID, kind="text", samples=count,
                    description=f"{len(corpus_text()):,} characters of short generated English tales in "
                                f"{count:,} windows of {TEXT_WINDOW}; the target is each window shifted by one "
                                f"character. {len(vocab)} distinct characters.")


def dataset_ids() -> list[str]:
    return [*_REGISTRY, TEXT_ID]


def list_datasets() -> list[DataInfo]:
    """Every bundled data set, described without building any data (copies: callers may change them)."""
    infos = [copy.deepcopy(e.info) for e in _REGISTRY.values()]
    infos.append(_text_info())
    return infos


@functools.cache
def _arrays(dataset_id: str) -> tuple[np.ndarray, np.ndarray]:
    x, y = _REGISTRY[dataset_id].build()
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def load_bundled(dataset_id: str, seq_len: int | None = None) -> ArrayDataset:
    """A bundled data set by id; DataError listing the ids when it is unknown. ``seq_len`` sets the window of
    the text sample (default 64)."""
    if dataset_id not in dataset_ids():
        raise DataError(f"There is no bundled data set {dataset_id!r}. Available: {', '.join(dataset_ids())}.")
    if seq_len is not None and dataset_id != TEXT_ID:
        raise DataError(f"seq_len only applies to the bundled text, not to {dataset_id!r}.")
    if dataset_id == TEXT_ID:
        from netbuilder.data.text import text_dataset

        window = TEXT_WINDOW if seq_len is None else seq_len
        dataset = text_dataset(corpus_text(), window, name=TEXT_FILE, source=TEXT_ID, dataset_id=TEXT_ID)
        if window == TEXT_WINDOW:
            dataset.info = _text_info()
        else:
            dataset.info.title = _text_info().title
            dataset.info.description = "Generated English tales: " + dataset.info.description
        return dataset
    x, y = _arrays(dataset_id)
    xt, yt = torch.tensor(x), torch.tensor(y)  # copies: a caller editing its tensors cannot spoil the cache
    info = copy.deepcopy(_REGISTRY[dataset_id].info)
    if info.kind == "series":
        return SeriesDataset(info, xt, yt)
    return ArrayDataset(info, xt, yt)
