"""DAGAN: a Data Augmentation GAN (Antoniou, Storkey & Edwards, 2017).

The generator takes a real image ``x`` and a noise vector ``z`` and returns another image of
``x``'s class; the critic scores ``(source, other)`` pairs, where ``other`` is either a
different real image of the same class or a generated one. Trained on the source classes with
the improved Wasserstein loss (WGAN-GP, Gulrajani et al., 2017), the generator is then applied
to images of classes it has never seen ("transfer" mode), or trained on each replicate's own
training images ("fit" mode; every class needs two).

Layout follows ``pytorch/examples``: the networks, the pair sampler, then the :class:`DAGAN`
that owns the networks, its optimisers, its training step and sampling.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from torch import nn

from genaug.errors import GenaugError
from genaug.models.base import Batch, Generator, Request, adams
from genaug.models.losses import gradient_penalty, wgan_critic_loss, wgan_generator_loss

DEFAULTS: dict[str, Any] = {
    "base_channels": 32,
    "critic_channels": 32,
    "z_dim": 32,
    "n_critic": 5,
    "gp_weight": 10.0,
}


# --------------------------------------------------------------------------- networks
class ConvBlock(nn.Sequential):
    """conv -> InstanceNorm -> LeakyReLU(0.2); ``stride=2`` halves the size."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        kernel = 4 if stride == 2 else 3
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel, stride, padding=1, bias=False),
            nn.InstanceNorm2d(out_channels, affine=True),
            nn.LeakyReLU(0.2),
        )


