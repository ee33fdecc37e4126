"""Label-conditional adversarial autoencoder (Makhzani et al., 2016, "Adversarial Autoencoders").

A deterministic convolutional encoder maps an image to a code ``z``; the decoder turns ``z`` and
the one-hot label back into the image. Instead of the VAE's KL term, a small discriminator on
the codes tells prior samples ``z ~ N(0, I)`` from encoded ones and the encoder learns to fool
it, so the aggregated posterior of the codes is pushed towards the prior. As the label goes to
the decoder, not the encoder, ``z`` is left to carry the style of an image and the label its
class (the paper's supervised AAE, section 5). Trained on the (reduced) training data of each
replicate ("fit" mode); new images of class ``y`` are decoder samples with ``z`` from the prior.

Layout follows ``pytorch/examples``: the networks, then the :class:`AAE` that owns them, its
optimisers, its training step and sampling.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from genaug.models.base import Batch, ConditionalGenerator, adams
from genaug.models.blocks import CodeEncoder, ConvDecoder
from genaug.models.losses import gan_discriminator_loss, gan_generator_loss, reconstruction_bce
from genaug.optim import Adam

DEFAULTS: dict[str, Any] = {"latent_dim": 8, "hidden_channels": 32, "adv_weight": 1.0}


# --------------------------------------------------------------------------- networks
class LatentDiscriminator(nn.Module):
    """``z -> logit`` that ``z`` was drawn from the prior rather than from the encoder: an MLP
    with two hidden layers and LeakyReLU(0.2); no sigmoid (the losses take logits)."""

    def __init__(self, latent_dim: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(latent_dim, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, 1),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).squeeze(1)


# --------------------------------------------------------------------------- model
class AAE(ConditionalGenerator):
    """Label-conditional adversarial autoencoder. hparams: ``latent_dim``, ``hidden_channels``
    (width of the encoder and decoder; the latent discriminator has ``8 * hidden_channels``
    units per hidden layer), ``adv_weight`` (weight of the encoder's adversarial loss)."""

    name = "aae"
    modes = ("fit", "finetune")
    class_modules = ("decoder.hidden.0",)  # the one-hot label enters the decoder only
    defaults = DEFAULTS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # image_size, n_classes, image_channels, hparams
        latent, c = self.hparams["latent_dim"], self.hparams["hidden_channels"]
        # the label is not an input of the encoder: it reaches the decoder directly
        size, channels = self.image_size, self.image_channels
        self.encoder = CodeEncoder(size, latent, c, channels)
        self.decoder = ConvDecoder(size, latent + self.n_classes, c, channels)
        self.discriminator = LatentDiscriminator(latent, 8 * c)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Reconstruction of ``x`` given its labels; returns ``(recon, z)``."""
        z = self.encoder(x)
        return self.decoder(z, self.one_hot(labels).to(x.device)), z

    def configure_optimizers(self, lr: float) -> dict[str, Adam]:
        autoencoder = nn.ModuleList([self.encoder, self.decoder])
        return {
            **adams(lr, autoencoder=autoencoder),
            **adams(lr, (0.5, 0.999), discriminator=self.discriminator, encoder=self.encoder),
        }

    def training_step(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        """On one batch: (1) Adam on the reconstruction loss of encoder + decoder; (2) a latent
        discriminator step on prior samples vs codes; (3) an encoder step on ``adv_weight``
        times its adversarial loss (logged without the weight)."""
        x = batch.x
        prior = self.randn(len(batch.rows), self.hparams["latent_dim"])
        # ---- (1) reconstruction: encoder + decoder
        with self.autocast():
            recon, _ = self(x, batch.y)
        loss_r = reconstruction_bce(recon, x)
        self.optimize("autoencoder", loss_r)
        # ---- (2) latent discriminator: prior samples ("real") vs codes, encoder fixed
        with self.autocast():
            with torch.no_grad():
                z = self.encoder(x)
            d_prior, d_encoded = self.discriminator(prior), self.discriminator(z)
        loss_d = gan_discriminator_loss(d_prior, d_encoded)
        self.optimize("discriminator", loss_d)
        # ---- (3) encoder fools the discriminator, discriminator frozen
        with self.frozen(self.discriminator):
            with self.autocast():
                d_encoded = self.discriminator(self.encoder(x))
            loss_a = gan_generator_loss(d_encoded)
            self.optimize("encoder", self.hparams["adv_weight"] * loss_a)
        return {"reconstruction": loss_r, "discriminator_loss": loss_d, "adversarial_loss": loss_a}

    def decode(self, noise: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.decoder(noise, self.one_hot(labels))
