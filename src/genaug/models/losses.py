"""The losses several generators share. All are computed in fp32 (their inputs are cast):
call them outside autocast. Discriminator outputs are logits."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


# --------------------------------------------------------------------------- reconstruction
def reconstruction_bce(recon: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``BCE(recon, x)`` summed over pixels, averaged over the batch (per image)."""
    return F.binary_cross_entropy(recon.float(), x.float(), reduction="sum") / x.shape[0]


def mse(estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error over every element."""
    return F.mse_loss(estimate.float(), target.float())


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, exp(logvar)) || N(0, I))`` summed over dimensions, averaged over the batch."""
    mu, logvar = mu.float(), logvar.float()
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / mu.shape[0]


# --------------------------------------------------------------------------- GAN (BCE)
def gan_discriminator_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """BCE with real samples labelled 1 and fakes 0, the two batch means summed (as
    ``errD_real + errD_fake`` in ``pytorch/examples/dcgan``)."""
    d_real, d_fake = d_real.float(), d_fake.float()
    return F.binary_cross_entropy_with_logits(
        d_real, torch.ones_like(d_real)
    ) + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))


def gan_generator_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss ``-log D(G(z))``: BCE of the fakes against the
    "real" label."""
    d_fake = d_fake.float()
    return F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))


# --------------------------------------------------------------------------- WGAN-GP
def wgan_critic_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """Wasserstein critic loss without the penalty: ``D(fake) - D(real)``."""
    return d_fake.float().mean() - d_real.float().mean()


def wgan_generator_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """``-D(G(z))``."""
    return -d_fake.float().mean()


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    alpha: torch.Tensor | None = None,
) -> torch.Tensor:
    """WGAN-GP penalty ``E[(||grad_y critic(y)||_2 - 1)^2]`` (Gulrajani et al., 2017) at ``y``
    on the lines between ``real`` and ``fake`` (``alpha`` ~ U(0, 1) per sample; uniform draws
    with the global RNG if not given); ``critic`` must run in fp32."""
    if alpha is None:
        alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
    alpha = alpha.to(real.device, torch.float32)
    mixed = (alpha * real.float() + (1 - alpha) * fake.float()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()
