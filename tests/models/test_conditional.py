"""What the class-conditional generators (cVAE, AAE, cGAN) share: they need the class count,
take only class indices, and sample per class; and what is special to each of them."""

from __future__ import annotations

import math

import pytest
import torch
from tiny_models import SIZE, assert_grads_finite, augment, fit, make, nearest_sq_dist

from conftest import toy_data
from genaug.errors import GenaugError
from genaug.models import get_generator
from genaug.models.aae import LatentDiscriminator
from genaug.models.cgan import CondDiscriminator, CondGenerator
from genaug.models.cvae import loss_function
from genaug.models.losses import gan_discriminator_loss, gan_generator_loss, reconstruction_bce

pytestmark = pytest.mark.usefixtures("deterministic_cpu")
CONDITIONAL = ["aae", "cgan", "cvae"]


@pytest.mark.parametrize("name", CONDITIONAL)
def test_classes_and_labels(name):
    cls = get_generator(name)
    assert cls.modes == ("fit", "finetune") and not cls.from_source
    with pytest.raises(GenaugError, match="n_classes > 0"):
        cls(SIZE)
    model = make(name)
    x, y = toy_data(2)
    with pytest.raises(GenaugError, match=f"{name} labels must lie in 0..2, got 0..3"):
        fit(model, x, torch.cat([y[:-1], torch.tensor([3])]), steps=1)
    with pytest.raises(GenaugError, match="labels must lie"):
        augment(model, x[:2], torch.tensor([-1, 0]))


# --------------------------------------------------------------------------- cVAE
@pytest.mark.parametrize("size", [16, 28, 32, 64])
def test_cvae_shapes_and_backward(size):
    model = make("cvae", size)
    x, y = torch.rand(4, 1, size, size), torch.tensor([0, 1, 2, 0])
    recon, mu, logvar = model(x, y, torch.randn(4, 4))
    assert recon.shape == x.shape and mu.shape == logvar.shape == (4, 4)
    assert 0 <= recon.min() and recon.max() <= 1
    loss, bce, kl = loss_function(recon, x, mu, logvar, beta=1.0)
    assert torch.allclose(loss, bce + kl) and kl >= 0
    loss.backward()
    assert_grads_finite(model)


def test_cvae_loss_function_matches_definition():
    recon, x = torch.full((2, 1, 4, 4), 0.5), torch.ones(2, 1, 4, 4)
    mu, logvar = torch.zeros(2, 3), torch.zeros(2, 3)
    loss, bce, kl = loss_function(recon, x, mu, logvar, beta=2.0)
    assert bce.item() == pytest.approx(16 * math.log(2), rel=1e-6)  # per image, not per pixel
    assert kl.item() == 0
    mu = torch.ones(2, 3)
    loss, bce, kl = loss_function(recon, x, mu, logvar, beta=2.0)
    assert kl.item() == pytest.approx(1.5) and loss.item() == pytest.approx(bce.item() + 3.0)


def test_cvae_logs_the_elbo_terms():
    x, y = toy_data()
    for log in fit(make("cvae"), x, y, steps=10, lr=3e-3):
        assert log["loss"] == pytest.approx(log["reconstruction"] + log["kl"], rel=1e-5)


# --------------------------------------------------------------------------- AAE
@pytest.mark.parametrize("size", [16, 32])
def test_aae_shapes_and_backward(size):
    model = make("aae", size)
    x, y = torch.rand(4, 1, size, size), torch.tensor([0, 1, 2, 0])
    recon, z = model(x, y)
    assert recon.shape == x.shape and z.shape == (4, 4)
    assert 0 <= recon.min() and recon.max() <= 1
    d_prior, d_encoded = model.discriminator(torch.randn(4, 4)), model.discriminator(z)
    assert d_prior.shape == d_encoded.shape == (4,)
    losses = [
        reconstruction_bce(recon, x),
        gan_discriminator_loss(d_prior, d_encoded),
        gan_generator_loss(d_encoded),
    ]
    assert all(loss.shape == () and torch.isfinite(loss) for loss in losses)
    sum(losses).backward()
    assert_grads_finite(model)
    assert LatentDiscriminator(3, 8)(torch.randn(6, 3)).shape == (6,)


def test_aae_learns():
    """Prior samples decoded with a label lie much closer to the real images of that class
    than the untrained decoder's do. (Checked for seeds 0-9 when written: reconstruction ratio
    <= 0.69, distance ratio <= 0.59.)"""
    x, y = toy_data()
    model = make("aae")
    before = augment(model, x, y, 1)
    fit(model, x, y, steps=60, lr=3e-3)
    after = augment(model, x, y, 1)
    d_before, _ = nearest_sq_dist(before.images, before.labels, x, y)
    d_after, _ = nearest_sq_dist(after.images, after.labels, x, y)
    assert d_after < 0.75 * d_before


# --------------------------------------------------------------------------- cGAN
@pytest.mark.parametrize("size", [16, 32])
def test_cgan_shapes_and_backward(size):
    torch.manual_seed(0)
    net, disc = CondGenerator(size, 3, 8, 8), CondDiscriminator(size, 3, 8)
    y = torch.tensor([0, 1, 2, 0])
    fake = net(torch.randn(4, 8), y)
    assert fake.shape == (4, 1, size, size)
    assert 0 <= fake.min() and fake.max() <= 1
    d_real, d_fake = disc(torch.rand(4, 1, size, size), y), disc(fake, y)
    assert d_real.shape == d_fake.shape == (4,)
    loss_d, loss_g = gan_discriminator_loss(d_real, d_fake), gan_generator_loss(d_fake)
    assert loss_d.shape == loss_g.shape == () and torch.isfinite(loss_d + loss_g)
    (loss_d + loss_g).backward()
    assert_grads_finite(net, disc)


def test_cgan_discriminator_sees_the_label():
    torch.manual_seed(0)
    disc = CondDiscriminator(SIZE, 3, 8).eval()
    x = torch.rand(2, 1, SIZE, SIZE)
    assert not torch.equal(disc(x, torch.tensor([0, 0])), disc(x, torch.tensor([1, 1])))


def test_cgan_learns():
    """For three seeds, generated images lie much closer to real images of their class than
    the untrained generator's do, and closer than a blank image does (so the generator draws
    ink where the data has it, not just a dark background). (Checked for seeds 0-9 when
    written: distance ratio to the untrained generator <= 0.40, to the blank image <= 0.84.)"""
    x, y = toy_data()
    d_blank, _ = nearest_sq_dist(torch.zeros_like(x), y, x, y)
    for seed in range(3):
        model = make("cgan", seed=seed)
        before = augment(model, x, y, 1, seed=seed)
        logs = fit(model, x, y, steps=60, seed=seed, lr=2e-3)
        after = augment(model, x, y, 1, seed=seed)
        assert all(0 <= log["d_fake"] <= 1 and 0 <= log["d_real"] <= 1 for log in logs)
        d_before, _ = nearest_sq_dist(before.images, before.labels, x, y)
        d_after, _ = nearest_sq_dist(after.images, after.labels, x, y)
        assert d_after < 0.6 * d_before, seed
        assert d_after < 0.95 * d_blank, seed
