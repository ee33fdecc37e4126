"""The transfer-mode families InfoGAN and latent-space augmentation (DeVries & Taylor).

Mirrors ``test_models.py`` and shares its helpers and its deterministic one-thread fixture.
Tiny sizes (16x16 images, widths of 8) keep the whole file within seconds.
"""

from __future__ import annotations

import math

import pytest
import torch
from test_models import CPU, SIZE, augment, deterministic_cpu, fit, make, toy_data  # noqa: F401

from genaug.errors import GenaugError
from genaug.models.infogan import (
    InfoDiscriminator,
    InfoGAN,
    InfoGenerator,
    discriminator_loss,
    generator_loss,
    info_loss,
    noise_loss,
)
from genaug.models.latent import LatentAugment, nearest_same_class, reconstruction_loss


def target_set():
    """Images of classes the models never saw: three of one class, two of another and ONE
    (k=1) of a third, with labels outside the source range."""
    x, y = toy_data(4, seed=7)
    rows = torch.tensor([0, 1, 2, 4, 5, 8])
    return x[rows], y[rows] + 10


def check_synthetic(out, x, y, n):
    assert out.images.shape == (len(x) * n, 1, SIZE, SIZE) and out.images.dtype == torch.float32
    assert out.images.device.type == "cpu"
    assert 0 <= out.images.min() and out.images.max() <= 1
    assert out.labels.dtype == torch.int64 and out.source_index.dtype == torch.int64
    assert out.source_index.tolist() == [i for i in range(len(x)) for _ in range(n)]
    assert out.labels.tolist() == [int(y[i]) for i in range(len(x)) for _ in range(n)]


# --------------------------------------------------------------------------- both
def test_names_modes_and_defaults():
    assert InfoGAN.name == "infogan" and InfoGAN.mode == "transfer"
    assert LatentAugment.name == "latent" and LatentAugment.mode == "transfer"
    assert InfoGAN(28).hparams == {
        "z_dim": 16,
        "n_categories": 10,
        "n_continuous": 2,
        "base_channels": 32,
        "info_weight": 1.0,
        "noise_weight": 1.0,
        "vary": 1.0,
    }
    assert LatentAugment(28).hparams == {
        "latent_dim": 32,
        "hidden_channels": 32,
        "operation": "extrapolate",
        "lam": 0.5,
        "sigma": 0.5,
        "neighbours": 3,
    }


def test_bad_hparams_and_sizes():
    with pytest.raises(GenaugError, match=r"unknown infogan hparams \['z_size'\]"):
        InfoGAN(SIZE, z_size=3)
    with pytest.raises(GenaugError, match=r"unknown latent hparams \['gamma'\]"):
        LatentAugment(SIZE, gamma=0.1)
    with pytest.raises(GenaugError, match="divisible by 4"):
        InfoGAN(30)
    with pytest.raises(GenaugError, match="divisible by 4"):
        LatentAugment(30)
    with pytest.raises(GenaugError, match=r"unknown latent operation 'mixup'.*`operation`"):
        LatentAugment(SIZE, operation="mixup")
    with pytest.raises(GenaugError, match="`neighbours` must be at least 1"):
        LatentAugment(SIZE, neighbours=0)
    with pytest.raises(GenaugError, match=r"\['n_continuous'\] must be at least 1"):
        InfoGAN(SIZE, n_continuous=0)


