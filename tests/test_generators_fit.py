"""The "fit" generator families added beside the cVAE: the adversarial autoencoder (AAE) and
the conditional DCGAN (CGAN).

Mirrors ``test_models.py`` and reuses its helpers (toy data, fit/augment wrappers, the
one-thread deterministic fixture). Tiny sizes (16x16 images, widths of 8) keep the file well
under 30 s on one CPU core.
"""

from __future__ import annotations

import math

import pytest
import torch
from test_models import (  # noqa: F401 (deterministic_cpu: autouse fixture, used by name)
    SIZE,
    augment,
    deterministic_cpu,
    fit,
    make,
    nearest_sq_dist,
    toy_data,
)

from genaug.errors import GenaugError
from genaug.models import GENERATORS
from genaug.models.aae import AAE, LatentDiscriminator, adversarial_loss, reconstruction_loss
from genaug.models.aae import discriminator_loss as aae_discriminator_loss
from genaug.models.cgan import (
    CGAN,
    CondDiscriminator,
    CondGenerator,
    discriminator_loss,
    generator_loss,
)


def assert_grads_finite(*modules: torch.nn.Module) -> None:
    for module in modules:
        for name, p in module.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), name


# --------------------------------------------------------------------------- both
def test_defaults_are_recorded_in_hparams():
    assert AAE.name == "aae" and AAE.mode == "fit"
    assert CGAN.name == "cgan" and CGAN.mode == "fit"
    assert AAE(28, 5).hparams == {"latent_dim": 8, "hidden_channels": 32, "adv_weight": 1.0}
    assert CGAN(28, 5).hparams == {"z_dim": 32, "base_channels": 32}
    # config values are coerced to the defaults' types
    assert AAE(28, 5, adv_weight=2, latent_dim="4").hparams["adv_weight"] == 2.0


@pytest.mark.parametrize("name", ["aae", "cgan"])
def test_bad_hparams_sizes_and_labels(name):
    cls = GENERATORS[name]
    with pytest.raises(GenaugError, match=f"unknown {name} hparams \\['z_size'\\]"):
        cls(SIZE, 3, z_size=3)
    with pytest.raises(GenaugError, match="divisible by 4"):
        cls(30, 3)
    with pytest.raises(GenaugError, match="n_classes > 0"):
        cls(SIZE)
    model = make(name)
    x, y = toy_data(2)
    with pytest.raises(GenaugError, match=f"{name} labels must lie in 0..2, got 0..3"):
        fit(model, x, torch.cat([y[:-1], torch.tensor([3])]), steps=1)
    with pytest.raises(GenaugError, match="labels must lie"):
        augment(model, x[:2], torch.tensor([-1, 0]))


@pytest.mark.parametrize("name", ["aae", "cgan"])
def test_augment(name):
    x, y = toy_data(4)
    model = make(name)
    fit(model, x, y, steps=2, every=1)
    assert not model.training  # fit leaves the model in eval mode
    model.train()
    out = augment(model, x[:5], y[:5], n=3)
    assert out.images.shape == (15, 1, SIZE, SIZE) and out.images.dtype == torch.float32
    assert out.images.device.type == "cpu"
    assert 0 <= out.images.min() and out.images.max() <= 1
    assert out.labels.dtype == torch.int64 and out.source_index.dtype == torch.int64
    assert out.labels.tolist() == [int(y[i]) for i in range(5) for _ in range(3)]
    assert out.source_index.tolist() == [-1] * 15  # per-class samples, not tied to an image
    assert not torch.equal(out.images[0], out.images[1])  # fresh noise for each output
    assert model.training  # the mode is restored
    empty = augment(model, x[:0], y[:0], n=3)
    assert empty.images.shape == (0, 1, SIZE, SIZE) and len(empty.labels) == 0


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
        reconstruction_loss(recon, x),
        aae_discriminator_loss(d_prior, d_encoded),
        adversarial_loss(d_encoded),
    ]
    assert all(loss.shape == () and torch.isfinite(loss) for loss in losses)
    sum(losses).backward()
    assert_grads_finite(model)


