"""Autoencoder and VAE recipes.

* **Autoencoder**: every Output with role ``reconstruction`` is trained to give back the input.
* **VAE**: an autoencoder whose document has ONE network ``Input -> encoder -> (mean, log_var) -> Reparameterize ->
  decoder -> Output(reconstruction)``. The loss is reconstruction + ``beta`` × the sum of the ``.kl`` terms the
  Reparameterize modules keep after each training forward, both per sample as in the evidence lower bound: the
  KL term is summed over the latent values, so the reconstruction loss is summed over the values of a sample too
  (its mean × the number of values). With the reconstruction averaged instead, the KL term weighs 64 times too
  much on 8×8 digits and the latent code collapses: every input decodes to the same average digit. Samples come
  from the *decoder part*: the sub-network downstream of the Reparameterize node is compiled on its own, with an
  Input of the latent's shape in place of the Reparameterize node, and shares the trained layers with the full
  module (no copy). It is fed N(0, 1) latents. If the decoder also reads something other than the latent (a skip
  from the encoder), the run still trains and only the samples are skipped, with a warning.
"""

from __future__ import annotations

import math

import networkx as nx
import torch
import torch.nn as nn

from netbuilder.analysis import analyze
from netbuilder.compile import CompileError, compile_network, compiled_info
from netbuilder.data.base import DataInfo, Split
from netbuilder.data.preprocess import Preprocessing
from netbuilder.document.model import Network, Node, Wire
from netbuilder.specs import TensorType
from netbuilder.specs.modules import Reparameterize
from netbuilder.train import events as ev
from netbuilder.train.losses import sum_dtype
from netbuilder.train.recipes.base import Context, EvalResult, TrainError, _to, pick_network, seed_for
from netbuilder.train.recipes.supervised import Supervised


def to_images(batch: torch.Tensor, info: DataInfo, preprocessing: Preprocessing | None = None) -> torch.Tensor | None:
    """A batch (as the network sees or makes it) as N×C×H×W floats in [0, 1], or None if not images.

    With ``preprocessing``, values go back to the data's units first; pixel data (a declared pixel range) is then
    shown as it is, 0 black and 1 white, so samples look the way the data does. Other values are stretched per
    image. Flat pixels of a square grey image (digits as 64 features) are shown as that image."""
    x = batch.detach().float().cpu()
    if preprocessing is not None:
        shaped = x.reshape(x.shape[0], *info.sample_shape) if x[0].numel() == math.prod(info.sample_shape) else x
        x = preprocessing.invert_inputs(shaped)
    if x.dim() != 4:
        shape = tuple(info.sample_shape)
        side = math.isqrt(x[0].numel()) if x.shape[0] else 0
        if info.kind == "images" and len(shape) == 3 and x[0].numel() == math.prod(shape):
            x = x.reshape(x.shape[0], *shape)
        elif info.pixel_range is not None and side > 1 and side * side == x[0].numel():
            x = x.reshape(x.shape[0], 1, side, side)
        else:
            return None
    if x.shape[1] not in (1, 3):
        return None
    if info.pixel_range is not None and preprocessing is not None:
        low, high = info.pixel_range
        return ((x - low) / max(high - low, 1e-8)).clamp(0.0, 1.0)
    flat = x.flatten(1)
    low = flat.min(dim=1).values.view(-1, 1, 1, 1)
    high = flat.max(dim=1).values.view(-1, 1, 1, 1)
    return ((x - low) / (high - low).clamp_min(1e-8)).clamp(0.0, 1.0)


class Autoencoder(Supervised):
    """Reconstruction outputs learn the input; samples show originals next to their reconstructions."""

    SHOWN = 8

    def __init__(self, ctx: Context, recipe: str = "autoencoder"):
        super().__init__(ctx, recipe)
        if not any(loss.role == "reconstruction" for loss in self.active):
            what = "A VAE" if recipe == "vae" else "An autoencoder"
            raise TrainError(f"{what} needs an Output node with role reconstruction.",
                             "Set the role of the network's Output to reconstruction.")

    def samples(self, epoch: int) -> list[ev.Samples]:
        split = self.ctx.data.val or self.ctx.data.train
        x, _ = split.head(self.SHOWN)
        x = _to(x, self.device)
        assert x is not None
        module = self.modules[self.network.name]
        module.eval()
        try:
            with torch.inference_mode():
                outs = self.forward(x)
        finally:
            module.train()
        recon = next((outs[loss.index] for loss in self.active if loss.role == "reconstruction"), None)
        if recon is None:
            return []
        images = to_images(torch.cat([x.reshape(recon.shape), recon.float()]), self.info,
                           self.ctx.data.preprocessing)
        if images is None:
            return []
        return [ev.Samples(epoch, "images", images, f"top: {x.shape[0]} inputs; bottom: their reconstructions",
                           key="reconstructions")]


