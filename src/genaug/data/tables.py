"""Rows of the canonical table as tensors, and labels as contiguous class indices.

torch is imported inside the functions that need it, so that light rules stay light.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from genaug.errors import GenaugError
from genaug.io import decode_images, png_mode


def images_tensor(pngs: Iterable[bytes]):
    """PNG bytes -> float tensor N x C x H x W in [0, 1]: C = 1 for grayscale PNGs, 3 for
    colour ones (decided by the first image; the others are converted to its mode)."""
    import torch

    pngs = list(pngs)
    if not pngs:
        raise ValueError("images_tensor needs at least one image")
    arr = decode_images(pngs, mode=png_mode(pngs[0]))
    x = torch.from_numpy(arr)
    x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2)
    return x.float().div_(255.0).contiguous()


def split_rows(table: pd.DataFrame, split: pd.DataFrame, which: str) -> pd.DataFrame:
    """Rows of ``table`` that ``split`` puts in ``which`` ("train" or "test"), in split order."""
    ids = split.loc[split["split"] == which, "image_id"]
    rows = table.set_index("image_id").reindex(ids)
    if rows["image"].isna().any():
        missing = ids[rows["image"].isna().to_numpy()].iloc[0]
        raise GenaugError(
            f"split names image {missing!r} that the prepared table lacks: "
            "delete the outdir's splits/ folder so the splits are redrawn"
        )
    return rows.reset_index()


class ClassIndex:
    """Maps dataset labels to contiguous indices ``0..n-1`` (and back)."""

    def __init__(self, labels: Sequence[int] | np.ndarray) -> None:
        self.classes = np.unique(np.asarray(labels, dtype=np.int64))
        self._index = {int(c): i for i, c in enumerate(self.classes)}

    def __len__(self) -> int:
        return len(self.classes)

    def encode(self, labels: Iterable[int]):
        """Dataset labels -> int64 tensor of class indices."""
        import torch

        try:
            return torch.tensor([self._index[int(x)] for x in labels], dtype=torch.int64)
        except KeyError as err:
            raise GenaugError(
                f"label {err.args[0]} is not among the model's classes: "
                "retrain the generator for this split (delete its model.pt)"
            ) from None

    def decode(self, indices) -> np.ndarray:
        return self.classes[np.asarray(indices, dtype=np.int64)]


def ids_sha256(image_ids: Iterable[str]) -> str:
    """A fingerprint of a set of image ids (order-free): what a model was trained on."""
    h = hashlib.sha256()
    for image_id in sorted(map(str, image_ids)):
        h.update(image_id.encode() + b"\n")
    return h.hexdigest()


def synthetic_by_real(
    table: pd.DataFrame, split: pd.DataFrame, synthetic: pd.DataFrame, n_real: int, n_per_real: int
) -> tuple[list[np.ndarray], list[str]]:
    """Figure rows: a real training image, then synthetic images made from it (or, for
    generators that sample per class, synthetic images of its class). Where each of a class's
    synthetic images has a source of its own (a translator's top-up, made from other classes'
    images), a row per source instead: the source, then its image, up to ``n_real`` rows."""
    train = split_rows(table, split, "train").drop_duplicates("label").set_index("label")
    by_id = table.set_index("image_id")
    rows, labels = [], []
    for label in sorted(synthetic["label"].unique())[:n_real]:
        same = synthetic[synthetic["label"] == label]
        sources = same["source_image_id"].dropna()
        if len(sources) > 1 and sources.is_unique:
            for _, made in same.loc[sources.index[:n_real]].iterrows():
                real = by_id.loc[made["source_image_id"]]
                pngs = [real["image"], made["image"]]
                rows.append(decode_images(pngs, mode=png_mode(real["image"])))
                labels.append(f"class {label} from {real['label']}")
            continue
        if len(sources):
            real_id = sources.iloc[0]
            same = same[same["source_image_id"] == real_id]
            real = table.loc[table["image_id"] == real_id, "image"].iloc[0]
        else:
            real = train.loc[label, "image"]
        pngs = [real, *same["image"].iloc[:n_per_real]]
        rows.append(decode_images(pngs, mode=png_mode(real)))
        labels.append(f"class {label}")
    return rows, labels
