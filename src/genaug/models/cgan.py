"""Conditional DCGAN (Mirza & Osindero, 2014; Radford, Metz & Chintala, 2016).

The generator turns noise ``z`` and a learned embedding of the class label into an image; the
discriminator sees an image together with its label, given as an extra input channel (a
learned ``H x W`` map per class), and scores whether the pair is real. Trained with the
non-saturating GAN loss on the (reduced) training data of each replicate ("fit" mode); new
images of class ``y`` are generator samples with fresh noise.

Layout follows ``pytorch/examples/dcgan``: the networks, then the :class:`CGAN` that owns
them, its optimisers, its training step and sampling.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from genaug.models.base import Batch, ConditionalGenerator, adams
from genaug.models.blocks import UpsamplingGenerator, conv_features
from genaug.models.losses import gan_discriminator_loss, gan_generator_loss
from genaug.optim import Adam

DEFAULTS: dict[str, Any] = {"z_dim": 32, "base_channels": 32}


# --------------------------------------------------------------------------- networks
class CondGenerator(UpsamplingGenerator):
    """``(z, labels) -> image`` in ``[0, 1]``: ``z`` and a ``z_dim`` label embedding,
    concatenated, through DCGAN's generator (:class:`UpsamplingGenerator`, ``2 * channels``
    wide)."""

    def __init__(
        self,
        image_size: int,
        n_classes: int,
        z_dim: int,
        channels: int,
        image_channels: int = 1,
    ) -> None:
        embed = nn.Embedding(n_classes, z_dim)  # initialised before the layers, as it always was
        super().__init__(image_size, 2 * z_dim, 2 * channels, image_channels)
        self.embed = embed

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return super().forward(z, self.embed(labels))


class CondDiscriminator(nn.Module):
    """``(image, labels) -> logit`` that the pair is real. The label enters as an extra input
    channel (an embedding of size ``H * W`` reshaped to the image); then stride-2 convs
    (H -> H/2 -> H/4) with LeakyReLU(0.2), BatchNorm on the second as in DCGAN, and a linear
    score. No sigmoid: the losses take logits."""

    def __init__(
        self, image_size: int, n_classes: int, channels: int, image_channels: int = 1
    ) -> None:
        super().__init__()
        c, bottom = channels, image_size // 4
        self.size = image_size
        self.embed = nn.Embedding(n_classes, image_size * image_size)
        self.features = conv_features(
            image_channels + 1, c, lambda: nn.LeakyReLU(0.2), nn.BatchNorm2d, bias=False
        )
        self.score = nn.Linear(2 * c * bottom * bottom, 1)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        label_map = self.embed(labels).view(-1, 1, self.size, self.size)
        h = self.features(torch.cat([x, label_map.to(x.dtype)], 1))
        return self.score(h.flatten(1)).squeeze(1)


# --------------------------------------------------------------------------- model
class CGAN(ConditionalGenerator):
    """Label-conditioned DCGAN. hparams: ``z_dim`` (noise size, also the size of the
    generator's label embedding), ``base_channels`` (width of both networks)."""

    name = "cgan"
    modes = ("fit", "finetune")
    class_modules = ("net.embed", "discriminator.embed")  # the label embeddings
    defaults = DEFAULTS
    noise_hparam = "z_dim"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # image_size, n_classes, image_channels, hparams
        hp = self.hparams
        c = hp["base_channels"]
        size, classes, channels = self.image_size, self.n_classes, self.image_channels
        self.net = CondGenerator(size, classes, hp["z_dim"], c, channels)
        self.discriminator = CondDiscriminator(size, classes, c, channels)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.net(z, self.check_labels(labels).to(z.device))

    def configure_optimizers(self, lr: float) -> dict[str, Adam]:
        return adams(lr, (0.5, 0.999), generator=self.net, discriminator=self.discriminator)

    def training_step(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        """Alternating Adam steps as in ``pytorch/examples/dcgan``: one discriminator step on
        the real batch and a batch of fakes with the same labels, then one generator step on
        those fakes. ``d_real`` / ``d_fake`` are the mean ``sigmoid`` of the discriminator's
        logits on the real and generated batches, before its update."""
        x, y = batch.x, batch.y
        z = self.randn(len(batch.rows), self.hparams["z_dim"])
        # ---- discriminator: real pairs vs fakes with the same labels
        with self.autocast():
            fake = self.net(z, y)
            d_real = self.discriminator(x, y)
            d_fake = self.discriminator(fake.detach().to(x.dtype), y)
        loss_d = gan_discriminator_loss(d_real, d_fake)
        self.optimize("discriminator", loss_d)
        # ---- generator: non-saturating loss on the same fakes, discriminator frozen
        with self.frozen(self.discriminator):
            with self.autocast():
                loss_g = gan_generator_loss(self.discriminator(fake, y))
            self.optimize("generator", loss_g)
        return {
            "discriminator_loss": loss_d,
            "generator_loss": loss_g,
            "d_real": d_real.float().sigmoid().mean(),
            "d_fake": d_fake.float().sigmoid().mean(),
        }

    def decode(self, noise: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.net(noise, self.check_labels(labels))
