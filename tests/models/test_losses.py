"""The shared losses (genaug.models.losses) against their definitions."""

from __future__ import annotations

import math

import pytest
import torch

from genaug.models import losses


def test_reconstruction_bce_is_summed_per_image():
    recon, x = torch.full((2, 1, 4, 4), 0.5), torch.ones(2, 1, 4, 4)
    assert losses.reconstruction_bce(recon, x).item() == pytest.approx(16 * math.log(2), rel=1e-6)


def test_mse_and_gaussian_kl():
    assert losses.mse(torch.ones(3, 4), torch.zeros(3, 4)).item() == pytest.approx(1)
    assert losses.gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 3)).item() == 0
    # 0.5 * mu^2 summed over 3 dimensions, averaged over the batch
    assert losses.gaussian_kl(torch.ones(2, 3), torch.zeros(2, 3)).item() == pytest.approx(1.5)


def test_gan_losses_take_logits():
    zero = torch.zeros(5)
    assert losses.gan_discriminator_loss(zero, zero).item() == pytest.approx(2 * math.log(2))
    assert losses.gan_generator_loss(zero).item() == pytest.approx(math.log(2))
    big = torch.full((5,), 20.0)  # a confident discriminator: real -> 1, fakes -> 0
    assert losses.gan_discriminator_loss(big, -big).item() < 1e-6
    # non-saturating: a confident discriminator still gives the generator a large loss
    assert losses.gan_generator_loss(-big).item() == pytest.approx(20.0, rel=1e-6)
    assert losses.gan_generator_loss(big).item() == pytest.approx(0, abs=1e-8)


def test_wgan_losses():
    d_real, d_fake = torch.tensor([1.0, 3.0]), torch.tensor([0.0, 2.0])
    assert losses.wgan_critic_loss(d_real, d_fake).item() == -1
    assert losses.wgan_generator_loss(d_real).item() == -2


def test_gradient_penalty_of_a_linear_critic():
    """A linear critic has the gradient ``w`` everywhere: the penalty is ``(||w|| - 1)^2``,
    wherever ``alpha`` puts the mixed images."""
    w = torch.full((1, 1, 2, 2), 1.5)
    real, fake = torch.rand(3, 1, 2, 2), torch.rand(3, 1, 2, 2)
    for alpha in (None, torch.rand(3, 1, 1, 1)):
        gp = losses.gradient_penalty(lambda y: (w * y).flatten(1).sum(1), real, fake, alpha)
        assert gp.item() == pytest.approx((3.0 - 1) ** 2)
