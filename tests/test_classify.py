"""The classifier protocol: determinism, pairing across methods, metrics."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import TRANSFORM_SETTINGS, toy_inputs
from genaug import classify, io
from genaug.augment import TRANSFORMS, transform_pool
from genaug.data.fewshot import fewshot_split
from genaug.errors import GenaugError
from genaug.scenarios import Regime
from genaug.seeds import derive_seed

K3 = Regime("fewshot", 3)
AUGMENT = {"n_per_image": 2, **TRANSFORM_SETTINGS}
SETTINGS = {"steps": 30, "batch_size": 16, "lr": 1e-3, "width": 8}


@pytest.fixture(scope="module")
def task(embedded):
    target = embedded[embedded["role"] == "target"]["label"].unique()[:5]
    table = embedded[embedded["label"].isin(target)].reset_index(drop=True)
    return table, fewshot_split(table, k=3, k_max=5, seed=2)


def run(task, method, synthetic=None):
    table, split = task
    return classify.run(
        method, K3, 2, table, split, synthetic, SETTINGS, AUGMENT, torch.device("cpu")
    )


def test_metrics_record(task):
    record = run(task, "none")
    assert record["n_classes"] == 5 and record["n_train_real"] == 15 and record["n_test"] == 75
    assert 0.0 <= record["accuracy"] <= 1.0
    per_class = record["per_class_accuracy"]
    assert len(per_class) == 5
    assert record["accuracy"] == pytest.approx(sum(per_class.values()) / 5)  # balanced test set
    assert record["n_train_augmented"] == 0
    prov = record["provenance"]
    assert prov["config_hash"] and prov["code_version"] and prov["seed"] is not None


def test_same_seed_same_numbers(task):
    assert run(task, "classical")["accuracy"] == run(task, "classical")["accuracy"]


def test_generator_pool_is_used_and_recorded(task):
    """A generator's synthetic table becomes the augmented pool, and its checkpoint hash
    goes into the run's provenance."""
    table, split = task
    none = run(task, "none")
    train = split[split["split"] == "train"].merge(table, on=["image_id", "label"])
    copies = pd.DataFrame(
        {"image": train["image"], "label": train["label"], "checkpoint_sha256": "0" * 64}
    )
    augmented = run(task, "fake", synthetic=copies)
    assert augmented["n_train_augmented"] == 15
    assert none["n_train_augmented"] == 0
    assert augmented["provenance"]["checkpoint_sha256"] == ["0" * 64]
    combo = run(task, "fake+classical", synthetic=copies)  # 2 copies per image + 15
    assert combo["n_train_augmented"] == 15 * AUGMENT["n_per_image"] + 15
    assert combo["provenance"]["config"]["transform"] == AUGMENT["classical"]


@pytest.mark.parametrize("method", sorted(TRANSFORMS))
def test_transform_pools_are_seeded_and_varied(method):
    x = torch.rand(4, 1, 28, 28)
    transform = TRANSFORMS[method](TRANSFORM_SETTINGS[method])
    a = transform_pool(x, 3, transform, seed=1)
    assert a.shape == (12, 1, 28, 28) and 0.0 <= a.min() and a.max() <= 1.0
    assert torch.equal(a, transform_pool(x, 3, transform, seed=1))
    assert not torch.equal(a, transform_pool(x, 3, transform, seed=2))
    assert not torch.equal(a[0], a[1])  # each copy has its own random parameters
    assert not torch.equal(a[0], x[0])  # and differs from the real image


def test_erasing_blanks_one_rectangle():
    x = torch.ones(2, 1, 28, 28)
    erased = transform_pool(x, 5, TRANSFORMS["erasing"](TRANSFORM_SETTINGS["erasing"]), seed=0)
    area = (erased == 0).flatten(1).float().mean(1)  # share of the image set to background
    lo, hi = TRANSFORM_SETTINGS["erasing"]["scale"]
    assert ((area >= lo * 0.8) & (area <= hi * 1.2)).all()


def plan(method, **kwargs) -> classify.Plan:
    return classify.strategy(method)(toy_inputs(method, **kwargs))


@pytest.mark.parametrize(
    "method, n_pool", [("none", 0), ("undersample", 0), ("weighted", 0), ("oversample", 6)]
)
def test_each_baseline_plans_its_data(method, n_pool):
    p = plan(method)
    assert p.mix == "union" and (0 if p.pool is None else len(p.pool[0])) == n_pool
    assert (p.class_weights is None) == (method != "weighted")


def test_baseline_plans_change_what_they_should():
    over = plan("oversample", keep=torch.tensor([0, 3, 1]))  # source 0, source 1, source 0
    assert over.pool[0][:, 0, 0, 0].tolist() == pytest.approx([0.0, 0.1, 0.0])
    assert over.pool[1].tolist() == [0, 0, 0]
    assert over.pool_source.tolist() == [0, 1, 0]  # the training rows the copies came from
    under = plan("undersample")
    assert torch.bincount(under.train[1]).tolist() == [2, 2, 2]
    weights = plan("weighted").class_weights
    assert weights.tolist() == pytest.approx([10 / (3 * 2), 10 / (3 * 4), 10 / (3 * 4)])
    assert torch.equal(plan("none").train[1], toy_inputs("none").train[1])  # all real images


@pytest.mark.parametrize("method", sorted(TRANSFORMS))
def test_transform_plans_copy_the_sources_and_keep_the_topup(method):
    full, kept = plan(method), plan(method, keep=torch.tensor([0, 3, 1, 4]))
    assert full.pool[0].shape == (6, 1, 28, 28) and full.pool[1].tolist() == [0] * 6
    assert torch.equal(kept.pool[0], full.pool[0][[0, 3, 1, 4]])


