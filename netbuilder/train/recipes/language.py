"""Language-model recipe: int64 token ids -> ``token_logits`` N×T×V, next-token cross-entropy, perplexity, and
text sampled with a temperature from a prompt after every epoch.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from netbuilder.data.base import Split
from netbuilder.train import events as ev
from netbuilder.train.losses import perplexity
from netbuilder.train.recipes.base import Context, EvalResult, TrainError, seed_for
from netbuilder.train.recipes.supervised import Supervised


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
        return [ev.Samples(epoch, "text", [text], f"temperature {lm.temperature:g}", key="text")]


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
