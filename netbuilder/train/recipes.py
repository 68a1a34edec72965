"""Recipes: what one training step, one evaluation and one set of samples mean for each kind of network.

* **Supervised** (classification, regression, sequence classification, forecasting): inputs -> outputs, one loss
  per Output node (chosen from its role and the task unless the config names one), weighted sum.
* **Autoencoder**: every Output with role ``reconstruction`` is trained to give back the input.
* **VAE**: an autoencoder whose document has ONE network ``Input -> encoder -> (mean, log_var) -> Reparameterize ->
  decoder -> Output(reconstruction)``. The loss is reconstruction + ``beta`` × the sum of the ``.kl`` terms the
  Reparameterize modules keep after each training forward, both per sample as in the evidence lower bound: the
  KL term is summed over the latent values, so the reconstruction loss is summed over the values of a sample too
  (its mean × the number of values). With the reconstruction averaged instead, the KL term weighs 64 times too
  much on 8×8 digits and the latent code collapses: every input decodes to the same average digit. Samples come
  from the *decoder part*: the sub-network
  downstream of the Reparameterize node is compiled on its own, with an Input of the latent's shape in place of
  the Reparameterize node, and shares the trained layers with the full module (no copy). It is fed N(0, 1)
  latents. If the decoder also reads something other than the latent (a skip from the encoder), the run still
  trains and only the samples are skipped, with a warning.
* **GAN**: a document with networks ``generator`` (Input = latent vector, Output role ``generated``) and
  ``discriminator`` (Input = one sample, Output role ``score``, a logit). Alternating updates with two optimisers
  and BCE-with-logits, optional one-sided label smoothing, and a fixed latent batch rendered as images after every
  epoch.
* **Language model**: int64 token ids -> ``token_logits`` N×T×V, next-token cross-entropy, perplexity, and text
  sampled with a temperature from a prompt after every epoch.

Transfer learning is not a recipe of its own: any recipe can start from earlier weights (``config.transfer``),
and per-node ``trainable``/``lr_mult`` shape the fine-tuning.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import networkx as nx
import torch
import torch.nn as nn
import torch.nn.functional as F

from netbuilder.analysis import analyze
from netbuilder.compile import CompileError, compile_network, compiled_info
from netbuilder.data.base import ArraySplit, DataInfo, PreparedData, Split
from netbuilder.document.model import Document, Network, Node, Wire
from netbuilder.specs import TensorType
from netbuilder.specs.modules import Reparameterize
from netbuilder.train import events as ev
from netbuilder.train.config import TrainConfig, topk_of
from netbuilder.train.losses import (
    ClassMetrics,
    LossError,
    RegressionMetrics,
    perplexity,
    resolve_losses,
    sum_dtype,
)
from netbuilder.train.optim import Penalty, build_optimizer, node_params, param_groups

EVAL_BATCH = 512


class TrainError(Exception):
    """Training cannot start or go on; ``message`` says what is wrong and ``suggestion`` what to do."""

    def __init__(self, message: str, suggestion: str = ""):
        super().__init__(message)
        self.message = message
        self.suggestion = suggestion

    def __str__(self) -> str:
        return f"{self.message} {self.suggestion}".strip()


# ---------------------------------------------------------------------------------------------------------------
# Choosing a recipe


def choose_recipe(document: Document, config: TrainConfig, info: DataInfo | None) -> str:
    """The recipe for "auto": from the document's structure first, then from the data's task."""
    if config.recipe != "auto":
        return config.recipe
    if {"generator", "discriminator"} <= set(document.networks):
        return "gan"
    network = pick_network(document, config)
    types = {node.type for node in network.nodes}
    roles = {node.params.get("role") for node in network.outputs()}
    if "Reparameterize" in types:
        return "vae"
    if "reconstruction" in roles:
        return "autoencoder"
    int_input = any(node.params.get("dtype") == "int64" for node in network.inputs())
    if int_input and "token_logits" in roles:
        return "language_model"
    task = info.task if info is not None else ""
    if task == "language_model":
        return "language_model"
    if task == "forecasting":
        return "forecasting"
    if task == "regression" or roles == {"regression"}:
        return "regression"
    if task == "unsupervised":
        return "autoencoder"
    sequence = any(len(node.params.get("shape", ())) == 2 for node in network.inputs())
    return "sequence_classification" if sequence else "classification"


def pick_network(document: Document, config: TrainConfig) -> Network:
    if config.network:
        if config.network not in document.networks:
            raise TrainError(f"The document has no network named {config.network!r}.",
                             f"Choose one of {', '.join(document.networks)}.")
        return document.networks[config.network]
    if not document.networks:
        raise TrainError("The document has no network to train.")
    return document.network()


# ---------------------------------------------------------------------------------------------------------------
# What every recipe shares


@dataclass
class Context:
    """What a recipe is built from."""

    document: Document
    config: TrainConfig
    data: PreparedData
    device: torch.device
    precision: str = "fp32"  # effective: "fp32" unless mixed precision runs on CUDA
    world_size: int = 1
    warnings: list[str] = field(default_factory=list)
    transfer_events: list[ev.WeightsLoaded] = field(default_factory=list)
    pretrained: dict[str, dict[str, torch.Tensor]] | None = None  # weights from a pre-training stage


@dataclass
class EvalResult:
    metrics: dict[str, float]
    confusion: list[list[int]] | None = None
    class_names: list[str] | None = None


_NULL = contextlib.nullcontext()


class Recipe:
    """Base: compiled modules, optimisers, the update step (scaling, clipping) and batching helpers."""

    name: ClassVar[str] = ""
    has_validation: ClassVar[bool] = True

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.config = ctx.config
        self.device = ctx.device
        self.info = ctx.data.info
        self.modules: dict[str, nn.Module] = {}  # network name -> compiled module (never wrapped)
        self.calls: dict[str, Any] = {}  # network name -> what the step calls (module, DDP or compiled)
        self.networks: dict[str, Network] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.grad_norms: list[torch.Tensor] = []  # with clipping: each step's norm, checked for NaN/Inf
        self.precision = ctx.precision
        self.clip = ctx.config.grad_clip
        self.scaler = torch.amp.GradScaler("cuda") if self.precision == "fp16" else None
        self.autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)

    # ---- building ------------------------------------------------------------------------------------------------
    def compile(self, network: Network, seed_offset: int = 0) -> nn.Module:
        try:
            module = compile_network(network, seed=self.config.seed + seed_offset)
        except CompileError as error:
            raise TrainError(str(error), "Fix the problems shown on the canvas, then train again.") from None
        module.to(self.device)
        self.modules[network.name] = module
        self.calls[network.name] = _direct(module)
        self.networks[network.name] = network
        return module

    def apply_transfer(self) -> None:
        """Initialise weights from ``config.transfer.source`` or a pre-training stage (before the optimisers
        exist)."""
        from netbuilder.train.transfer import apply_states, transfer_weights

        source, nodes = self.config.transfer.source, self.config.transfer.nodes
        if self.ctx.pretrained is not None:
            found = apply_states(self.ctx.pretrained, self.modules, nodes, "the pre-training stage")
        elif source:
            found = transfer_weights(source, self.modules, nodes)
        else:
            return
        for event in found:
            self.ctx.transfer_events.append(event)
            if event.mismatched or (not event.matched):
                self.ctx.warnings.append(f"Transfer from {event.source}: {len(event.matched)} tensors loaded; "
                                         + ("; ".join(event.mismatched) or "no names matched") + ".")

    @staticmethod
    def clear_grads(optimizer: torch.optim.Optimizer) -> None:
        """``zero_grad(set_to_none=True)`` without its profiling and compiler-guard wrappers, which cost more than
        the work itself for a small network: the gradients are simply dropped."""
        for group in optimizer.param_groups:
            for param in group["params"]:
                param.grad = None

    def make_optimizer(self, network_name: str, lr: float | None = None,
                       betas: tuple[float, float] | None = None) -> tuple[torch.optim.Optimizer, Penalty]:
        module = self.modules[network_name]
        nodes = node_params(module, self.networks[network_name])
        if not nodes:
            raise TrainError(f"Network {network_name!r} has nothing to train: every layer is frozen or has no "
                             "weights.", "Mark at least one layer as trainable.")
        base = self.config.lr if lr is None else lr
        optimizer = build_optimizer(self.config, param_groups(nodes, base), lr=base, betas=betas, device=self.device)
        self.optimizers[network_name] = optimizer
        return optimizer, Penalty.build(nodes, self.config.l1, self.config.l2)

    def use_compile(self) -> None:
        """Wrap the modules with torch.compile (the loop falls back to eager if the first step fails)."""
        for name, call in list(self.calls.items()):
            self.calls[name] = torch.compile(getattr(call, "__self__", call))

    def use_eager(self) -> None:
        for name, module in self.modules.items():
            self.calls[name] = _direct(module)

    def wrap_ddp(self) -> None:
        from torch.nn.parallel import DistributedDataParallel

        for name, module in self.modules.items():
            if any(p.requires_grad for p in module.parameters()):
                ids = [self.device.index] if self.device.type == "cuda" else None
                self.calls[name] = DistributedDataParallel(module, device_ids=ids)

    def autocast(self) -> Any:
        if self.autocast_dtype is None:
            return _NULL
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    def trainable_count(self) -> int:
        return sum(p.numel() for m in self.modules.values() for p in m.parameters() if p.requires_grad)

    def set_train(self, training: bool) -> None:
        for module in self.modules.values():
            module.train(training)

    # ---- the update ------------------------------------------------------------------------------------------
    def update(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        """Backward, optional clipping, step (with fp16 loss scaling when on)."""
        scaler = self.scaler
        if scaler is not None:
            scaler.scale(loss).backward()
        else:
            loss.backward()
        clip = self.clip
        if clip > 0:
            if scaler is not None:
                scaler.unscale_(optimizer)
            params = [p for group in optimizer.param_groups for p in group["params"]]
            norm = torch.nn.utils.clip_grad_norm_(params, clip)
            if scaler is None:  # the scaler skips non-finite steps by design; only plain steps are guarded
                self.grad_norms.append(norm.detach())
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()

    # ---- what subclasses provide -----------------------------------------------------------------------------
    def check(self, x: torch.Tensor, y: torch.Tensor | None) -> None:
        """A dry run on a couple of samples, so that data that does not fit fails before training starts."""

    def train_step(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor | dict[str, torch.Tensor]:
        raise NotImplementedError

    def evaluate(self, split: Split, prefix: str = "val_") -> EvalResult:
        return EvalResult({})

    def samples(self, epoch: int) -> list[ev.Samples]:
        return []

    # ---- helpers ---------------------------------------------------------------------------------------------
    def eval_batches(self, split: Split) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        """Larger batches than training (no gradients to keep), but not unboundedly so for big samples."""
        batch = self.config.batch_size
        size = max(batch, min(EVAL_BATCH, batch * 8))
        if isinstance(split, ArraySplit):
            for start in range(0, len(split), size):
                x = split.x[start:start + size]
                y = split.y[start:start + size] if split.y is not None else None
                yield _to(x, self.device), _to(y, self.device)
        else:
            for x, y in split.batches(size):
                yield _to(x, self.device), _to(y, self.device)

    def state(self) -> dict[str, Any]:
        """Recipe-specific state for checkpoints (JSON)."""
        return {"scaler": self.scaler.state_dict() if self.scaler is not None else None}

    def load_state(self, state: dict[str, Any]) -> None:
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])


def _to(t: torch.Tensor | None, device: torch.device) -> torch.Tensor | None:
    if t is None:
        return None
    return t if t.device == device else t.to(device, non_blocking=True)


def _direct(module: nn.Module) -> Any:
    """What the training step calls: the generated ``forward`` itself. The compiled network's own layers still run
    through their usual calls (and hooks); only the outer wrapper layers of GraphModule.__call__ are skipped, as
    nothing registers hooks on the network as a whole."""
    return module.forward


def _shape_text(shape: tuple[Any, ...]) -> str:
    return "×".join(str(d) for d in shape) if shape else "a single value"


def check_fits(network: Network, input_type: TensorType, info: DataInfo, input_name: str) -> None:
    """Refuse data whose samples do not match the Input node, saying what to change."""
    wanted = tuple(input_type.features)
    have = tuple(info.sample_shape)
    fits = len(wanted) == len(have) and all(isinstance(w, str) or w == h for w, h in zip(wanted, have, strict=True))
    if not fits:
        samples = f"{have[0]} values" if len(have) == 1 else _shape_text(have)
        raise TrainError(
            f"Input '{input_name}' of network {network.name!r} expects {_shape_text(wanted)}, but each sample of "
            f"the data {info.id!r} is {samples}.",
            f"Set the Input's shape to {', '.join(map(str, have))}, or choose data whose samples are "
            f"{_shape_text(wanted)}.")
    if input_type.dtype != info.dtype:
        if info.dtype == "int64":
            hint = "Set the Input's dtype to int64 and put an Embedding after it."
        else:
            hint = "Set the Input's dtype to float32 (int64 is for token ids)."
        raise TrainError(f"The data {info.id!r} holds {info.dtype} values, but Input '{input_name}' expects "
                         f"{input_type.dtype}.", hint)


def _compat_check(network: Network, info: DataInfo, task: str) -> None:
    """The data package's fit check (shapes, class counts, vocabulary), when the recipe trains for the data's own
    task; an autoencoder trained on labelled data, say, only needs the Input to fit."""
    if task != info.task:
        return
    from netbuilder.data import check_compatibility

    problems = check_compatibility(info, network)
    if problems:
        first = problems[0]
        raise TrainError(first.message, first.suggestion)


# ---------------------------------------------------------------------------------------------------------------
# Supervised


TASK_OF = {"classification": "classification", "sequence_classification": "classification",
           "regression": "regression", "forecasting": "forecasting", "autoencoder": "unsupervised",
           "vae": "unsupervised", "language_model": "language_model"}


class Supervised(Recipe):
    """Inputs -> outputs against targets (or against the input for reconstruction outputs)."""

    name = "classification"

    def __init__(self, ctx: Context, recipe: str = "classification"):
        super().__init__(ctx)
        self.name = recipe
        self.task = TASK_OF.get(recipe, "classification")
        network = pick_network(ctx.document, ctx.config)
        module = self.compile(network)
        info = compiled_info(module)
        self.network = network
        self.module_info = info
        if len(info.input_names) != 1:
            raise TrainError(f"Network {network.name!r} has {len(info.input_names)} Input nodes "
                             f"({', '.join(info.input_names) or 'none'}); this recipe feeds exactly one.",
                             "Keep one Input node, or merge the inputs inside the network.")
        self.input_type = info.input_types[0]
        _compat_check(network, self.info, self.task)
        check_fits(network, self.input_type, self.info, info.input_names[0])
        try:
            self.losses = resolve_losses(info, network, ctx.config, self.loss_task(), self.device)
        except LossError as error:
            raise TrainError(str(error)) from None
        self.active = [loss for loss in self.losses if loss.fn is not None]
        if not self.active:
            raise TrainError(f"No Output node of network {network.name!r} has a loss, so there is nothing to "
                             "learn.", "Set an Output's role to logits, regression or reconstruction.")
        self.single = info.single_output
        self.apply_transfer()
        self.optimizer, self.penalty = self.make_optimizer(network.name)
        self.penalize = bool(self.penalty)
        self.call = self.calls[network.name]
        self.primary = self.active[0]
        self.class_count = self._class_count()
        only = self.active[0]
        plain = self.single and len(self.active) == 1 and only.weight == 1.0 and only.role != "reconstruction"
        self.simple = only.fn if plain else None

    def loss_task(self) -> str:
        return self.task

    def _class_count(self) -> int | None:
        role = self.primary.role
        if self.task != "classification" or role not in ("logits", "probabilities"):
            return None
        units = self.module_info.output_types[self.primary.index].shape[-1]
        if not isinstance(units, int):
            return self.info.num_classes
        return max(units, 2) if units == 1 else units

    def use_compile(self) -> None:
        super().use_compile()
        self.call = self.calls[self.network.name]

    def use_eager(self) -> None:
        super().use_eager()
        self.call = self.calls[self.network.name]

    def wrap_ddp(self) -> None:
        super().wrap_ddp()
        self.call = self.calls[self.network.name]

    # ---- targets and loss ----------------------------------------------------------------------------------
    def target(self, role: str, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        if role == "reconstruction":
            return x
        if y is None:
            raise TrainError(f"The data {self.info.id!r} has no targets, but an Output with role {role!r} needs "
                             "them.", "Use labelled data, or set the Output's role to reconstruction to train an "
                                      "autoencoder.")
        return y

    def loss(self, outs: tuple[torch.Tensor, ...], x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        total: torch.Tensor | None = None
        for item in self.active:
            value = item(outs[item.index], self.target(item.role, x, y))
            if item.weight != 1.0:
                value = value * item.weight
            total = value if total is None else total + value
        assert total is not None
        return total

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.call(x)
        return (out,) if self.single else tuple(out)

    def inputs(self, x: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The (input, target) a batch becomes; language models shift unlabelled text here."""
        return x, y

    def check(self, x: torch.Tensor, y: torch.Tensor | None) -> None:
        x, y = self.inputs(x, y)
        count = self.class_count
        if count is not None and y is not None and not y.is_floating_point():
            top = int(y.max().item()) if y.numel() else 0
            classes = self.info.num_classes or top + 1
            if classes > count or top >= count:
                out = self.primary.output
                raise TrainError(f"The data has {classes} classes, but Output '{out}' gives {count} class scores.",
                                 f"Set the units of the layer feeding '{out}' to {classes}.")
        module = self.modules[self.network.name]
        was_training = module.training
        module.eval()
        try:
            with torch.no_grad(), self.autocast():
                outs = self.forward(x)
                self.loss(outs, x, y)
        except LossError as error:
            raise TrainError(f"Output '{self.primary.output}': {error}.",
                             "Make the last layer's size match the targets (units = classes for classification, "
                             "the number of target values for regression).") from None
        finally:
            module.train(was_training)

    # ---- the step ------------------------------------------------------------------------------------------
    def train_step(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor | dict[str, torch.Tensor]:
        self.clear_grads(self.optimizer)
        with self.autocast():
            out = self.call(x)
            if self.simple is not None and y is not None:  # one output, one plain loss: no bookkeeping
                loss = self.simple(out, y)
            else:
                loss = self.loss((out,) if self.single else tuple(out), x, y)
            if self.penalize:
                loss = loss + self.penalty()
        self.update(loss, self.optimizer)
        return loss.detach()

    # ---- evaluation ----------------------------------------------------------------------------------------
    def evaluate(self, split: Split, prefix: str = "val_") -> EvalResult:
        module = self.modules[self.network.name]
        module.eval()
        total = torch.zeros((), dtype=sum_dtype(self.device), device=self.device)
        count = 0
        classes = None
        if self.class_count is not None:
            topk = tuple(k for k in (topk_of(m) for m in self.config.metrics) if k)
            classes = ClassMetrics(self.class_count, self.device, topk,
                                   probabilities=self.primary.role == "probabilities")
        wants_regression = self.task in ("regression", "forecasting") or any(
            m in ("mae", "r2") for m in self.config.metrics)
        regression = RegressionMetrics(self.device) if wants_regression and self.primary.role != "reconstruction" \
            and self.class_count is None else None
        try:
            with torch.inference_mode(), self.autocast():
                for xb, yb in self.eval_batches(split):
                    x, y = self.inputs(xb, yb)
                    outs = self.forward(x)
                    size = x.shape[0]
                    if self.simple is not None and y is not None:
                        total += self.simple(outs[0], y) * size
                    else:
                        total += self.loss(outs, x, y) * size
                    count += size
                    primary = outs[self.primary.index].float()
                    if classes is not None and y is not None:
                        classes.update(primary, y)
                    if regression is not None and y is not None:
                        regression.update(primary, y)
        finally:
            module.train()
        metrics = {f"{prefix}loss": total.item() / max(1, count)}
        metrics.update(self.extra_metrics(prefix, count))
        confusion = None
        if classes is not None:
            values, confusion = classes.compute(prefix)
            metrics.update(values)
        if regression is not None:
            metrics.update(regression.compute(prefix))
        names = self.info.class_names if classes is not None else None
        return EvalResult(metrics, confusion, names)

    def extra_metrics(self, prefix: str, count: int) -> dict[str, float]:
        return {}


# ---------------------------------------------------------------------------------------------------------------
# Autoencoder and VAE


def to_images(batch: torch.Tensor, info: DataInfo) -> torch.Tensor | None:
    """A batch as N×C×H×W floats in [0, 1] (each image stretched to its own range), or None if not images."""
    x = batch.detach().float().cpu()
    if x.dim() != 4:
        shape = tuple(info.sample_shape)
        if info.kind == "images" and len(shape) == 3 and x[0].numel() == math.prod(shape):
            x = x.reshape(x.shape[0], *shape)
        else:
            return None
    if x.shape[1] not in (1, 3):
        return None
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
        images = to_images(torch.cat([x.reshape(recon.shape), recon.float()]), self.info)
        if images is None:
            return []
        return [ev.Samples(epoch, "images", images, f"top: {x.shape[0]} inputs; bottom: their reconstructions")]


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
        images = to_images(decoded, self.info)
        if images is not None:
            events.append(ev.Samples(epoch, "images", images, f"{count} samples decoded from N(0, 1) latents"))
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


def seed_for(seed: int, epoch: int, purpose: str = "") -> int:
    """A 63-bit seed derived from (seed, epoch, purpose); used for data order and for samples."""
    value = (seed * 1_000_003 + epoch * 7_919 + sum(ord(c) * 31 ** i for i, c in enumerate(purpose))) % (2**63 - 1)
    return value


# ---------------------------------------------------------------------------------------------------------------
# Language model


class LanguageModel(Supervised):
    """Next-token cross-entropy over N×T×V logits; perplexity; sampled text after every epoch."""

    def __init__(self, ctx: Context, recipe: str = "language_model"):
        super().__init__(ctx, recipe)
        if self.input_type.dtype != "int64":
            raise TrainError("A language model's Input must carry int64 token ids.",
                             "Set the Input's dtype to int64 and put an Embedding after it.")
        if self.primary.role != "token_logits":
            ctx.warnings.append(f"Output {self.primary.output} has role {self.primary.role}; language models "
                                "usually end in an Output with role token_logits.")
        self.vocab = self.info.vocab

    def loss_task(self) -> str:
        return "classification"

    def _class_count(self) -> int | None:
        return None

    def inputs(self, x: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        if y is None:  # unlabelled windows: predict each next id from the ones before it
            return x[:, :-1], x[:, 1:]
        return x, y

    def train_step(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor | dict[str, torch.Tensor]:
        x, y = self.inputs(x, y)
        return super().train_step(x, y)

    def extra_metrics(self, prefix: str, count: int) -> dict[str, float]:
        return {}

    def evaluate(self, split: Split, prefix: str = "val_") -> EvalResult:
        result = super().evaluate(split, prefix)
        result.metrics[f"{prefix}perplexity"] = perplexity(result.metrics[f"{prefix}loss"])
        return result

    def context_length(self) -> int | None:
        """The fixed sequence length of the Input, or None when it takes any length."""
        first = self.input_type.features[0] if self.input_type.features else None
        return first if isinstance(first, int) else None

    def generate(self, prompt: str, length: int, temperature: float, seed: int) -> str:
        """``prompt`` followed by ``length`` sampled characters; an empty prompt starts from validation text."""
        vocab = self.vocab or []
        if not any(c in vocab for c in prompt):
            split = self.ctx.data.val or self.ctx.data.train
            head, _ = split.head(1)
            first = int(head.reshape(-1)[0].item())
            prompt = vocab[first] if first < len(vocab) else str(first)
        window = self.context_length() or (int(self.info.sample_shape[0]) if self.info.sample_shape else 64)
        module = self.modules[self.network.name]
        return sample_text(module, self.vocab, prompt, length, temperature, seed, window,
                           fixed=self.context_length() is not None, output_index=self.primary.index)

    def samples(self, epoch: int) -> list[ev.Samples]:
        lm = self.config.lm
        if lm.sample_length == 0:
            return []
        text = self.generate(lm.prompt, lm.sample_length, lm.temperature, seed_for(self.config.seed, epoch, "text"))
        return [ev.Samples(epoch, "text", [text], f"temperature {lm.temperature:g}")]


def sample_text(module: nn.Module, vocab: list[str] | None, prompt: str, length: int, temperature: float,
                seed: int, window: int, fixed: bool, output_index: int = 0) -> str:
    """Autoregressive sampling: ``prompt`` followed by ``length`` characters drawn with ``temperature``.

    The model sees the last ``window`` ids; a model with a fixed-length Input (``fixed``) gets the context padded
    on the left with spaces. Without a vocabulary, token ids are written as numbers. Uses its own random
    generator, so sampling never disturbs the training's random state.
    """
    vocab = vocab or []
    lookup = {c: i for i, c in enumerate(vocab)}
    if vocab:
        ids = [lookup[c] for c in prompt if c in lookup]
    else:
        ids = [int(t) for t in prompt.split() if t.isdigit()]
    if not ids:
        raise TrainError("The prompt has no character the model knows.",
                         f"Use characters from its vocabulary, e.g. {''.join(vocab[:20])!r}.")
    device = next(module.parameters()).device
    pad = lookup.get(" ", 0)
    generator = torch.Generator(device=device).manual_seed(seed)
    was_training = module.training
    module.eval()
    produced: list[int] = []
    try:
        with torch.inference_mode():
            for _ in range(length):
                context = (ids + produced)[-window:]
                if fixed and len(context) < window:
                    context = [pad] * (window - len(context)) + context
                out = module(torch.tensor([context], dtype=torch.long, device=device))
                if isinstance(out, tuple):
                    out = out[output_index]
                probs = F.softmax(out[0, -1].float() / max(temperature, 1e-6), dim=-1)
                produced.append(int(torch.multinomial(probs, 1, generator=generator).item()))
    finally:
        module.train(was_training)
    if vocab:
        return prompt + "".join(vocab[i] if i < len(vocab) else "?" for i in produced)
    return " ".join([prompt, *map(str, produced)])


# ---------------------------------------------------------------------------------------------------------------
# GAN


class GAN(Recipe):
    """Generator and discriminator, alternating updates, BCE-with-logits (see the module docstring)."""

    name = "gan"
    has_validation = False

    def __init__(self, ctx: Context, recipe: str = "gan"):
        super().__init__(ctx)
        doc = ctx.document
        missing = [n for n in ("generator", "discriminator") if n not in doc.networks]
        if missing:
            raise TrainError(f"A GAN needs networks named generator and discriminator; this document lacks "
                             f"{' and '.join(missing)}.", "Rename the networks, or pick another recipe.")
        g_net, d_net = doc.networks["generator"], doc.networks["discriminator"]
        self.g = self.compile(g_net, 0)
        self.d = self.compile(d_net, 1)
        g_info, d_info = compiled_info(self.g), compiled_info(self.d)
        for label, info in (("generator", g_info), ("discriminator", d_info)):
            if len(info.input_names) != 1 or not info.single_output:
                raise TrainError(f"The {label} needs exactly one Input and one Output.")
        latent = g_info.input_types[0]
        if not all(isinstance(d, int) for d in latent.features):
            raise TrainError(f"The generator's Input must have a fixed size (it is {latent}).")
        self.latent_shape = tuple(int(d) for d in latent.features)
        wanted = self.config.gan.latent_size
        if wanted is not None and wanted != math.prod(self.latent_shape):
            raise TrainError(f"gan.latent_size is {wanted}, but the generator's Input takes "
                             f"{_shape_text(self.latent_shape)}.", "Make them agree.")
        check_fits(d_net, d_info.input_types[0], self.info, d_info.input_names[0])
        fake = tuple(g_info.output_types[0].features)
        real = tuple(d_info.input_types[0].features)
        if len(fake) != len(real) or any(isinstance(r, int) and f != r for f, r in zip(fake, real, strict=False)):
            raise TrainError(f"The generator makes {_shape_text(fake)} samples, but the discriminator takes "
                             f"{_shape_text(real)}.", "Make the generator's last layer produce the data's shape.")
        self.apply_transfer()
        gan = self.config.gan
        betas = (gan.beta1, self.config.betas[1])
        self.opt_g, self.pen_g = self.make_optimizer("generator", gan.g_lr, betas)
        self.opt_d, self.pen_d = self.make_optimizer("discriminator", gan.d_lr, betas)
        self.real_label = 1.0 - gan.label_smoothing
        self.concat = ctx.world_size > 1  # one discriminator forward per backward under DDP
        generator = torch.Generator(device=self.device).manual_seed(seed_for(self.config.seed, 0, "gan"))
        self.fixed_latent = torch.randn((max(1, gan.samples), *self.latent_shape), generator=generator,
                                        device=self.device)

    def check(self, x: torch.Tensor, y: torch.Tensor | None) -> None:
        self.set_train(False)
        try:
            with torch.no_grad(), self.autocast():
                z = torch.zeros((x.shape[0], *self.latent_shape), device=self.device)
                fake = self.g(z)
                self.d(fake)
                self.d(x)
        finally:
            self.set_train(True)

    def train_step(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor | dict[str, torch.Tensor]:
        g, d = self.calls["generator"], self.calls["discriminator"]
        n = x.shape[0]
        z = torch.randn((n, *self.latent_shape), device=self.device)
        # Discriminator: real -> real_label, fake -> 0.
        self.clear_grads(self.opt_d)
        with self.autocast():
            fake = g(z)
            if self.concat:
                scores = d(torch.cat([x, fake.detach()]))
                real_score, fake_score = scores[:n], scores[n:]
            else:
                real_score, fake_score = d(x), d(fake.detach())
            d_loss = F.binary_cross_entropy_with_logits(real_score, torch.full_like(real_score, self.real_label)) \
                + F.binary_cross_entropy_with_logits(fake_score, torch.zeros_like(fake_score))
            if self.pen_d:
                d_loss = d_loss + self.pen_d()
        self.update(d_loss, self.opt_d)
        # Generator: make the discriminator call fakes real.
        self.clear_grads(self.opt_g)
        with self.autocast():
            score = d(fake)
            g_loss = F.binary_cross_entropy_with_logits(score, torch.ones_like(score))
            if self.pen_g:
                g_loss = g_loss + self.pen_g()
        self.update(g_loss, self.opt_g)
        d_loss, g_loss = d_loss.detach(), g_loss.detach()
        return {"loss": d_loss + g_loss, "d_loss": d_loss, "g_loss": g_loss}

    def samples(self, epoch: int) -> list[ev.Samples]:
        if self.config.gan.samples == 0:
            return []
        self.g.eval()
        try:
            with torch.inference_mode():
                fake = self.g(self.fixed_latent)
        finally:
            self.g.train()
        images = to_images(fake, self.info)
        if images is None:
            return []
        return [ev.Samples(epoch, "images", images, f"{images.shape[0]} samples from a fixed latent batch")]


# ---------------------------------------------------------------------------------------------------------------


RECIPE_CLASSES: dict[str, type[Recipe]] = {
    "classification": Supervised, "sequence_classification": Supervised, "regression": Supervised,
    "forecasting": Supervised, "autoencoder": Autoencoder, "vae": VAE, "language_model": LanguageModel, "gan": GAN,
}


def build_recipe(name: str, ctx: Context) -> Recipe:
    cls = RECIPE_CLASSES[name]
    return cls(ctx, name)  # type: ignore[call-arg]
