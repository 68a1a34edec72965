"""What every recipe shares: choosing a recipe, the build context, the Recipe base class and the data fit checks.

A recipe says what one training step, one evaluation and one set of samples mean for a kind of network; the
update itself (backward, clipping, mixed precision, compile, DDP) is `netbuilder.train.update`'s.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn as nn

from netbuilder.compile import CompileError, compile_network
from netbuilder.data.base import ArraySplit, DataInfo, PreparedData, Split
from netbuilder.document.model import Document, Network
from netbuilder.specs import TensorType
from netbuilder.specs import roles as output_roles
from netbuilder.train import events as ev
from netbuilder.train import update as upd
from netbuilder.train.config import TrainConfig
from netbuilder.train.errors import TrainError
from netbuilder.train.optim import Penalty, build_optimizer, node_params, param_groups

__all__ = ["EVAL_BATCH", "Context", "EvalResult", "Recipe", "TrainError", "check_fits", "choose_recipe",
           "pick_network", "seed_for"]

EVAL_BATCH = 512

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
    asked = {entry.recipe for role_id in roles if (entry := output_roles.get(role_id)) is not None and entry.recipe}
    if "ppo" in asked:
        return "ppo"
    if "autoencoder" in asked:
        return "autoencoder"
    int_input = any(node.params.get("dtype") == "int64" for node in network.inputs())
    if int_input and "language_model" in asked:
        return "language_model"
    task = info.task if info is not None else ""
    if task == "reinforcement":
        return "ppo"
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




class Recipe:
    """Base: compiled modules, optimisers, the update step and batching helpers."""

    name: ClassVar[str] = ""
    has_validation: ClassVar[bool] = True
    monitor: ClassVar[str] = ""  # a rising metric the best epoch is picked on when the configured one is absent

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.config = ctx.config
        self.device = ctx.device
        self.info = ctx.data.info
        self.modules: dict[str, nn.Module] = {}  # network name -> compiled module (never wrapped)
        self.calls: dict[str, Any] = {}  # network name -> what the step calls (module, DDP or compiled)
        self.networks: dict[str, Network] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.precision = ctx.precision
        self.updater = upd.UpdateStep(ctx.device, ctx.precision, ctx.config.grad_clip)
        self.update = self.updater  # ``self.update(loss, optimizer)``: backward, clipping, step
        self.autocast = self.updater.autocast
        self.clear_grads = upd.clear_grads

    @property
    def scaler(self) -> torch.amp.GradScaler | None:
        return self.updater.scaler

    # ---- building ------------------------------------------------------------------------------------------------
    def compile(self, network: Network, seed_offset: int = 0) -> nn.Module:
        try:
            module = compile_network(network, seed=self.config.seed + seed_offset)
        except CompileError as error:
            raise TrainError(str(error), "Fix the problems shown on the canvas, then train again.") from None
        module.to(self.device)
        self.modules[network.name] = module
        self.calls[network.name] = upd.direct(module)
        self.networks[network.name] = network
        return module



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
            self.calls[name] = upd.compiled(call)

    def use_eager(self) -> None:
        for name, module in self.modules.items():
            self.calls[name] = upd.direct(module)

    def wrap_ddp(self) -> None:
        for name, module in self.modules.items():
            if any(p.requires_grad for p in module.parameters()):
                self.calls[name] = upd.ddp_wrapped(module, self.device)

    def trainable_count(self) -> int:
        return sum(p.numel() for m in self.modules.values() for p in m.parameters() if p.requires_grad)

    def set_train(self, training: bool) -> None:
        for module in self.modules.values():
            module.train(training)

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
        return {"scaler": self.updater.state()}

    def load_state(self, state: dict[str, Any]) -> None:
        self.updater.load_state(state.get("scaler"))




def _to(t: torch.Tensor | None, device: torch.device) -> torch.Tensor | None:
    if t is None:
        return None
    return t if t.device == device else t.to(device, non_blocking=True)



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


def check_compatible(network: Network, info: DataInfo, task: str) -> None:
    """The data package's fit check (shapes, class counts, vocabulary), when the recipe trains for the data's own
    task; an autoencoder trained on labelled data, say, only needs the Input to fit."""
    if task != info.task:
        return
    from netbuilder.data import check_compatibility

    problems = check_compatibility(info, network)
    if problems:
        first = problems[0]
        raise TrainError(first.message, first.suggestion)


def seed_for(seed: int, epoch: int, purpose: str = "") -> int:
    """A 63-bit seed derived from (seed, epoch, purpose); used for data order and for samples."""
    value = (seed * 1_000_003 + epoch * 7_919 + sum(ord(c) * 31 ** i for i, c in enumerate(purpose))) % (2**63 - 1)
    return value