# --------------------------------------------------------------------------- InfoGAN
@pytest.mark.parametrize("size", [16, 32])
def test_infogan_shapes_and_backward(size):
    torch.manual_seed(0)
    net, disc = InfoGenerator(size, 4, 3, 2, 8), InfoDiscriminator(size, 4, 3, 2, 8)
    z, category, codes = torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1]), torch.rand(5, 2)
    fake = net(z, torch.nn.functional.one_hot(category, 3), codes)
    assert fake.shape == (5, 1, size, size) and fake.dtype == torch.float32
    assert 0 <= fake.min() and fake.max() <= 1
    out = disc(fake)
    assert out.logit.shape == (5,) and out.categorical.shape == (5, 3)
    assert out.continuous.shape == (5, 2) and out.noise.shape == (5, 4)
    loss = (
        discriminator_loss(disc(torch.rand(5, 1, size, size)).logit, out.logit)
        + generator_loss(out.logit)
        + info_loss(out.categorical, out.continuous, category, codes)
        + noise_loss(out.noise, z)
    )
    assert loss.shape == () and torch.isfinite(loss)
    loss.backward()
    for module in (net, disc):
        for name, p in module.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_infogan_losses_match_definition():
    zero = torch.zeros(4)
    assert discriminator_loss(zero, zero).item() == pytest.approx(2 * math.log(2))
    assert generator_loss(zero).item() == pytest.approx(math.log(2))
    assert generator_loss(torch.full((4,), 20.0)).item() == pytest.approx(0, abs=1e-8)
    logits, category = torch.zeros(4, 5), torch.tensor([0, 1, 2, 3])
    codes = torch.ones(4, 2)
    assert info_loss(logits, torch.zeros(4, 2), category, codes).item() == pytest.approx(
        math.log(5) + 1
    )
    assert noise_loss(torch.ones(3, 4), torch.zeros(3, 4)).item() == pytest.approx(1)


def test_infogan_discriminator_has_no_batch_norm():
    modules = list(make("infogan").discriminator.modules())
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in modules)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_infogan_learns(seed):
    """The code and noise heads learn to read the codes back off generated images: the info
    loss (log 3 + ~1/3 untrained) and the noise loss (~1 untrained) fall within 60 steps.
    (Checked for seeds 0-9 when written: info ratio <= 0.53, noise ratio <= 0.19.)"""
    x, y = toy_data()
    model = make("infogan", seed=seed)
    logs = fit(model, x, y, steps=60, seed=seed, lr=2e-3)
    assert [log["step"] for log in logs] == list(range(5, 61, 5))
    for log in logs:
        assert set(log) == {
            "step",
            "discriminator_loss",
            "generator_loss",
            "info_loss",
            "noise_loss",
        }
        assert all(math.isfinite(v) for v in log.values())
    assert logs[0]["info_loss"] > 1.0
    last = sum(log["info_loss"] for log in logs[-2:]) / 2
    assert last < 0.7 * logs[0]["info_loss"]
    last = sum(log["noise_loss"] for log in logs[-2:]) / 2
    assert last < 0.4 * logs[0]["noise_loss"]
    assert not model.training  # left in eval mode


def test_infogan_augment():
    x, y = toy_data(4)
    model = make("infogan")
    fit(model, x, y, steps=3)
    model.train()
    tx, ty = target_set()
    out = augment(model, tx, ty, n=3)
    check_synthetic(out, tx, ty, 3)
    assert not torch.equal(out.images[0], out.images[1])  # fresh shifts for each output
    assert model.training  # the mode is restored

    # with no shift, every output of an image is the decode of its encoding
    still = make("infogan", vary=0.0)
    still.load_state_dict(model.state_dict())
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


# --------------------------------------------------------------------------- latent
@pytest.mark.parametrize("size", [16, 32])
def test_latent_shapes_and_backward(size):
    model = make("latent", size)
    x = torch.rand(5, 1, size, size)
    recon, code = model(x)
    assert recon.shape == x.shape and recon.dtype == torch.float32 and code.shape == (5, 4)
    assert 0 <= recon.min() and recon.max() <= 1
    loss = reconstruction_loss(recon, x)
    assert loss.shape == () and torch.isfinite(loss)
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_latent_loss_matches_definition():
    recon, x = torch.full((2, 1, 4, 4), 0.5), torch.ones(2, 1, 4, 4)
    assert reconstruction_loss(recon, x).item() == pytest.approx(16 * math.log(2), rel=1e-6)


def test_latent_learns():
    """(Checked for seeds 0-9 when written: reconstruction ratio <= 0.62.)"""
    x, y = toy_data()
    model = make("latent")
    logs = fit(model, x, y, steps=60, lr=3e-3)
    assert len(logs) == 12 and logs[-1]["step"] == 60
    for log in logs:
        assert set(log) == {"step", "reconstruction"}
        assert math.isfinite(log["reconstruction"])
    first = sum(log["reconstruction"] for log in logs[:3]) / 3
    last = sum(log["reconstruction"] for log in logs[-3:]) / 3
    assert last < 0.8 * first
    assert not model.training
    # the source codes' spread is recorded for `noise` on a single image
    torch.testing.assert_close(model.source_std, model.encode(x, CPU).std(0))


