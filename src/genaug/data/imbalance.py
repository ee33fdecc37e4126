"""Class-imbalance splits: one class's training images kept at a fraction, the rest whole.

For each class of the task, a permutation of its images is drawn from an RNG seeded with
``[seed, label]`` alone. Datasets with an official test partition (a ``partition`` column, as
CelebA has) keep it as the test set; otherwise the first ``round(test_fraction * n_c)`` images
of the permutation are the test set, the same for every fraction of a replicate, balanced as
the dataset comes. The minority class keeps the first ``round(fraction * n_train)`` (at least
one) of its training images, so a smaller fraction's set lies inside a larger one's.

The split also decides the minority's top-up (:class:`TopUp`): how many images each
augmenter adds and from which real images; it is stored with the split, and generation and
the classifier read it from there.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from genaug.data.fewshot import SPLIT_COLUMNS, task_classes
from genaug.errors import GenaugError


def kept(fraction: float, n: int) -> int:
    """Images kept out of ``n`` at ``fraction``: rounded half up, at least one."""
    return max(1, math.floor(fraction * n + 0.5))


def minority_label(labels: np.ndarray, minority_class: int | None) -> int:
    """The task's minority class: ``minority_class`` if given, else its first class."""
    if minority_class is None:
        return int(labels[0])
    if minority_class not in set(labels.tolist()):
        raise GenaugError(
            f"imbalance.minority_class={minority_class} is not a class of the task (classes "
            f"{labels.tolist()[:10]}{' ...' if len(labels) > 10 else ''}): set it to one of them "
            "or to null for the first"
        )
    return int(minority_class)


def imbalance_split(
    table: pd.DataFrame,
    fraction: float,
    seed: int,
    minority_class: int | None = None,
    n_classes: int | None = None,
    test_fraction: float = 0.25,
    max_train_per_class: int | None = None,
    redraw_classes: bool = False,
    ratio: float = 1.0,
) -> tuple[pd.DataFrame, TopUp]:
    """Train/test split of the ``role == "target"`` rows with one class reduced, and the
    minority's top-up.

    Args:
        table: the canonical table (``image_id``, ``label``, ``role``; ``partition`` optional).
        fraction: share of the minority class's training images kept, in (0, 1].
        seed: replicate seed.
        minority_class: the reduced class (a label of the table; None = the task's first).
        n_classes: classes in the task (None = all target classes), chosen as in few-shot.
        test_fraction: share of each class held out for testing when the table has no
            ``partition`` column.
        max_train_per_class: cap on each class's training images before the minority is
            reduced (None = no cap), to keep large datasets affordable.
        redraw_classes: with ``n_classes``, draw the classes per seed.
        ratio: augmenters top the minority class up to ``ratio`` x the mean size of the
            other classes (``imbalance.ratio``).

    Returns:
        ``image_id``, ``label``, ``split`` rows, grouped by class, and the :class:`TopUp`
        (which names the minority label).
    """
    fraction = float(fraction)
    if not 0.0 < fraction <= 1.0:
        raise GenaugError(
            f"imbalance fraction {fraction} is outside (0, 1]: set every imbalance.fractions "
            "entry to a share of the minority class's training images, e.g. 0.1"
        )
    labels, target = task_classes(table, seed, n_classes, redraw_classes, "imbalance")
    minority = minority_label(labels, minority_class)
    official = "partition" in target.columns
    parts = []
    for label in labels:
        rows = target[target["label"] == label].sort_values("image_id")
        ids = rows["image_id"].to_numpy()
        perm = np.random.default_rng([int(seed), int(label)]).permutation(len(ids))
        if official:
            part = rows["partition"].to_numpy()[perm]
            test, train = ids[perm][part == "test"], ids[perm][part == "train"]
        else:
            n_test = math.floor(test_fraction * len(ids) + 0.5)
            test, train = ids[perm[:n_test]], ids[perm[n_test:]]
        if max_train_per_class is not None:
            train = train[:max_train_per_class]
        if len(test) == 0 or len(train) == 0:
            raise GenaugError(
                f"class {int(label)} has {len(ids)} images, too few for both a test and a "
                "training image: raise imbalance.test_fraction towards 0.5, or choose classes "
                "with more images"
            )
        if label == minority:
            train = train[: kept(fraction, len(train))]
        parts.append(
            pd.DataFrame(
                {
                    "image_id": np.concatenate([test, train]),
                    "label": np.int64(label),
                    "split": ["test"] * len(test) + ["train"] * len(train),
                }
            )
        )
    split = pd.concat(parts, ignore_index=True)[SPLIT_COLUMNS]
    return split, TopUp.plan(split, minority, ratio)


def minority_topup(train_labels, minority: int, ratio: float) -> int:
    """Synthetic minority images that bring the minority class to ``ratio`` x the mean size
    of the other classes (0 if it is there already)."""
    counts = pd.Series(np.asarray(train_labels)).value_counts()
    others = counts.drop(minority, errors="ignore")
    if others.empty:
        raise GenaugError(
            "the imbalance task has a single class: set imbalance.n_classes to 2 or more"
        )
    target = math.floor(ratio * float(others.mean()) + 0.5)
    return max(0, target - int(counts.get(minority, 0)))


def topup_index(n_sources: int, n_needed: int) -> tuple[int, np.ndarray]:
    """Copies per source image and which of the ``n_sources * copies`` outputs (source-major:
    copy ``j`` of source ``s`` is output ``s * copies + j``) to keep so that ``n_needed``
    images cycle over the sources evenly."""
    copies = max(1, math.ceil(n_needed / n_sources))
    order = np.arange(n_sources * copies).reshape(n_sources, copies).T.ravel()
    return copies, order[:n_needed]


@dataclass(frozen=True)
class TopUp:
    """The minority top-up of one imbalance split, decided once, when the split is made.

    Each augmenter adds ``n_needed`` images of class ``minority`` (a label), which bring it to
    ``ratio`` x the mean size of the other classes. They are made from the minority's real
    training images (in split order) in turn: ``copies`` outputs per source image, of which
    the outputs ``keep`` (source-major numbering, see :func:`topup_index`) are kept.
    """

    minority: int
    ratio: float
    n_needed: int
    copies: int
    keep: tuple[int, ...]

    @classmethod
    def plan(cls, split: pd.DataFrame, minority: int, ratio: float) -> TopUp:
        labels = split.loc[split["split"] == "train", "label"].to_numpy()
        n_needed = minority_topup(labels, minority, ratio)
        copies, keep = topup_index(int((labels == minority).sum()), n_needed)
        return cls(int(minority), float(ratio), n_needed, copies, tuple(keep.tolist()))

    def to_meta(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> TopUp:
        return cls(**{**meta, "keep": tuple(meta["keep"])})
