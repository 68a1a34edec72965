"""Weight tying between a Linear and an Embedding, checked as the network is edited.

A Linear whose ``tie_weight_to`` names an Embedding uses that Embedding's table as its weight (a language model's
decoder sharing the input embedding: fewer parameters, often better perplexity). The document expresses it as
that one parameter, naming the node, so renaming or deleting the Embedding, or changing a size on either side,
shows up here as a diagnostic on the Linear; compile then makes the two one shared Parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from netbuilder.analysis.analyzer import Diagnostic, NodeInfo
from netbuilder.document.model import Network, Node

PARAM = "tie_weight_to"


def tied_target(node: Node) -> str:
    """The name of the Embedding a Linear node ties its weight to ('' for none)."""
    return str(node.params.get(PARAM) or "").strip() if node.type == "Linear" else ""


def tying_problems(network: Network, linear_ids: Iterable[str], infos: dict[str, NodeInfo],
                   in_model: Callable[[str], bool]) -> list[Diagnostic]:
    """Diagnostics for every tied Linear among ``linear_ids`` whose tie cannot be made."""
    problems = []
    for node_id in linear_ids:
        node = network.node(node_id)
        target = tied_target(node)
        if not target or not in_model(node_id):
            continue
        problem = _problem(network, node, target, infos, in_model)
        if problem:
            message, suggestion = problem
            problems.append(Diagnostic(message, network.name, node.id, node.name, PARAM, suggestion))
    return problems


def _problem(network: Network, node: Node, target: str, infos: dict[str, NodeInfo],
             in_model: Callable[[str], bool]) -> tuple[str, str] | None:
    try:
        embedding = network.find(target)
    except Exception:
        return (f"Tie weight to names {target!r}, but the network has no layer of that name.",
                "Type the name of an Embedding, or clear the field to give this layer its own weight.")
    if embedding.type != "Embedding":
        return (f"Tie weight to names {target!r} ({embedding.type}); only an Embedding's table can be shared.",
                "Name an Embedding, or clear the field.")
    if not in_model(embedding.id):
        return (f"Tie weight to names {embedding.name}, which feeds no Output, so it is not part of the model.",
                f"Wire {embedding.name} towards an Output, or clear the field.")
    info, source = infos.get(node.id), infos.get(embedding.id)
    if info is None or not info.ok or source is None or not source.ok or not info.outputs:
        return None  # a problem upstream is reported where it is
    units = node.params.get("units")
    vocab, dim = embedding.params.get("vocab_size"), embedding.params.get("dim")
    incoming = network.wires_into(node.id)
    features = None
    if incoming:
        feeding = infos.get(incoming[0].src)
        wire_type = feeding.outputs.get(incoming[0].src_port) if feeding else None
        features = wire_type.shape[-1] if wire_type is not None else None
    if units != vocab or features != dim:
        return (f"Weight tying needs equal shapes: this layer's weight would be {units}×{features} "
                f"(units × input features) but {embedding.name}'s table is {vocab}×{dim} (vocabulary × dim).",
                f"Set units to {vocab} and feed this layer {dim} features, or clear Tie weight to.")
    return None
