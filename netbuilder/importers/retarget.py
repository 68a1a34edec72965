"""Transfer learning edits on an imported (or any) network: a new classifier head for the user's classes, and
frozen early layers.

Both are ordinary undoable commands on the document, the same the app's inspector pushes (set units, rename,
untick *Trainable*), so a retargeted file is an ordinary document. The head gets a new name: training's transfer
matches weights by node name and shape, so the old head's weights are left behind on purpose (and the run's
"not loaded" list says so) while every other layer starts from the imported weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from netbuilder.document.model import DocumentError, Network, Node

CLASS_ROLES = ("logits", "probabilities")
SIZE_PARAMS = ("units", "filters")  # what sets the number of classes on a Linear or a (1×1) convolution


class RetargetError(ValueError):
    """The edit cannot be made; the message names the node and what to do."""


@dataclass
class RetargetReport:
    head: str  # the new head's node name
    replaced: str  # the old head's node name
    classes: int
    frozen: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"New head {self.head} ({self.classes} classes) replaces {self.replaced}; it starts from random "
                 "weights, every other layer from the imported ones."]
        if self.frozen:
            lines.append(f"Frozen ({len(self.frozen)}): {', '.join(self.frozen)}.")
        return "\n".join(lines)


def class_output(network: Network, name: str | None = None) -> Node:
    """The Output that gives class scores: the one named, or the only one with a logits/probabilities role."""
    if name:
        try:
            node = network.find(name)
        except (KeyError, DocumentError):
            raise RetargetError(f"The network has no node {name!r}.") from None
        if node.type != "Output":
            raise RetargetError(f"{name} is a {node.type}, not an Output.")
        return node
    outputs = [n for n in network.outputs() if n.params.get("role") in CLASS_ROLES]
    if len(outputs) != 1:
        found = ", ".join(n.name for n in network.outputs()) or "none"
        raise RetargetError(f"Cannot tell which Output gives the classes (Outputs: {found}); name it with --output.")
    return outputs[0]


def find_head(network: Network, output: Node) -> Node:
    """The layer that sets the class count: walking back from ``output`` past layers without a size (Softmax,
    Flatten, pooling, dropout...), the first Linear or convolution."""
    node = output
    while True:
        wires = network.wires_into(node.id)
        if len(wires) != 1:
            raise RetargetError(f"No Linear or convolution sets the class count before {output.name}: {node.name} "
                                f"has {len(wires)} inputs.")
        node = network.node(wires[0].src)
        if any(p in node.params for p in SIZE_PARAMS):
            return node
        if node.type == "Input":
            raise RetargetError(f"No Linear or convolution sets the class count before {output.name}.")


def replace_head(network: Network, classes: int, output: str | None = None, name: str = "new_head") -> tuple[str, str]:
    """Give the head ``classes`` outputs and a new name; return (old name, new name)."""
    if classes < 1:
        raise RetargetError(f"The number of classes must be at least 1; got {classes}.")
    head = find_head(network, class_output(network, output))
    size = next(p for p in SIZE_PARAMS if p in head.params)
    old = head.name
    network.set_params(head.id, **{size: classes})
    new = name if name not in {n.name for n in network.nodes} else network.unique_name(name)
    network.rename(head.id, new)
    return old, new


def freeze_through(network: Network, last: str) -> list[str]:
    """Freeze ``last`` and every layer it depends on (the early layers); return their names in order."""
    ancestors = _through(network, last)
    frozen = []
    for node_id in network.topological_order():
        node = network.node(node_id)
        if node_id in ancestors and node.type not in ("Input", "Output"):
            if node.trainable:
                network.set_options(node_id, trainable=False)
            frozen.append(node.name)
    return frozen


def _through(network: Network, last: str) -> set[str]:
    """The ids of the layer named ``last`` and of every node it depends on."""
    try:
        target = network.find(last)
    except (KeyError, DocumentError):
        names = ", ".join(n.name for n in network.nodes if n.type not in ("Input", "Output"))
        raise RetargetError(f"The network has no layer {last!r}. Its layers: {names}.") from None
    ancestors = {target.id}
    stack = [target.id]
    while stack:
        for wire in network.wires_into(stack.pop()):
            if wire.src not in ancestors:
                ancestors.add(wire.src)
                stack.append(wire.src)
    return ancestors


def retarget(network: Network, classes: int, freeze: str | None = None, output: str | None = None) -> RetargetReport:
    """Replace the head for ``classes`` classes and, if ``freeze`` names a layer, freeze it and everything before
    it. Refuses to freeze the head itself (nothing would train)."""
    head = find_head(network, class_output(network, output))
    if freeze is not None and freeze == head.name:
        raise RetargetError(f"{freeze} is the head being replaced; freeze a layer before it.")
    if freeze is not None and head.id in _through(network, freeze):
        raise RetargetError(f"Freezing {freeze} and the layers before it would freeze the head {head.name} too, "
                            "so nothing would learn the new classes; name a layer before the head.")
    old, new = replace_head(network, classes, output)
    frozen = freeze_through(network, freeze) if freeze else []
    return RetargetReport(new, old, classes, frozen)
