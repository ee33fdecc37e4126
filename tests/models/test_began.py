"""What is special to BEGAN: the equilibrium term k_t, the predictor and its pixel + SSIM loss,
and augmenting by perturbing the predicted latent."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from tiny_models import CPU, SIZE, augment, fit, make
from torchmetrics.functional.image import structural_similarity_index_measure

from conftest import toy_data
from genaug.errors import GenaugError
from genaug.models.base import Resume
from genaug.models.began import BEGAN, autoencoder_loss, predictor_loss, ssim

pytestmark = pytest.mark.usefixtures("deterministic_cpu")


@pytest.mark.parametrize(
    "size, hparams, message",
    [
        (SIZE, {"hidden_dim": 0}, r"\['hidden_dim'\] must be at least 1"),
        (SIZE, {"eta": 3}, r"eta=3 is not 1 or 2"),
        (SIZE, {"gamma": 0.0}, r"gamma=0.0 is not in \(0, 1\]"),
        (SIZE, {"gamma": 1.5}, r"gamma=1.5 is not in \(0, 1\]"),
        (
            SIZE,
            {"sigma": -0.1, "lambda_k": -1, "latent_weight": -1},
            r"\['lambda_k', 'sigma', 'latent_weight'\] must be >= 0",
        ),
        (4, {}, r"SSIM needs images larger than 5 pixels, got 4: raise dataset.image_size"),
    ],
)
def test_bad_hparams(size, hparams, message):
    with pytest.raises(GenaugError, match=message):
        BEGAN(size, **hparams)


def test_k_stays_in_the_unit_interval_and_moves():
    """With a fast ``lambda_k`` the equilibrium term moves at once and is clipped to [0, 1];
    the buffer holds the last logged value; with ``lambda_k = 0`` it stays at 0."""
    x, y = toy_data(4)
    model = make("began", lambda_k=1.0)
    ks = [log["k"] for log in fit(model, x, y, steps=30, lr=2e-3, every=1)]
    assert all(0 <= k <= 1 for k in ks)
    assert len(set(ks)) > 5 and max(ks) > 0.01
    assert model.k.item() == pytest.approx(ks[-1])
    still = make("began", lambda_k=0.0)
    assert {log["k"] for log in fit(still, x, y, steps=5, every=1)} == {0.0}


def test_k_is_in_the_checkpoints(tmp_path):
    x, y = toy_data(4)
    model = make("began", lambda_k=0.1)
    fit(model, x, y, steps=4, resume=Resume(tmp_path / "r.pt", "run", 4))
    assert model.k.item() > 0
    assert torch.equal(torch.load(tmp_path / "r.pt", weights_only=True)["model"]["k"], model.k)
    model.save(tmp_path / "m.pt")
    assert torch.equal(BEGAN.load(tmp_path / "m.pt").k, model.k)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_predictor_reconstruction_improves(seed):
    """The predictor's pixel + SSIM loss of ``G(E(x))`` against real ``x`` falls within 60
    steps while the generator it inverts keeps training (checked for seeds 0-3 when written:
    last/first ratio <= 0.73), and SSIM rises."""
    x, y = toy_data()
    logs = fit(make("began", seed=seed), x, y, steps=60, lr=2e-3, seed=seed)
    assert logs[-1]["predictor_loss"] < 0.8 * logs[0]["predictor_loss"]
    assert logs[-1]["ssim"] > logs[0]["ssim"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_samples_of_different_z_differ(seed):
    """Not collapsed: after 200 steps on the toy data, samples of 32 latents are apart by more
    than 0.12 of the mean pairwise distance of real images (0.16-0.29 for seeds 0-2 when
    written; the first version's shared ReLU / transposed-conv networks: 0.02-0.03, one
    blob)."""
    x, y = toy_data()
    model = make("began", seed=seed)
    fit(model, x, y, steps=200, lr=2e-3, seed=seed)
    z = torch.rand(32, model.hparams["z_dim"], generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        samples = model(z * 2 - 1)
    spread = torch.pdist(samples.flatten(1)).mean() / torch.pdist(x.flatten(1)).mean()
    assert spread > 0.12


def test_augment_perturbs_the_predicted_latent():
    """sigma 0: every output is ``G(E(x))``, whatever the seed; a larger sigma departs
    further from it."""
    x, y = toy_data(4)
    model = make("began")
    fit(model, x, y, steps=20, lr=2e-3)
    tx, ty = x[[0, 4, 8]], y[[0, 4, 8]] + 10
    with torch.no_grad():
        decoded = model(model.encode(tx, CPU))
    departures = []
    for sigma in (0.0, 0.1, 1.0):
        model.hparams["sigma"] = sigma
        out = augment(model, tx, ty, n=4)
        departures.append((out.images - decoded.repeat_interleave(4, 0)).abs().mean().item())
        if sigma == 0:
            assert torch.equal(out.images, augment(model, tx, ty, n=4, seed=9).images)
    assert departures[0] == 0 < departures[1] < departures[2]


@pytest.mark.parametrize("channels", [1, 3])
def test_ssim_term_is_torchmetrics(channels):
    torch.manual_seed(0)
    a = torch.rand(4, channels, 28, 28)
    b = (a + 0.2 * torch.randn(a.shape)).clamp(0, 1)
    expected = structural_similarity_index_measure(b, a, data_range=1.0)
    assert ssim(b, a).item() == pytest.approx(expected.item())
    assert ssim(a, a).item() == pytest.approx(1.0)
    loss, similarity = predictor_loss(b, a, 0.5)
    assert loss.item() == pytest.approx((F.l1_loss(b, a) + 0.5 * (1 - expected)).item())
    assert similarity.item() == pytest.approx(expected.item())


@pytest.mark.parametrize("eta, loss", [(1, F.l1_loss), (2, F.mse_loss)])
def test_autoencoder_loss_is_the_mean_error_to_the_power_eta(eta, loss):
    torch.manual_seed(0)
    a, b = torch.rand(3, 1, 8, 8), torch.rand(3, 1, 8, 8)
    assert autoencoder_loss(a, b, eta).item() == pytest.approx(loss(b, a).item())