def test_generators_plan_their_synthetic_pool():
    png = io.encode_png(np.zeros((8, 8), np.uint8))
    sources = pd.array(["img3", "img3", None, "img9", "unknown"], dtype="string")
    synthetic = pd.DataFrame(
        {"image": [png] * 5, "label": [0, 0, 1, 2, 2], "source_image_id": sources}
    )
    p = plan("dagan", synthetic=synthetic)
    assert p.pool[1].tolist() == [0, 0, 1, 2, 2] and len(p.train[0]) == 10
    assert p.pool_source.tolist() == [3, 3, -1, 9, -1]  # rows of train; -1: none of them
    with pytest.raises(GenaugError, match="needs a generator's synthetic images"):
        plan("dagan")


def synthetic_table(n: int) -> pd.DataFrame:
    """``n`` synthetic 28 x 28 images of class 0, image j made from training image j % 2."""
    pngs = [io.encode_png(np.full((28, 28), 50 + 20 * j, np.uint8)) for j in range(n)]
    ids = pd.array([f"img{j % 2}" for j in range(n)], dtype="string")
    return pd.DataFrame({"image": pngs, "label": [0] * n, "source_image_id": ids})


@pytest.mark.parametrize("keep", [None, torch.tensor([0, 3, 1, 4, 5])])
def test_combo_pool_is_the_transforms_own_plus_transformed_synthetic(keep):
    """dagan+classical: the classical plan's transformed copies (the same images), and each
    synthetic image transformed once; in imbalance the top-up keeps its size, half of each."""
    n = 6 if keep is None else len(keep)
    combo = plan("dagan+classical", keep=keep, synthetic=synthetic_table(n))
    alone = plan("classical", keep=keep)
    generator = plan("dagan", keep=keep, synthetic=synthetic_table(n))
    transform = TRANSFORMS["classical"](TRANSFORM_SETTINGS["classical"])
    made = transform_pool(generator.pool[0], 1, transform, derive_seed(0, "combo-synthetic"))
    assert not torch.equal(made, generator.pool[0])  # the synthetic images are transformed
    if keep is None:  # few-shot: both in full
        expect = [(alone.pool[0], alone.pool_source), (made, generator.pool_source)]
    else:  # the copies' even slots (3 of 5), the synthetic images' odd ones (2 of 5)
        expect = [(alone.pool[0][0::2], alone.pool_source[0::2])]
        expect.append((made[1::2], generator.pool_source[1::2]))
    assert torch.equal(combo.pool[0], torch.cat([x for x, _ in expect]))
    assert combo.pool_source.tolist() == torch.cat([s for _, s in expect]).tolist()
    assert len(combo.pool[0]) == (12 if keep is None else 5) and combo.pool[1].eq(0).all()
    assert combo.mix == alone.mix and torch.equal(combo.train[0], alone.train[0])
    again = plan("dagan+classical", keep=keep, synthetic=synthetic_table(n))
    assert torch.equal(again.pool[0], combo.pool[0])  # deterministic


@pytest.mark.parametrize(
    "method, weighted",
    [("none", False), ("classical", False), ("none", True), ("mixup", False), ("neuralaug", False)],
)
@pytest.mark.parametrize("arch", ["conv4", "densenet"])
def test_stacked_seeds_match_one_seed_at_a_time(task, embedded, method, weighted, arch):
    """Training a job's seeds as one stacked network gives each seed the losses and test
    predictions it gets alone, up to float rounding: losses and probabilities within 1e-4
    after three steps (a Conv-4 alone runs channels-last and the stacked seeds' batched
    convolutions do not, so they round differently: up to 4e-5 apart in a loss). Longer runs
    drift apart as rounding differences grow: Adam's first updates are about lr x
    sign(gradient), so a weight whose gradient is near zero turns a rounding difference into
    one of order lr (mixup on the DenseNet, seed 1, is 3e-5 apart in its 4th loss)."""
    table, _ = task
    settings = {**SETTINGS, "steps": 3, "arch": arch}
    cpu = torch.device("cpu")
    runs = []
    for seed in (0, 1, 2):
        split = fewshot_split(table, k=3, k_max=5, seed=seed)
        r = classify.prepare(method, K3, seed, table, split, None, settings, AUGMENT)
        if weighted:
            plan = dataclasses.replace(r.plan, class_weights=torch.rand(5) + 0.5)
            r = dataclasses.replace(r, plan=plan)
        runs.append(r)
    stacked = classify.train_stacked(
        [r.plan for r in runs], 5, settings, [r.seed for r in runs], cpu
    )
    for r, (model, losses) in zip(runs, stacked, strict=True):
        alone, alone_losses = classify.train_classifier(r.plan, 5, settings, r.seed, cpu)
        assert losses == pytest.approx(alone_losses, abs=1e-4)
        torch.testing.assert_close(
            classify.predict(model, r.test[0], cpu),
            classify.predict(alone, r.test[0], cpu),
            atol=1e-4,
            rtol=0,
        )


def test_run_seeds_stacks_where_configured(task):
    table, split = task
    runs = [classify.prepare("none", K3, s, table, split, None, SETTINGS, AUGMENT) for s in (0, 1)]
    cpu = torch.device("cpu")
    assert not any(r["stacked_seeds"] for r in classify.run_seeds(runs, SETTINGS, cpu))
    on = {**SETTINGS, "stack_seeds": True}
    assert all(r["stacked_seeds"] for r in classify.run_seeds(runs, on, cpu))
    assert classify.stacks(SETTINGS, torch.device("cuda"), 2, False)  # auto: on a GPU
    assert not classify.stacks(on, cpu, 2, compile=True)
    assert not classify.stacks(on, cpu, 1, compile=False)
