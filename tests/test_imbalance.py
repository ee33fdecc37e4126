"""The imbalance scenario's pieces: splits, top-ups, metrics and the classifier baselines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import TRANSFORM_SETTINGS
from genaug import classify
from genaug.data.imbalance import TopUp, imbalance_split, kept, minority_topup, topup_index
from genaug.errors import GenaugError
from genaug.metrics import auroc, classification_metrics
from genaug.scenarios import OWN_METHODS, Regime, read_split, write_split

SETTINGS = {"steps": 20, "batch_size": 16, "lr": 1e-3, "width": 8}
AUGMENT = {"n_per_image": 2, **TRANSFORM_SETTINGS}


@pytest.fixture(scope="module")
def table(embedded):
    return embedded


def counts(split, which="train"):
    return split[split["split"] == which]["label"].value_counts().sort_index()


def test_one_class_reduced_test_set_whole_and_shared(table):
    made = {f: imbalance_split(table, f, seed=3, n_classes=5) for f in (0.1, 0.5, 1.0)}
    splits = {f: split for f, (split, _) in made.items()}
    full = counts(splits[1.0])
    assert (full == 15).all() and len(full) == 5  # 20 drawings, a quarter held out
    minority = made[0.1][1].minority
    assert minority == full.index[0]  # null = the task's first class
    for fraction, split in splits.items():
        train = counts(split)
        assert train[minority] == kept(fraction, 15)
        assert (train.drop(minority) == 15).all()
        assert (counts(split, "test") == 5).all()
    test_ids = [set(s.loc[s["split"] == "test", "image_id"]) for s in splits.values()]
    assert test_ids[0] == test_ids[1] == test_ids[2]
    small, large = (
        set(splits[f].loc[splits[f]["split"] == "train", "image_id"]) for f in (0.1, 0.5)
    )
    assert small < large  # nested: the 10% set lies inside the 50% set
    assert not small & test_ids[0]


def test_split_is_seeded_and_takes_a_named_minority(table):
    a, _ = imbalance_split(table, 0.2, seed=1, n_classes=4, minority_class=None)
    assert a.equals(imbalance_split(table, 0.2, seed=1, n_classes=4)[0])
    assert not a.equals(imbalance_split(table, 0.2, seed=2, n_classes=4)[0])
    labels = sorted(a["label"].unique())
    b, topup = imbalance_split(table, 0.2, seed=1, n_classes=4, minority_class=int(labels[2]))
    assert topup.minority == labels[2] and counts(b)[labels[2]] == kept(0.2, 15)


def test_official_partition_and_cap(table):
    target = table[table["role"] == "target"].copy()
    target["partition"] = np.where(target["drawing"] <= 4, "test", "train")
    split, _ = imbalance_split(target, 0.5, seed=0, n_classes=3, max_train_per_class=10)
    test = split[split["split"] == "test"].merge(target, on=["image_id", "label"])
    assert (test["drawing"] <= 4).all() and (counts(split, "test") == 5).all()  # 0..4
    train = counts(split)
    assert train.iloc[0] == 5 and (train.iloc[1:] == 10).all()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"fraction": 0.0}, "imbalance.fractions"),
        ({"fraction": 1.5}, "imbalance.fractions"),
        ({"fraction": 0.1, "minority_class": 10**6}, "imbalance.minority_class"),
        ({"fraction": 0.1, "n_classes": 10**6}, "imbalance.n_classes"),
        ({"fraction": 0.1, "test_fraction": 0.99}, "imbalance.test_fraction"),
    ],
)
def test_impossible_requests_are_one_line_errors(table, kwargs, match):
    with pytest.raises(GenaugError, match=match) as err:
        imbalance_split(table, seed=0, **kwargs)
    assert "\n" not in str(err.value)


def test_topup_counts_and_round_robin():
    labels = np.array([0] * 2 + [1] * 10 + [2] * 12)
    assert minority_topup(labels, 0, 1.0) == 9  # to the mean of 10 and 12
    assert minority_topup(labels, 0, 0.5) == 4  # round(5.5) half up = 6, minus 2
    assert minority_topup(labels, 2, 1.0) == 0  # never negative
    copies, index = topup_index(3, 7)
    assert copies == 3 and index.tolist() == [0, 3, 6, 1, 4, 7, 2]  # sources in turn


@pytest.mark.parametrize("ratio, n_needed", [(1.0, 15 - kept(0.2, 15)), (0.1, 0)])
def test_split_decides_the_topup(table, ratio, n_needed):
    """The split plans the top-up (its minority, count and sources in turn), also when the
    minority already has enough images."""
    split, topup = imbalance_split(table, 0.2, seed=0, n_classes=4, ratio=ratio)
    n_min = counts(split)[topup.minority]
    copies, keep = topup_index(n_min, n_needed)
    assert topup == TopUp(topup.minority, ratio, n_needed, copies, tuple(keep.tolist()))
    assert topup.minority == sorted(split["label"].unique())[0]


def test_topup_travels_with_the_split_file(table, tmp_path):
    split, topup = imbalance_split(table, 0.2, seed=0, n_classes=4)
    write_split(split, topup, tmp_path / "split.parquet", meta={"seed": 0})
    rows, again = read_split(tmp_path / "split.parquet")
    pd.testing.assert_frame_equal(rows, split)
    assert again == topup and rows.attrs == {}  # in the file's metadata, not pandas attrs
    write_split(split, None, tmp_path / "none.parquet", meta={"seed": 0})
    assert read_split(tmp_path / "none.parquet")[1] is None


def test_metrics_against_hand_counts():
    truth = np.array([0, 0, 1, 1, 1, 1, 2, 2])
    pred = np.array([0, 1, 1, 1, 1, 0, 2, 0])
    probs = np.eye(3)[pred] * 0.8 + 0.2 / 3
    m = classification_metrics(truth, pred, probs, minority=0)
    assert m["accuracy"] == pytest.approx(5 / 8)
    assert m["balanced_accuracy"] == pytest.approx((1 / 2 + 3 / 4 + 1 / 2) / 3)
    assert m["minority_recall"] == pytest.approx(1 / 2)
    assert m["minority_precision"] == pytest.approx(1 / 3)
    assert m["minority_f1"] == pytest.approx(2 * (1 / 2) * (1 / 3) / (1 / 2 + 1 / 3))
    assert set(classification_metrics(truth, pred, probs)) == {"accuracy", "balanced_accuracy"}


def test_auroc_is_the_rank_statistic():
    assert auroc(np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1])) == 1.0
    assert auroc(np.array([0.9, 0.8, 0.2, 0.1]), np.array([0, 0, 1, 1])) == 0.0
    assert auroc(np.array([0.5, 0.5]), np.array([0, 1])) == 0.5  # ties count half
    assert np.isnan(auroc(np.array([0.5]), np.array([1])))


@pytest.fixture(scope="module")
def task(table, tmp_path_factory):
    """An imbalance split as the classify rule reads it: from its file."""
    path = tmp_path_factory.mktemp("split") / "frac0.2-seed0.parquet"
    write_split(*imbalance_split(table, 0.2, seed=0, n_classes=4), path, meta={"seed": 0})
    return table, *read_split(path)


def run(task, method, synthetic=None):
    table, split, topup = task
    regime = Regime("imbalance", 0.2)
    return classify.run(
        method,
        regime,
        0,
        table,
        split,
        synthetic,
        SETTINGS,
        AUGMENT,
        torch.device("cpu"),
        topup=topup,
    )


def test_baselines_change_the_training_set(task):
    none, over, under = run(task, "none"), run(task, "oversample"), run(task, "undersample")
    n_min = kept(0.2, 15)
    assert none["n_train_real"] == 3 * 15 + n_min and none["n_train_augmented"] == 0
    assert over["n_train_augmented"] == 15 - n_min
    assert under["n_train_real"] == 4 * n_min
    assert run(task, "classical")["n_train_augmented"] == task[2].n_needed == 15 - n_min
    for record in (none, over, under):
        assert record["scenario"] == "imbalance" and record["fraction"] == 0.2
        assert 0 <= record["minority_f1"] <= 1 and 0 <= record["minority_auroc"] <= 1
    weighted = run(task, "weighted")
    assert weighted["final_train_loss"] != none["final_train_loss"]


def test_synthetic_minority_images_join_the_training_set(task):
    table, split, topup = task
    minority = topup.minority
    rows = split[(split["split"] == "train") & (split["label"] == minority)]
    images = table.set_index("image_id").loc[rows["image_id"], "image"].tolist()
    synthetic = pd.DataFrame(
        {"image": images * 5, "label": minority, "checkpoint_sha256": "0" * 64}
    )
    record = run(task, "fake", synthetic)
    assert record["n_train_augmented"] == len(synthetic)
    assert record["provenance"]["checkpoint_sha256"] == ["0" * 64]


@pytest.mark.parametrize("method", sorted(OWN_METHODS))
def test_imbalance_only_methods_refuse_few_shot(task, method):
    table, split, _ = task
    with pytest.raises(GenaugError, match=f"method '{method}' is for the imbalance scenario only"):
        classify.run(method, Regime("fewshot", 1), 0, table, split, None, SETTINGS, AUGMENT, "cpu")


def test_imbalance_run_needs_the_splits_topup(task):
    table, split, _ = task
    with pytest.raises(GenaugError, match="no minority top-up") as err:
        classify.run(
            "none", Regime("imbalance", 0.2), 0, table, split, None, SETTINGS, AUGMENT, "cpu"
        )
    assert "\n" not in str(err.value)
