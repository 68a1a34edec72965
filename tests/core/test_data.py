"""The data layer: bundled samples, the user's files, streaming image folders, previews and the fit check."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from netbuilder.data import (
    ArrayDataset,
    DataError,
    DataInfo,
    ImageFolderDataset,
    SeriesDataset,
    check_compatibility,
    dataset_ids,
    list_datasets,
    load_csv,
    load_data,
    load_idx,
    load_npz,
    load_text,
    make_augment,
    preview,
)
from netbuilder.data.bundled import corpus_text
from netbuilder.data.corpus import generate_corpus
from netbuilder.document import Document

EXPECTED = {  # id: (task, kind, sample_shape, dtype, num_classes, samples)
    "digits": ("classification", "table", (64,), "float32", 10, 1797),
    "digits-images": ("classification", "images", (1, 8, 8), "float32", 10, 1797),
    "iris": ("classification", "table", (4,), "float32", 3, 150),
    "wine": ("classification", "table", (13,), "float32", 3, 178),
    "breast-cancer": ("classification", "table", (30,), "float32", 2, 569),
    "diabetes": ("regression", "table", (10,), "float32", None, 442),
    "moons": ("classification", "table", (2,), "float32", 2, 1000),
    "circles": ("classification", "table", (2,), "float32", 2, 1000),
    "spirals": ("classification", "table", (2,), "float32", 3, 1000),
    "waves": ("forecasting", "series", (32, 1), "float32", None, 1000),
    "text": ("language_model", "text", (64,), "int64", None, None),
}


# ---------------------------------------------------------------------------------------------------------------
# Bundled data


def test_registry_lists_every_id_without_loading():
    infos = list_datasets()
    assert [i.id for i in infos] == list(EXPECTED) == dataset_ids()
    infos[0].class_names.append("spoiled")  # callers get copies
    assert list_datasets()[0].class_names == [str(i) for i in range(10)]


@pytest.mark.parametrize("dataset_id", list(EXPECTED))
def test_bundled_data_loads_with_declared_shapes(dataset_id):
    task, kind, shape, dtype, classes, samples = EXPECTED[dataset_id]
    listed = next(i for i in list_datasets() if i.id == dataset_id)
    data = load_data(dataset_id)
    info = data.info
    assert info == listed
    assert (info.task, info.kind, info.sample_shape, info.dtype) == (task, kind, shape, dtype)
    assert tuple(data.x.shape[1:]) == shape and str(data.x.dtype) == f"torch.{dtype}"
    assert len(data) == info.samples
    if samples is not None:
        assert len(data) == samples
    assert data.y is not None and len(data.y) == len(data)
    assert tuple(data.y.shape[1:]) == info.target_shape
    if task == "classification":
        assert info.num_classes == classes == len(info.class_names)
        assert data.y.dtype == torch.int64 and set(data.y.unique().tolist()) == set(range(classes))
    if task in ("regression", "forecasting"):
        assert data.y.dtype == torch.float32 and info.target_shape == (1,)
    prepared = data.prepare(val_fraction=0.2, test_fraction=0.1, seed=3)
    sizes = [len(prepared.train), len(prepared.val), len(prepared.test)]
    assert sum(sizes) == len(data) and min(sizes) > 0
    xb, yb = next(prepared.train.batches(16, shuffle=True, generator=torch.Generator().manual_seed(0)))
    assert tuple(xb.shape) == (16, *shape) and len(yb) == 16


def test_bundled_tables_match_scikit_learn_names():
    from sklearn import datasets

    for dataset_id, loader in (("iris", datasets.load_iris), ("wine", datasets.load_wine),
                               ("breast-cancer", datasets.load_breast_cancer)):
        bunch = loader()
        info = load_data(dataset_id).info
        assert info.feature_names == list(bunch.feature_names)
        assert info.class_names == list(bunch.target_names)


def test_diabetes_target_is_in_score_units_and_standardised_on_the_training_split():
    from sklearn.datasets import load_diabetes

    data = load_data("diabetes")
    original = torch.tensor(load_diabetes().target, dtype=torch.float32)
    assert torch.allclose(data.y[:, 0], original)
    prepared = data.prepare(val_fraction=0.2, seed=3)
    targets = prepared.preprocessing.targets
    assert abs(float(prepared.train.y.mean())) < 1e-4
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(3))
    assert float(targets.shift) == pytest.approx(float(original[order[88:]].mean()), rel=1e-5)
    assert torch.allclose(prepared.preprocessing.invert_targets(prepared.val.y)[:, 0], original[order[:88]],
                          atol=1e-3)


def test_text_sample_targets_are_inputs_shifted_by_one():
    data = load_data("text")
    assert data.info.vocab == sorted(set(corpus_text())) and data.info.num_classes == len(data.info.vocab)
    assert torch.equal(data.x[:, 1:], data.y[:, :-1])
    assert torch.equal(data.x[1:, 0], data.y[:-1, -1])  # windows are back to back
    decoded = "".join(data.info.vocab[i] for i in data.x[0].tolist())
    assert corpus_text().startswith(decoded)
    shorter = load_data("text", seq_len=16)
    assert shorter.info.sample_shape == (16,) and shorter.x.shape[1] == 16


def test_shipped_corpus_is_exactly_the_generator_output():
    assert corpus_text() == generate_corpus()
    assert len(corpus_text().encode()) < 300_000


def test_waves_targets_are_the_next_value_and_splits_are_chronological():
    data = load_data("waves")
    assert isinstance(data, SeriesDataset)
    assert torch.equal(data.x[1:, -1, 0], data.y[:-1, 0])
    prepared = data.prepare(val_fraction=0.2, test_fraction=0.1, seed=5)
    assert prepared.preprocessing.inputs is None
    assert torch.equal(prepared.train.x, data.x[:700])
    assert torch.equal(prepared.val.x, data.x[700:900])
    assert torch.equal(prepared.test.x, data.x[900:])


# ---------------------------------------------------------------------------------------------------------------
# Splitting and normalisation


def test_split_is_deterministic_for_a_seed():
    data = load_data("iris")
    a, b, c = (data.prepare(seed=s) for s in (7, 7, 8))
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.val.y, b.val.y)
    assert not torch.equal(a.train.x, c.train.x)
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    for (x1, y1), (x2, y2) in zip(a.train.batches(32, True, g1), b.train.batches(32, True, g2), strict=True):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)


def test_normalisation_is_fitted_on_the_training_split_only():
    x = torch.arange(200, dtype=torch.float32).reshape(100, 2) ** 1.5
    data = ArrayDataset(DataInfo("t", "t", "regression", (2,), target_shape=(1,)), x, torch.zeros(100, 1))
    prepared = data.prepare(val_fraction=0.3, seed=11)
    order = torch.randperm(100, generator=torch.Generator().manual_seed(11))
    train_raw = x[order[30:]]
    assert torch.allclose(prepared.preprocessing.inputs.shift, train_raw.mean(0))
    assert not torch.allclose(prepared.preprocessing.inputs.shift, x.mean(0))
    assert torch.allclose(prepared.train.x.mean(0), torch.zeros(2), atol=1e-5)
    assert torch.allclose(prepared.val.x, (x[order[:30]] - train_raw.mean(0)) / train_raw.std(0))


def test_image_normalisation_is_per_channel():
    prepared = load_data("digits-images").prepare(seed=0)
    assert prepared.preprocessing.inputs.shift.shape == (1, 1, 1)
    assert prepared.preprocessing.inputs.axis == "channel"
    assert abs(float(prepared.train.x.mean())) < 1e-4


def test_bad_fractions_are_refused():
    with pytest.raises(DataError, match="fractions"):
        load_data("iris").prepare(val_fraction=0.6, test_fraction=0.5)


# ---------------------------------------------------------------------------------------------------------------
# CSV


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_with_a_categorical_target(tmp_path):
    path = write(tmp_path / "flowers.csv",
                 "length,width,species\n1.0,2.0,setosa\n1.5,2.5,virginica\n2.0,3.5,setosa\n0.5,1.0,versicolor\n")
    data = load_csv(path, "species")
    assert data.info.task == "classification"
    assert data.info.class_names == ["setosa", "versicolor", "virginica"]
    assert data.y.tolist() == [0, 2, 0, 1]
    assert data.info.feature_names == ["length", "width"]
    assert data.x.dtype == torch.float32 and data.x[1].tolist() == [1.5, 2.5]


def test_csv_without_header_uses_the_last_column_and_detects_the_delimiter(tmp_path):
    path = write(tmp_path / "plain.csv", "1;2;0\n3;4;1\n5;6;0\n7;8;1\n")
    data = load_data(path)
    assert data.info.feature_names == ["column 1", "column 2"]
    assert data.info.task == "classification" and data.y.tolist() == [0, 1, 0, 1]
    assert load_data({"path": str(path), "target": None}).info.task == "unsupervised"


def test_csv_regression_target_is_standardised_for_training_only(tmp_path):
    rows = "\n".join(f"{i},{i * 0.5},{1000 + 37.5 * i}" for i in range(30))
    data = load_csv(write(tmp_path / "price.csv", "a,b,price\n" + rows), "price")
    assert data.info.task == "regression" and data.y.shape == (30, 1) and data.info.target_shape == (1,)
    prices = torch.tensor([1000 + 37.5 * i for i in range(30)])
    assert torch.allclose(data.y[:, 0], prices)  # the data keeps its units
    prepared = data.prepare(val_fraction=0.0)
    assert float(prepared.preprocessing.targets.shift) == pytest.approx(1000 + 37.5 * 14.5)
    assert abs(float(prepared.train.y.mean())) < 1e-4
    assert torch.allclose(prepared.preprocessing.invert_targets(prepared.train.y)[:, 0].sort().values, prices,
                          atol=1e-2)


def test_csv_missing_values_name_row_and_column(tmp_path):
    path = write(tmp_path / "gaps.csv", "age,bmi,label\n31,22.5,a\n45,,b\n50,NA,a\nabc,20,b\n")
    with pytest.raises(DataError) as error:
        load_csv(path, "label")
    message = str(error.value)
    assert "gaps.csv" in message and "3 values" in message
    assert "row 3, column 'bmi' is empty" in message
    assert "row 4, column 'bmi' has 'NA'" in message
    assert "row 5, column 'age' has 'abc'" in message


def test_csv_many_missing_values_are_counted(tmp_path):
    rows = "\n".join(f"{i},,x{i % 2}" for i in range(12))
    with pytest.raises(DataError, match=r"12 values .*and 7 more"):
        load_csv(write(tmp_path / "empty.csv", "a,b,label\n" + rows), "label")


def test_csv_text_feature_column_is_named(tmp_path):
    path = write(tmp_path / "colours.csv", "size,colour,label\n1,red,0\n2,blue,1\n3,red,0\n")
    with pytest.raises(DataError, match=r"'colour' \(e\.g\. 'red' in row 2\) holds text"):
        load_csv(path, "label")
    assert load_csv(path, "label", features=["size"]).x.shape == (3, 1)


def test_csv_column_errors(tmp_path):
    path = write(tmp_path / "t.csv", "a,b\n1,2\n3,4,5\n")
    with pytest.raises(DataError, match="Row 3 of t.csv has 3 values"):
        load_csv(path, "b")
    path = write(tmp_path / "eu.csv", "a;b;label\n1,5;2;x\n2,5;3;y\n")
    with pytest.raises(DataError, match="row 2, column 'a' has '1,5'.*decimal point"):
        load_csv(path, "label")
    path = write(tmp_path / "u.csv", "a,b\n1,0\n2,1\n")
    with pytest.raises(DataError, match="no column 'c'.*'a', 'b'"):
        load_csv(path, "c")


# ---------------------------------------------------------------------------------------------------------------
# NumPy arrays


def test_npz_keys_and_tasks(tmp_path):
    x = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    np.savez(tmp_path / "a.npz", x=x, y=np.arange(20) % 4)
    np.savez(tmp_path / "b.npz", features=x, labels=np.linspace(0, 1, 20))
    np.savez(tmp_path / "c.npz", inputs=x, outputs=x)
    np.savez(tmp_path / "d.npz", a=x, b=x)
    a, b = load_data(tmp_path / "a.npz"), load_npz(tmp_path / "b.npz")
    assert a.info.task == "classification" and a.info.num_classes == 4 and torch.equal(a.x, torch.from_numpy(x))
    assert b.info.task == "regression" and b.y.shape == (20, 1)
    with pytest.raises(DataError, match=r"has the arrays 'inputs', 'outputs': 'inputs' holds the inputs"):
        load_npz(tmp_path / "c.npz")
    with pytest.raises(DataError, match=r"has the arrays 'a', 'b', but none of the expected names \(x/y, X/y"):
        load_npz(tmp_path / "d.npz")
    assert load_npz(tmp_path / "c.npz", x_key="inputs", y_key="outputs", scale_target=False).y.shape == (20, 3)


def test_npy_is_unsupervised_and_pickles_are_refused(tmp_path):
    np.save(tmp_path / "x.npy", np.ones((5, 2, 3), np.float64))
    data = load_data(tmp_path / "x.npy")
    assert data.info.task == "unsupervised" and data.y is None and data.info.sample_shape == (2, 3)
    assert data.x.dtype == torch.float32 and data.info.kind == "table"
    np.save(tmp_path / "grey.npy", np.full((5, 4, 4), 255, np.uint8))
    np.save(tmp_path / "labels.npy", np.array([0.0, 1.0, 1.0, 0.0, 1.0]))
    grey = load_data(tmp_path / "grey.npy", target_path=tmp_path / "labels.npy")
    assert grey.info.kind == "images" and grey.info.sample_shape == (1, 4, 4) and float(grey.x.max()) == 1.0
    assert grey.info.task == "classification" and grey.y.tolist() == [0, 1, 1, 0, 1]
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="Python objects"):
        load_data(tmp_path / "objects.npy")
    np.save(tmp_path / "images.npy", np.zeros((4, 6, 6, 3), np.uint8))
    images = load_data(tmp_path / "images.npy")
    assert images.info.kind == "images" and images.info.sample_shape == (3, 6, 6)


# ---------------------------------------------------------------------------------------------------------------
# Image folders (streamed)


@pytest.fixture
def image_folder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for label, name in enumerate(("cats", "dogs", "owls")):
        (tmp_path / name).mkdir()
        for i in range(6):
            pixels = rng.integers(0, 80, (10, 12, 3), dtype=np.uint8) + 80 * label
            Image.fromarray(pixels.astype(np.uint8)).save(tmp_path / name / f"{i}.png")
    (tmp_path / "cats" / "broken.png").write_bytes(b"this is not a picture")
    valid = (tmp_path / "dogs" / "0.png").read_bytes()
    (tmp_path / "dogs" / "truncated.png").write_bytes(valid[: len(valid) // 2])  # header fine, pixels missing
    return tmp_path


@pytest.mark.parametrize("workers", [0, 2])
def test_image_folder_streams_batches(image_folder, workers):
    data = load_data(image_folder, size=(8, 8), num_workers=workers)
    assert isinstance(data, ImageFolderDataset)
    assert data.info.class_names == ["cats", "dogs", "owls"] and data.info.sample_shape == (3, 8, 8)
    assert len(data) == 19 and any("broken.png" in w for w in data.warnings)
    prepared = data.prepare(val_fraction=0.25, seed=1)
    assert len(prepared.train) + len(prepared.val) == 19
    assert prepared.preprocessing.inputs.shift.shape == (3, 1, 1)
    seen = 0
    for x, y in prepared.train.batches(4, shuffle=True, generator=torch.Generator().manual_seed(0)):
        assert x.dtype == torch.float32 and x.shape[1:] == (3, 8, 8) and len(x) == len(y) <= 4
        seen += len(x)
    for x, _ in prepared.val.batches(4):
        seen += len(x)
    assert seen == 18  # the truncated file is dropped when decoded, and reported
    assert any("truncated.png" in w for w in data.warnings)


def test_image_folder_batches_are_the_same_with_and_without_workers(image_folder):
    runs = []
    for workers in (0, 2):
        prepared = load_data(image_folder, size=(6, 6), grayscale=True, num_workers=workers).prepare(
            seed=2, augment={"hflip": True, "crop": 1})
        batches = list(prepared.train.batches(5, shuffle=True, generator=torch.Generator().manual_seed(9)))
        runs.append(batches)
    assert len(runs[0]) == len(runs[1])
    for (x0, y0), (x1, y1) in zip(*runs, strict=True):
        assert x0.shape[1] == 1 and torch.equal(x0, x1) and torch.equal(y0, y1)
    shown = preview(load_data(image_folder, size=(6, 6), num_workers=0), count=3)
    assert shown.x.shape == (3, 3, 6, 6) and shown.y.tolist() == [0, 0, 0]
    assert shown.class_counts == {"cats": 6, "dogs": 7, "owls": 6} and shown.shapes["x"] == (19, 3, 6, 6)
    assert float(shown.x.min()) >= 0 and float(shown.x.max()) <= 1  # previews show pixels as loaded


def test_image_folder_errors(tmp_path):
    with pytest.raises(DataError, match="no class sub-folders"):
        load_data({"path": str(tmp_path), "format": "images"})
    with pytest.raises(DataError, match="num_workers"):
        load_data(tmp_path, num_workers=-1)


# ---------------------------------------------------------------------------------------------------------------
# IDX (MNIST format)


def idx_bytes(array: np.ndarray) -> bytes:
    code = {np.uint8: 0x08, np.int32: 0x0C, np.float32: 0x0D}[array.dtype.type]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path, gz):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (12, 5, 4), dtype=np.uint8)
    labels = (np.arange(12) % 3).astype(np.uint8)
    suffix = ".gz" if gz else ""
    pack = gzip.compress if gz else bytes
    (tmp_path / f"train-images-idx3-ubyte{suffix}").write_bytes(pack(idx_bytes(images)))
    (tmp_path / f"train-labels-idx1-ubyte{suffix}").write_bytes(pack(idx_bytes(labels)))
    data = load_data(tmp_path / f"train-images-idx3-ubyte{suffix}")  # labels are found beside the images
    assert data.info.kind == "images" and data.info.sample_shape == (1, 5, 4) and data.info.num_classes == 3
    assert torch.allclose(data.x[:, 0], torch.from_numpy(images).float() / 255)
    assert data.y.tolist() == labels.tolist()


def test_idx_validation(tmp_path):
    images = np.zeros((4, 3, 3), np.uint8)
    (tmp_path / "bad-magic.idx").write_bytes(b"\x01\x02" + idx_bytes(images)[2:])
    with pytest.raises(DataError, match="not an IDX file"):
        load_idx(tmp_path / "bad-magic.idx")
    (tmp_path / "short.idx").write_bytes(idx_bytes(images)[:-5])
    with pytest.raises(DataError, match=r"declares 4×3×3 values \(36 bytes\) but holds 31 bytes"):
        load_idx(tmp_path / "short.idx")
    (tmp_path / "img.idx").write_bytes(idx_bytes(images))
    (tmp_path / "lab.idx").write_bytes(idx_bytes(np.zeros(5, np.uint8)))
    with pytest.raises(DataError, match="4 images but lab.idx has 5 labels"):
        load_idx(tmp_path / "img.idx", tmp_path / "lab.idx")
    (tmp_path / "broken.idx").write_bytes(gzip.compress(idx_bytes(images))[:-8])
    with pytest.raises(DataError, match="damaged or truncated gzip"):
        load_idx(tmp_path / "broken.idx")


# ---------------------------------------------------------------------------------------------------------------
# Text


def test_text_loading(tmp_path):
    path = write(tmp_path / "poem.txt", "abcabd\r\nxyz" * 20)
    data = load_text(path, seq_len=10)
    assert data.info.task == "language_model" and data.info.dtype == "int64"
    assert data.info.vocab == sorted(set("abcabd\nxyz")) and "\r" not in data.info.vocab
    assert data.x.shape == (len(data), 10) and torch.equal(data.x[:, 1:], data.y[:, :-1])
    assert load_data(path, seq_len=10, stride=5).x.shape[0] > len(data)
    (tmp_path / "latin.txt").write_bytes(b"first line\nsecond caf\xe9 line\n")
    with pytest.raises(DataError, match=r"not valid utf-8 text: byte 0xe9 on line 2"):
        load_text(tmp_path / "latin.txt", seq_len=4)
    assert "é" in load_text(tmp_path / "latin.txt", seq_len=4, encoding="latin-1").info.vocab
    with pytest.raises(DataError, match="only 11 characters"):
        load_text(write(tmp_path / "tiny.txt", "hello there"), seq_len=64)


# ---------------------------------------------------------------------------------------------------------------
# load_data, previews, augmentation


def test_load_data_errors_are_specific(tmp_path):
    with pytest.raises(DataError, match=r"Did you mean 'digits'\?.*Bundled data sets: digits, digits-images"):
        load_data("digitz")
    with pytest.raises(DataError, match="File not found"):
        load_data(str(tmp_path / "missing.csv"))
    with pytest.raises(DataError, match=r"Unknown option 'targt' for csv"):
        load_data(write(tmp_path / "a.csv", "1,0\n2,1\n"), targt=1)
    with pytest.raises(DataError, match="Cannot tell the format"):
        load_data(write(tmp_path / "a.xyz", "1"))
    with pytest.raises(DataError, match="seq_len only applies"):
        load_data({"id": "iris", "seq_len": 8})


def test_info_round_trips_through_a_plain_dict():
    import json

    for dataset_id in ("diabetes", "text", "digits-images"):
        info = load_data(dataset_id).info
        assert DataInfo.from_dict(json.loads(json.dumps(info.to_dict()))) == info


def test_preview_summarises_the_data():
    iris = preview(load_data("iris"), count=5)
    assert iris.class_counts == {"setosa": 50, "versicolor": 50, "virginica": 50}
    assert iris.x.shape == (5, 4) and iris.y.shape == (5,) and iris.count == 150
    assert iris.shapes == {"x": (150, 4), "y": (150,)} and iris.columns[0] == "sepal length (cm)"
    text = preview(load_data("text"))
    assert text.text and corpus_text().startswith(text.text) and text.class_counts is None
    assert preview(load_data("waves")).class_counts is None


def test_augment_is_random_but_reproducible():
    batch = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).reshape(2, 1, 4, 4)
    augment = make_augment({"flip": True, "vflip": True, "crop": 1, "noise": 0.0})
    a = augment(batch, torch.Generator().manual_seed(4))
    b = augment(batch, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and a.shape == batch.shape
    assert batch[0, 0, 0, 0] == 0  # the input is never changed in place
    outs = {tuple(augment(batch, torch.Generator().manual_seed(s))[0].flatten().tolist()) for s in range(8)}
    assert len(outs) > 1
    with pytest.raises(DataError, match="Unknown augmentation 'rotate'"):
        make_augment({"rotate": 10})
    prepared = load_data("digits-images").prepare(augment={"hflip": True})
    assert prepared.train.augment is not None and prepared.val.augment is None


# ---------------------------------------------------------------------------------------------------------------
# Compatibility of data and network


def mlp(shape=(64,), units=10, dtype="float32", role="logits"):
    doc = Document()
    net = doc.network()
    x = net.add("Input", shape=shape, dtype=dtype)
    h = net.add("Linear", units=units)
    act = net.add("ReLU")
    out = net.add("Output", role=role)
    net.chain(x, h, act, out)
    return net, x, h, out


def apply(net, fits):
    for fit in fits:
        if fit.fix:
            net.set_params(fit.fix["node"], **fit.fix["params"])


def test_a_fitting_network_has_no_problems():
    net, *_ = mlp()
    assert check_compatibility(load_data("digits").info, net) == []


def test_input_shape_mismatch_message_and_fix():
    net, x, _, _ = mlp(shape=(1, 28, 28))
    net.add("Flatten")  # an unconnected extra node does not matter here
    fits = check_compatibility(load_data("digits-images").info, net)
    assert fits[0].message == "Input 'input1' expects 1×28×28 but the data has 1×8×8 samples."
    assert fits[0].node_id == x and fits[0].fix == {"node": x, "params": {"shape": (1, 8, 8)}}
    net2, x2, _, _ = mlp(shape=(32,))
    fits = check_compatibility(load_data("digits").info, net2)
    assert fits[0].message == "Input 'input1' expects 32 but each data sample has 64 values."
    apply(net2, fits)
    assert check_compatibility(load_data("digits").info, net2) == []


def test_dtype_mismatch_both_ways():
    net, x, _, _ = mlp(shape=(64,), dtype="int64")
    fits = check_compatibility(load_data("digits").info, net)
    assert [f.message for f in fits] == ["Input 'input1' expects int64 token ids but the data holds float32 values."]
    assert fits[0].fix == {"node": x, "params": {"dtype": "float32"}}
    doc = Document()
    lm = doc.network()
    i = lm.add("Input", shape=("T",))
    e = lm.add("Embedding", vocab_size=53, dim=16)
    head = lm.add("Linear", units=53)
    out = lm.add("Output", role="token_logits")
    lm.chain(i, e, head, out)
    text = load_data("text").info
    fits = check_compatibility(text, lm)
    assert any(f.message == "Input 'input1' expects float32 values but the data holds int64 token ids." and
               f.fix == {"node": i, "params": {"dtype": "int64"}} for f in fits)
    apply(lm, fits)
    assert check_compatibility(text, lm) == []


def test_class_count_mismatch_points_at_the_last_linear():
    net, _, hidden, out = mlp(units=5)
    fits = check_compatibility(load_data("digits").info, net)
    assert len(fits) == 1
    assert fits[0].message == "Output 'output1' receives N×5 but the data has 10 classes."
    assert fits[0].node_id == hidden and fits[0].fix == {"node": hidden, "params": {"units": 10}}
    apply(net, fits)
    assert check_compatibility(load_data("digits").info, net) == []


def test_regression_size_and_role():
    net, _, hidden, out = mlp(shape=(10,), units=3, role="logits")
    fits = check_compatibility(load_data("diabetes").info, net)
    assert fits[0].fix == {"node": out, "params": {"role": "regression"}}
    assert "1 target value per sample" in fits[1].message and fits[1].fix["params"] == {"units": 1}
    apply(net, fits)
    assert check_compatibility(load_data("diabetes").info, net) == []


def test_missing_nodes_are_reported():
    doc = Document()
    fits = check_compatibility(load_data("iris").info, doc.network())
    assert [f.message for f in fits] == ["The network has no Input node.", "The network has no Output node."]
    assert "shape 4" in fits[0].suggestion
