"""GAN recipe: a document with networks ``generator`` (Input = latent vector, Output role ``generated``) and
``discriminator`` (Input = one sample, Output role ``score``, a logit). Alternating updates with two optimisers
and BCE-with-logits, optional one-sided label smoothing, and a fixed latent batch rendered as images after every
epoch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from netbuilder.compile import compiled_info
from netbuilder.train import events as ev
from netbuilder.train.recipes.autoencoders import to_images
from netbuilder.train.recipes.base import Context, Recipe, TrainError, _shape_text, check_fits, seed_for


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
        images = to_images(fake, self.info, self.ctx.data.preprocessing)
        if images is None:
            return []
        return [ev.Samples(epoch, "images", images, f"{images.shape[0]} samples from a fixed latent batch",
                           key="samples")]
