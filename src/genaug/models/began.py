"""BEGAN (Berthelot, Schumm & Metz, 2017) with a predictor, used to vary real images of unseen
classes.

The discriminator is an autoencoder; its loss on an image is its pixel-wise reconstruction
error ``L(v) = |v - D(v)|^eta`` (the paper's ``eta``: 1, as it used, or 2). The discriminator
minimises ``L(x) - k_t L(G(z))``, the generator ``L(G(z))``, and the equilibrium term ``k_t``
(in ``[0, 1]``, starting at 0) follows ``k_{t+1} = k_t + lambda_k (gamma L(x) - L(G(z)))``,
which keeps ``L(G(z)) ~ gamma L(x)`` (``gamma``: the diversity ratio).
``M_global = L(x) + |gamma L(x) - L(G(z))|`` measures convergence. ``z ~ U(-1, 1)``, as in the
paper. The networks are the paper's at a CPU size (:class:`BeganDecoder`,
:class:`BeganEncoder`): 3 x 3 convs with ELU, nearest-neighbour upsampling and a skip
connection from the initial hidden layer, and the paper's simultaneous update of both players
from one pass through the discriminator.

As the face-attribute project did, a third network, the *predictor* ``E``, is trained
alongside to map a real image ``x`` to the generator's latent: it minimises the pixel (L1)
plus SSIM loss of ``G(E(x))`` against ``x`` with the generator frozen. Trained once on the
source classes, it encodes real images of classes the model never saw ("transfer" mode);
augmenting perturbs the latent with Gaussian noise and decodes it with the generator, as
InfoGAN editing does.

Changed from the first version, which collapsed on the embedded Omniglot data (every sample
the same blob or checkerboard; measured with the pixel checks of the ``began`` brief):

- The networks and the update: the shared ``CodeEncoder`` / ``ConvDecoder`` (ReLU,
  transposed convs), updated one player after the other, gave samples of different ``z`` a
  mean pairwise distance of 0.11 of real images' after 400 steps; these networks with the
  simultaneous update give 0.56, in 38 CPU s on 1 thread instead of 60-65 (with SSIM
  computed as :func:`ssim` does).
- The predictor also learns ``E(G(z)) ~ z`` on the generator's own samples (``latent_weight``
  times its squared error, the fakes detached), as iGAN (Zhu et al. 2016) trains its
  predictor. On sparse ink, pixel + SSIM alone has a trap: a blank image scores well on both
  (L1 is the ink's mean, and every all-background window has SSIM 1), and from some seeds the
  predictor settled on latents the generator draws blank, whatever the image. The latent
  term starts it where ``G`` is invertible.
- Tried and dropped (worse on the same checks): a warm start of the discriminator (and of
  ``G`` with ``E`` as an autoencoder) on real images, which settles on the blank image;
  training the generator on the predictor's reconstruction too, which made ``G(E(x))``
  blank; learning-rate decay (a half-life of 200 steps), too slow for 400 steps; ``gamma``
  0.3; a bottleneck of 64; ``eta`` 1 (samples blank).

Layout follows ``pytorch/examples``: the networks, the losses, then the :class:`BEGAN` that
owns the networks, its optimisers, its training step and sampling.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.functional.image import structural_similarity_index_measure

from genaug.errors import GenaugError
from genaug.models.base import Batch, Generator, Request, adams
from genaug.optim import Adam

DEFAULTS: dict[str, Any] = {
    "z_dim": 32,
    "hidden_dim": 16,
    "base_channels": 16,
    "eta": 2,
    "gamma": 0.5,
    "lambda_k": 0.05,
    "ssim_weight": 1.0,
    "sigma": 0.3,
    "latent_weight": 1.0,
}
#: torchmetrics' default SSIM window: a Gaussian of sigma 1.5, 11 x 11 pixels; images are
#: reflect-padded by half of it, so their side must exceed 5
SSIM_SIGMA = 1.5
SSIM_PAD = 5


# --------------------------------------------------------------------------- networks
def conv3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    """A 3 x 3 convolution that keeps the side (``stride`` 2: halves it)."""
    return nn.Conv2d(in_channels, out_channels, 3, stride, padding=1)


class BeganDecoder(nn.Module):
    """``h -> image`` in ``[0, 1]``, the paper's decoder at a CPU size: a linear map of ``h``
    to the initial hidden layer ``h0`` (``channels x H/4 x W/4``), a 3 x 3 conv with ELU,
    nearest-neighbour upsampling to H/2 (no transposed convs, which draw checkerboards) with a
    skip connection (``h0``, upsampled, joined to the H/2 maps), two 3 x 3 convs with ELU, and
    a sub-pixel 3 x 3 conv to the image (``PixelShuffle``: each output pixel sees its H/2
    neighbourhood evenly; a 3 x 3 conv to one channel at full size is several times slower on
    the CPU) and a sigmoid (fp32). The generator and the discriminator's decoder are each
    one."""

    def __init__(
        self, image_size: int, in_features: int, channels: int, image_channels: int = 1
    ) -> None:
        super().__init__()
        c = channels
        self.shape = (c, image_size // 4, image_size // 4)
        self.initial = nn.Linear(in_features, c * self.shape[1] * self.shape[2])
        self.bottom = nn.Sequential(conv3(c, c), nn.ELU(), nn.Upsample(scale_factor=2))
        self.skip = nn.Upsample(scale_factor=2)
        self.top = nn.Sequential(
            conv3(2 * c, c),
            nn.ELU(),
            conv3(c, c),
            nn.ELU(),
            conv3(c, 4 * image_channels),
            nn.PixelShuffle(2),
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        h0 = self.initial(h).view(-1, *self.shape)
        x = self.top(torch.cat([self.bottom(h0), self.skip(h0)], 1))
        return torch.sigmoid(x.float())


class BeganEncoder(nn.Module):
    """``x -> h`` (``out_features``), the paper's encoder at a CPU size: the image's 2 x 2
    blocks as channels (``PixelUnshuffle``, H -> H/2: cheaper on the CPU than a conv at full
    size), two 3 x 3 convs with ELU (``channels`` maps), a stride-2 one (H/4, ``2 *
    channels`` maps) and a linear map of those maps to ``h``."""

    def __init__(
        self, image_size: int, out_features: int, channels: int, image_channels: int = 1
    ) -> None:
        super().__init__()
        c, bottom = channels, image_size // 4
        self.features = nn.Sequential(
            nn.PixelUnshuffle(2),
            conv3(4 * image_channels, c),
            nn.ELU(),
            conv3(c, c),
            nn.ELU(),
            conv3(c, 2 * c, 2),
            nn.ELU(),
        )
        self.code = nn.Linear(2 * c * bottom * bottom, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.code(self.features(x).flatten(1))


class AutoencoderDiscriminator(nn.Module):
    """BEGAN's discriminator: ``x -> D(x)``, an autoencoder through an ``hidden_dim``-wide
    bottleneck (a :class:`BeganEncoder`, then a :class:`BeganDecoder` like the generator)."""

    def __init__(
        self, image_size: int, hidden_dim: int, channels: int, image_channels: int = 1
    ) -> None:
        super().__init__()
        self.encoder = BeganEncoder(image_size, hidden_dim, channels, image_channels)
        self.decoder = BeganDecoder(image_size, hidden_dim, channels, image_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class Predictor(BeganEncoder):
    """``x -> z`` in ``(-1, 1)`` (a tanh on a :class:`BeganEncoder`): the support of the
    generator's ``U(-1, 1)`` latent."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(super().forward(x))


