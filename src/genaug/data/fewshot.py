"""Few-shot train/test splits of the target classes.

For each target class, a permutation of its drawings is drawn from an RNG seeded with
``[seed, label]`` alone, so one class's split does not depend on which other classes are in
the table. The first ``n_c - k_max`` drawings of the permutation are the test set (the same
for every ``k`` of a replicate) and the next ``k`` are the training set (so training sets are
nested: the 1-shot set is inside the 5-shot set, and so on).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from genaug.errors import GenaugError
from genaug.seeds import derive_seed

SPLIT_COLUMNS = ["image_id", "label", "split"]


def fewshot_split(
    table: pd.DataFrame,
    k: int,
    k_max: int,
    seed: int,
    n_classes: int | None = None,
    redraw_classes: bool = False,
) -> pd.DataFrame:
    """Split the ``role == "target"`` rows of ``table`` into ``k``-shot train and test sets.

    Args:
        table: the canonical table (needs ``image_id``, ``label``, ``role``; Omniglot's
            ``drawing`` orders a class's images before the permutation).
        k: training images per class.
        k_max: the largest ``k`` of the experiment; fixes the test set size to
            ``n_c - k_max`` per class, whatever ``k`` is.
        seed: replicate seed.
        n_classes: keep only ``n_classes`` target classes: the first ones in label order,
            or, with ``redraw_classes``, a random draw that depends on ``seed`` (few-shot
            gains are known to swing with the class split, so replicates can vary it too).
        redraw_classes: draw the ``n_classes`` classes per seed instead of taking the first.

    Returns:
        A table with columns ``image_id``, ``label`` (the table's label) and ``split``
        (``"train"`` or ``"test"``), grouped by class.
    """
    k, k_max = int(k), int(k_max)
    if k < 1:
        raise GenaugError(f"few-shot k={k} is below 1: set every fewshot.shots entry to >= 1")
    if k > k_max:
        raise GenaugError(
            f"few-shot k={k} exceeds k_max={k_max}: k_max must be the largest of fewshot.shots"
        )
    labels, target = task_classes(table, seed, n_classes, redraw_classes, "fewshot")
    order = [c for c in ("drawing", "image_id") if c in target.columns]  # Omniglot has drawings
    parts = []
    for label in labels:
        rows = target[target["label"] == label].sort_values(order)
        n_c = len(rows)
        if n_c <= k_max:
            raise GenaugError(
                f"class {int(label)} has {n_c} drawings, not more than k_max={k_max}, so no "
                f"test image would remain: lower the largest value in fewshot.shots below {n_c}"
            )
        perm = np.random.default_rng([int(seed), int(label)]).permutation(n_c)
        n_test = n_c - k_max
        ids = rows["image_id"].to_numpy()
        parts.append(
            pd.DataFrame(
                {
                    "image_id": np.concatenate(
                        [ids[perm[:n_test]], ids[perm[n_test : n_test + k]]]
                    ),
                    "label": np.int64(label),
                    "split": ["test"] * n_test + ["train"] * k,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)[SPLIT_COLUMNS]


def task_classes(
    table: pd.DataFrame, seed: int, n_classes: int | None, redraw: bool, section: str
) -> tuple[np.ndarray, pd.DataFrame]:
    """The task's labels (sorted) and the ``role == "target"`` rows of ``table``.

    ``n_classes`` keeps that many target classes: the first ones in label order, or, with
    ``redraw``, a draw that depends on ``seed`` (gains are known to swing with the class split,
    so replicates can vary it too). ``section`` names the config block in error messages.
    """
    target = table[table["role"] == "target"]
    if target.empty:
        raise GenaugError(
            "the table has no role=='target' rows to split: choose a dataset with target "
            "classes (dataset.name, datasets.omniglot_full.n_target_characters >= 1)"
        )
    labels = np.sort(target["label"].unique())
    if n_classes is None:
        return labels, target
    if not 1 <= n_classes <= len(labels):
        raise GenaugError(
            f"n_classes={n_classes} is outside 1..{len(labels)} (the number of target "
            f"classes): set {section}.n_classes within that range or to null"
        )
    if redraw:
        rng = np.random.default_rng(derive_seed(seed, "target-classes"))
        return np.sort(rng.choice(labels, size=n_classes, replace=False)), target
    return labels[:n_classes], target
