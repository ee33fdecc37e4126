"""Conditional VAE (Kingma & Welling, 2014; Sohn, Lee & Yan, 2015).

Like ``pytorch/examples/vae`` but convolutional and conditioned on the class label: the
encoder sees the image and its one-hot label, the decoder turns ``z`` and a one-hot label into
an image. Trained on the (reduced) training data of each replicate ("fit" mode); new images of
class ``y`` are decoder samples with ``z`` drawn from the prior.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from genaug.models.base import Batch, ConditionalGenerator, adams
from genaug.models.blocks import ConvDecoder, ConvEncoder
from genaug.models.losses import gaussian_kl, reconstruction_bce
from genaug.optim import Adam

DEFAULTS: dict[str, Any] = {"latent_dim": 16, "hidden_channels": 32, "beta": 1.0}


# --------------------------------------------------------------------------- networks
class Encoder(ConvEncoder):
    """``(x, one_hot) -> (mu, logvar)``: a :class:`ConvEncoder` with the one-hot label joined
    to its flattened features, then two linear heads."""

    def __init__(
        self,
        image_size: int,
        n_classes: int,
        latent_dim: int,
        channels: int,
        image_channels: int = 1,
    ) -> None:
        super().__init__(image_size, channels, image_channels, extra_features=n_classes)
        self.mu = nn.Linear(self.out_features, latent_dim)
        self.logvar = nn.Linear(self.out_features, latent_dim)

    def forward(self, x: torch.Tensor, one_hot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = super().forward(x, one_hot)
        return self.mu(h), self.logvar(h)


# --------------------------------------------------------------------------- loss
def loss_function(
    recon: torch.Tensor,
    x: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    beta: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Negative ELBO per image: ``BCE(recon, x)`` summed over pixels plus ``beta * KL(q(z|x,y)
    || N(0, I))``, both averaged over the batch. Returns ``(loss, reconstruction, kl)``.
    Computed in fp32: call it outside autocast."""
    bce, kl = reconstruction_bce(recon, x), gaussian_kl(mu, logvar)
    return bce + beta * kl, bce, kl


# --------------------------------------------------------------------------- model
class CVAE(ConditionalGenerator):
    """Label-conditioned convolutional VAE. hparams: ``latent_dim``, ``hidden_channels``,
    ``beta`` (weight of the KL term)."""

    name = "cvae"
    modes = ("fit", "finetune")
    class_modules = ("encoder.hidden.0", "decoder.hidden.0")  # their inputs end in the one-hot
    defaults = DEFAULTS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # image_size, n_classes, image_channels, hparams
        latent, c = self.hparams["latent_dim"], self.hparams["hidden_channels"]
        size, classes, channels = self.image_size, self.n_classes, self.image_channels
        self.encoder = Encoder(size, classes, latent, c, channels)
        self.decoder = ConvDecoder(size, latent + classes, c, channels)

    def forward(
        self, x: torch.Tensor, labels: torch.Tensor, eps: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstruction with ``z = mu + eps * sigma``; returns ``(recon, mu, logvar)``."""
        y = self.one_hot(labels).to(x.device)
        mu, logvar = self.encoder(x, y)
        z = mu + eps.to(mu.dtype) * torch.exp(0.5 * logvar)
        return self.decoder(z, y), mu, logvar

    def configure_optimizers(self, lr: float) -> dict[str, Adam]:
        return adams(lr, elbo=self)

    def training_step(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        """Adam on the negative ELBO."""
        eps = self.randn(len(batch.rows), self.hparams["latent_dim"])
        with self.autocast():
            recon, mu, logvar = self(batch.x, batch.y, eps)
        loss, bce, kl = loss_function(recon, batch.x, mu, logvar, self.hparams["beta"])
        self.optimize("elbo", loss)
        return {"loss": loss, "reconstruction": bce, "kl": kl}

    def decode(self, noise: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.decoder(noise, self.one_hot(labels))