class VAE(Autoencoder):
    """Reconstruction + beta · KL; samples decoded from N(0, 1) latents (see the module docstring)."""

    def __init__(self, ctx: Context, recipe: str = "vae"):
        if not any(node.type == "Reparameterize" for node in pick_network(ctx.document, ctx.config).nodes):
            raise TrainError("A VAE needs a Reparameterize node between the encoder and the decoder.",
                             "Add one, fed by a mean and a log-variance layer.")
        super().__init__(ctx, recipe)
        module = self.modules[self.network.name]
        self.reparams = [m for m in module.modules() if isinstance(m, Reparameterize)]
        self.beta = self.config.vae.beta
        self.values_per_sample = max(1, math.prod(self.info.sample_shape))  # reconstruction: mean -> sum
        self._kl_sum: torch.Tensor | None = None
        self.decoder: nn.Module | None = None
        self.latent: TensorType | None = None
        try:
            self.decoder, self.latent = decoder_module(self.network, module)
        except TrainError as error:
            ctx.warnings.append(f"No VAE samples: {error}")

    def kl(self) -> torch.Tensor:
        total = self.reparams[0].kl
        for extra in self.reparams[1:]:
            total = total + extra.kl
        return total

    def train_step(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor | dict[str, torch.Tensor]:
        self.clear_grads(self.optimizer)
        with self.autocast():
            out = self.call(x)
            recon = self.loss((out,) if self.single else tuple(out), x, y) * self.values_per_sample
            kl = self.kl()
            loss = recon + self.beta * kl
            if self.penalize:
                loss = loss + self.penalty()
        self.update(loss, self.optimizer)
        return {"loss": loss.detach(), "reconstruction": recon.detach(), "kl": kl.detach()}

    # Evaluation: Reparameterize returns the mean in eval mode and keeps no KL, so it is computed here from its
    # inputs with the same formula; val_loss = reconstruction + beta · KL, as in training.
    def evaluate(self, split: Split, prefix: str = "val_") -> EvalResult:
        self._kl_sum = torch.zeros((), dtype=sum_dtype(self.device), device=self.device)
        handles = [m.register_forward_hook(self._kl_hook) for m in self.reparams]
        try:
            result = super().evaluate(split, prefix)
        finally:
            for handle in handles:
                handle.remove()
            self._kl_sum = None
        metrics = result.metrics
        kl = metrics.get(f"{prefix}kl", 0.0)
        metrics[f"{prefix}reconstruction"] = metrics[f"{prefix}loss"] * self.values_per_sample
        metrics[f"{prefix}loss"] = metrics[f"{prefix}reconstruction"] + self.beta * kl
        return result

    def _kl_hook(self, module: nn.Module, args: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        mean, log_var = args[0].float(), args[1].float()
        terms = -0.5 * (1 + log_var - mean.pow(2) - log_var.exp())
        if self._kl_sum is not None:
            self._kl_sum += terms.flatten(1).sum(dim=1).sum()

    def extra_metrics(self, prefix: str, count: int) -> dict[str, float]:
        if self._kl_sum is None or not count:
            return {}
        return {f"{prefix}kl": self._kl_sum.item() / count}

    def samples(self, epoch: int) -> list[ev.Samples]:
        events = super().samples(epoch)
        count = self.config.vae.samples
        if self.decoder is None or self.latent is None or count == 0:
            return events
        shape = [count, *self.latent.features]
        generator = torch.Generator(device=self.device).manual_seed(seed_for(self.config.seed, 0, "vae"))
        z = torch.randn(shape, generator=generator, device=self.device)
        self.decoder.eval()
        try:
            with torch.inference_mode():
                decoded = self.decoder(z)
        finally:
            self.decoder.train()
        images = to_images(decoded, self.info, self.ctx.data.preprocessing)
        if images is not None:
            events.append(ev.Samples(epoch, "images", images, f"{count} samples decoded from N(0, 1) latents",
                                     key="samples"))
        return events


def decoder_module(network: Network, module: nn.Module) -> tuple[nn.Module, TensorType]:
    """The part of a VAE downstream of its Reparameterize node, fed by a latent Input, sharing ``module``'s layers.

    Returns the decoder and the latent type. Raises TrainError when there is no single, self-contained decoder.
    """
    reparams = [n for n in network.nodes if n.type == "Reparameterize"]
    if len(reparams) != 1:
        raise TrainError(f"sampling needs exactly one Reparameterize node (found {len(reparams)}).")
    rep = reparams[0]
    outputs = [n for n in network.outputs() if n.params.get("role") == "reconstruction"]
    graph = network.graph
    below = nx.descendants(graph, rep.id)
    keep = {o.id for o in outputs if o.id in below}
    if not keep:
        raise TrainError("no reconstruction Output is downstream of the Reparameterize node.")
    for out in list(keep):
        keep |= nx.ancestors(graph, out) & below
    for node_id in keep:
        for wire in network.wires_into(node_id):
            if wire.src != rep.id and wire.src not in keep:
                source = network.node(wire.src).name
                raise TrainError(f"the decoder also reads {source}, which is not downstream of the latent.")
    analysis = analyze(network)
    latent = analysis.nodes[rep.id].outputs["out"]
    if not all(isinstance(d, int) for d in latent.features):
        raise TrainError(f"the latent has a variable size ({latent}).")
    sub = Network("decoder")
    taken = {n.name for n in network.nodes}
    name = next(f"latent{i}" if i else "latent" for i in range(len(taken) + 1)
                if (f"latent{i}" if i else "latent") not in taken)
    z = Node("z_in", "Input", name, {"shape": tuple(latent.features), "dtype": "float32"})
    sub._insert_node(z)
    for node_id in keep:
        sub._insert_node(network.node(node_id).clone())
    for node_id in keep:
        for wire in network.wires_into(node_id):
            src = z.id if wire.src == rep.id else wire.src
            port = "out" if wire.src == rep.id else wire.src_port
            sub._insert_wire(Wire(src, port, wire.dst, wire.dst_port))
    try:
        decoder = compile_network(sub)
    except CompileError as error:
        raise TrainError(f"the decoder part does not compile on its own: {error}") from None
    for sub_name in compiled_info(decoder).node_ids:
        setattr(decoder, sub_name, module.get_submodule(sub_name))  # share the trained layers
    return decoder, latent
