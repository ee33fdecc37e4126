"""Conditional DCGAN (Mirza & Osindero, 2014; Radford, Metz & Chintala, 2016).

The generator turns noise ``z`` and a learned embedding of the class label into an image; the
discriminator sees an image together with its label, given as an extra input channel (a
learned ``H x W`` map per class), and scores whether the pair is real. Trained with the
non-saturating GAN loss on the (reduced) training data of each replicate ("fit" mode); new
images of class ``y`` are generator samples with fresh noise.

Layout follows ``pytorch/examples/dcgan``: the networks, then the losses, then the
:class:`CGAN` wrapper that owns both networks, the training loop and sampling.
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

DEFAULTS: dict[str, Any] = {"z_dim": 32, "base_channels": 32}


# --------------------------------------------------------------------------- networks
class CondGenerator(nn.Module):
    """``(z, labels) -> image`` in ``[0, 1]``: ``z`` and a ``z_dim`` label embedding are
    concatenated and projected to an H/4 feature map, then two transposed convs
    (H/4 -> H/2 -> H), with BatchNorm + ReLU between, and a sigmoid (in fp32 even under
    autocast)."""

    def __init__(
        self,
        image_size: int,
        n_classes: int,
        z_dim: int,
        channels: int,
        image_channels: int = 1,
    ) -> None:
        super().__init__()
        c = channels
        self.shape = (2 * c, image_size // 4, image_size // 4)
        self.embed = nn.Embedding(n_classes, z_dim)
        self.project = nn.Linear(2 * z_dim, 2 * c * self.shape[1] * self.shape[2], bias=False)
        self.upsample = nn.Sequential(
            nn.BatchNorm2d(2 * c),
            nn.ReLU(),
            nn.ConvTranspose2d(2 * c, c, 4, 2, padding=1, bias=False),  # H/2
            nn.BatchNorm2d(c),
            nn.ReLU(),
            nn.ConvTranspose2d(c, image_channels, 4, 2, padding=1),  # H
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = torch.cat([z, self.embed(labels).to(z.dtype)], 1)
        h = self.project(h).view(-1, *self.shape)
        return torch.sigmoid(self.upsample(h).float())  # fp32 output


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
        self.features = nn.Sequential(
            nn.Conv2d(image_channels + 1, c, 4, 2, padding=1),  # H/2
            nn.LeakyReLU(0.2),
            nn.Conv2d(c, 2 * c, 4, 2, padding=1, bias=False),  # H/4
            nn.BatchNorm2d(2 * c),
            nn.LeakyReLU(0.2),
        )
        self.score = nn.Linear(2 * c * bottom * bottom, 1)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        label_map = self.embed(labels).view(-1, 1, self.size, self.size)
        h = self.features(torch.cat([x, label_map.to(x.dtype)], 1))
        return self.score(h.flatten(1)).squeeze(1)


# --------------------------------------------------------------------------- losses
def discriminator_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """BCE with real pairs labelled 1 and generated ones 0, the two batch means summed (as
    ``errD_real + errD_fake`` in ``pytorch/examples/dcgan``). Takes logits."""
    d_real, d_fake = d_real.float(), d_fake.float()
    return F.binary_cross_entropy_with_logits(
        d_real, torch.ones_like(d_real)
    ) + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))


def generator_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss ``-log D(G(z, y), y)``: BCE of the fakes against the
    "real" label. Takes logits."""
    d_fake = d_fake.float()
    return F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))


# --------------------------------------------------------------------------- model
class CGAN(ConditionalGenerator):
    """Label-conditioned DCGAN. hparams: ``z_dim`` (noise size, also the size of the
    generator's label embedding), ``base_channels`` (width of both networks)."""

    name = "cgan"
    mode = "fit"
    defaults = DEFAULTS
    noise_hparam = "z_dim"

    def __init__(
        self, image_size: int, n_classes: int = 0, *, image_channels: int = 1, **hparams: Any
    ) -> None:
        super().__init__(image_size, n_classes, image_channels=image_channels, **hparams)
        hp = self.hparams
        c = hp["base_channels"]
        self.net = CondGenerator(image_size, n_classes, hp["z_dim"], c, image_channels)
        self.discriminator = CondDiscriminator(image_size, n_classes, c, image_channels)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.net(z, self.check_labels(labels).to(z.device))

    def _noise(self, n: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
        return torch.randn(n, self.hparams["z_dim"], generator=generator).to(device)

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
        """Alternating Adam steps (``betas=(0.5, 0.999)``) as in ``pytorch/examples/dcgan``:
        one discriminator step on a real batch and a batch of fakes with the same labels, then
        one generator step on those fakes. Logged losses are means over the steps since the
        previous log; ``d_real`` / ``d_fake`` are the mean ``sigmoid`` of the discriminator's
        logits on the real and generated batches, before its update."""
        device = torch.device(device)
        images = images.detach().float().cpu()
        labels = self.check_labels(labels.detach().cpu())
        self.to(device).train()
        opt_g = torch.optim.Adam(self.net.parameters(), lr=lr, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=lr, betas=(0.5, 0.999))
        meter = LossMeter(log, log_every, steps)
        for step in train_steps(steps, resume, self, [opt_g, opt_d], generator, meter):
            rows = sample_batch(len(images), batch_size, generator)
            x, y = images[rows].to(device), labels[rows].to(device)
            z = self._noise(len(rows), generator, device)
            # ---- discriminator: real pairs vs fakes with the same labels
            with autocast(device):
                fake = self.net(z, y)
                d_real = self.discriminator(x, y)
                d_fake = self.discriminator(fake.detach().to(x.dtype), y)
            loss_d = discriminator_loss(d_real, d_fake)  # fp32
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            # ---- generator: non-saturating loss on the same fakes, discriminator frozen
            self.discriminator.requires_grad_(False)
            with autocast(device):
                loss_g = generator_loss(self.discriminator(fake, y))
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            self.discriminator.requires_grad_(True)

            meter.update(
                step,
                discriminator_loss=loss_d,
                generator_loss=loss_g,
                d_real=d_real.float().sigmoid().mean(),
                d_fake=d_fake.float().sigmoid().mean(),
            )
        self.eval()

    def decode(self, noise: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.net(noise, self.check_labels(labels))