def test_nearest_same_class():
    codes = torch.tensor([[0.0], [1.0], [3.0], [10.0], [0.5], [7.0]])
    labels = torch.tensor([0, 0, 0, 1, 0, 1])
    nearest, count = nearest_same_class(codes, labels, neighbours=2)
    assert count.tolist() == [2, 2, 2, 1, 2, 1]
    assert nearest[0].tolist() == [4, 1] and nearest[2].tolist() == [1, 4]
    assert nearest[3, 0].item() == 5 and nearest[5, 0].item() == 3
    nearest, count = nearest_same_class(codes, labels, neighbours=10)
    assert count.tolist() == [3, 3, 3, 1, 3, 1] and nearest.shape == (6, 5)
    assert set(nearest[1, :3].tolist()) == {0, 2, 4}


def moved_codes(operation: str, n: int = 50, **hparams):
    """Codes of the target layout (classes of 3, 2 and 1 rows) moved by ``operation``."""
    model = make("latent", operation=operation, neighbours=1, **hparams)
    codes = torch.tensor([[0.0, 0], [1, 0], [3, 0], [10, 10], [10, 12], [-5, 4]])
    labels = torch.tensor([0, 0, 0, 1, 1, 2])
    moved, source = model.move(codes, labels, n, generator=torch.Generator().manual_seed(0))
    assert moved.shape == (6 * n, 2) and source.tolist() == [i for i in range(6) for _ in range(n)]
    return codes, moved.view(6, n, 2)


def test_latent_extrapolate_moves_away_from_the_nearest_neighbour():
    codes, moved = moved_codes("extrapolate", lam=0.5)
    # nearest same-class neighbours: 0 <-> 1, 2 -> 1, 3 <-> 4
    for i, nb in [(0, 1), (1, 0), (2, 1), (3, 4), (4, 3)]:
        expected = codes[i] + 0.5 * (codes[i] - codes[nb])
        torch.testing.assert_close(moved[i], expected.expand(50, 2))
    # class of one: noise around the code instead
    assert not torch.equal(moved[5, 0], moved[5, 1])
    assert (moved[5] - codes[5]).abs().mean() < 5


def test_latent_interpolate_fills_the_segment():
    codes, moved = moved_codes("interpolate")
    lam = (moved[0] - codes[0])[:, 0] / (codes[1] - codes[0])[0]
    torch.testing.assert_close(moved[0, :, 1], torch.zeros(50))  # on the segment
    assert 0 <= lam.min() < 0.2 and 0.8 < lam.max() <= 1  # lam ~ U(0, 1), fresh per output
    assert not torch.equal(moved[5, 0], moved[5, 1])  # class of one: noise


def test_latent_noise_scales_with_the_codes_spread():
    codes, moved = moved_codes("noise", n=2000, sigma=0.5)
    spread = (moved - codes[:, None]).flatten(0, 1).std(0)
    torch.testing.assert_close(spread, 0.5 * codes.std(0), rtol=0.05, atol=0)


@pytest.mark.parametrize("operation", ["noise", "interpolate", "extrapolate"])
def test_latent_augment(operation):
    x, y = toy_data(4)
    model = make("latent", operation=operation)
    fit(model, x, y, steps=3)
    model.train()
    tx, ty = target_set()
    out = augment(model, tx, ty, n=3)
    check_synthetic(out, tx, ty, 3)
    assert model.training  # the mode is restored
    # the class of one (last row) is augmented too, with distinct outputs (noise fallback)
    assert not torch.equal(out.images[-1], out.images[-2])
    # a single image falls back to the source codes' spread
    single = augment(model, tx[:1], ty[:1], n=2)
    check_synthetic(single, tx[:1], ty[:1], 2)
    assert not torch.equal(single.images[0], single.images[1])
