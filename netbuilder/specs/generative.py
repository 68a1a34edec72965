"""Layers specific to generative models: the VAE reparameterisation step."""

from __future__ import annotations

from netbuilder.specs import register
from netbuilder.specs.base import (
    BATCH,
    LayerContext,
    LayerSpec,
    Port,
    TensorType,
    elements,
    make,
    need_float,
    shapes_text,
)
from netbuilder.specs.lazy import modules


def _reparameterize_infer(ctx: LayerContext) -> tuple[TensorType, ...]:
    mean, log_var = ctx.inputs
    if mean is None or log_var is None:
        raise ctx.fail("Reparameterize needs both a mean and a log-variance input.",
                       suggestion="Wire two Linear layers (or the two outputs of a Split) into mean and log_var.")
    need_float(ctx, "Reparameterize", mean)
    need_float(ctx, "Reparameterize", log_var)
    if mean.shape != log_var.shape:
        raise ctx.fail(f"The mean {shapes_text(mean.shape)} and the log-variance {shapes_text(log_var.shape)} must "
                       "have the same shape.", suggestion="Give both the same number of units (the latent size).")
    return (mean,)


REPARAMETERIZE = LayerSpec(
    id="Reparameterize",
    category="Generative",
    title="Reparameterize (VAE sampling)",
    doc=(
        "The sampling step of a variational autoencoder. From the encoder's mean and log-variance (equal shapes) "
        "it draws z = mean + exp(0.5·log_var)·eps with eps ~ N(0, 1) during training, in a way gradients can flow "
        "through; in evaluation (and in ONNX export) it returns the mean, so results are reproducible. After each "
        "training step the module keeps the KL divergence to a unit Gaussian (the batch mean of the per-sample sum "
        "of -0.5·(1 + log_var - mean² - exp(log_var))) as its attribute kl, and training adds beta·KL to the "
        "reconstruction loss."
    ),
    inputs=(Port("mean", "The latent mean, e.g. N×16."), Port("log_var", "The latent log-variance, same shape.")),
    outputs=(Port("out", "The latent sample z, same shape as the mean."),),
    infer=_reparameterize_infer,
    build=lambda ctx: make(modules.Reparameterize),
    macs=lambda ctx: 2 * elements(ctx.x.shape),
    example_inputs=((BATCH, 4), (BATCH, 4)),
    keywords=("vae", "variational", "sampling", "latent", "kl"),
)

register(REPARAMETERIZE)