# --------------------------------------------------------------------------- losses
def autoencoder_loss(image: torch.Tensor, decoded: torch.Tensor, eta: int = 1) -> torch.Tensor:
    """BEGAN's ``L(v) = |v - D(v)|^eta`` (``eta`` 1 or 2), the mean over every pixel (fp32)."""
    return (decoded.float() - image.float()).abs().pow(eta).mean()


def ssim(estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The batch mean of torchmetrics' SSIM (Gaussian 11 x 11 window, images in ``[0, 1]``);
    1- and 3-channel images alike (fp32). The batch is passed as the channels of one image:
    the mean over them is the same number (every image has as many pixels), and the
    per-channel (grouped) convolution of its window is about 20 x faster on the CPU than the
    one-channel convolution of a batch."""
    n, c, h, w = target.shape
    return structural_similarity_index_measure(
        estimate.float().reshape(1, n * c, h, w),
        target.float().reshape(1, n * c, h, w),
        sigma=SSIM_SIGMA,
        data_range=1.0,
    )


def predictor_loss(
    recon: torch.Tensor, x: torch.Tensor, ssim_weight: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(L1(recon, x) + ssim_weight * (1 - SSIM(recon, x)), SSIM(recon, x))``."""
    similarity = ssim(recon, x)
    return F.l1_loss(recon.float(), x.float()) + ssim_weight * (1 - similarity), similarity


# --------------------------------------------------------------------------- model
class BEGAN(Generator):
    """BEGAN generator + autoencoder discriminator + predictor. hparams: ``z_dim``,
    ``hidden_dim`` (the discriminator's bottleneck), ``base_channels``, ``eta`` (the power of
    the discriminator's pixel error: 1 or 2), ``gamma`` (diversity ratio), ``lambda_k``
    (learning rate of ``k_t``), ``ssim_weight`` (of the predictor's SSIM term),
    ``latent_weight`` (of the predictor's latent regression on the generator's samples),
    ``sigma`` (std of the latent perturbation at augmentation). Labels are not used. ``k_t``
    is the buffer ``k``, so checkpoints carry it."""

    name = "began"
    modes = ("transfer", "fit")
    defaults = DEFAULTS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # image_size, n_classes, image_channels, hparams
        hp = self.hparams
        small = [k for k in ("z_dim", "hidden_dim", "base_channels") if hp[k] < 1]
        if small:
            raise GenaugError(f"began hparams {small} must be at least 1: raise them in config")
        if hp["eta"] not in (1, 2):
            raise GenaugError(f"began eta={hp['eta']} is not 1 or 2: set it in config")
        if not 0 < hp["gamma"] <= 1:
            raise GenaugError(f"began gamma={hp['gamma']} is not in (0, 1]: set it in config")
        negative = [k for k in ("lambda_k", "ssim_weight", "sigma", "latent_weight") if hp[k] < 0]
        if negative:
            raise GenaugError(f"began hparams {negative} must be >= 0: fix them in config")
        if self.image_size <= SSIM_PAD:
            raise GenaugError(
                f"began's SSIM needs images larger than {SSIM_PAD} pixels, got "
                f"{self.image_size}: raise dataset.image_size"
            )
        size, c, channels = self.image_size, hp["base_channels"], self.image_channels
        self.net = BeganDecoder(size, hp["z_dim"], c, channels)
        self.discriminator = AutoencoderDiscriminator(size, hp["hidden_dim"], c, channels)
        self.predictor = Predictor(size, hp["z_dim"], c, channels)
        self.register_buffer("k", torch.zeros(()))  # k_t, saved with the weights

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``G(z)``."""
        return self.net(z)

    def configure_optimizers(self, lr: float) -> dict[str, Adam]:
        return adams(
            lr,
            (0.5, 0.999),
            generator=self.net,
            discriminator=self.discriminator,
            predictor=self.predictor,
        )

    def training_step(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        """One BEGAN step, the paper's simultaneous update: from one pass of real and fake
        images through the discriminator, the discriminator steps on ``L(x) - k_t L(G(z))``
        and the generator on ``L(G(z))``; ``k_t`` is then updated from ``L(x)`` and
        ``L(G(z))``. In the same step the predictor ``E`` steps on the :func:`predictor_loss`
        of ``G(E(x))`` against ``x`` (the generator frozen) plus ``latent_weight`` times the
        squared error of ``E(G(z))`` against ``z`` (the fakes detached). Logs the new ``k``."""
        hp = self.hparams
        real = batch.x
        z = self.rand(len(batch.rows), hp["z_dim"]) * 2 - 1
        with self.autocast():
            fake = self.net(z)
            decoded_real = self.discriminator(real)
            decoded_fake = self.discriminator(fake)
            with self.frozen(self.net):
                recon = self.net(self.predictor(real))
            inverted = self.predictor(fake.detach())
        loss_real = autoencoder_loss(real, decoded_real, hp["eta"])
        loss_fake = autoencoder_loss(fake, decoded_fake, hp["eta"])
        loss_d = loss_real - self.k * loss_fake
        loss_p, similarity = predictor_loss(recon, real, hp["ssim_weight"])
        loss_z = F.mse_loss(inverted.float(), z)
        self.optimize_together(
            discriminator=loss_d,
            generator=loss_fake,
            predictor=loss_p + hp["latent_weight"] * loss_z,
        )
        balance = (hp["gamma"] * loss_real - loss_fake).detach()
        self.k.copy_((self.k + hp["lambda_k"] * balance).clamp(0, 1))
        return {
            "discriminator_loss": loss_d,
            "generator_loss": loss_fake,
            "m_global": loss_real.detach() + balance.abs(),
            "k": self.k.clone(),
            "predictor_loss": loss_p,
            "latent_loss": loss_z,
            "ssim": similarity,
        }

    @torch.no_grad()
    def encode(self, images: torch.Tensor, device: torch.device) -> torch.Tensor:
        """``E(x)``, the predictor's latents of real images (fp32, CPU)."""
        chunks = self.map_chunks(lambda x: self.predictor(x.float()).float().cpu(), device, images)
        return torch.cat(chunks) if chunks else torch.empty(0, self.hparams["z_dim"])

    def synthesize(self, req: Request) -> torch.Tensor:
        """``G(clip(E(x) + sigma * e, -1, 1))`` for the real ``x`` of each output, ``e ~ N(0,
        I)`` fresh for each (clipped to the support of the training latents); ``sigma = 0``
        gives ``G(E(x))``."""
        z = self.encode(req.images, req.device)
        noise = torch.randn(len(req.source), self.hparams["z_dim"], generator=req.rng)
        noise *= self.hparams["sigma"]
        return self.generate_chunks(
            lambda z, e: self.net((z + e).clamp(-1, 1)),
            req.device,
            noise,
            source=req.source,
            per_image=[z],
        )
