"""Preprocessing fitted on the training split: declared pixel ranges, per-channel (not per-pixel) scaling, the
std floor for tables, GAN range mapping, regression targets, and the JSON round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from netbuilder.data import load_data
from netbuilder.data.base import ArrayDataset, DataInfo
from netbuilder.data.preprocess import (
    RANGE_PER_STD,
    Preprocessing,
    fit_columns,
    fit_inputs,
    load_preprocessing,
    output_range_of,
)


def test_bundled_digits_reach_the_declared_pixel_range_like_image_files():
    from sklearn.datasets import load_digits

    levels = torch.tensor(load_digits().data, dtype=torch.float32)
    for dataset_id in ("digits", "digits-images"):
        data = load_data(dataset_id)
        assert data.info.pixel_range == (0.0, 1.0)
        assert float(data.x.min()) == 0.0 and float(data.x.max()) == 1.0
        assert torch.allclose(data.x.reshape(len(data), -1), levels / 16)
    # the same digits saved as 8-bit images differ by at most half a grey step of 255
    as_bytes = np.round(levels.numpy() * 255 / 16).astype(np.uint8).reshape(-1, 8, 8)
    from_bytes = load_data_from_arrays(as_bytes, load_digits().target)
    assert from_bytes.info.pixel_range == (0.0, 1.0)
    assert float((from_bytes.x.reshape(len(levels), -1) - levels / 16).abs().max()) <= 0.5 / 255 + 1e-6


def load_data_from_arrays(x: np.ndarray, y: np.ndarray) -> ArrayDataset:
    from netbuilder.data import from_arrays

    return from_arrays(x, y, "digits.npz")


def test_flat_pixels_are_standardised_with_one_mean_and_std_not_per_pixel():
    prepared = load_data("digits").prepare(val_fraction=0.2, seed=0)
    inputs = prepared.preprocessing.inputs
    assert inputs.axis == "all" and inputs.shift.numel() == 1
    # per-pixel standardisation sent a near-blank pixel to ~53 sigma on validation; one scale for all keeps
    # every validation value within a few sigma of the training pixels
    assert float(prepared.val.x.abs().max()) < 4.0


def test_image_channels_are_standardised_separately():
    x = torch.rand(50, 3, 4, 4) * torch.tensor([1.0, 0.5, 0.1]).view(1, 3, 1, 1)
    inputs = fit_inputs(x, "images", (0.0, 1.0))
    assert inputs.shift.shape == (3, 1, 1) and inputs.axis == "channel"
    out = inputs.apply(x)
    assert torch.allclose(out.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(out.std(dim=(0, 2, 3)), torch.ones(3), atol=1e-4)


def test_a_near_constant_table_column_is_floored_relative_to_its_training_range():
    rng = np.random.default_rng(0)
    table = rng.normal(0, 1, (1000, 6)).astype(np.float32)
    table[:, 5] = 0.0
    table[0, 5] = 0.3  # almost constant in training: std 0.0095
    affine = fit_columns(torch.from_numpy(table))
    assert float(affine.scale[5]) == pytest.approx(0.3 / RANGE_PER_STD, rel=1e-4)
    assert torch.allclose(affine.scale[:5], torch.from_numpy(table[:, :5].std(axis=0, ddof=1)), rtol=1e-4)
    new_sample = torch.tensor([[0.0, 0.0, 0.0, 0.0, 0.0, 0.3]])
    assert float(affine.apply(new_sample)[0, 5]) < RANGE_PER_STD + 0.1  # without the floor: 31.6 sigma


def test_real_features_of_the_bundled_tables_are_not_floored():
    for dataset_id in ("iris", "wine", "breast-cancer", "diabetes"):
        x = load_data(dataset_id).x
        assert torch.allclose(fit_columns(x).scale, x.double().std(0).float(), rtol=1e-4), dataset_id


def test_gan_data_is_mapped_onto_the_generators_output_range():
    assert output_range_of("Tanh") == (-1.0, 1.0) and output_range_of("Sigmoid") == (0.0, 1.0)
    assert output_range_of("ReLU") is None
    prepared = load_data("digits-images").prepare(val_fraction=0.0, output_range=(-1.0, 1.0))
    x = prepared.train.x
    assert float(x.min()) == -1.0 and float(x.max()) == 1.0
    assert prepared.preprocessing.inputs.kind == "range"
    back = prepared.preprocessing.invert_inputs(torch.tensor([[[[-1.0, 0.0, 1.0]]]]))
    assert back.flatten().tolist() == [0.0, 0.5, 1.0]


def test_preprocessing_round_trips_through_json(tmp_path):
    prepared = load_data("diabetes").prepare(val_fraction=0.2, seed=1)
    prepared.preprocessing.save(tmp_path)
    text = (tmp_path / "preprocessing.json").read_text()
    assert "pickle" not in text and '"targets"' in text
    loaded = load_preprocessing(tmp_path)
    assert isinstance(loaded, Preprocessing)
    x = torch.randn(4, 10) * 50
    assert torch.allclose(loaded.apply_inputs(x), prepared.preprocessing.apply_inputs(x))
    assert torch.allclose(loaded.invert_targets(torch.zeros(2, 1)),
                          prepared.preprocessing.targets.shift.expand(2, 1))


def test_a_damaged_preprocessing_file_is_named(tmp_path):
    (tmp_path / "preprocessing.json").write_text("{not json")
    with pytest.raises(ValueError, match="preprocessing.json"):
        load_preprocessing(tmp_path)


def test_targets_of_other_tasks_are_left_alone():
    data = ArrayDataset(DataInfo("t", "t", "classification", (2,), num_classes=2), torch.randn(20, 2),
                        torch.randint(0, 2, (20,)))
    prepared = data.prepare(val_fraction=0.0)
    assert prepared.preprocessing.targets is None and prepared.train.y.dtype == torch.int64
