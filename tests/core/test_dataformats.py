"""The torch-free format table that ``validate`` uses agrees with the loaders and the bundled data sets."""

from __future__ import annotations

import inspect

from netbuilder import dataformats
from netbuilder.data.bundled import dataset_ids
from netbuilder.data.load import _LOADERS, _bundled, detect_format, loader_options


def test_loader_options_table_matches_every_loaders_signature() -> None:
    actual = {fmt: tuple(list(inspect.signature(loader).parameters)[1:]) for fmt, loader in _LOADERS.items()}
    actual["bundled"] = tuple(list(inspect.signature(_bundled).parameters)[1:])
    assert actual == dataformats.LOADER_OPTIONS


def test_bundled_ids_match_the_bundled_data_sets() -> None:
    assert list(dataformats.BUNDLED_IDS) == dataset_ids()


def test_formats_from_names(tmp_path) -> None:
    assert detect_format("a.csv") == "csv" and detect_format("train-images-idx3-ubyte.gz") == "idx"
    assert detect_format(tmp_path) == "images"
    assert loader_options("digits") == ("bundled", ("seq_len",))
    assert dataformats.loader_options("notes.xyz") is None
