"""What a finished run shows besides its curves: sample predictions, reconstructions, and one layer's output,
weights and gradients. Qt-free: the worker thread computes predictions and reconstructions right after the run
(so the window never waits on them), and the layer view asks `TrainedModel.probe` when a node is clicked.

Predictions go through `netbuilder.train.predict` on the run folder: the gallery shows exactly what the saved run
predicts, with the run's own normaliser, not a view of in-memory state that was never written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from netbuilder.data import DataInfo
from netbuilder.document import Document

GALLERY_SAMPLES = 512  # validation samples predicted to find the worst errors
GALLERY_SHOWN = 48
RECONSTRUCTIONS_SHOWN = 12
GRADIENT_BATCH = 64
CLASSIFIERS = ("classification", "sequence_classification")
RECONSTRUCTORS = ("autoencoder", "vae")


# ---------------------------------------------------------------------------------------------------------------
# Images


def image_batch(x: torch.Tensor, info: DataInfo | None) -> np.ndarray | None:
    """Samples as N×C×H×W floats in [0, 1] (one scale for the whole batch, so brightness compares), or None when
    they are not images. Tables of pixels (``digits``: 64 columns named "pixel r,c") count as square images."""
    t = x.detach().float().cpu()
    if t.dim() == 2 and info is not None and info.kind == "table":
        side = math.isqrt(t.shape[1])
        names = info.feature_names or []
        pixels = bool(names) and all(name.lower().startswith("pixel") for name in names)
        if side >= 4 and side * side == t.shape[1] and pixels:
            t = t.reshape(t.shape[0], 1, side, side)
    if t.dim() == 3 and info is not None and info.kind == "images":
        t = t.unsqueeze(1)
    if t.dim() != 4 or t.shape[1] not in (1, 3) or t.numel() == 0:
        return None
    low, high = float(t.min()), float(t.max())
    return ((t - low) / max(high - low, 1e-8)).clamp(0, 1).numpy()


def tile(images: np.ndarray, columns: int | None = None, pad: int = 1, background: float = 1.0) -> np.ndarray:
    """N×C×H×W images in [0, 1] as one H'×W'×3 uint8 grid, ``pad`` pixels of ``background`` between them."""
    count, channels, height, width = images.shape
    if count == 0:
        return np.full((height or 1, width or 1, 3), 255, dtype=np.uint8)
    columns = columns or max(1, math.ceil(math.sqrt(count)))
    rows = math.ceil(count / columns)
    grid = np.full((rows * (height + pad) + pad, columns * (width + pad) + pad, 3), background, dtype=np.float32)
    for index in range(count):
        r, c = divmod(index, columns)
        image = images[index]
        rgb = np.repeat(image, 3, axis=0) if channels == 1 else image
        top, left = pad + r * (height + pad), pad + c * (width + pad)
        grid[top:top + height, left:left + width] = np.transpose(rgb, (1, 2, 0))
    return (grid * 255.0 + 0.5).astype(np.uint8)


def _data_units(x: torch.Tensor, preprocessing: Any) -> torch.Tensor:
    """Network-side inputs back in the data's units (the run's fitted preprocessing undone)."""
    if preprocessing is None or not x.is_floating_point():
        return x
    return preprocessing.invert_inputs(x)


# ---------------------------------------------------------------------------------------------------------------
# Results computed after a run


@dataclass
class GalleryItem:
    index: int  # position in the validation split
    true: str
    predicted: str
    confidence: float  # probability of the predicted class
    true_probability: float
    correct: bool
    features: np.ndarray | None = None  # a table row (shown when the samples are not images)


@dataclass
class Gallery:
    """Validation predictions, wrong ones first (most confident first), then right ones (least sure first)."""

    items: list[GalleryItem]
    correct: int
    total: int
    images: np.ndarray | None = None  # N×C×H×W in [0, 1], indexed by GalleryItem.index, when they are images
    feature_names: list[str] | None = None


@dataclass
class Reconstructions:
    inputs: np.ndarray  # N×… in data units
    outputs: np.ndarray
    images_in: np.ndarray | None = None  # N×C×H×W in [0, 1] on one shared scale, when they are images
    images_out: np.ndarray | None = None
    output_name: str = ""


@dataclass
class RunResults:
    run_dir: str | None
    recipe: str
    network: str
    gallery: Gallery | None = None
    reconstructions: Reconstructions | None = None
    episode: Any = None  # agents: an episode replayed with the best weights (netbuilder.train.episodes.Episode)
    notes: list[str] = field(default_factory=list)


def compute_results(trainer: Any, document: Document) -> RunResults | None:
    """Gallery and reconstructions of the run ``trainer`` just finished (worker thread)."""
    recipe = getattr(trainer, "recipe", None)
    data = getattr(trainer, "data", None)
    run_dir = str(trainer.run_dir) if getattr(trainer, "run_dir", None) else None
    if recipe is None or data is None:
        return None
    network = getattr(getattr(recipe, "network", None), "name", "") or ""
    results = RunResults(run_dir, recipe.name, network)
    if recipe.name == "ppo" and run_dir is not None:
        from netbuilder.train import predict

        results.episode = predict(document, run_dir, 0, device="cpu").episode
        return results
    split = data.val if data.val is not None and len(data.val) else data.train
    if run_dir is None or split is None or recipe.name not in CLASSIFIERS + RECONSTRUCTORS:
        return results
    x, y = split.head(GALLERY_SAMPLES)
    raw = _data_units(x.detach().cpu(), getattr(data, "preprocessing", None))
    from netbuilder.train import predict

    device = str(getattr(trainer, "device", "cpu") or "cpu")
    if recipe.name in CLASSIFIERS and y is not None:
        prediction = predict(document, run_dir, raw, device=device)
        if prediction.probabilities is not None:
            results.gallery = _gallery(prediction.probabilities, y.detach().cpu(), raw, data.info)
    elif recipe.name in RECONSTRUCTORS:
        count = min(RECONSTRUCTIONS_SHOWN, raw.shape[0])
        prediction = predict(document, run_dir, raw[:count], device=device)
        net = document.networks.get(network)
        names = [n.name for n in net.outputs() if n.params.get("role") == "reconstruction"] if net else []
        name = next((n for n in names if n in prediction.outputs), None)
        if name is not None:
            out = prediction.outputs[name].float().cpu()  # predict gives it in the data's units
            inputs = raw[:count].float()
            out = out.reshape(inputs.shape) if out.numel() == inputs.numel() else out
            recon = Reconstructions(inputs.numpy(), out.numpy(), output_name=name)
            both = image_batch(torch.cat([inputs, out.reshape(inputs.shape)]), data.info) \
                if out.shape == inputs.shape else None
            if both is not None:
                recon.images_in, recon.images_out = both[:count], both[count:]
            results.reconstructions = recon
    return results


def _gallery(probabilities: torch.Tensor, y: torch.Tensor, raw: torch.Tensor, info: DataInfo) -> Gallery:
    probs = probabilities.float()
    y = y.reshape(-1).long()[:probs.shape[0]]
    predicted = probs.argmax(dim=1)
    confidence = probs.gather(1, predicted.view(-1, 1)).view(-1)
    true_p = probs.gather(1, y.clamp(0, probs.shape[1] - 1).view(-1, 1)).view(-1)
    correct = predicted == y
    names = info.class_names or [str(i) for i in range(probs.shape[1])]

    def label(i: int) -> str:
        return names[i] if 0 <= i < len(names) else str(i)

    wrong = [i for i in range(len(y)) if not bool(correct[i])]
    right = [i for i in range(len(y)) if bool(correct[i])]
    wrong.sort(key=lambda i: -float(confidence[i]))
    right.sort(key=lambda i: float(true_p[i]))
    images = image_batch(raw, info)
    table = raw.reshape(raw.shape[0], -1).float().numpy() if images is None else None
    items = [GalleryItem(i, label(int(y[i])), label(int(predicted[i])), float(confidence[i]), float(true_p[i]),
                         bool(correct[i]), table[i] if table is not None else None)
             for i in (wrong + right)[:GALLERY_SHOWN]]
    return Gallery(items, int(correct.sum()), int(len(y)), images,
                   list(info.feature_names) if info.feature_names else None)


# ---------------------------------------------------------------------------------------------------------------
# One layer of a trained network


@dataclass
class Probe:
    """What one node does on one sample, and its parameters: for the layer view."""

    network: str
    node_id: str
    title: str
    activation: np.ndarray | None = None  # one sample, without the batch axis
    kind: str = "none"  # "maps" (C×H×W), "matrix" (T×F), "vector"
    shape_text: str = ""
    sample_text: str = ""
    weights: dict[str, np.ndarray] = field(default_factory=dict)  # parameter name -> flattened values
    grads: dict[str, np.ndarray] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _kind(shape: tuple[int, ...]) -> str:
    return {3: "maps", 2: "matrix"}.get(len(shape), "vector")


class TrainedModel:
    """The state of a run that has just finished (its trainer's modules, data and recipe), for the layer view.

    ``document`` is the copy that was trained; nodes are looked up in it, so a network edited after training is
    never confused with the one that learned these weights.
    """

    def __init__(self, trainer: Any, document: Document):
        self.trainer = trainer
        self.document = document
        self.recipe = trainer.recipe
        self.data = trainer.data
        self.run_dir = str(trainer.run_dir) if getattr(trainer, "run_dir", None) else None

    @property
    def modules(self) -> dict[str, torch.nn.Module]:
        return dict(getattr(self.recipe, "modules", {}) or {})

    def _split(self) -> Any:
        data = self.data
        if data is None:
            return None
        return data.val if data.val is not None and len(data.val) else data.train

    def sample_count(self) -> int:
        split = self._split()
        return len(split) if split is not None else 0

    def has_node(self, network: str, node_id: str) -> bool:
        net = self.document.networks.get(network)
        return net is not None and node_id in {n.id for n in net.nodes} and network in self.modules

    def probe(self, network: str, node_id: str, sample: int = 0) -> Probe:
        from netbuilder.compile import compiled_info

        net = self.document.networks.get(network)
        module = self.modules.get(network)
        if net is None or module is None:
            return Probe(network, node_id, "", notes=[f"Network '{network}' was not trained in this run."])
        nodes = {n.id: n for n in net.nodes}
        node = nodes.get(node_id)
        if node is None:
            return Probe(network, node_id, "", notes=["This layer was added after training; train again to see "
                                                      "what it does."])
        probe = Probe(network, node_id, f"{node.name} · {node.type}")
        info = compiled_info(module)
        names = {nid: name for name, nid in info.node_ids.items()}
        target = node
        if node.type == "Output":
            wires = net.wires_into(node.id)
            if wires and wires[0].src in names:
                target = nodes[wires[0].src]
                probe.notes.append(f"An Output shows what '{target.name}' hands it.")
        x, sample_text, batch, labels = self._inputs(module, info, sample)
        probe.sample_text = sample_text
        device = next((p.device for p in module.parameters()), torch.device("cpu"))
        if target.type == "Input":
            activation = x[0]
        else:
            name = names.get(target.id)
            if name is None:
                probe.notes.append("This node has no layer of its own to look into.")
                return probe
            sub = module.get_submodule(name)
            captured: list[torch.Tensor] = []

            def hook(_module: torch.nn.Module, _args: Any, output: Any) -> None:
                value = output[0] if isinstance(output, tuple | list) else output
                if isinstance(value, torch.Tensor):
                    captured.append(value.detach())

            handle = sub.register_forward_hook(hook)
            was_training = module.training
            module.eval()
            try:
                with torch.no_grad():
                    module(x.to(device))
            finally:
                handle.remove()
                module.train(was_training)
            if not captured:
                probe.notes.append("The layer produced no tensor output for this sample.")
                return probe
            activation = captured[0][0]
            for pname, param in sub.named_parameters():
                probe.weights[pname] = param.detach().float().cpu().reshape(-1).numpy()
            self._gradients(probe, network, module, sub, batch, labels)
        values = activation.detach().float().cpu()
        probe.activation = values.numpy()
        probe.kind = _kind(tuple(values.shape))
        probe.shape_text = "×".join(str(d) for d in values.shape) or "1"
        return probe

    def can_explain(self) -> str:
        """"" when a prediction of this run can be explained; else why not, in the user's words."""
        from netbuilder.explain import ExplainError, explained_output

        network = getattr(getattr(self.recipe, "network", None), "name", "")
        module = self.modules.get(network)
        if module is None or self.sample_count() == 0:
            return "This run has no trained network and data to explain."
        try:
            explained_output(module)
        except ExplainError as error:
            return str(error)
        return ""

    def explain(self, sample: int, method: str = "ig", target: int | str | None = None) -> Any:
        """Explain validation sample ``sample`` (0-based) with the weights the run ended with (a
        `netbuilder.explain.Explanation`; ExplainError when it cannot be)."""
        from netbuilder.explain import ExplainError, explain_sample, image_shape

        network = getattr(getattr(self.recipe, "network", None), "name", "")
        module = self.modules.get(network)
        split = self._split()
        if module is None or split is None or not len(split):
            raise ExplainError("This run has no trained network and data to explain.")
        count = len(split)
        if not 0 <= sample < count:
            raise ExplainError(f"Sample {sample + 1} does not exist: there are {count}.")
        xs, ys = split.head(sample + 1)
        x = xs[sample]
        info = self.data.info
        label = None
        if ys is not None and not ys.is_floating_point() and ys[sample].numel() == 1:
            label = int(ys[sample].reshape(-1)[0])
        explanation = explain_sample(module, x, preprocessing=getattr(self.data, "preprocessing", None),
                                     method=method, target=target, class_names=info.class_names,
                                     feature_names=info.feature_names, image_shape=image_shape(info, x),
                                     sample=sample, split="val" if split is self.data.val else "train",
                                     true_label=label)
        explanation.weights = "weights the run ended with"
        return explanation

    def _inputs(self, module: torch.nn.Module, info: Any, sample: int) -> tuple[torch.Tensor, str, Any, Any]:
        """The sample fed to ``module``: from the validation split when the network takes the data, else (a GAN
        generator) a latent vector drawn with the sample number as seed."""
        split = self._split()
        features = tuple(info.input_types[0].features) if info.input_types else ()
        if split is not None and len(split):
            count = len(split)
            index = max(0, min(sample, count - 1))
            xs, ys = split.head(min(count, max(index + 1, GRADIENT_BATCH)))
            takes_data = len(features) == xs.dim() - 1 and all(
                not isinstance(f, int) or f == s for f, s in zip(features, xs.shape[1:], strict=False))
            if takes_data:
                label = ""
                names = self.data.info.class_names if self.data is not None else None
                if ys is not None and ys.dim() == 1 and not ys.is_floating_point():
                    value = int(ys[index])
                    label = f" · label {names[value] if names and value < len(names) else value}"
                return (xs[index:index + 1], f"Validation sample {index + 1} of {count}{label}",
                        xs[:GRADIENT_BATCH], ys[:GRADIENT_BATCH] if ys is not None else None)
        if not all(isinstance(f, int) for f in features):
            raise ValueError("The network's Input has no fixed size to draw a sample for.")
        generator = torch.Generator().manual_seed(int(sample))
        z = torch.randn((1, *[int(f) for f in features]), generator=generator)
        return z, f"Latent vector {sample + 1} (normal noise, seed {sample})", None, None

    def _gradients(self, probe: Probe, network: str, module: torch.nn.Module, sub: torch.nn.Module, batch: Any,
                   labels: Any) -> None:
        recipe = self.recipe
        trained = getattr(getattr(recipe, "network", None), "name", None)
        if batch is None or trained != network or not hasattr(recipe, "loss") or not hasattr(recipe, "forward"):
            if probe.weights:
                probe.notes.append("Gradients are shown for networks trained against targets (not for GANs).")
            return
        params = [p for _, p in sub.named_parameters()]
        if not params:
            return
        if not any(p.requires_grad for p in params):
            probe.notes.append("This layer is frozen: it has no gradients.")
            return
        device = params[0].device
        was_training = module.training
        module.eval()
        module.zero_grad(set_to_none=True)
        try:
            with torch.enable_grad():
                xb = batch.to(device)
                yb = labels.to(device) if labels is not None else None
                xb, yb = recipe.inputs(xb, yb) if hasattr(recipe, "inputs") else (xb, yb)
                loss = recipe.loss(recipe.forward(xb), xb, yb)
                loss.backward()
            for pname, param in sub.named_parameters():
                if param.grad is not None:
                    probe.grads[pname] = param.grad.detach().float().cpu().reshape(-1).numpy()
        except Exception as error:  # noqa: BLE001 - the histogram is a view; a failure must not break the app
            probe.notes.append(f"Gradients could not be computed: {type(error).__name__}: {error}.")
        finally:
            module.zero_grad(set_to_none=True)
            module.train(was_training)
