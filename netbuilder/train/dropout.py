"""The ``dropout`` training setting: one rate for every Dropout layer of a run, in place of each layer's own."""

from __future__ import annotations

from collections.abc import Iterable

from torch import nn


def set_dropout(modules: Iterable[nn.Module], rate: float) -> int:
    """Give every dropout module (Dropout, Dropout2d, AlphaDropout, ...) inside ``modules`` the rate ``rate``;
    returns how many there were. Attention's internal dropout is a layer parameter and is left alone."""
    count = 0
    for module in modules:
        for layer in module.modules():
            if isinstance(layer, nn.modules.dropout._DropoutNd):
                layer.p = rate
                count += 1
    return count
