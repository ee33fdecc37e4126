"""Few-shot splits: deterministic, per-class, nested across k, fixed test set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genaug.data.fewshot import fewshot_split
from genaug.errors import GenaugError
from genaug.io import read_parquet

EMBEDDED = Path(__file__).resolve().parents[1] / "data" / "omniglot_small.parquet"


def make_table(n_source: int = 3, n_target: int = 6, drawings: int = 20) -> pd.DataFrame:
    """A canonical-like table without images: target labels interleave with source labels."""
    rows = []
    for label in range(n_source + n_target):
        role = "target" if label % 2 == 1 or label >= 2 * n_source else "source"
        for d in range(drawings):
            rows.append({"image_id": f"A/character{label:02d}/{d:02d}", "label": label,
                         "role": role, "drawing": d})  # fmt: skip
    return pd.DataFrame(rows)


def train_ids(split: pd.DataFrame) -> dict[int, set[str]]:
    train = split[split["split"] == "train"]
    return {int(c): set(g["image_id"]) for c, g in train.groupby("label")}


def test_deterministic_and_seeded():
    table = make_table()
    a = fewshot_split(table, k=3, k_max=5, seed=7)
    pd.testing.assert_frame_equal(a, fewshot_split(table, k=3, k_max=5, seed=7))
    assert list(a.columns) == ["image_id", "label", "split"]
    assert not a.equals(fewshot_split(table, k=3, k_max=5, seed=8))


def test_disjoint_covering_and_k_per_class():
    table = make_table()
    target = table[table["role"] == "target"]
    for k in (1, 3, 5):
        split = fewshot_split(table, k=k, k_max=5, seed=0)
        assert split["image_id"].is_unique  # train and test are disjoint
        assert set(split["label"]) == set(target["label"])
        assert set(split["image_id"]) <= set(target["image_id"])
        counts = split.groupby(["label", "split"]).size().unstack()
        assert (counts["train"] == k).all() and (counts["test"] == 20 - 5).all()
        if k == 5:  # k = k_max: train + test cover the class
            assert set(split["image_id"]) == set(target["image_id"])


def test_test_set_fixed_and_train_nested_across_k():
    table = make_table()
    splits = {k: fewshot_split(table, k=k, k_max=5, seed=3) for k in (1, 3, 5)}
    tests = [set(s.loc[s["split"] == "test", "image_id"]) for s in splits.values()]
    assert tests[0] == tests[1] == tests[2]
    for c, ids in train_ids(splits[1]).items():
        assert ids <= train_ids(splits[3])[c] <= train_ids(splits[5])[c]


def test_class_split_independent_of_other_classes():
    table = make_table()
    full = fewshot_split(table, k=2, k_max=5, seed=1)
    first = fewshot_split(table, k=2, k_max=5, seed=1, n_classes=2)
    labels = sorted(table.loc[table["role"] == "target", "label"].unique())[:2]
    assert sorted(first["label"].unique()) == labels
    pd.testing.assert_frame_equal(first, full[full["label"].isin(labels)].reset_index(drop=True))
    alone = fewshot_split(table[table["label"] == labels[1]], k=2, k_max=5, seed=1)
    assert alone.equals(full[full["label"] == labels[1]].reset_index(drop=True))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"k": 0, "k_max": 5}, "below 1.*fewshot.shots"),
        ({"k": 6, "k_max": 5}, "exceeds k_max.*fewshot.shots"),
        ({"k": 1, "k_max": 20}, "20 drawings.*fewshot.shots"),
        ({"k": 1, "k_max": 25}, "no test image.*fewshot.shots"),
        ({"k": 1, "k_max": 5, "n_classes": 99}, "fewshot.n_classes"),
    ],
)
def test_errors(kwargs, match):
    with pytest.raises(GenaugError, match=match) as err:
        fewshot_split(make_table(), seed=0, **kwargs)
    assert "\n" not in str(err.value)


def test_no_target_rows():
    table = make_table()
    with pytest.raises(GenaugError, match="no role=='target' rows"):
        fewshot_split(table[table["role"] == "source"], k=1, k_max=5, seed=0)


def test_redrawn_classes_depend_on_the_seed_only():
    table = make_table(n_target=12)
    first = [fewshot_split(table, 1, 3, seed, n_classes=4) for seed in (0, 1)]
    assert set(first[0]["label"]) == set(first[1]["label"])  # the first four, every seed
    drawn = [fewshot_split(table, 1, 3, seed, 4, redraw_classes=True) for seed in range(6)]
    assert all(d["label"].nunique() == 4 for d in drawn)
    assert len({frozenset(d["label"]) for d in drawn}) > 1  # the class split varies
    again = fewshot_split(table, 2, 3, 0, 4, redraw_classes=True)  # another k, same seed
    assert set(again["label"]) == set(drawn[0]["label"])
    same_test = again[again["split"] == "test"]["image_id"].tolist()
    assert same_test == drawn[0][drawn[0]["split"] == "test"]["image_id"].tolist()


def test_embedded_table():
    table = read_parquet(EMBEDDED)
    split = fewshot_split(table, k=5, k_max=5, seed=0)
    assert split["label"].nunique() == 47 and len(split) == 47 * 20
    assert (split.groupby("label")["split"].apply(lambda s: (s == "train").sum()) == 5).all()
    assert np.isin(split["image_id"], table.loc[table["role"] == "target", "image_id"]).all()
