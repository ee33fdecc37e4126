"""Label-conditional adversarial autoencoder (Makhzani et al., 2016, "Adversarial Autoencoders").

A deterministic convolutional encoder maps an image to a code ``z``; the decoder turns ``z`` and
the one-hot label back into the image. Instead of the VAE's KL term, a small discriminator on
the codes tells prior samples ``z ~ N(0, I)`` from encoded ones and the encoder learns to fool
it, so the aggregated posterior of the codes is pushed towards the prior. As the label goes to
the decoder, not the encoder, ``z`` is left to carry the style of an image and the label its
class (the paper's supervised AAE, section 5). Trained on the (reduced) training data of each
replicate ("fit" mode); new images of class ``y`` are decoder samples with ``z`` from the prior.

Layout follows ``pytorch/examples``: the networks, then the losses, then the :class:`AAE`
wrapper that owns the networks, the training loop and sampling.
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
from genaug.models.cvae import Decoder  # the same class-conditional decoder
from genaug.runtime import autocast

DEFAULTS: dict[str, Any] = {"latent_dim": 8, "hidden_channels": 32, "adv_weight": 1.0}


# --------------------------------------------------------------------------- networks
class Encoder(nn.Module):
    """``x -> z`` (deterministic): two stride-2 convs (H -> H/2 -> H/4), then an MLP head.
    The label is not an input: it reaches the decoder directly."""

    def __init__(
        self, image_size: int, latent_dim: int, channels: int, image_channels: int = 1
    ) -> None:
        super().__init__()
        c, bottom = channels, image_size // 4
        self.features = nn.Sequential(
            nn.Conv2d(image_channels, c, 4, 2, padding=1),
            nn.ReLU(),
            nn.Conv2d(c, 2 * c, 4, 2, padding=1),
            nn.ReLU(),
        )
        self.head = nn.Sequential(
            nn.Linear(2 * c * bottom * bottom, 8 * c),
            nn.ReLU(),
            nn.Linear(8 * c, latent_dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


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


# --------------------------------------------------------------------------- losses
def reconstruction_loss(recon: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``BCE(recon, x)`` summed over pixels, averaged over the batch (per image, as the cVAE's
    reconstruction term). Computed in fp32: call it outside autocast."""
    return F.binary_cross_entropy(recon.float(), x.float(), reduction="sum") / x.shape[0]


def discriminator_loss(d_prior: torch.Tensor, d_encoded: torch.Tensor) -> torch.Tensor:
    """BCE of the latent discriminator: prior samples are "real" (1), codes "fake" (0); the
    two batch means are summed, as in ``pytorch/examples/dcgan``. Takes logits."""
    d_prior, d_encoded = d_prior.float(), d_encoded.float()
    return F.binary_cross_entropy_with_logits(
        d_prior, torch.ones_like(d_prior)
    ) + F.binary_cross_entropy_with_logits(d_encoded, torch.zeros_like(d_encoded))


def adversarial_loss(d_encoded: torch.Tensor) -> torch.Tensor:
    """The encoder's (non-saturating) generator loss: BCE of its codes against the "real"
    label, ``-log D(E(x))``. Takes logits."""
    d_encoded = d_encoded.float()
    return F.binary_cross_entropy_with_logits(d_encoded, torch.ones_like(d_encoded))


# --------------------------------------------------------------------------- model
class AAE(ConditionalGenerator):
    """Label-conditional adversarial autoencoder. hparams: ``latent_dim``, ``hidden_channels``
    (width of the encoder and decoder; the latent discriminator has ``8 * hidden_channels``
    units per hidden layer), ``adv_weight`` (weight of the encoder's adversarial loss)."""

    name = "aae"
    mode = "fit"
    defaults = DEFAULTS

    def __init__(
        self, image_size: int, n_classes: int = 0, *, image_channels: int = 1, **hparams: Any
    ) -> None:
        super().__init__(image_size, n_classes, image_channels=image_channels, **hparams)
        hp = self.hparams
        latent, c = hp["latent_dim"], hp["hidden_channels"]
        self.encoder = Encoder(image_size, latent, c, image_channels)
        self.decoder = Decoder(image_size, n_classes, latent, c, image_channels)
        self.discriminator = LatentDiscriminator(latent, 8 * c)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Reconstruction of ``x`` given its labels; returns ``(recon, z)``."""
        z = self.encoder(x)
        return self.decoder(z, self.one_hot(labels).to(x.device)), z

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
        """Each step, on one batch: (1) Adam on the reconstruction loss of encoder + decoder;
        (2) a latent discriminator step on prior samples vs codes; (3) an encoder step on
        ``adv_weight`` times its adversarial loss. Logged losses are means over the steps
        since the previous log; ``adversarial_loss`` is logged without the weight."""
        device = torch.device(device)
        images = images.detach().float().cpu()
        labels = labels.detach().long().cpu()
        self.one_hot(labels)  # validate once
        adv_weight = self.hparams["adv_weight"]
        self.to(device).train()
        opt_ae = torch.optim.Adam([*self.encoder.parameters(), *self.decoder.parameters()], lr=lr)
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=lr, betas=(0.5, 0.999))
        opt_e = torch.optim.Adam(self.encoder.parameters(), lr=lr, betas=(0.5, 0.999))
        meter = LossMeter(log, log_every, steps)
        for step in train_steps(steps, resume, self, [opt_ae, opt_d, opt_e], generator, meter):
            rows = sample_batch(len(images), batch_size, generator)
            x, y = images[rows].to(device), labels[rows].to(device)
            prior = torch.randn(len(rows), self.hparams["latent_dim"], generator=generator)
            # ---- (1) reconstruction: encoder + decoder
            with autocast(device):
                recon, _ = self(x, y)
            loss_r = reconstruction_loss(recon, x)  # fp32
            opt_ae.zero_grad(set_to_none=True)
            loss_r.backward()
            opt_ae.step()
            # ---- (2) latent discriminator: prior samples vs codes, encoder fixed
            with autocast(device):
                with torch.no_grad():
                    z = self.encoder(x)
                d_prior = self.discriminator(prior.to(device))
                d_encoded = self.discriminator(z)
            loss_d = discriminator_loss(d_prior, d_encoded)  # fp32
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            # ---- (3) encoder fools the discriminator, discriminator frozen
            self.discriminator.requires_grad_(False)
            with autocast(device):
                d_encoded = self.discriminator(self.encoder(x))
            loss_a = adversarial_loss(d_encoded)  # fp32
            opt_e.zero_grad(set_to_none=True)
            (adv_weight * loss_a).backward()
            opt_e.step()
            self.discriminator.requires_grad_(True)

            meter.update(
                step, reconstruction=loss_r, discriminator_loss=loss_d, adversarial_loss=loss_a
            )
        self.eval()

    def decode(self, noise: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.decoder(noise, self.one_hot(labels))
