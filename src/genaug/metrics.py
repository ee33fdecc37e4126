"""Per-run classification metrics (NumPy, and pandas for ranks; no SciPy, whose import
would cost a model job about 0.45 CPU s): accuracy, balanced accuracy, and for the
imbalance scenario the minority class's recall, precision, F1 and one-vs-rest AUROC."""

from __future__ import annotations

import numpy as np
import pandas as pd


def auroc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for the boolean ``positive`` labels (the
    Mann-Whitney U statistic, ties counted half); NaN when one side is empty."""
    positive = np.asarray(positive, bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = pd.Series(np.asarray(scores, float)).rank().to_numpy()  # ties: mean rank
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def classification_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, probs: np.ndarray, minority: int | None = None
) -> dict[str, float]:
    """Metrics of one run; ``y_*`` are class indices, ``probs`` is N x C softmax output,
    ``minority`` the minority class's index (imbalance scenario) or None."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    present = np.unique(y_true)
    recalls = [float(np.mean(y_pred[y_true == c] == c)) for c in present]
    out = {
        "accuracy": float(np.mean(y_true == y_pred)),
        "balanced_accuracy": float(np.mean(recalls)),
    }
    if minority is None:
        return out
    is_true, is_pred = y_true == minority, y_pred == minority
    tp = int(np.sum(is_true & is_pred))
    recall = tp / is_true.sum() if is_true.any() else float("nan")
    precision = tp / is_pred.sum() if is_pred.any() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    out.update(
        minority_recall=float(recall),
        minority_precision=float(precision),
        minority_f1=float(f1),
        minority_auroc=auroc(probs[:, minority], is_true),
    )
    return out
