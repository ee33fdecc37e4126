"""Figures: accuracy vs shots, image grids and training curves, each written as one PNG.

Every function writes one PNG (parent directories created) and returns None.  The Agg backend
is selected here, so the module works on headless machines; PNGs are written without the
"Software" metadata so identical inputs give identical files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from genaug import scenarios  # noqa: E402

__all__ = ["image_grid", "metric_vs_level", "training_curves"]

_BASELINE_STYLE = {"color": "black", "linestyle": "--", "marker": "s", "zorder": 3}
_PALETTE = plt.get_cmap("tab10").colors


def _save(fig, out: str | Path, dpi: int) -> None:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        fig.savefig(out, dpi=dpi, format="png", metadata={"Software": None})
    finally:
        plt.close(fig)


def _label(metric: str) -> str:
    return metric.replace("_", " ")


# --------------------------------------------------------------------------- metric vs regime
def metric_vs_level(
    summary: pd.DataFrame,
    out: str | Path,
    metric: str = "accuracy",
    *,
    scenario: str = scenarios.FEWSHOT.name,
    baseline: str = "none",
    title: str | None = None,
    dpi: int = 120,
) -> None:
    """Mean metric vs the ``scenario``'s regime level (shots per class ``k``, or the minority
    class's kept ``fraction``), one line per method, with CI error bars.

    ``summary`` is :func:`genaug.stats.describe` output (method, k, n, mean, ci_low, ci_high;
    the scenario's level column in place of k).
    The metric is shown in percent when every value lies in [0, 1].  The baseline is drawn in
    black, dashed; the other methods are nudged sideways a little so their bars do not overlap.
    Missing CI bounds (n = 1) are drawn without a bar.
    """
    spec = scenarios.scenario(scenario)
    by = spec.level
    missing = [c for c in ("method", by, "mean", "ci_low", "ci_high") if c not in summary]
    if missing:
        raise ValueError(f"summary lacks column(s) {missing}; pass genaug.stats.describe() output")
    df = summary.copy()
    df["method"] = df["method"].astype(str)
    values = df[["mean", "ci_low", "ci_high"]].to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    percent = finite.size > 0 and bool(((finite >= 0) & (finite <= 1)).all())
    scale = 100.0 if percent else 1.0

    methods = sorted(df["method"].unique())
    if baseline in methods:
        methods = [baseline] + [m for m in methods if m != baseline]
    ks = np.sort(df[by].unique()).astype(float)
    gap = float(np.min(np.diff(ks))) if ks.size > 1 else 1.0
    width = 0.3 * gap  # total spread of the offsets at one k
    offsets = np.linspace(-width / 2, width / 2, len(methods)) if len(methods) > 1 else np.zeros(1)

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    colors = iter(_PALETTE * (len(methods) // len(_PALETTE) + 1))
    for method, dx in zip(methods, offsets, strict=True):
        g = df[df["method"] == method].sort_values(by)
        x = g[by].to_numpy(dtype=float) + dx
        y = g["mean"].to_numpy(dtype=float) * scale
        low = g["ci_low"].to_numpy(dtype=float) * scale
        high = g["ci_high"].to_numpy(dtype=float) * scale
        yerr = np.nan_to_num(np.vstack([y - low, high - y]), nan=0.0).clip(min=0.0)
        if method == baseline:
            style = dict(_BASELINE_STYLE, label=f"{method} (baseline)")
        else:
            style = {"color": next(colors), "linestyle": "-", "marker": "o", "label": method}
        ax.errorbar(x, y, yerr=yerr, capsize=3, linewidth=1.5, markersize=5, **style)

    ax.set_xticks(ks)
    ax.set_xticklabels([f"{int(k)}" if float(k).is_integer() else f"{k:g}" for k in ks])
    if ks.size:
        ax.set_xlim(ks[0] - 0.5 * gap, ks[-1] + 0.5 * gap)
    ax.set_xlabel(spec.axis_label)
    ax.set_ylabel(f"{_label(metric)} (%)" if percent else _label(metric))
    ax.set_title(title or f"{_label(metric).capitalize()} vs {spec.axis_words} (mean, 95% CI)")
    ax.grid(True, alpha=0.3)
    if methods:
        ax.legend(title="method", fontsize="small")
    fig.tight_layout()
    _save(fig, out, dpi)


# --------------------------------------------------------------------------- image grids
def _as_stack(images) -> np.ndarray:
    """A row as N x H x W (grayscale) or N x H x W x 3 (colour)."""
    arr = np.asarray(images)
    if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] == 3 and arr.shape[0] != 3):
        arr = arr[None]  # a single image
    if arr.ndim == 4 and arr.shape[1] == 1:  # N x 1 x H x W
        arr = arr[:, 0]
    elif arr.ndim == 4 and arr.shape[1] == 3 and arr.shape[-1] != 3:  # N x 3 x H x W
        arr = arr.transpose(0, 2, 3, 1)
    if arr.size and not (arr.ndim == 3 or (arr.ndim == 4 and arr.shape[-1] == 3)):
        raise ValueError(
            f"each row must be an N x H x W or N x H x W x 3 array, got shape {arr.shape}"
        )
    return arr


def image_grid(
    rows: Sequence[np.ndarray],
    out: str | Path,
    row_labels: Sequence[str] | None = None,
    title: str | None = None,
    *,
    dpi: int = 120,
) -> None:
    """A grid of images, one row per array; rows may differ in length.

    Each row is an N x H x W grayscale array (uint8, ink bright, as the datasets store them;
    float arrays are taken to lie in [0, 1]), or a colour one, N x H x W x 3 or N x 3 x H x W.
    Grayscale images are drawn inverted, dark ink on white, colour images as they are; each
    with a thin grey frame.  ``row_labels`` name the rows on the left.

    The grid is composed as one pixel canvas (each image enlarged by a whole factor, nearest
    neighbour, so it stays sharp) and drawn with a single ``imshow``: one matplotlib axes per
    image cost about 7 ms each, 0.45 s for an 8 x 8 grid, in every generator job.
    """
    stacks = [_as_stack(r) for r in rows]
    if not stacks:
        raise ValueError("image_grid needs at least one row")
    if row_labels is not None and len(row_labels) != len(stacks):
        raise ValueError(f"{len(row_labels)} row labels for {len(stacks)} rows")
    ncols = max(1, max(len(s) for s in stacks))
    nrows = len(stacks)
    h = max((s.shape[1] for s in stacks if s.size), default=1)
    w = max((s.shape[2] for s in stacks if s.size), default=1)
    cell_in = 0.75 if ncols <= 16 else max(0.3, 12.0 / ncols)
    scale = max(1, round(cell_in * dpi / max(h, w)))
    gap = max(2, round(0.05 * scale * max(h, w)))  # white space between cells
    cell_h, cell_w = scale * h + 2, scale * w + 2  # the image and its 1-pixel frame
    canvas = np.ones((nrows * (cell_h + gap), ncols * (cell_w + gap), 3))
    for i, stack in enumerate(stacks):
        vmax = 255.0 if stack.dtype == np.uint8 or (stack.size and stack.max() > 1.0) else 1.0
        for j, image in enumerate(stack):
            shown = np.clip(image / vmax, 0.0, 1.0)
            if shown.ndim == 2:  # grayscale: ink dark on white
                shown = np.repeat((1.0 - shown)[..., None], 3, axis=-1)
            shown = shown.repeat(scale, axis=0).repeat(scale, axis=1)
            top, left = i * (cell_h + gap) + gap // 2, j * (cell_w + gap) + gap // 2
            canvas[top : top + cell_h, left : left + cell_w] = 0.75  # the frame
            canvas[top + 1 : top + 1 + len(shown), left + 1 : left + 1 + shown.shape[1]] = shown
    label_w = 1.2 if row_labels else 0.05
    title_h = 0.4 if title else 0.05
    grid_w, grid_h = canvas.shape[1] / dpi, canvas.shape[0] / dpi
    fig = plt.figure(figsize=(label_w + grid_w, title_h + grid_h))
    ax = fig.add_axes((label_w / (label_w + grid_w), 0.0, grid_w / (label_w + grid_w),
                       grid_h / (title_h + grid_h)))  # fmt: skip
    ax.imshow(canvas, interpolation="nearest")
    ax.set_axis_off()
    for i, label in enumerate(row_labels or []):
        y = i * (cell_h + gap) + (cell_h + gap) / 2
        ax.text(-gap, y, str(label), ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=11, y=1.0 - 0.05 / (title_h + grid_h), va="top")
    _save(fig, out, dpi)


# --------------------------------------------------------------------------- training curves
def training_curves(
    logs: Mapping[str, pd.DataFrame],
    out: str | Path,
    title: str | None = None,
    *,
    columns: Sequence[str] | None = None,
    dpi: int = 120,
) -> None:
    """Loss curves: one subplot per loss column (shared x = ``step``), one line per log.

    ``logs`` maps a label (e.g. "k=1 rep=0") to a DataFrame with a ``step`` column and one or
    more numeric loss columns; ``columns`` picks which (default: every numeric column but
    ``step``, in order of first appearance).  Logs lacking a column are skipped in that subplot;
    single-row logs are drawn as a marker.
    """
    if not logs:
        raise ValueError("training_curves needs at least one log")
    for name, log in logs.items():
        if "step" not in log.columns:
            raise ValueError(f"log {name!r} has no 'step' column (columns: {list(log.columns)})")
    if columns is None:
        columns = []
        for log in logs.values():
            for c in log.columns:
                if c != "step" and c not in columns and pd.api.types.is_numeric_dtype(log[c]):
                    columns.append(c)
    if not columns:
        raise ValueError("the logs have no numeric loss columns besides 'step'")

    n = len(columns)
    fig, axes = plt.subplots(n, 1, figsize=(6.4, 1.2 + 2.2 * n), sharex=True, squeeze=False)
    axes = axes[:, 0]
    many = len(logs) > 10
    colors = _PALETTE * (len(logs) // len(_PALETTE) + 1)
    for ax, col in zip(axes, columns, strict=True):
        for (name, log), color in zip(logs.items(), colors, strict=False):
            if col not in log.columns:
                continue
            g = log[["step", col]].dropna().sort_values("step")
            style = {"marker": "o", "markersize": 4} if len(g) <= 20 else {}
            ax.plot(g["step"], g[col], color=color, linewidth=1.2, label=str(name), **style)
        ax.set_ylabel(_label(col))
        ax.set_title(_label(col), fontsize=10)
        ax.grid(True, alpha=0.3)
    axes[-1].set_xlabel("step")
    handles, labels = [], []
    for ax in axes:  # legend from whichever subplot has lines, once
        h, lab = ax.get_legend_handles_labels()
        for hh, ll in zip(h, lab, strict=True):
            if ll not in labels:
                handles.append(hh)
                labels.append(ll)
    if handles:
        axes[0].legend(
            handles,
            labels,
            fontsize="x-small" if many else "small",
            ncol=2 if many else 1,
        )
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    _save(fig, out, dpi)


# --------------------------------------------------------------------------- quality vs gain
def quality_gain_points(
    quality: pd.DataFrame,
    comparisons: pd.DataFrame,
    metric: str,
    by: str,
    baseline: str = "none",
) -> pd.DataFrame:
    """Per (method, level): the mean of each quality metric over replicates and the gain of
    the classifier's ``metric`` over ``baseline``: the mean paired difference (``diff``) of
    rule stats' comparisons.csv."""
    from genaug.report import quality_means

    rows = comparisons[(comparisons["metric"] == metric) & (comparisons["baseline"] == baseline)]
    gain = rows[["method", by, "diff"]].rename(columns={"diff": "gain"})
    return quality_means(quality, by).merge(gain, on=["method", by], how="inner")


def quality_vs_gain(
    points: pd.DataFrame,
    out: str | Path,
    metrics: Mapping[str, str],
    *,
    gain_label: str,
    by: str,
    dpi: int = 120,
) -> dict[str, float]:
    """One panel per quality metric (``metrics``: column -> axis label): the metric of each
    (method, level) against the classifier's gain (:func:`quality_gain_points`), one colour
    per method, with Spearman's rank correlation over the points (scipy.stats.spearmanr) in
    the panel title. Returns the correlations (NaN with under three points or no spread)."""
    from scipy.stats import spearmanr

    methods = sorted(points["method"].unique())
    color = dict(zip(methods, _PALETTE * (len(methods) // len(_PALETTE) + 1), strict=False))
    ncols = 4
    nrows = -(-len(metrics) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.8 * nrows), squeeze=False)
    rhos = {}
    for ax, (metric, label) in zip(axes.flat, metrics.items(), strict=False):
        ok = points[[metric, "gain"]].notna().all(axis=1)
        x, y = points.loc[ok, metric].to_numpy(float), 100 * points.loc[ok, "gain"].to_numpy(float)
        rho = float("nan")
        if ok.sum() >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0:
            rho = float(spearmanr(x, y).statistic)
        rhos[metric] = rho
        for method, g in points[ok].groupby("method"):
            ax.scatter(g[metric], 100 * g["gain"], s=18, color=color[method], label=method)
        ax.axhline(0, color="0.5", linewidth=0.8, linestyle="--")
        ax.set_xlabel(label)
        ax.set_title(f"Spearman ρ = {rho:.2f}" if np.isfinite(rho) else "ρ: n/a", fontsize=9)
        ax.grid(True, alpha=0.3)
    for ax in axes.flat[len(metrics) :]:
        ax.set_visible(False)
    for row in axes:
        row[0].set_ylabel(f"{gain_label} gain (pp)")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower right", fontsize="small", ncols=2, title="method")
    fig.suptitle(
        f"Quality of the added images vs the classifier's gain over none (one point per method "
        f"and {by})",
        fontsize=11,
    )
    fig.tight_layout()
    _save(fig, out, dpi)
    return rhos
