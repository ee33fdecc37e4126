"""What is special to latent-space augmentation: neighbours and the three latent moves."""

from __future__ import annotations

import pytest
import torch
from tiny_models import CPU, SIZE, assert_grads_finite, augment, fit, make, rng

from conftest import toy_data
from genaug.errors import GenaugError
from genaug.models.latent import LatentAugment, nearest_same_class
from genaug.models.losses import reconstruction_bce

pytestmark = pytest.mark.usefixtures("deterministic_cpu")


def target_set():
    """Images of classes the model never saw: three of one class, two of another and ONE
    (k=1) of a third, with labels outside the source range."""
    x, y = toy_data(4, seed=7)
    rows = torch.tensor([0, 1, 2, 4, 5, 8])
    return x[rows], y[rows] + 10


def test_bad_hparams():
    with pytest.raises(GenaugError, match=r"unknown latent operation 'mixup'.*`operation`"):
        LatentAugment(SIZE, operation="mixup")
    with pytest.raises(GenaugError, match="`neighbours` must be at least 1"):
        LatentAugment(SIZE, neighbours=0)


@pytest.mark.parametrize("size", [16, 32])
def test_shapes_and_backward(size):
    model = make("latent", size)
    x = torch.rand(5, 1, size, size)
    recon, code = model(x)
    assert recon.shape == x.shape and recon.dtype == torch.float32 and code.shape == (5, 4)
    assert 0 <= recon.min() and recon.max() <= 1
    loss = reconstruction_bce(recon, x)
    assert loss.shape == () and torch.isfinite(loss)
    loss.backward()
    assert_grads_finite(model)


def test_fit_records_the_source_spread():
    """The source codes' spread is recorded for `noise` on a single image."""
    x, y = toy_data()
    model = make("latent")
    fit(model, x, y, steps=3)
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
    source = torch.arange(6).repeat_interleave(n)
    moved = model.move(codes, labels, source, rng=rng(0))
    assert moved.shape == (6 * n, 2)
    return codes, moved.view(6, n, 2)


def test_extrapolate_moves_away_from_the_nearest_neighbour():
    codes, moved = moved_codes("extrapolate", lam=0.5)
    # nearest same-class neighbours: 0 <-> 1, 2 -> 1, 3 <-> 4
    for i, nb in [(0, 1), (1, 0), (2, 1), (3, 4), (4, 3)]:
        expected = codes[i] + 0.5 * (codes[i] - codes[nb])
        torch.testing.assert_close(moved[i], expected.expand(50, 2))
    # class of one: noise around the code instead
    assert not torch.equal(moved[5, 0], moved[5, 1])
    assert (moved[5] - codes[5]).abs().mean() < 5


def test_interpolate_fills_the_segment():
    codes, moved = moved_codes("interpolate")
    lam = (moved[0] - codes[0])[:, 0] / (codes[1] - codes[0])[0]
    torch.testing.assert_close(moved[0, :, 1], torch.zeros(50))  # on the segment
    assert 0 <= lam.min() < 0.2 and 0.8 < lam.max() <= 1  # lam ~ U(0, 1), fresh per output
    assert not torch.equal(moved[5, 0], moved[5, 1])  # class of one: noise


def test_noise_scales_with_the_codes_spread():
    codes, moved = moved_codes("noise", n=2000, sigma=0.5)
    spread = (moved - codes[:, None]).flatten(0, 1).std(0)
    torch.testing.assert_close(spread, 0.5 * codes.std(0), rtol=0.05, atol=0)


@pytest.mark.parametrize("operation", ["noise", "interpolate", "extrapolate"])
def test_augment(operation):
    x, y = toy_data(4)
    model = make("latent", operation=operation)
    fit(model, x, y, steps=3)
    tx, ty = target_set()
    out = augment(model, tx, ty, n=3)
    assert out.images.shape == (18, 1, SIZE, SIZE)
    assert out.source_index.tolist() == [i for i in range(6) for _ in range(3)]
    assert out.labels.tolist() == [int(ty[i]) for i in range(6) for _ in range(3)]
    # the class of one (last row) is augmented too, with distinct outputs (noise fallback)
    assert not torch.equal(out.images[-1], out.images[-2])
    # a single image falls back to the source codes' spread
    single = augment(model, tx[:1], ty[:1], n=2)
    assert single.images.shape == (2, 1, SIZE, SIZE) and single.labels.tolist() == [10, 10]
    assert not torch.equal(single.images[0], single.images[1])
