"""Conditional VAE (Kingma & Welling, 2014; Sohn, Lee & Yan, 2015).

Like ``pytorch/examples/vae`` but convolutional and conditioned on the class label: the
encoder sees the image and its one-hot label, the decoder turns ``z`` and a one-hot label into
an image. Trained on the (reduced) training data of each replicate ("fit" mode); new images of
class ``y`` are decoder samples with ``z`` drawn from the prior.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genaug.models.base import (
    ConditionalGenerator,
    LogFn,
    LossMeter,
    Resume,
    sample_batch,
    train_steps,
)
from genaug.runtime import autocast

DEFAULTS: dict[str, Any] = {"latent_dim": 16, "hidden_channels": 32, "beta": 1.0}


# --------------------------------------------------------------------------- networks
class Encoder(nn.Module):
    """``(x, one_hot) -> (mu, logvar)``: two stride-2 convs (H -> H/2 -> H/4), the flattened
    features concatenated with the one-hot label, then linear heads."""

    def __init__(
        self,
        image_size: int,
        n_classes: int,
        latent_dim: int,
        channels: int,
        image_channels: int = 1,
    ) -> None:
        super().__init__()
        c, bottom = channels, image_size // 4
        self.features = nn.Sequential(
            nn.Conv2d(image_channels, c, 4, 2, padding=1),
            nn.ReLU(),
            nn.Conv2d(c, 2 * c, 4, 2, padding=1),
            nn.ReLU(),
        )
        self.hidden = nn.Sequential(
            nn.Linear(2 * c * bottom * bottom + n_classes, 8 * c),
            nn.ReLU(),
        )
        self.mu = nn.Linear(8 * c, latent_dim)
        self.logvar = nn.Linear(8 * c, latent_dim)

    def forward(self, x: torch.Tensor, one_hot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.features(x).flatten(1)
        h = self.hidden(torch.cat([h, one_hot.to(h.dtype)], 1))
        return self.mu(h), self.logvar(h)


class Decoder(nn.Module):
    """``(z, one_hot) -> image`` in ``[0, 1]``: linear to an H/4 feature map, then two
    transposed convs (H/4 -> H/2 -> H) and a sigmoid (in fp32 even under autocast)."""

    def __init__(
        self,
        image_size: int,
        n_classes: int,
        latent_dim: int,
        channels: int,
        image_channels: int = 1,
    ) -> None:
        super().__init__()
        c = channels
        self.shape = (2 * c, image_size // 4, image_size // 4)
        self.hidden = nn.Sequential(
            nn.Linear(latent_dim + n_classes, 8 * c),
            nn.ReLU(),
            nn.Linear(8 * c, 2 * c * self.shape[1] * self.shape[2]),
            nn.ReLU(),
        )
        self.upsample = nn.Sequential(
            nn.ConvTranspose2d(2 * c, c, 4, 2, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(c, image_channels, 4, 2, padding=1),
        )

    def forward(self, z: torch.Tensor, one_hot: torch.Tensor) -> torch.Tensor:
        h = self.hidden(torch.cat([z, one_hot.to(z.dtype)], 1)).view(-1, *self.shape)
        return torch.sigmoid(self.upsample(h).float())  # fp32, for the BCE under autocast


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
    n = x.shape[0]
    bce = F.binary_cross_entropy(recon.float(), x.float(), reduction="sum") / n
    mu, logvar = mu.float(), logvar.float()
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / n
    return bce + beta * kl, bce, kl


# --------------------------------------------------------------------------- model
class CVAE(ConditionalGenerator):
    """Label-conditioned convolutional VAE. hparams: ``latent_dim``, ``hidden_channels``,
    ``beta`` (weight of the KL term)."""

    name = "cvae"
    mode = "fit"
    defaults = DEFAULTS

    def __init__(
        self, image_size: int, n_classes: int = 0, *, image_channels: int = 1, **hparams: Any
    ) -> None:
        super().__init__(image_size, n_classes, image_channels=image_channels, **hparams)
        hp = self.hparams
        args = (image_size, n_classes, hp["latent_dim"], hp["hidden_channels"], image_channels)
        self.encoder = Encoder(*args)
        self.decoder = Decoder(*args)

    def forward(
        self, x: torch.Tensor, labels: torch.Tensor, eps: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstruction with ``z = mu + eps * sigma``; returns ``(recon, mu, logvar)``."""
        y = self.one_hot(labels).to(x.device)
        mu, logvar = self.encoder(x, y)
        z = mu + eps.to(mu.dtype) * torch.exp(0.5 * logvar)
        return self.decoder(z, y), mu, logvar

    def fit(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        *,
        steps: int,
        batch_size: int,
        lr: float,
        generator: torch.Generator,
        device: torch.device,
        log: LogFn,
        log_every: int = 10,
        resume: Resume | None = None,
    ) -> None:
        """Adam on the negative ELBO; logged losses are means over the steps since the
        previous log."""
        device = torch.device(device)
        images = images.detach().float().cpu()
        labels = labels.detach().long().cpu()
        self.one_hot(labels)  # validate once
        beta = self.hparams["beta"]
        self.to(device).train()
        opt = torch.optim.Adam(self.parameters(), lr=lr)
        meter = LossMeter(log, log_every, steps)
        for step in train_steps(steps, resume, self, [opt], generator, meter):
            rows = sample_batch(len(images), batch_size, generator)
            x, y = images[rows].to(device), labels[rows].to(device)
            eps = torch.randn(len(rows), self.hparams["latent_dim"], generator=generator)
            with autocast(device):
                recon, mu, logvar = self(x, y, eps.to(device))
            loss, bce, kl = loss_function(recon, x, mu, logvar, beta)  # fp32
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

            meter.update(step, loss=loss, reconstruction=bce, kl=kl)
        self.eval()

    def decode(self, noise: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.decoder(noise, self.one_hot(labels))
