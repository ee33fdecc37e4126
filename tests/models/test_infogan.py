"""What is special to InfoGAN: the code and noise heads, and augmenting by re-encoding."""

from __future__ import annotations

import math

import pytest
import torch
from tiny_models import CPU, SIZE, assert_grads_finite, augment, fit, make

from conftest import toy_data
from genaug.errors import GenaugError
from genaug.models.blocks import UpsamplingGenerator
from genaug.models.infogan import InfoDiscriminator, InfoGAN, info_loss
from genaug.models.losses import gan_discriminator_loss, gan_generator_loss, mse

pytestmark = pytest.mark.usefixtures("deterministic_cpu")


def test_small_hparams():
    with pytest.raises(GenaugError, match=r"\['n_continuous'\] must be at least 1"):
        InfoGAN(SIZE, n_continuous=0)


@pytest.mark.parametrize("size", [16, 32])
def test_shapes_and_backward(size):
    torch.manual_seed(0)
    net, disc = UpsamplingGenerator(size, 4 + 3 + 2, 32), InfoDiscriminator(size, 4, 3, 2, 8)
    z, category, codes = torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1]), torch.rand(5, 2)
    fake = net(z, torch.nn.functional.one_hot(category, 3), codes)
    assert fake.shape == (5, 1, size, size) and fake.dtype == torch.float32
    assert 0 <= fake.min() and fake.max() <= 1
    out = disc(fake)
    assert out.logit.shape == (5,) and out.categorical.shape == (5, 3)
    assert out.continuous.shape == (5, 2) and out.noise.shape == (5, 4)
    loss = (
        gan_discriminator_loss(disc(torch.rand(5, 1, size, size)).logit, out.logit)
        + gan_generator_loss(out.logit)
        + info_loss(out.categorical, out.continuous, category, codes)
        + mse(out.noise, z)
    )
    assert loss.shape == () and torch.isfinite(loss)
    loss.backward()
    assert_grads_finite(net, disc)


def test_info_loss_matches_definition():
    logits, category = torch.zeros(4, 5), torch.tensor([0, 1, 2, 3])
    codes = torch.ones(4, 2)
    assert info_loss(logits, torch.zeros(4, 2), category, codes).item() == pytest.approx(
        math.log(5) + 1
    )


def test_discriminator_has_no_batch_norm():
    modules = list(make("infogan").discriminator.modules())
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in modules)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_learns(seed):
    """The code and noise heads learn to read the codes back off generated images: the info
    loss (log 3 + ~1/3 untrained) and the noise loss (~1 untrained) fall within 60 steps.
    (Checked for seeds 0-9 when written: info ratio <= 0.53, noise ratio <= 0.19.)"""
    x, y = toy_data()
    logs = fit(make("infogan", seed=seed), x, y, steps=60, seed=seed, lr=2e-3)
    assert logs[0]["info_loss"] > 1.0
    last = sum(log["info_loss"] for log in logs[-2:]) / 2
    assert last < 0.7 * logs[0]["info_loss"]
    last = sum(log["noise_loss"] for log in logs[-2:]) / 2
    assert last < 0.4 * logs[0]["noise_loss"]


def test_augment_decodes_the_encodings():
    """With no shift, every output of an image is the decode of its encoding."""
    x, y = toy_data(4)
    model = make("infogan")
    fit(model, x, y, steps=3)
    still = make("infogan", vary=0.0)
    still.load_state_dict(model.state_dict())
    tx, ty = x[[0, 1, 2, 4, 5, 8]], y[[0, 1, 2, 4, 5, 8]] + 10
    out = augment(still, tx, ty, n=3)
    for i in range(len(tx)):
        assert torch.equal(out.images[3 * i], out.images[3 * i + 2])
    still.eval()
    z, category, continuous = still.encode(tx, CPU)
    assert z.shape == (6, 4) and continuous.shape == (6, 2)
    assert category.dtype == torch.int64 and 0 <= category.min() and category.max() < 3
    with torch.no_grad():
        decoded = still(z, category, continuous)
    torch.testing.assert_close(out.images[::3], decoded)