def test_aae_losses_match_definition():
    recon, x = torch.full((2, 1, 4, 4), 0.5), torch.ones(2, 1, 4, 4)
    assert reconstruction_loss(recon, x).item() == pytest.approx(16 * math.log(2), rel=1e-6)
    zero = torch.zeros(5)
    assert aae_discriminator_loss(zero, zero).item() == pytest.approx(2 * math.log(2))
    assert adversarial_loss(zero).item() == pytest.approx(math.log(2))
    big = torch.full((5,), 20.0)  # a confident discriminator: prior -> 1, codes -> 0
    assert aae_discriminator_loss(big, -big).item() < 1e-6
    assert adversarial_loss(-big).item() == pytest.approx(20.0, rel=1e-6)
    assert LatentDiscriminator(3, 8)(torch.randn(6, 3)).shape == (6,)


def test_aae_learns():
    """Reconstruction falls, and prior samples decoded with a label lie much closer to the
    real images of that class than the untrained decoder's do. (Checked for seeds 0-9 when
    written: reconstruction ratio <= 0.69, distance ratio <= 0.59.)"""
    x, y = toy_data()
    model = make("aae")
    before = augment(model, x, y, 1)
    logs = fit(model, x, y, steps=60, lr=3e-3)
    after = augment(model, x, y, 1)
    assert [log["step"] for log in logs] == list(range(5, 61, 5))
    for log in logs:
        assert set(log) == {"step", "reconstruction", "discriminator_loss", "adversarial_loss"}
        assert all(math.isfinite(v) for v in log.values())
    first = sum(log["reconstruction"] for log in logs[:3]) / 3
    last = sum(log["reconstruction"] for log in logs[-3:]) / 3
    assert last < 0.8 * first
    d_before, _ = nearest_sq_dist(before.images, before.labels, x, y)
    d_after, _ = nearest_sq_dist(after.images, after.labels, x, y)
    assert d_after < 0.75 * d_before


# --------------------------------------------------------------------------- CGAN
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
    loss_d, loss_g = discriminator_loss(d_real, d_fake), generator_loss(d_fake)
    assert loss_d.shape == loss_g.shape == () and torch.isfinite(loss_d + loss_g)
    (loss_d + loss_g).backward()
    assert_grads_finite(net, disc)


def test_cgan_discriminator_sees_the_label():
    torch.manual_seed(0)
    disc = CondDiscriminator(SIZE, 3, 8).eval()
    x = torch.rand(2, 1, SIZE, SIZE)
    assert not torch.equal(disc(x, torch.tensor([0, 0])), disc(x, torch.tensor([1, 1])))


def test_cgan_losses_match_definition():
    zero = torch.zeros(5)
    assert discriminator_loss(zero, zero).item() == pytest.approx(2 * math.log(2))
    assert generator_loss(zero).item() == pytest.approx(math.log(2))
    big = torch.full((5,), 20.0)
    assert discriminator_loss(big, -big).item() < 1e-6
    # non-saturating: a confident discriminator still gives the generator a large loss
    assert generator_loss(-big).item() == pytest.approx(20.0, rel=1e-6)


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
        assert [log["step"] for log in logs] == list(range(5, 61, 5))
        for log in logs:
            assert set(log) == {"step", "discriminator_loss", "generator_loss", "d_real", "d_fake"}
            assert all(math.isfinite(v) for v in log.values())
            assert 0 <= log["d_fake"] <= 1 and 0 <= log["d_real"] <= 1
        d_before, _ = nearest_sq_dist(before.images, before.labels, x, y)
        d_after, _ = nearest_sq_dist(after.images, after.labels, x, y)
        assert d_after < 0.6 * d_before, seed
        assert d_after < 0.95 * d_blank, seed
