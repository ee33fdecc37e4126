"""InfoGAN (Chen et al., 2016) with an encoder, used to vary real images of unseen classes.

The generator turns noise ``z``, one categorical code (one-hot over ``n_categories``) and
``n_continuous`` continuous codes ``u ~ U(-1, 1)`` into an image. The discriminator is a shared
convolutional trunk with three heads: real/fake, code recovery (InfoGAN's ``Q``: categorical
logits and continuous means) and noise recovery (an estimate of ``z``). As in InfoGAN, the code
and noise heads share the discriminator's trunk and are trained, together with the generator,
on generated images, where the codes are known.

Trained once on the source classes, the heads then act as an encoder for *real* images of
classes the model never saw ("transfer" mode): each target image is encoded to a categorical
code, continuous codes and a noise estimate, and decoded again with the continuous codes
shifted at random.

Layout follows ``pytorch/examples/dcgan``: the networks, then the losses, then the
:class:`InfoGAN` wrapper that owns both networks, the training loop and sampling.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
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
    "z_dim": 16,
    "n_categories": 10,
    "n_continuous": 2,
    "base_channels": 32,
    "info_weight": 1.0,
    "noise_weight": 1.0,
    "vary": 1.0,
}

#: images per forward pass in :meth:`InfoGAN.encode` and :meth:`InfoGAN.augment`
AUGMENT_CHUNK = 512


# --------------------------------------------------------------------------- networks
class InfoGenerator(nn.Module):
    """``(z, categorical, continuous) -> image`` in ``[0, 1]``, DCGAN style as InfoGAN's MNIST
    generator: linear to a ``4c x H/4 x W/4`` map, then two transposed convs (H/4 -> H/2 -> H)
    with batch norm and ReLU between, and a sigmoid (in fp32 even under autocast)."""

    def __init__(
        self,
        image_size: int,
        z_dim: int,
        n_categories: int,
        n_continuous: int,
        channels: int,
        image_channels: int = 1,
    ) -> None:
        super().__init__()
        c = channels
        self.shape = (4 * c, image_size // 4, image_size // 4)
        self.project = nn.Linear(
            z_dim + n_categories + n_continuous, 4 * c * self.shape[1] * self.shape[2], bias=False
        )
        self.main = nn.Sequential(
            nn.BatchNorm2d(4 * c),
            nn.ReLU(),
            nn.ConvTranspose2d(4 * c, 2 * c, 4, 2, padding=1, bias=False),  # H/2
            nn.BatchNorm2d(2 * c),
            nn.ReLU(),
            nn.ConvTranspose2d(2 * c, image_channels, 4, 2, padding=1),  # H
        )

    def forward(
        self, z: torch.Tensor, categorical: torch.Tensor, continuous: torch.Tensor
    ) -> torch.Tensor:
        h = torch.cat([z, categorical.to(z.dtype), continuous.to(z.dtype)], 1)
        h = self.project(h).view(-1, *self.shape)
        return torch.sigmoid(self.main(h).float())  # fp32 output


class SharedTrunk(nn.Module):
    """``image -> features`` (``8c``): two stride-2 convs (H -> H/2 -> H/4) and a linear layer,
    LeakyReLU(0.2) throughout. Layer norm (``GroupNorm`` with one group), not batch norm, so
    that a real image's encoding never depends on the other images of its batch."""

    def __init__(self, image_size: int, channels: int, image_channels: int = 1) -> None:
        super().__init__()
        c, bottom = channels, image_size // 4
        self.features = nn.Sequential(
            nn.Conv2d(image_channels, c, 4, 2, padding=1),  # H/2
            nn.LeakyReLU(0.2),
            nn.Conv2d(c, 2 * c, 4, 2, padding=1),  # H/4
            nn.GroupNorm(1, 2 * c),
            nn.LeakyReLU(0.2),
        )
        self.hidden = nn.Sequential(nn.Linear(2 * c * bottom * bottom, 8 * c), nn.LeakyReLU(0.2))
        self.out_features = 8 * c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.hidden(self.features(x).flatten(1))


class Head(nn.Sequential):
    """A small MLP on the trunk's features: linear -> LeakyReLU(0.2) -> linear."""

    def __init__(self, in_features: int, hidden: int, out_features: int) -> None:
        super().__init__(
            nn.Linear(in_features, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, out_features)
        )


class Outputs(NamedTuple):
    """What :class:`InfoDiscriminator` returns for a batch of ``B`` images."""

    logit: torch.Tensor  # B: real/fake logit
    categorical: torch.Tensor  # B x n_categories: logits of the categorical code
    continuous: torch.Tensor  # B x n_continuous: means of the continuous codes
    noise: torch.Tensor  # B x z_dim: estimate of z


