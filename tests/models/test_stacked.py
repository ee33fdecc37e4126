"""Stacked seeds: S networks trained as one give what each gives alone, to float tolerance."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from genaug.models.classifier import make_classifier
from genaug.models.stacked import StackedModels

SEEDS, BATCH, CLASSES, SIZE = 3, 8, 5, 28


def build(arch: str) -> list[torch.nn.Module]:
    models = []
    for seed in range(SEEDS):
        torch.manual_seed(seed)
        models.append(make_classifier(arch, CLASSES, SIZE, 8))
    return models


def batches(steps: int):
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        x = torch.rand(SEEDS, BATCH, 1, SIZE, SIZE, generator=g)
        y = torch.randint(CLASSES, (SEEDS, BATCH), generator=g)
        flag = torch.randint(2, (SEEDS, BATCH, 1), generator=g).float()
        yield x, y, flag


@pytest.mark.parametrize("arch", ["conv4", "densenet"])
def test_stacked_training_matches_one_seed_at_a_time(arch):
    steps = 1 if arch == "densenet" else 3  # small-batch BN in a DenseNet amplifies rounding
    alone = build(arch)
    for s, model in enumerate(alone):
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for x, y, flag in batches(steps):
            loss = F.cross_entropy(model(x[s], is_synthetic=flag[s]), y[s])
            opt.zero_grad()
            loss.backward()
            opt.step()
    stacked = StackedModels(build(arch))
    opt = torch.optim.SGD(stacked.parameters(), lr=0.1)
    for x, y, flag in batches(steps):
        logits = stacked(x, flag)
        assert logits.shape == (SEEDS, BATCH, CLASSES)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none")
        loss = loss.view(SEEDS, BATCH).mean(1).sum()  # each seed's own mean: disjoint gradients
        opt.zero_grad()
        loss.backward()
        opt.step()
    x = torch.rand(4, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    for a, b in zip(alone, stacked.unstack(), strict=True):
        a.eval()
        b.eval()
        torch.testing.assert_close(a.state_dict(), b.state_dict(), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(a(x), b(x), rtol=1e-4, atol=1e-5)


def test_seeds_stay_apart():
    """Changing one seed's batch changes only that seed's output."""
    stacked = StackedModels(build("conv4")).eval()
    x, _, flag = next(batches(1))
    before = stacked(x, flag)
    x[1] = 0
    after = stacked(x, flag)
    assert torch.equal(before[0], after[0]) and torch.equal(before[2], after[2])
    assert not torch.equal(before[1], after[1])
