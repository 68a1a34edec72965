"""Supervised recipes: classification, regression, sequence classification and forecasting.

Inputs -> outputs, one loss per Output node (chosen from its role and the task unless the config names one),
weighted sum. Autoencoders and language models build on this class.
"""

from __future__ import annotations

import torch

from netbuilder.compile import compiled_info
from netbuilder.data.base import Split
from netbuilder.specs import roles
from netbuilder.train.config import topk_of
from netbuilder.train.losses import ClassMetrics, LossError, RegressionMetrics, resolve_losses, sum_dtype
from netbuilder.train.recipes.base import (
    Context,
    EvalResult,
    Recipe,
    TrainError,
    check_compatible,
    check_fits,
    pick_network,
)

TASK_OF = {"classification": "classification", "sequence_classification": "classification",
           "regression": "regression", "forecasting": "forecasting", "autoencoder": "unsupervised",
           "vae": "unsupervised", "language_model": "language_model",
           "ppo": "reinforcement"}


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
        check_compatible(network, self.info, self.task)
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
        if self.task != "classification" or not roles.shows_classes(role):
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
                                   probabilities=roles.role(self.primary.role).is_probability)
        wants_regression = self.task in ("regression", "forecasting") or any(
            m in ("mae", "r2") for m in self.config.metrics)
        reconstruction = self.primary.role == "reconstruction"
        regression = RegressionMetrics(self.device) if (wants_regression or reconstruction) \
            and self.class_count is None else None
        units = self.ctx.data.preprocessing  # MAE and R² in the data's units, not the network's
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
                    if regression is not None and reconstruction and primary.numel() == x.numel():
                        regression.update(units.invert_inputs(primary.reshape(x.shape)),
                                          units.invert_inputs(x.float()))
                    elif regression is not None and y is not None and not reconstruction:
                        regression.update(units.invert_targets(primary), units.invert_targets(y))
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
