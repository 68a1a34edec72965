"""Compile-time weight tying: a Linear naming an Embedding in ``tie_weight_to`` gets that Embedding's table as
its weight, one shared ``nn.Parameter`` (so the optimiser updates it once and ``parameters()`` lists it once).

Analysis has already checked that the Embedding exists, is in the model and has the Linear's weight shape; the
compiled Linear remembers the tie in ``_nb_tied`` so PyTorch code export can write the same assignment.
"""

from __future__ import annotations

import torch.nn as nn

from netbuilder.analysis.tying import tied_target
from netbuilder.document.model import Network


def tie_weights(network: Network, root: nn.Module, node_ids: dict[str, str]) -> None:
    """Share weights between the compiled submodules of ``root`` (named after nodes; ``node_ids`` maps submodule
    names to node ids) as the network's Linear layers ask."""
    for name, node_id in node_ids.items():
        target = tied_target(network.node(node_id))
        if not target:
            continue
        embedding_name = network.find(target).name
        linear = root.get_submodule(name)
        linear.weight = root.get_submodule(embedding_name).weight
        linear._nb_tied = {"weight": f"{embedding_name}.weight"}
