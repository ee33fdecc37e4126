"""BEGAN (Berthelot, Schumm & Metz, 2017) with a predictor, used to vary real images of unseen
classes.

The discriminator is an autoencoder; its loss on an image is its pixel-wise reconstruction
error ``L(v) = |v - D(v)|^eta`` (the paper's ``eta``: 1, as it used, or 2). The discriminator
minimises ``L(x) - k_t L(G(z))``, the generator ``L(G(z))``, and the equilibrium term ``k_t``
(in ``[0, 1]``, starting at 0) follows ``k_{t+1} = k_t + lambda_k (gamma L(x) - L(G(z)))``,
which keeps ``L(G(z)) ~ gamma L(x)`` (``gamma``: the diversity ratio).
``M_global = L(x) + |gamma L(x) - L(G(z))|`` measures convergence. ``z ~ U(-1, 1)``, as in the
paper.

As the face-attribute project did, a third network, the *predictor*, is trained alongside to
map a real image ``x`` to the generator's latent: it minimises the pixel (L1) plus SSIM loss of
``G(E(x))`` against ``x`` with the generator frozen. Trained once on the source classes, it
encodes real images of classes the model never saw ("transfer" mode); augmenting perturbs the
latent with Gaussian noise and decodes it with the generator, as InfoGAN editing does.

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
from genaug.models.blocks import CodeEncoder, ConvDecoder

DEFAULTS: dict[str, Any] = {
    "z_dim": 16,
    "hidden_dim": 16,
    "base_channels": 32,
    "eta": 1,
    "gamma": 0.5,
    "lambda_k": 0.001,
    "ssim_weight": 1.0,
    "sigma": 0.3,
}
#: torchmetrics' default SSIM window: a Gaussian of sigma 1.5, 11 x 11 pixels; images are
#: reflect-padded by half of it, so their side must exceed 5
SSIM_SIGMA = 1.5
SSIM_PAD = 5


# --------------------------------------------------------------------------- networks
class AutoencoderDiscriminator(nn.Module):
    """BEGAN's discriminator: ``x -> D(x)``, an autoencoder through an ``hidden_dim``-wide
    bottleneck (:class:`CodeEncoder`, then a :class:`ConvDecoder` like the generator's)."""

    def __init__(
        self, image_size: int, hidden_dim: int, channels: int, image_channels: int = 1
    ) -> None:
        super().__init__()
        self.encoder = CodeEncoder(image_size, hidden_dim, channels, image_channels)
        self.decoder = ConvDecoder(image_size, hidden_dim, channels, image_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class Predictor(CodeEncoder):
    """``x -> z`` in ``(-1, 1)`` (a tanh on a :class:`CodeEncoder`): the support of the
    generator's ``U(-1, 1)`` latent."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(super().forward(x))


# --------------------------------------------------------------------------- losses
def autoencoder_loss(image: torch.Tensor, decoded: torch.Tensor, eta: int = 1) -> torch.Tensor:
    """BEGAN's ``L(v) = |v - D(v)|^eta`` (``eta`` 1 or 2), the mean over every pixel (fp32)."""
    return (decoded.float() - image.float()).abs().pow(eta).mean()


def ssim(estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The batch mean of torchmetrics' SSIM (Gaussian 11 x 11 window, images in ``[0, 1]``);
    1- and 3-channel images alike (fp32)."""
    return structural_similarity_index_measure(
        estimate.float(), target.float(), sigma=SSIM_SIGMA, data_range=1.0
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
    (learning rate of ``k_t``), ``ssim_weight`` (of the predictor's SSIM term), ``sigma`` (std
    of the latent perturbation at augmentation). Labels are not used. ``k_t`` is the buffer
    ``k``, so checkpoints carry it."""

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
        negative = [k for k in ("lambda_k", "ssim_weight", "sigma") if hp[k] < 0]
        if negative:
            raise GenaugError(f"began hparams {negative} must be >= 0: fix them in config")
        if self.image_size <= SSIM_PAD:
            raise GenaugError(
                f"began's SSIM needs images larger than {SSIM_PAD} pixels, got "
                f"{self.image_size}: raise dataset.image_size"
            )
        size, c, channels = self.image_size, hp["base_channels"], self.image_channels
        self.net = ConvDecoder(size, hp["z_dim"], c, channels)
        self.discriminator = AutoencoderDiscriminator(size, hp["hidden_dim"], c, channels)
        self.predictor = Predictor(size, hp["z_dim"], c, channels)
        self.register_buffer("k", torch.zeros(()))  # k_t, saved with the weights

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``G(z)``."""
        return self.net(z)

    def configure_optimizers(self, lr: float) -> dict[str, torch.optim.Optimizer]:
        return adams(
            lr,
            (0.5, 0.999),
            generator=self.net,
            discriminator=self.discriminator,
            predictor=self.predictor,
        )

    def training_step(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        """One BEGAN step, then one predictor step: the discriminator on ``L(x) - k_t
        L(G(z))`` (fakes detached), the generator on ``L(G(z))`` through the updated (frozen)
        discriminator, ``k_t`` updated from ``L(x)`` and ``L(G(z))`` of the first (as in the
        paper, where both come from one discriminator), then the predictor on
        :func:`predictor_loss` of ``G(E(x))`` with the generator frozen. Logs the new ``k``."""
        hp = self.hparams
        real = batch.x
        z = self.rand(len(batch.rows), hp["z_dim"]) * 2 - 1
        with self.autocast():
            fake = self.net(z)
            decoded_real = self.discriminator(real)
            decoded_fake = self.discriminator(fake.detach().to(real.dtype))
        loss_real = autoencoder_loss(real, decoded_real, hp["eta"])
        loss_fake = autoencoder_loss(fake.detach(), decoded_fake, hp["eta"])
        loss_d = loss_real - self.k * loss_fake
        self.optimize("discriminator", loss_d)
        # ---- generator, through the updated (frozen) discriminator
        with self.frozen(self.discriminator):
            with self.autocast():
                decoded = self.discriminator(fake)
            loss_g = autoencoder_loss(fake, decoded, hp["eta"])
            self.optimize("generator", loss_g)
        # ---- equilibrium and convergence
        balance = (hp["gamma"] * loss_real - loss_fake).detach()
        self.k.copy_((self.k + hp["lambda_k"] * balance).clamp(0, 1))
        # ---- predictor, through the frozen generator
        with self.frozen(self.net):
            with self.autocast():
                recon = self.net(self.predictor(real))
            loss_p, similarity = predictor_loss(recon, real, hp["ssim_weight"])
            self.optimize("predictor", loss_p)
        return {
            "discriminator_loss": loss_d,
            "generator_loss": loss_g,
            "m_global": loss_real.detach() + balance.abs(),
            "k": self.k.clone(),
            "predictor_loss": loss_p,
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