class InfoDiscriminator(nn.Module):
    """The shared trunk and its three heads: ``adversarial`` (real/fake), ``codes``
    (InfoGAN's ``Q``) and ``noise`` (``z`` recovery)."""

    def __init__(
        self,
        image_size: int,
        z_dim: int,
        n_categories: int,
        n_continuous: int,
        channels: int,
        image_channels: int = 1,
    ) -> None:
        super().__init__()
        self.n_categories = n_categories
        self.trunk = SharedTrunk(image_size, channels, image_channels)
        f = self.trunk.out_features
        self.adversarial = nn.Linear(f, 1)
        self.codes = Head(f, 4 * channels, n_categories + n_continuous)
        self.noise = Head(f, 4 * channels, z_dim)

    def forward(self, x: torch.Tensor) -> Outputs:
        h = self.trunk(x)
        codes = self.codes(h)
        return Outputs(
            logit=self.adversarial(h).squeeze(1),
            categorical=codes[:, : self.n_categories],
            continuous=codes[:, self.n_categories :],
            noise=self.noise(h),
        )


# --------------------------------------------------------------------------- losses
# All in fp32: call them outside autocast.
def discriminator_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """``BCE(D(x), 1) + BCE(D(G(z, c)), 0)`` on logits."""
    d_real, d_fake = d_real.float(), d_fake.float()
    return F.binary_cross_entropy_with_logits(
        d_real, torch.ones_like(d_real)
    ) + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))


def generator_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """Non-saturating ``BCE(D(G(z, c)), 1)``."""
    d_fake = d_fake.float()
    return F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))


def info_loss(
    categorical_logits: torch.Tensor,
    continuous: torch.Tensor,
    category: torch.Tensor,
    codes: torch.Tensor,
) -> torch.Tensor:
    """InfoGAN's mutual-information term (up to constants): cross-entropy of the categorical
    code plus the mean squared error of the continuous codes (a fixed-variance Gaussian)."""
    ce = F.cross_entropy(categorical_logits.float(), category)
    return ce + F.mse_loss(continuous.float(), codes.float())


