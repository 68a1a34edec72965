"""Recipes: what one training step, one evaluation and one set of samples mean for each kind of network.

One module per family: `supervised` (classification, regression, sequence classification, forecasting),
`autoencoders` (autoencoder, VAE), `language` (language models), `gan`, `reinforcement` (PPO on an environment);
`base` holds what they share. The update
step itself (backward, clipping, mixed precision, compile, DDP) lives in `netbuilder.train.update`.

Transfer learning is not a recipe of its own: any recipe can start from earlier weights (``config.transfer``),
and per-node ``trainable``/``lr_mult`` shape the fine-tuning.
"""

from __future__ import annotations

from netbuilder.train.recipes.autoencoders import VAE, Autoencoder, decoder_module, to_images
from netbuilder.train.recipes.base import (
    EVAL_BATCH,
    Context,
    EvalResult,
    Recipe,
    TrainError,
    check_fits,
    choose_recipe,
    pick_network,
    seed_for,
)
from netbuilder.train.recipes.gan import GAN
from netbuilder.train.recipes.language import LanguageModel, sample_text
from netbuilder.train.recipes.reinforcement import PPO
from netbuilder.train.recipes.supervised import TASK_OF, Supervised

RECIPE_CLASSES: dict[str, type[Recipe]] = {
    "classification": Supervised, "sequence_classification": Supervised, "regression": Supervised,
    "forecasting": Supervised, "autoencoder": Autoencoder, "vae": VAE, "language_model": LanguageModel, "gan": GAN,
    "ppo": PPO,
}


def build_recipe(name: str, ctx: Context) -> Recipe:
    """The recipe ``name`` built for ``ctx`` (compiles the networks and makes the optimisers)."""
    cls = RECIPE_CLASSES[name]
    return cls(ctx, name)  # type: ignore[call-arg]


__all__ = ["EVAL_BATCH", "GAN", "RECIPE_CLASSES", "TASK_OF", "VAE", "Autoencoder", "Context", "EvalResult",
           "LanguageModel", "PPO", "Recipe", "Supervised", "TrainError", "build_recipe", "check_fits", "choose_recipe",
           "decoder_module", "pick_network", "sample_text", "seed_for", "to_images"]
