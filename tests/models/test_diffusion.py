"""What is special to the diffusion generators (the contract test covers the rest: losses that
fall, same seed same bits, checkpoints, resuming): classifier-free guidance, SDEdit's
strength, the EMA weights, padding to the U-Net's sizes, repeated sampling."""

from __future__ import annotations

import pytest
import torch
from tiny_models import SIZE, augment, fit, make

from conftest import toy_data
from genaug.errors import GenaugError


@pytest.fixture(scope="module")
def trained():
    """A tiny diffusion and sdedit model, each fit for 60 steps on the toy data."""
    x, y = toy_data(8)
    models = {}
    for name in ("diffusion", "sdedit"):
        models[name] = make(name)
        fit(models[name], x, y, steps=60, lr=2e-3)
    return models, x, y


@pytest.mark.parametrize("name", ["diffusion", "sdedit"])
def test_sampling_twice_with_one_seed_gives_the_same_images(trained, name):
    """The samplers' state (timesteps set per call) does not carry over between calls."""
    models, x, y = trained
    first = augment(models[name], x[:6], y[:6], seed=3).images
    assert torch.equal(first, augment(models[name], x[:6], y[:6], seed=3).images)
    assert not torch.equal(first, augment(models[name], x[:6], y[:6], seed=4).images)


def test_guidance_changes_the_samples(trained):
    models, x, y = trained
    model = models["diffusion"]
    samples = {}
    for w in (0.0, 2.0):
        model.hparams["guidance"] = w
        samples[w] = augment(model, x[:6], y[:6]).images
    model.hparams["guidance"] = 1.0
    assert (samples[0.0] - samples[2.0]).abs().mean() > 1e-3


def test_sdedit_departs_further_from_the_image_at_higher_strength(trained):
    models, x, y = trained
    model = models["sdedit"]
    distance = []
    for strength in (0.0, 0.25, 0.5, 1.0):
        model.hparams["strength"] = strength
        out = augment(model, x, y, n=1)
        assert out.source_index.tolist() == list(range(len(x)))
        distance.append((out.images - x).abs().mean().item())
    model.hparams["strength"] = 0.5
    assert distance[0] < 1e-6  # strength 0: the real image itself
    assert distance == sorted(distance) and distance[-1] > distance[1] + 0.02


@pytest.mark.parametrize("name", ["diffusion", "sdedit"])
def test_samples_come_from_the_ema_weights(trained, name):
    """After training the EMA differs from the raw weights; changing the raw U-Net leaves the
    samples as they are, changing the EMA's changes them."""
    models, x, y = trained
    model = models[name]
    raw, ema = model.unet.state_dict(), model.ema.module.state_dict()
    assert raw.keys() == ema.keys() and not all(torch.equal(raw[k], ema[k]) for k in raw)
    before = augment(model, x[:6], y[:6]).images
    saved = {k: v.clone() for k, v in raw.items()}
    with torch.no_grad():
        for p in model.unet.parameters():
            p.add_(1.0)
    assert torch.equal(before, augment(model, x[:6], y[:6]).images)
    saved_ema = {k: v.clone() for k, v in ema.items()}
    model.ema.module.load_state_dict(saved)
    assert not torch.equal(before, augment(model, x[:6], y[:6]).images)
    model.unet.load_state_dict(saved)
    model.ema.module.load_state_dict(saved_ema)


def test_min_snr_weights_count_the_nearly_clean_timesteps_less():
    t = torch.tensor([0, 100, 500, 999])
    assert make("sdedit", min_snr_gamma=0).loss_weights(t).tolist() == [1, 1, 1, 1]
    weights = make("sdedit", min_snr_gamma=5).loss_weights(t)
    assert weights[0] < 1e-3 and weights[1] < 0.2 and weights[2:].tolist() == [1, 1]


def test_class_embeddings_keep_the_null_class_first():
    model = make("diffusion")
    assert model.unet.class_embedding.num_embeddings == model.n_classes + 1
    assert model.class_input(torch.tensor([0, 2])).tolist() == [1, 3]


def test_sides_the_unet_cannot_halve_are_padded():
    """Four levels halve 20 px three times: the model pads to 24 and crops back."""
    x, y = toy_data(2, size=20)
    model = make("diffusion", size=20, levels=4)
    assert model.canvas == 24
    fit(model, x, y, steps=2, every=1)
    assert augment(model, x, y).images.shape == (12, 1, 20, 20)


@pytest.mark.parametrize(
    "name, hparams, message",
    [
        ("sdedit", {"strength": 1.5}, r"strength=1.5 is outside \[0, 1\]"),
        ("diffusion", {"guidance": -1}, r"guidance=-1.0 is outside \[0, inf\]"),
        ("diffusion", {"sample_steps": 0}, r"sample_steps=0 is outside \[1, 1000\]"),
    ],
)
def test_bad_hparams_are_one_line(name, hparams, message):
    with pytest.raises(GenaugError, match=message + ": fix it in config"):
        make(name, SIZE, **hparams)
