"""genaug.plots: every figure is a readable, non-blank PNG, written deterministically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from genaug import plots, stats


def _check_png(path: Path) -> np.ndarray:
    assert path.is_file() and path.stat().st_size > 0
    with Image.open(path) as im:
        assert im.format == "PNG"
        w, h = im.size
        assert w > 50 and h > 50
        arr = np.asarray(im.convert("L"))
    assert arr.std() > 1.0  # not blank
    assert (arr < 128).mean() > 0.001  # some dark pixels (text, lines, ink)
    return arr


@pytest.fixture
def summary() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for m, gain in (("none", 0.0), ("classical", 0.02), ("dagan", 0.04), ("cvae", -0.01)):
        for k in (1, 5, 10):
            for r in range(5):
                acc = 0.4 + 0.03 * k + gain + 0.02 * rng.standard_normal()
                rows.append((m, k, r, acc))
    rows.append(("lonely", 1, 0, 0.5))  # n = 1: no CI, no bar
    runs = pd.DataFrame(rows, columns=["method", "k", "replicate", "accuracy"])
    return stats.describe(runs)


def test_metric_vs_level(tmp_path, summary):
    out = tmp_path / "sub" / "dir" / "acc.png"
    plots.metric_vs_level(summary, out)
    arr = _check_png(out)
    assert arr.shape == (int(4.2 * 120), int(6.4 * 120))
    # deterministic bytes
    again = tmp_path / "acc2.png"
    plots.metric_vs_level(summary, again)
    assert out.read_bytes() == again.read_bytes()


def test_metric_vs_level_single_k_and_raw_metric(tmp_path, summary):
    one = summary[summary["k"] == 5]
    plots.metric_vs_level(one, tmp_path / "one.png", title="one k")
    _check_png(tmp_path / "one.png")
    loss = summary.assign(**{c: summary[c] * 10 for c in ("mean", "ci_low", "ci_high")})
    plots.metric_vs_level(loss, tmp_path / "loss.png", metric="test_loss")
    _check_png(tmp_path / "loss.png")


def test_image_grid(tmp_path):
    rng = np.random.default_rng(0)
    real = np.zeros((1, 28, 28), np.uint8)
    real[0, 6:22, 12:16] = 255  # a bright stroke: drawn as dark ink
    variations = rng.integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
    out = tmp_path / "grid.png"
    plots.image_grid([real, variations, variations[:3]], out, ["real", "dagan", "cvae"], "shots")
    arr = _check_png(out)
    assert arr.mean() > 128  # mostly white page: ink inverted onto white
    # the stroke, enlarged by a whole factor and drawn dark: a solid block of black pixels
    black = arr < 16
    assert black.sum() > 16 * 4 * 4
    one_only = tmp_path / "one.png"
    plots.image_grid([real], one_only)
    with Image.open(one_only) as im:
        single = np.asarray(im.convert("L"))
    rows, cols = np.nonzero(single < 16)
    # the stroke is 16 x 4 pixels of the 28 x 28 image: its drawn block keeps that shape
    assert (rows.max() - rows.min() + 1) == 4 * (cols.max() - cols.min() + 1)
    # no labels/title, a float N x 1 x H x W row and a single H x W image
    out2 = tmp_path / "grid2.png"
    plots.image_grid([rng.uniform(size=(4, 1, 16, 16)), real[0]], out2)
    _check_png(out2)
    with pytest.raises(ValueError):
        plots.image_grid([real], tmp_path / "bad.png", ["a", "b"])


def test_training_curves(tmp_path):
    steps = np.arange(0, 500, 10)
    logs = {
        f"k=1 rep={r}": pd.DataFrame(
            {"step": steps, "loss_d": 1 / (1 + steps / 100) + r * 0.1, "loss_g": np.log1p(steps)}
        )
        for r in range(3)
    }
    logs["single"] = pd.DataFrame({"step": [0], "loss_d": [0.7]})  # one row, one column
    out = tmp_path / "curves.png"
    plots.training_curves(logs, out, title="DAGAN")
    _check_png(out)
    one = tmp_path / "one.png"
    plots.training_curves({"only": pd.DataFrame({"step": [5], "loss": [1.0]})}, one)
    _check_png(one)
    many = {f"run {i}": pd.DataFrame({"step": steps, "loss": steps * 0.01 * i}) for i in range(14)}
    plots.training_curves(many, tmp_path / "many.png")
    _check_png(tmp_path / "many.png")
    with pytest.raises(ValueError):
        plots.training_curves({}, tmp_path / "none.png")