def noise_loss(z_estimate: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Mean squared error of the recovered noise."""
    return F.mse_loss(z_estimate.float(), z.float())


# --------------------------------------------------------------------------- model
class InfoGAN(Generator):
    """InfoGAN generator + discriminator with code and noise heads. hparams: ``z_dim``,
    ``n_categories``, ``n_continuous``, ``base_channels``, ``info_weight`` and ``noise_weight``
    (weights of the code and noise recovery losses), ``vary`` (continuous codes are shifted by
    ``U(-vary, vary)`` at augmentation). Labels are not used."""

    name = "infogan"
    mode = "transfer"
    defaults = DEFAULTS

    def __init__(
        self, image_size: int, n_classes: int = 0, *, image_channels: int = 1, **hparams: Any
    ) -> None:
        super().__init__(image_size, n_classes, image_channels=image_channels, **hparams)
        hp = self.hparams
        small = [k for k in ("z_dim", "n_categories", "n_continuous", "base_channels") if hp[k] < 1]
        if small:
            raise GenaugError(f"infogan hparams {small} must be at least 1: raise them in config")
        args = (image_size, hp["z_dim"], hp["n_categories"], hp["n_continuous"])
        self.net = InfoGenerator(*args, hp["base_channels"], image_channels)
        self.discriminator = InfoDiscriminator(*args, hp["base_channels"], image_channels)

    def forward(
        self, z: torch.Tensor, category: torch.Tensor, continuous: torch.Tensor
    ) -> torch.Tensor:
        """``G(z, one_hot(category), continuous)``."""
        return self.net(z, self.one_hot(category).to(z.device), continuous)

    def one_hot(self, category: torch.Tensor) -> torch.Tensor:
        return F.one_hot(category.long(), self.hparams["n_categories"]).float()

    def sample_codes(
        self, n: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(z, category, continuous)`` for ``n`` images, drawn on the CPU with ``generator``:
        ``z ~ N(0, I)``, a uniform category, continuous codes ``~ U(-1, 1)``."""
        hp = self.hparams
        z = torch.randn(n, hp["z_dim"], generator=generator)
        category = torch.randint(hp["n_categories"], (n,), generator=generator)
        continuous = torch.rand(n, hp["n_continuous"], generator=generator) * 2 - 1
        return z, category, continuous

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
        """Alternating Adam steps as in ``pytorch/examples/dcgan``: the discriminator (trunk and
        all three heads) on ``discriminator_loss + info_weight * info_loss + noise_weight *
        noise_loss`` (the last two on the detached fakes), then the generator on
        ``generator_loss`` plus the same weighted losses through the updated discriminator.
        ``labels`` are ignored. Logged losses are unweighted means over the steps since the
        previous log; ``info_loss`` and ``noise_loss`` are those of the generator step."""
        device = torch.device(device)
        images = images.detach().float().cpu()
        w_info, w_noise = self.hparams["info_weight"], self.hparams["noise_weight"]
        self.to(device).train()
        opt_g = torch.optim.Adam(self.net.parameters(), lr=lr, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=lr, betas=(0.5, 0.999))
        meter = LossMeter(log, log_every, steps)
        for step in train_steps(steps, resume, self, [opt_g, opt_d], generator, meter):
            rows = sample_batch(len(images), batch_size, generator)
            real = images[rows].to(device)
            codes = self.sample_codes(len(rows), generator)
            z, category, continuous = (t.to(device) for t in codes)
            with autocast(device):
                fake = self(z, category, continuous)

            # ---- discriminator and its code/noise heads; the generator gets no gradient
            self.discriminator.requires_grad_(True)
            with autocast(device):
                out = self.discriminator(torch.cat([real, fake.detach().to(real.dtype)]))
            n = len(rows)
            loss_d = discriminator_loss(out.logit[:n], out.logit[n:])
            info_d = info_loss(out.categorical[n:], out.continuous[n:], category, continuous)
            noise_d = noise_loss(out.noise[n:], z)
            opt_d.zero_grad(set_to_none=True)
            (loss_d + w_info * info_d + w_noise * noise_d).backward()
            opt_d.step()

            # ---- generator, through the updated (frozen) discriminator
            self.discriminator.requires_grad_(False)
            with autocast(device):
                out = self.discriminator(fake)
            loss_g = generator_loss(out.logit)
            info = info_loss(out.categorical, out.continuous, category, continuous)
            noise = noise_loss(out.noise, z)
            opt_g.zero_grad(set_to_none=True)
            (loss_g + w_info * info + w_noise * noise).backward()
            opt_g.step()

            meter.update(
                step,
                discriminator_loss=loss_d,
                generator_loss=loss_g,
                info_loss=info,
                noise_loss=noise,
            )
        self.discriminator.requires_grad_(True)
        self.eval()

    @torch.no_grad()
    def encode(
        self, images: torch.Tensor, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(z, category, continuous)`` read off real images by the heads (fp32, CPU): the
        noise estimate, the most likely category (argmax, so the generator gets the one-hot
        inputs it was trained on) and the continuous means. Uses the current train/eval mode
        (the trunk has no batch statistics, so both give the same)."""
        device = torch.device(device)
        zs, categories, continuous = [], [], []
        for lo in range(0, len(images), AUGMENT_CHUNK):
            x = images[lo : lo + AUGMENT_CHUNK].float().to(device)
            with autocast(device):
                out = self.discriminator(x)
            zs.append(out.noise.float().cpu())
            categories.append(out.categorical.float().argmax(1).cpu())
            continuous.append(out.continuous.float().cpu())
        if not zs:
            hp = self.hparams
            empty = torch.empty(0, dtype=torch.long)
            return torch.empty(0, hp["z_dim"]), empty, torch.empty(0, hp["n_continuous"])
        return torch.cat(zs), torch.cat(categories), torch.cat(continuous)

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
        """``n_per_image`` decodes per real ``x``: ``x`` is encoded once (:meth:`encode`), then
        decoded with the same category and noise estimate and its continuous codes shifted by
        fresh ``U(-vary, vary)`` draws (not clipped to the training range ``[-1, 1]``).
        ``source_index`` is the row of ``x``, labels are copied from it."""
        self.check_images(images)
        device = torch.device(device)
        was_training = self.training
        self.to(device).eval()
        z, category, continuous = self.encode(images, device)
        source = torch.arange(len(images)).repeat_interleave(n_per_image)
        shift = torch.rand(len(source), self.hparams["n_continuous"], generator=generator)
        continuous = continuous[source] + (2 * shift - 1) * self.hparams["vary"]
        out = []
        for lo in range(0, len(source), AUGMENT_CHUNK):
            rows = source[lo : lo + AUGMENT_CHUNK]
            with autocast(device):
                y = self(
                    z[rows].to(device),
                    category[rows].to(device),
                    continuous[lo : lo + AUGMENT_CHUNK].to(device),
                )
            out.append(y.float().clamp_(0, 1).cpu())
        self.train(was_training)
        empty = torch.empty(0, self.image_channels, self.image_size, self.image_size)
        return Synthetic(
            images=torch.cat(out) if out else empty,
            labels=labels.detach().cpu().long().repeat_interleave(n_per_image),
            source_index=source,
        )
