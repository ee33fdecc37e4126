"""Stage 5: a classifier trained with and without augmentation, on a fixed step budget.

Protocol (as in the DAGAN few-shot experiments): the classifier sees real training batches;
with an augmentation method every other batch is drawn from the augmented pool instead
(synthetic images of a generator, or transformed copies of the real shots).
The initialisation and the real-batch stream depend only on (replicate seed, k), so the
methods of a replicate differ only in the augmentation: the comparison is paired.

The network is ``classifier.arch`` (see :mod:`genaug.models.classifier`): ``conv4`` (default)
or ``densenet``, the DAGAN protocol's classifier, which also sees a real/synthetic flag: 1 for
batches drawn from the augmented pool, 0 for real batches and at test time.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from genaug import runtime
from genaug.augment import TRANSFORMS, transform_pool
from genaug.data.tables import ClassIndex, images_tensor, split_rows
from genaug.models.base import sample_batch
from genaug.models.classifier import make_classifier
from genaug.provenance import provenance
from genaug.workflow import derive_seed

log = logging.getLogger(__name__)


def augmented_pool(
    method: str,
    train_images: torch.Tensor,
    train_labels: torch.Tensor,
    classes: ClassIndex,
    synthetic: pd.DataFrame | None,
    n_per_image: int,
    transforms: dict,
    seed: int,
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The images that augmented batches are drawn from, or None for the baseline."""
    if method == "none":
        return None
    if method in TRANSFORMS:
        transform = TRANSFORMS[method](transforms[method])
        images = transform_pool(train_images, n_per_image, transform, seed)
        return images, train_labels.repeat_interleave(n_per_image)
    return images_tensor(synthetic["image"]), classes.encode(synthetic["label"])


def train_classifier(
    train: tuple[torch.Tensor, torch.Tensor],
    pool: tuple[torch.Tensor, torch.Tensor] | None,
    n_classes: int,
    settings: dict,
    seed: int,
    device: torch.device,
    compile: bool = False,
) -> tuple[nn.Module, list[float]]:
    """Train for ``settings["steps"]`` steps; odd steps use the pool when there is one (and
    tell the network so through its ``is_synthetic`` flag). ``compile`` compiles the network
    with ``torch.compile``."""
    torch.manual_seed(seed)
    model = make_classifier(
        settings.get("arch", "conv4"), n_classes, train[0].shape[-1], settings["width"]
    )
    model = runtime.prepare(model, device, compile=compile)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings["lr"])
    real_rng = runtime.rng(derive_seed(seed, "real-batches"))
    pool_rng = runtime.rng(derive_seed(seed, "pool-batches"))
    x_real, y_real = (runtime.channels_last(t.to(device), device) for t in train)
    if pool is not None:
        x_pool, y_pool = (runtime.channels_last(t.to(device), device) for t in pool)
    losses = []
    model.train()
    for step in range(settings["steps"]):
        synthetic = pool is not None and step % 2 == 1
        if synthetic:
            idx = sample_batch(len(x_pool), settings["batch_size"], pool_rng).to(device)
            x, y = x_pool[idx], y_pool[idx]
        else:
            idx = sample_batch(len(x_real), settings["batch_size"], real_rng).to(device)
            x, y = x_real[idx], y_real[idx]
        flag = torch.full((len(x), 1), float(synthetic), device=device)
        with runtime.autocast(device):
            loss = F.cross_entropy(model(x, is_synthetic=flag), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return model, losses


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, device: torch.device, batch: int = 1024):
    """Predicted class indices; test images are real (``is_synthetic`` = 0)."""
    model.eval()
    out = []
    for start in range(0, len(images), batch):
        x = images[start : start + batch].to(device)
        flag = torch.zeros(len(x), 1, device=device)
        with runtime.autocast(device):
            out.append(model(x, is_synthetic=flag).argmax(1).cpu())
    return torch.cat(out)


def run(
    method: str,
    k: int,
    seed: int,
    table: pd.DataFrame,
    split: pd.DataFrame,
    synthetic: pd.DataFrame | None,
    settings: dict,
    n_per_image: int,
    transforms: dict,
    device: torch.device,
    compile: bool = False,
) -> dict:
    """One classifier run; returns its metrics record (with provenance)."""
    train_rows = split_rows(table, split, "train")
    test_rows = split_rows(table, split, "test")
    classes = ClassIndex(train_rows["label"])
    train = images_tensor(train_rows["image"]), classes.encode(train_rows["label"])
    test_x, test_y = images_tensor(test_rows["image"]), classes.encode(test_rows["label"])
    run_seed = derive_seed(seed, "classifier", k)
    pool = augmented_pool(method, *train, classes, synthetic, n_per_image, transforms, run_seed)

    start = time.perf_counter()
    model, losses = train_classifier(
        train, pool, len(classes), settings, run_seed, device, compile=compile
    )
    train_seconds = time.perf_counter() - start
    pred = predict(model, test_x, device)

    correct = (pred == test_y).numpy()
    per_class = {
        int(label): float(correct[test_y.numpy() == i].mean())
        for i, label in enumerate(classes.classes)
    }
    sources = {}
    if synthetic is not None:
        sources["checkpoint_sha256"] = sorted(synthetic["checkpoint_sha256"].unique())
    record = {
        "method": method,
        "k": k,
        "replicate": seed,
        "accuracy": float(correct.mean()),
        "per_class_accuracy": per_class,
        "n_classes": len(classes),
        "n_train_real": len(train_rows),
        "n_train_augmented": 0 if pool is None else len(pool[0]),
        "n_test": len(test_rows),
        "final_train_loss": float(np.mean(losses[-10:])),
        "train_seconds": round(train_seconds, 3),
        "device": str(device),
        "provenance": provenance(
            {**settings, "n_per_image": n_per_image, "transforms": transforms.get(method)},
            seed=run_seed,
            **sources,
        ),
    }
    log.info(
        "%s k=%d seed=%d: accuracy %.4f (%d test images, %.1f s)",
        method,
        k,
        seed,
        record["accuracy"],
        len(test_rows),
        train_seconds,
    )
    return record
