"""The training side of `netbuilder.data.preprocess`: what range a network's outputs need, and applying a run's
saved preprocessing to data it was not fitted on (evaluate, predict, the app's Results).

A GAN's real data must lie where its generator can reach, and an autoencoder whose reconstruction ends in a
Sigmoid or Tanh can only give back values in that range; both are read from the last activation before the
Output node (looking through layers that only move values around: Reshape, Flatten, Permute ...).
"""

from __future__ import annotations

from typing import Any

from netbuilder.data.base import ArraySplit, PreparedData, Split
from netbuilder.data.preprocess import Preprocessing, output_range_of
from netbuilder.document.model import Document, Network

# Layers that move values without changing them: the activation before them still decides the output range.
PASS_THROUGH = {"Reshape", "Flatten", "Unflatten", "Permute", "Identity", "Dropout", "Dropout2d", "Squeeze",
                "Unsqueeze"}


def last_activation(network: Network, role: str) -> str | None:
    """The type of the layer that decides the values of the first Output with ``role`` (through pass-through
    layers), or None when there is no such Output."""
    output = next((n for n in network.outputs() if n.params.get("role") == role), None)
    if output is None:
        return None
    node = output
    for _ in range(len(network.nodes)):
        wires = network.wires_into(node.id)
        if len(wires) != 1:
            return None
        node = network.node(wires[0].src)
        if node.type not in PASS_THROUGH:
            return node.type
    return None


def output_range_for(document: Document, recipe: str, network: Network | None) -> tuple[float, float] | None:
    """The range the training inputs must be mapped to, or None to standardise them: a GAN's real data goes to
    its generator's output range; an autoencoder's to its reconstruction's when a bounded activation ends it."""
    if recipe == "gan" and "generator" in document.networks:
        return output_range_of(last_activation(document.networks["generator"], "generated"))
    if recipe in ("autoencoder", "vae") and network is not None:
        return output_range_of(last_activation(network, "reconstruction"))
    return None


def with_preprocessing(split: Split, preprocessing: Preprocessing | None) -> Split:
    """``split`` (raw, in the data's declared units) as the network sees it under a run's ``preprocessing``."""
    if preprocessing is None:
        return split
    if isinstance(split, ArraySplit):
        x = preprocessing.apply_inputs(split.x)
        y = preprocessing.apply_targets(split.y) if split.y is not None else None
        return ArraySplit(x, y, split.augment)
    if hasattr(split, "transform"):  # streamed image folders apply it per batch, after / 255
        from dataclasses import replace

        return replace(split, transform=preprocessing.inputs)  # type: ignore[type-var]
    return split


def prepared_with(prepared: PreparedData, preprocessing: Preprocessing | None) -> PreparedData:
    """Raw prepared data (``normalize=False``) with a run's saved preprocessing applied to every split."""
    if preprocessing is None:
        return prepared
    parts: dict[str, Any] = {name: with_preprocessing(part, preprocessing) if part is not None else None
                             for name, part in (("train", prepared.train), ("val", prepared.val),
                                                ("test", prepared.test))}
    return PreparedData(prepared.info, parts["train"], parts["val"], parts["test"], preprocessing, prepared.options)
