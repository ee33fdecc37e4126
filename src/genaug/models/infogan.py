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

Layout follows ``pytorch/examples/dcgan``: the networks, then the loss, then the
:class:`InfoGAN` that owns both networks, its optimisers, its training step and sampling.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from genaug.errors import GenaugError
from genaug.models.base import Batch, Generator, Request, adams
from genaug.models.blocks import ConvEncoder, UpsamplingGenerator
from genaug.models.losses import gan_discriminator_loss, gan_generator_loss, mse
from genaug.optim import Adam

DEFAULTS: dict[str, Any] = {
    "z_dim": 16,
    "n_categories": 10,
    "n_continuous": 2,
    "base_channels": 32,
    "info_weight": 1.0,
    "noise_weight": 1.0,
    "vary": 1.0,
}


# --------------------------------------------------------------------------- networks
def shared_trunk(image_size: int, channels: int, image_channels: int = 1) -> ConvEncoder:
    """``image -> features`` (``8c``): a :class:`ConvEncoder` with LeakyReLU(0.2) and layer
    norm (``GroupNorm`` with one group), not batch norm, so that a real image's encoding never
    depends on the other images of its batch."""
    return ConvEncoder(
        image_size,
        channels,
        image_channels,
        activation=functools.partial(nn.LeakyReLU, 0.2),
        norm=functools.partial(nn.GroupNorm, 1),
    )


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
        self.trunk = shared_trunk(image_size, channels, image_channels)
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


# --------------------------------------------------------------------------- loss
def info_loss(
    categorical_logits: torch.Tensor,
    continuous: torch.Tensor,
    category: torch.Tensor,
    codes: torch.Tensor,
) -> torch.Tensor:
    """InfoGAN's mutual-information term (up to constants): cross-entropy of the categorical
    code plus the mean squared error of the continuous codes (a fixed-variance Gaussian)."""
    return F.cross_entropy(categorical_logits.float(), category) + mse(continuous, codes)


# --------------------------------------------------------------------------- model
class InfoGAN(Generator):
    """InfoGAN generator + discriminator with code and noise heads. hparams: ``z_dim``,
    ``n_categories``, ``n_continuous``, ``base_channels``, ``info_weight`` and ``noise_weight``
    (weights of the code and noise recovery losses), ``vary`` (continuous codes are shifted by
    ``U(-vary, vary)`` at augmentation). Labels are not used."""

    name = "infogan"
    modes = ("transfer", "fit")
    defaults = DEFAULTS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # image_size, n_classes, image_channels, hparams
        hp = self.hparams
        small = [k for k in ("z_dim", "n_categories", "n_continuous", "base_channels") if hp[k] < 1]
        if small:
            raise GenaugError(f"infogan hparams {small} must be at least 1: raise them in config")
        size, c, channels = self.image_size, hp["base_channels"], self.image_channels
        codes = hp["z_dim"] + hp["n_categories"] + hp["n_continuous"]
        self.net = UpsamplingGenerator(size, codes, 4 * c, channels)  # DCGAN, as InfoGAN's MNIST
        self.discriminator = InfoDiscriminator(
            size, hp["z_dim"], hp["n_categories"], hp["n_continuous"], c, channels
        )

    def forward(
        self, z: torch.Tensor, category: torch.Tensor, continuous: torch.Tensor
    ) -> torch.Tensor:
        """``G(z, one_hot(category), continuous)``."""
        return self.net(z, self.one_hot(category).to(z.device), continuous)

    def one_hot(self, category: torch.Tensor) -> torch.Tensor:
        return F.one_hot(category.long(), self.hparams["n_categories"]).float()

    def sample_codes(
        self, n: int, rng: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(z, category, continuous)`` for ``n`` images, drawn on the CPU with ``rng``:
        ``z ~ N(0, I)``, a uniform category, continuous codes ``~ U(-1, 1)``."""
        hp = self.hparams
        z = torch.randn(n, hp["z_dim"], generator=rng)
        category = torch.randint(hp["n_categories"], (n,), generator=rng)
        continuous = torch.rand(n, hp["n_continuous"], generator=rng) * 2 - 1
        return z, category, continuous

    def configure_optimizers(self, lr: float) -> dict[str, Adam]:
        return adams(lr, (0.5, 0.999), generator=self.net, discriminator=self.discriminator)

    def training_step(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        """Alternating Adam steps as in ``pytorch/examples/dcgan``: the discriminator (trunk and
        all three heads) on ``discriminator_loss + info_weight * info_loss + noise_weight *
        noise_loss`` (the last two on the detached fakes), then the generator on
        ``generator_loss`` plus the same weighted losses through the updated discriminator.
        Labels are not used. Logged losses are unweighted; ``info_loss`` and ``noise_loss``
        are those of the generator step."""
        w_info, w_noise = self.hparams["info_weight"], self.hparams["noise_weight"]
        real, n = batch.x, len(batch.rows)
        codes = self.sample_codes(n, self.batch_rng)
        z, category, continuous = (t.to(real.device) for t in codes)
        with self.autocast():
            fake = self(z, category, continuous)
        # ---- discriminator and its code/noise heads; the generator gets no gradient
        with self.autocast():
            out = self.discriminator(torch.cat([real, fake.detach().to(real.dtype)]))
        loss_d = gan_discriminator_loss(out.logit[:n], out.logit[n:])
        info_d = info_loss(out.categorical[n:], out.continuous[n:], category, continuous)
        noise_d = mse(out.noise[n:], z)
        self.optimize("discriminator", loss_d + w_info * info_d + w_noise * noise_d)
        # ---- generator, through the updated (frozen) discriminator
        with self.frozen(self.discriminator):
            with self.autocast():
                out = self.discriminator(fake)
            loss_g = gan_generator_loss(out.logit)
            info = info_loss(out.categorical, out.continuous, category, continuous)
            noise = mse(out.noise, z)
            self.optimize("generator", loss_g + w_info * info + w_noise * noise)
        return {
            "discriminator_loss": loss_d,
            "generator_loss": loss_g,
            "info_loss": info,
            "noise_loss": noise,
        }

    @torch.no_grad()
    def encode(
        self, images: torch.Tensor, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(z, category, continuous)`` read off real images by the heads (fp32, CPU): the
        noise estimate, the most likely category (argmax, so the generator gets the one-hot
        inputs it was trained on) and the continuous means. Uses the current train/eval mode
        (the trunk has no batch statistics, so both give the same)."""

        def read(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            out = self.discriminator(x.float())
            category = out.categorical.float().argmax(1)
            return out.noise.float().cpu(), category.cpu(), out.continuous.float().cpu()

        chunks = self.map_chunks(read, device, images)
        if not chunks:
            hp = self.hparams
            empty = torch.empty(0, dtype=torch.long)
            return torch.empty(0, hp["z_dim"]), empty, torch.empty(0, hp["n_continuous"])
        z, category, continuous = (torch.cat(parts) for parts in zip(*chunks, strict=True))
        return z, category, continuous

    def synthesize(self, req: Request) -> torch.Tensor:
        """Decodes of each real ``x``: ``x`` is encoded once (:meth:`encode`), then decoded
        with the same category and noise estimate and its continuous codes shifted by fresh
        ``U(-vary, vary)`` draws (not clipped to the training range ``[-1, 1]``)."""
        z, category, continuous = self.encode(req.images, req.device)
        shift = torch.rand(len(req.source), self.hparams["n_continuous"], generator=req.rng)
        continuous = continuous[req.source] + (2 * shift - 1) * self.hparams["vary"]
        return self.generate_chunks(
            self, req.device, continuous, source=req.source, per_image=[z, category]
        )