class UpBlock(nn.Sequential):
    """transposed conv (doubles the size) -> InstanceNorm -> LeakyReLU(0.2)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.ConvTranspose2d(in_channels, out_channels, 4, 2, padding=1, bias=False),
            nn.InstanceNorm2d(out_channels, affine=True),
            nn.LeakyReLU(0.2),
        )


class UNetGenerator(nn.Module):
    """U-Net over three scales (H, H/2, H/4) with skip connections; ``z`` joins at H/4.

    ``forward(x, z)``: ``x`` is ``B x C x H x W`` in ``[0, 1]`` (``C = image_channels``),
    ``z`` is ``B x z_dim``; returns ``B x C x H x W`` in ``[0, 1]``.
    """

    def __init__(
        self, image_size: int, base_channels: int = 32, z_dim: int = 32, image_channels: int = 1
    ) -> None:
        super().__init__()
        c = base_channels
        self.bottom = image_size // 4
        self.noise_channels = c
        self.enc1 = ConvBlock(image_channels, c)  # H
        self.enc2 = ConvBlock(c, 2 * c, stride=2)  # H/2
        self.enc3 = ConvBlock(2 * c, 4 * c, stride=2)  # H/4
        self.project_noise = nn.Linear(z_dim, c * self.bottom * self.bottom)
        self.bottleneck = ConvBlock(4 * c + c, 4 * c)
        self.up2 = UpBlock(4 * c, 2 * c)  # H/2
        self.dec2 = ConvBlock(2 * c + 2 * c, 2 * c)
        self.up1 = UpBlock(2 * c, c)  # H
        self.dec1 = ConvBlock(c + c, c)
        # the input image is the last skip
        self.out = nn.Conv2d(c + image_channels, image_channels, 3, padding=1)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        noise = self.project_noise(z).view(-1, self.noise_channels, self.bottom, self.bottom)
        h = self.bottleneck(torch.cat([e3, noise.to(e3.dtype)], 1))
        h = self.dec2(torch.cat([self.up2(h), e2], 1))
        h = self.dec1(torch.cat([self.up1(h), e1], 1))
        return torch.sigmoid(self.out(torch.cat([h, x.to(h.dtype)], 1)).float())  # fp32 output


class Critic(nn.Module):
    """Scores a pair ``(source, other)`` (stacked along the channels) with one scalar.

    No batch norm: the gradient penalty is defined per sample, so the critic uses layer norm
    (``GroupNorm`` with one group), which never mixes the samples of a batch.
    """

    def __init__(self, image_size: int, channels: int = 32, image_channels: int = 1) -> None:
        super().__init__()
        c = channels
        bottom = image_size // 4
        self.features = nn.Sequential(
            nn.Conv2d(2 * image_channels, c, 3, 1, padding=1),  # H
            nn.LeakyReLU(0.2),
            nn.Conv2d(c, 2 * c, 4, 2, padding=1),  # H/2
            nn.GroupNorm(1, 2 * c),
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * c, 4 * c, 4, 2, padding=1),  # H/4
            nn.GroupNorm(1, 4 * c),
            nn.LeakyReLU(0.2),
        )
        self.score = nn.Linear(4 * c * bottom * bottom, 1)

    def forward(self, source: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
        h = self.features(torch.cat([source, other], 1))
        return self.score(h.flatten(1)).squeeze(1)


# --------------------------------------------------------------------------- pairs
class PairSampler:
    """Draws, for each source row, a *different* row of the same class."""

    def __init__(self, labels: torch.Tensor) -> None:
        labels = labels.detach().cpu().long()
        classes, inverse = torch.unique(labels, return_inverse=True)
        counts = torch.bincount(inverse, minlength=len(classes))
        if (counts < 2).any():
            lonely = classes[counts < 2].tolist()
            raise GenaugError(
                f"DAGAN pairs each image with another of its class, but classes {lonely} have "
                "one image: use at least 2 images per source class"
            )
        self.order = torch.argsort(inverse, stable=True)  # rows grouped by class
        self.starts = torch.cumsum(counts, 0) - counts
        self.counts = counts
        self.inverse = inverse
        self.rank = torch.empty_like(inverse)  # position of each row inside its class
        self.rank[self.order] = torch.arange(len(labels)) - self.starts[inverse[self.order]]

    def partners(self, rows: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        cls = self.inverse[rows]
        others = self.counts[cls] - 1
        k = (torch.rand(len(rows), generator=rng) * others).long().clamp_max(others - 1)
        k = k + (k >= self.rank[rows]).long()  # skip the row itself
        return self.order[self.starts[cls] + k]


# --------------------------------------------------------------------------- model
class DAGAN(Generator):
    """DAGAN generator + critic. hparams: ``base_channels``, ``critic_channels``, ``z_dim``,
    ``n_critic`` (critic steps per generator step), ``gp_weight``."""

    name = "dagan"
    modes = ("transfer", "fit")
    defaults = DEFAULTS
    # the gradient penalty differentiates the critic twice, which torch.compile cannot do
    no_compile = ("critic",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # image_size, n_classes, image_channels, hparams
        hp = self.hparams
        size, channels = self.image_size, self.image_channels
        self.net = UNetGenerator(size, hp["base_channels"], hp["z_dim"], channels)
        self.critic = Critic(size, hp["critic_channels"], channels)
        self.pairs: PairSampler | None = None  # of the training data, while fit runs

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.net(x, z)

    def configure_optimizers(self, lr: float) -> dict[str, torch.optim.Optimizer]:
        return adams(lr, (0.5, 0.9), generator=self.net, critic=self.critic)

    def setup_fit(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.pairs = PairSampler(labels)

    def pair(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(x, x', z)``: the batch's images, a different real image of the same class for
        each, and fresh noise (drawn in that order)."""
        real = self.next_batch(self.pairs.partners(batch.rows, self.batch_rng)).x
        return batch.x, real, self.randn(len(batch.rows), self.hparams["z_dim"])

    def training_step(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        """WGAN-GP on ``(x, x')`` same-class pairs: ``n_critic`` critic steps, the first on
        ``batch`` and each other on a batch of its own, then one generator step on another;
        ``wasserstein`` is the critic's estimate ``D(x, real) - D(x, fake)``."""
        for i in range(self.hparams["n_critic"]):
            x, real, z = self.pair(batch if i == 0 else self.next_batch())
            alpha = self.rand(len(x), 1, 1, 1)
            with self.autocast():
                with torch.no_grad():
                    fake = self.net(x, z)
                d_real, d_fake = self.critic(
                    torch.cat([x, x]), torch.cat([real, fake.to(real.dtype)])
                ).chunk(2)
                loss_w = wgan_critic_loss(d_real, d_fake)
            critic = functools.partial(self.critic, x.float())  # D(x, .), in fp32
            gp = gradient_penalty(critic, real, fake, alpha)
            loss_c = loss_w + self.hparams["gp_weight"] * gp
            self.optimize("critic", loss_c)
        # ---- generator: one step, critic frozen
        with self.frozen(self.critic):
            x, _, z = self.pair(self.next_batch())
            with self.autocast():
                loss_g = wgan_generator_loss(self.critic(x, self.net(x, z)))
            self.optimize("generator", loss_g)
        return {
            "critic_loss": loss_c,
            "generator_loss": loss_g,
            "gradient_penalty": gp,
            "wasserstein": -loss_w,
        }

    def synthesize(self, req: Request) -> torch.Tensor:
        """``G(x, z)`` for the real ``x`` of each output, each with fresh noise ``z``."""
        z = torch.randn(len(req.source), self.hparams["z_dim"], generator=req.rng)
        return self.generate_chunks(
            lambda x, z: self.net(x.float(), z),
            req.device,
            z,
            source=req.source,
            per_image=[req.images],
        )
