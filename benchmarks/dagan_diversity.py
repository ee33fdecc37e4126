"""Do DAGAN's samples vary and keep their class? Per-source diversity and label consistency.

Trains DAGAN in transfer mode on the source classes of the embedded Omniglot subset
(data/omniglot_small.parquet, role "source") with the settings of a config file (default:
config/config.yaml ``generators.dagan``; ``--set key=value`` overrides an hparam, ``--steps``
the steps), then makes ``augment.n_per_image`` images from each of the first ``--shots``
drawings of every target class and measures, in the feature space of a domain encoder trained
on the source classes (:func:`genaug.quality.train_encoder`):

- diversity (:func:`genaug.quality.diversity`): mean pairwise distance among the images of one
  source drawing over that among the held-out drawings of its class (the other drawings);
- label consistency (:func:`genaug.quality.label_consistency`): share of images whose nearest
  shot has their class.

    python benchmarks/dagan_diversity.py
    python benchmarks/dagan_diversity.py --set mode_seeking=1.0 --set dropout=0.2
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from genaug import io, quality, runtime
from genaug.models import get_generator

REPO = Path(__file__).resolve().parents[1]


def load(role: str) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """Images (N x 1 x H x W in [0, 1]), labels and drawing numbers of one role."""
    df = io.read_parquet(REPO / "data" / "omniglot_small.parquet")
    df = df[df["role"] == role]
    images = torch.from_numpy(io.decode_images(df["image"])).float().div(255).unsqueeze(1)
    return images, df["label"].to_numpy().copy(), df["drawing"].to_numpy().copy()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "config" / "config.yaml"))
    parser.add_argument("--set", action="append", default=[], help="hparam=value override")
    parser.add_argument("--steps", type=int, help="override generators.dagan.steps")
    parser.add_argument("--shots", type=int, default=5, help="generator inputs per target class")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    config = yaml.safe_load(Path(args.config).read_text())
    settings = config["generators"]["dagan"]
    hparams = dict(settings["hparams"])
    for item in args.set:
        key, _, value = item.partition("=")
        hparams[key] = yaml.safe_load(value)
    steps = args.steps or settings["steps"]
    device = runtime.setup(threads=settings["threads"], seed=args.seed, device="cpu")

    src_x, src_y, _ = load("source")
    tgt_x, tgt_y, drawing = load("target")
    order = np.argsort(drawing, kind="stable")  # per class, the lowest drawing numbers first
    rank = np.zeros(len(tgt_y), int)
    for label in np.unique(tgt_y):
        rows = order[tgt_y[order] == label]
        rank[rows] = np.arange(len(rows))
    shots, held = rank < args.shots, rank >= args.shots

    start = time.process_time()
    model = get_generator("dagan")(src_x.shape[-1], 0, **hparams)
    model.fit(
        src_x,
        torch.from_numpy(src_y),
        steps=steps,
        batch_size=settings["batch_size"],
        lr=settings["lr"],
        rng=runtime.rng(args.seed),
        device=device,
        log=lambda _: None,
        log_every=steps,
    )
    train_s = time.process_time() - start
    shot_x, shot_y = tgt_x[torch.from_numpy(shots)], tgt_y[shots]
    out = model.augment(
        shot_x,
        torch.from_numpy(shot_y),
        config["augment"]["n_per_image"],
        rng=runtime.rng(args.seed + 1),
        device=device,
    )
    cpu_s = time.process_time() - start

    encoder, _ = quality.train_encoder(src_x, src_y, seed=args.seed)
    feats = quality.features(encoder, out.images)
    row = {
        "hparams": hparams,
        "steps": steps,
        "diversity": quality.diversity(
            feats,
            out.labels,
            out.source_index,
            quality.features(encoder, tgt_x[torch.from_numpy(held)]),
            tgt_y[held],
        ),
        "label_consistency": quality.label_consistency(
            feats, out.labels, quality.features(encoder, shot_x), shot_y
        ),
        "pixel_diversity": quality.diversity(
            out.images.flatten(1),
            out.labels,
            out.source_index,
            tgt_x[held].flatten(1),
            tgt_y[held],
        ),
        "train_cpu_s": round(train_s, 1),
        "train_and_augment_cpu_s": round(cpu_s, 1),
    }
    print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
