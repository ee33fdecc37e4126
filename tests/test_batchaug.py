"""The batch-level baselines (mixup, cutmix) and neural augmentation: soft targets, mixing,
the augmenter's training, determinism, their plans and their bad-input lines. (Stacked seeds
against one seed at a time: test_classify.py; bad config blocks: test_augment.py.)"""

from __future__ import annotations

import pytest
import torch

from conftest import TRANSFORM_SETTINGS, toy_inputs
from genaug import classify
from genaug.augment import MIXERS, BatchMixer
from genaug.errors import GenaugError
from genaug.models.classifier import ConvNet
from genaug.models.neuralaug import NeuralAugment

CPU = torch.device("cpu")
SETTINGS = {"steps": 6, "batch_size": 8, "lr": 1e-3, "width": 8}


def batch(n: int = 8, channels: int = 1, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n, channels, 28, 28, generator=gen)
    return x, torch.arange(n) % 4, torch.ones(n, 1)


@pytest.mark.parametrize("name", sorted(MIXERS))
def test_mixers_give_soft_targets_and_images_between_their_sources(name):
    x, y, flag = batch()
    state = torch.get_rng_state()
    mixed, target = BatchMixer(name, 1.0, 4).start(seed=3, device=CPU)(x, y, flag)
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG is left alone
    assert mixed.shape == x.shape and target.shape == (8, 4)
    torch.testing.assert_close(target.sum(1), torch.ones(8))
    partner = x.roll(1, 0)  # v2 mixes each image with the previous one of the batch
    assert (mixed >= torch.minimum(x, partner) - 1e-6).all()
    assert (mixed <= torch.maximum(x, partner) + 1e-6).all()
    assert not torch.equal(mixed, x)
    # each target puts the two sources' labels in the same proportion, lam and 1 - lam
    lam = target[torch.arange(8), y]
    torch.testing.assert_close(target[torch.arange(8), y.roll(1, 0)], 1 - lam)


@pytest.mark.parametrize("name", sorted(MIXERS))
def test_mixer_runs_are_one_stream_per_seed(name):
    x, y, flag = batch()
    mixer = BatchMixer(name, 1.0, 4)
    a, b, c = (mixer.start(seed, CPU) for seed in (1, 1, 2))
    first = [a(x, y, flag)[1] for _ in range(3)]
    assert all(torch.equal(t, b(x, y, flag)[1]) for t in first)
    assert not torch.equal(first[0], first[1])  # each call draws afresh
    assert not torch.equal(first[0], c(x, y, flag)[1])


@pytest.mark.parametrize("channels", [1, 3])
def test_neuralaug_trains_its_augmenter_and_keeps_images_in_range(channels):
    x, y, flag = batch(channels=channels)
    flag[:2] = 0  # real images (imbalance: a union batch) pass through untouched
    spec = NeuralAugment(TRANSFORM_SETTINGS["neuralaug"], (x, y), n_classes=4)
    run = spec.start(seed=0, device=CPU)
    before = [p.detach().clone() for p in run.net.parameters()]
    out, target = run(x, y, flag)
    assert out.shape == x.shape and 0.0 <= out.min() and out.max() <= 1.0
    assert torch.equal(out[:2], x[:2]) and not torch.equal(out[2:], x[2:])
    assert torch.equal(target, y)  # hard labels: the augmenter keeps the class
    classifier = ConvNet(4, width=8, in_channels=channels)
    loss = torch.nn.functional.cross_entropy(classifier(out), target)
    (loss + run.extra_loss()).backward()
    run.step()
    assert all(not torch.equal(a, b) for a, b in zip(before, run.net.parameters(), strict=True))
    assert run.extra_loss() is None  # until the next batch


@pytest.mark.parametrize("method", ["mixup", "cutmix", "neuralaug"])
def test_runs_are_deterministic_and_differ_from_none(method):
    def losses(method):
        plan = classify.STRATEGIES[method](toy_inputs(mix="alternate"))
        return classify.train_classifier(plan, 3, SETTINGS, 0, CPU)[1]

    mine = losses(method)
    assert mine == losses(method)
    assert mine != losses("none")


@pytest.mark.parametrize("mix", ["alternate", "union"])
def test_batch_plans_fit_the_protocol(mix):
    """mixup and cutmix mix the real training set every other step in both scenarios (no
    top-up); neuralaug remakes the oversample plan's pool images, in the scenario's mix."""
    for name in MIXERS:
        p = classify.STRATEGIES[name](toy_inputs(mix=mix))
        assert p.mix == "alternate" and torch.equal(p.pool[0], p.train[0])
        assert isinstance(p.batch_augment, BatchMixer) and p.class_weights is None
    neural, over = (
        classify.STRATEGIES[m](toy_inputs(mix=mix)) for m in ("neuralaug", "oversample")
    )
    assert neural.mix == mix and torch.equal(neural.pool[0], over.pool[0])
    assert torch.equal(neural.pool_source, over.pool_source)


def test_union_batches_remake_only_the_pool_images():
    """Imbalance: real images of a union batch are unchanged; every top-up slot is remade."""
    plan = classify.STRATEGIES["neuralaug"](toy_inputs(mix="union"))
    batches = classify.Batches(plan, 8, seed=0, device=CPU)
    real = set(plan.train[0][:, 0, 0, 0].tolist())
    for step in range(6):
        x, y, flag = batches.draw(step)
        pixel = x[:, 0, 0, 0].tolist()
        for value, f, label in zip(pixel, flag.flatten().tolist(), y.tolist(), strict=True):
            assert (value in real) == (f == 0)
            assert f == 0 or label == 0  # the pool holds the minority's images
        batches.step()


def test_class_weights_with_a_batch_augmentation_are_refused():
    plan = classify.STRATEGIES["mixup"](toy_inputs(mix="union"))
    with pytest.raises(GenaugError, match="class weights and a batch augmentation"):
        classify.Plan(plan.train, plan.pool, plan.mix, torch.ones(3), None, plan.batch_augment)
    with pytest.raises(GenaugError, match="set augment.neuralaug.content to one of"):
        NeuralAugment({**TRANSFORM_SETTINGS["neuralaug"], "content": "l2"}, batch()[:2], 4)
