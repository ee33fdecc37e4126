"""DAGAN: a Data Augmentation GAN (Antoniou, Storkey & Edwards, 2017).

The generator takes a real image ``x`` and a noise vector ``z`` and returns another image of
``x``'s class; the critic scores ``(source, other)`` pairs, where ``other`` is either a
different real image of the same class or a generated one. Trained on the source classes with
the improved Wasserstein loss (WGAN-GP, Gulrajani et al., 2017), the generator is then applied
to images of classes it has never seen ("transfer" mode).

Layout follows ``pytorch/examples``: the networks, then the losses, then the
:class:`DAGAN` wrapper that owns both networks, the training loop and sampling.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from genaug.errors import GenaugError
from genaug.models.base import (
    Generator,
    LogFn,
    LossMeter,
    Resume,
    Synthetic,
    sample_batch,
    train_steps,
)
from genaug.runtime import autocast

DEFAULTS: dict[str, Any] = {
    "base_channels": 32,
    "critic_channels": 32,
    "z_dim": 32,
    "n_critic": 5,
    "gp_weight": 10.0,
}

#: images per forward pass in :meth:`DAGAN.augment`
AUGMENT_CHUNK = 512


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


# --------------------------------------------------------------------------- losses
def gradient_penalty(
    critic: Critic,
    source: torch.Tensor,
    real: torch.Tensor,
    fake: torch.Tensor,
    alpha: torch.Tensor | None = None,
) -> torch.Tensor:
    """WGAN-GP penalty ``E[(||grad_y D(x, y)||_2 - 1)^2]`` at ``y`` on the lines between
    ``real`` and ``fake`` (``alpha`` ~ U(0, 1) per sample; uniform draws with the global RNG
    if not given). Computed in fp32: call it outside autocast."""
    if alpha is None:
        alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
    alpha = alpha.to(real.device, torch.float32)
    mixed = (alpha * real.float() + (1 - alpha) * fake.float()).requires_grad_(True)
    scores = critic(source.float(), mixed)
    (grad,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


def critic_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """Wasserstein critic loss without the penalty: ``D(x, fake) - D(x, real)``."""
    return d_fake.float().mean() - d_real.float().mean()


def generator_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """``-D(x, G(x, z))``."""
    return -d_fake.float().mean()


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

    def partners(self, rows: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        cls = self.inverse[rows]
        others = self.counts[cls] - 1
        k = (torch.rand(len(rows), generator=generator) * others).long().clamp_max(others - 1)
        k = k + (k >= self.rank[rows]).long()  # skip the row itself
        return self.order[self.starts[cls] + k]


# --------------------------------------------------------------------------- model
class DAGAN(Generator):
    """DAGAN generator + critic. hparams: ``base_channels``, ``critic_channels``, ``z_dim``,
    ``n_critic`` (critic steps per generator step), ``gp_weight``."""

    name = "dagan"
    mode = "transfer"
    defaults = DEFAULTS
    # the gradient penalty differentiates the critic twice, which torch.compile cannot do
    no_compile = ("critic",)

    def __init__(
        self, image_size: int, n_classes: int = 0, *, image_channels: int = 1, **hparams: Any
    ) -> None:
        super().__init__(image_size, n_classes, image_channels=image_channels, **hparams)
        hp = self.hparams
        self.net = UNetGenerator(image_size, hp["base_channels"], hp["z_dim"], image_channels)
        self.critic = Critic(image_size, hp["critic_channels"], image_channels)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.net(x, z)

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
        """WGAN-GP training on ``(x, x')`` same-class pairs; ``steps`` counts generator steps,
        each after ``n_critic`` critic steps. Logged losses are means over the steps since the
        previous log; ``wasserstein`` is the critic's estimate ``D(x, real) - D(x, fake)``."""
        device = torch.device(device)
        pairs = PairSampler(labels)
        images = images.detach().float().cpu()
        n_critic, gp_weight = self.hparams["n_critic"], self.hparams["gp_weight"]
        self.to(device).train()
        opt_g = torch.optim.Adam(self.net.parameters(), lr=lr, betas=(0.5, 0.9))
        opt_c = torch.optim.Adam(self.critic.parameters(), lr=lr, betas=(0.5, 0.9))

        def draw() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            rows = sample_batch(len(images), batch_size, generator)
            x, real = images[rows], images[pairs.partners(rows, generator)]
            z = self._noise(len(rows), generator, device)
            return x.to(device), real.to(device), z

        meter = LossMeter(log, log_every, steps)
        for step in train_steps(steps, resume, self, [opt_g, opt_c], generator, meter):
            # ---- critic: n_critic steps, generator frozen
            self.critic.requires_grad_(True)
            for _ in range(n_critic):
                x, real, z = draw()
                alpha = torch.rand(len(x), 1, 1, 1, generator=generator).to(device)
                with autocast(device):
                    with torch.no_grad():
                        fake = self.net(x, z)
                    d_real, d_fake = self.critic(
                        torch.cat([x, x]), torch.cat([real, fake.to(real.dtype)])
                    ).chunk(2)
                    loss_w = critic_loss(d_real, d_fake)
                gp = gradient_penalty(self.critic, x, real, fake, alpha)  # fp32
                loss_c = loss_w + gp_weight * gp
                opt_c.zero_grad(set_to_none=True)
                loss_c.backward()
                opt_c.step()
            # ---- generator: one step, critic frozen
            self.critic.requires_grad_(False)
            x, _, z = draw()
            with autocast(device):
                loss_g = generator_loss(self.critic(x, self.net(x, z)))
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()

            meter.update(
                step,
                critic_loss=loss_c,
                generator_loss=loss_g,
                gradient_penalty=gp,
                wasserstein=-loss_w,
            )
        self.critic.requires_grad_(True)
        self.eval()

    @torch.no_grad()
    def augment(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        n_per_image: int,
        *,
        generator: torch.Generator,
        device: torch.device,
    ) -> Synthetic:
        """``n_per_image`` outputs ``G(x, z)`` per real ``x``, each with fresh noise ``z``;
        ``source_index`` is the row of ``x``, labels are copied from it."""
        self.check_images(images)
        device = torch.device(device)
        was_training = self.training
        self.to(device).eval()
        n = len(images)
        source = torch.arange(n).repeat_interleave(n_per_image)
        z = torch.randn(len(source), self.hparams["z_dim"], generator=generator)
        out = []
        for lo in range(0, len(source), AUGMENT_CHUNK):
            rows = source[lo : lo + AUGMENT_CHUNK]
            x = images[rows].float().to(device)
            with autocast(device):
                y = self.net(x, z[lo : lo + AUGMENT_CHUNK].to(device))
            out.append(y.float().clamp_(0, 1).cpu())
        self.train(was_training)
        empty = torch.empty(0, self.image_channels, self.image_size, self.image_size)
        return Synthetic(
            images=torch.cat(out) if out else empty,
            labels=labels.detach().cpu().long().repeat_interleave(n_per_image),
            source_index=source,
        )
