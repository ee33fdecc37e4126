"""Your own images as one canonical table: a class-per-folder directory (ImageFolder layout).

``root/<class_name>/**/<image>.{jpg,jpeg,png,ppm,bmp,pgm,tif,tiff,webp}`` (torchvision's
``IMG_EXTENSIONS``); classes are the sorted folder names, labels ``0..C-1`` in that order.

This module also holds what the labelled, single-role datasets (UTKFace, CelebA, this one)
share: the table's columns, image loading and the canonical table itself. Such a table has the
columns of :data:`COLUMNS`, in that order, then dataset-specific metadata columns:

- ``image_id``: str, unique;
- ``image``: PNG bytes, ``image_size`` x ``image_size``, mode ``"L"`` (``channels == 1``) or
  ``"RGB"`` (``channels == 3``): the image is center-cropped to a square, then PIL LANCZOS
  resized;
- ``label``: int64 class index ``0..C-1``; ``class_name``: str;
- ``role``: str, always ``"target"``.

Unreadable or truncated images are skipped and counted, never half-decoded:
``ImageFile.LOAD_TRUNCATED_IMAGES`` is forced off while loading.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, ImageFile, ImageOps

from genaug.errors import GenaugError
from genaug.io import encode_png, write_parquet
from genaug.provenance import provenance

log = logging.getLogger(__name__)

COLUMNS = ["image_id", "image", "label", "class_name", "role"]
ROLE = "target"
CHANNEL_MODES = {1: "L", 3: "RGB"}
PREPROCESSING = "exif orientation applied, center crop to square, PIL LANCZOS resize"
# torchvision.datasets.folder.IMG_EXTENSIONS (kept here so that this module imports fast)
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
ROOT_KEY = "datasets.imagefolder.root"
LAYOUT = "root/<class_name>/<image file>"


# --------------------------------------------------------------------------- shared: settings
def check_image_settings(image_size: Any, channels: Any, key: str) -> tuple[int, str]:
    """Validate ``image_size`` and ``channels``; return the size and the PIL mode.

    ``key`` is the config section the settings come from, e.g. ``"datasets.utkface"``.
    """
    if isinstance(image_size, bool) or not isinstance(image_size, int | np.integer):
        raise GenaugError(f"image_size={image_size!r} is not an integer: set {key}.image_size")
    if image_size < 1:
        raise GenaugError(f"image_size={image_size} is below 1: set {key}.image_size to >= 1")
    if channels not in CHANNEL_MODES or isinstance(channels, bool):
        raise GenaugError(
            f"channels={channels!r} is not 1 (grayscale) or 3 (RGB): set {key}.channels"
        )
    return int(image_size), CHANNEL_MODES[int(channels)]


# --------------------------------------------------------------------------- shared: images
class UnreadableImage(Exception):
    """An image file that PIL cannot open or fully decode; ``str(e)`` is the reason."""


@contextlib.contextmanager
def strict_loading() -> Iterator[None]:
    """Make PIL fail on truncated files (instead of padding them with grey) inside the block."""
    old = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = old


def load_image(open_image: Callable[[], Image.Image], mode: str) -> Image.Image:
    """Open, fully decode and convert an image to ``mode``; raise :class:`UnreadableImage`.

    ``open_image`` returns a (lazily) opened PIL image, e.g. ``lambda: Image.open(path)``.
    The EXIF orientation, if any, is applied (photos from phones).
    """
    with strict_loading():
        try:
            with open_image() as im:
                im.load()  # decodes every byte: a truncated or corrupt file fails here
                return _to_mode(_upright(im), mode)
        except Exception as e:  # PIL raises OSError, SyntaxError, ValueError, EOFError, ...
            raise UnreadableImage(" ".join(f"{type(e).__name__}: {e}".split())) from e


def _upright(im: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(im)
    except Exception:  # a malformed EXIF block: keep the pixels as stored
        return im


def _to_mode(im: Image.Image, mode: str) -> Image.Image:
    if im.mode.startswith("I;16"):  # 16-bit grayscale: scale, do not clip, to 8 bits
        arr = np.rint(np.asarray(im, dtype=np.float64) / 257.0).astype(np.uint8)
        im = Image.fromarray(arr, mode="L")
    return im.convert(mode)


def square_resize(im: Image.Image, image_size: int) -> np.ndarray:
    """Center-crop ``im`` to a square, LANCZOS-resize it to ``image_size``; uint8 array."""
    w, h = im.size
    side = min(w, h)
    if (w, h) != (side, side):
        left, top = (w - side) // 2, (h - side) // 2
        im = im.crop((left, top, left + side, top + side))
    if side != image_size:
        im = im.resize((image_size, image_size), Image.Resampling.LANCZOS)
    return np.asarray(im, dtype=np.uint8)


def image_png(open_image: Callable[[], Image.Image], image_size: int, mode: str) -> bytes:
    """An image file -> canonical PNG bytes; raises :class:`UnreadableImage`."""
    return encode_png(square_resize(load_image(open_image, mode), image_size))


# --------------------------------------------------------------------------- shared: the table
def canonical_table(
    rows: Sequence[Mapping[str, Any]],
    class_names: Sequence[str],
    metadata: Mapping[str, str],
    what: str,
    fix: str,
) -> pd.DataFrame:
    """Rows (dicts with ``image_id``, ``image``, ``class_name`` and the ``metadata`` columns)
    -> the canonical table; ``label`` is the index of ``class_name`` in ``class_names``.

    ``metadata`` maps column -> dtype. ``what`` names the data and ``fix`` the config key for
    the error raised when no image survived.
    """
    if not rows:
        raise GenaugError(f"no readable images in {what}: {fix}")
    df = pd.DataFrame(list(rows))
    if df["image_id"].duplicated().any():
        dup = df.loc[df["image_id"].duplicated(), "image_id"].iloc[0]
        raise GenaugError(f"image id {dup!r} appears twice in {what}: {fix}")
    index = {c: i for i, c in enumerate(class_names)}
    df["label"] = df["class_name"].map(index).astype("int64")
    df["role"] = ROLE
    df["image_id"] = df["image_id"].astype(str)
    for column, dtype in metadata.items():
        df[column] = df[column].astype(dtype)
    return df[COLUMNS + list(metadata)].reset_index(drop=True)


def write_table(df: pd.DataFrame, out: str | Path, cfg: dict[str, Any], **extra: Any) -> None:
    """Write a canonical table atomically, with its provenance."""
    counts = df["class_name"].value_counts().to_dict()
    meta = provenance(
        cfg,
        preprocessing=PREPROCESSING,
        classes={str(c): int(counts.get(c, 0)) for c in sorted(counts, key=str)},
        **extra,
    )
    write_parquet(df, out, meta=meta)


def log_counts(dataset: str, counts: Mapping[str, int], out: str | Path) -> None:
    log.info(
        "%s: wrote %s with %s",
        dataset,
        out,
        ", ".join(f"{k}={v}" for k, v in counts.items()),
    )


def log_skipped(dataset: str, item: str, reason: str) -> None:
    log.warning("%s: skipped %s (%s)", dataset, item, reason)


# --------------------------------------------------------------------------- ImageFolder
def find_images(root: str | Path) -> tuple[list[str], list[tuple[str, Path]], int]:
    """Scan an ImageFolder-layout ``root``.

    Returns the sorted class names, ``(class_name, path)`` of every image file (sorted by
    class, then relative path) and the number of other files ignored (wrong extension, or
    outside any class folder). Hidden files and folders (``.*``, ``__MACOSX``) are left out.
    """
    root = Path(root)
    if not root.exists():
        raise GenaugError(f"image folder {root} does not exist: set {ROOT_KEY} ({LAYOUT})")
    if not root.is_dir():
        raise GenaugError(f"{root} is not a folder: set {ROOT_KEY} to a folder ({LAYOUT})")
    classes, ignored = [], 0
    for entry in sorted(root.iterdir()):
        if _hidden(entry.name):
            continue
        if entry.is_dir():
            classes.append(entry.name)
        else:
            ignored += 1
    if not classes:
        raise GenaugError(
            f"no class folders in {root}: set {ROOT_KEY} to a folder with one subfolder of "
            f"images per class ({LAYOUT})"
        )
    files = []
    for name in classes:
        found = []
        for dirpath, dirnames, filenames in os.walk(root / name, followlinks=True):
            dirnames[:] = [d for d in dirnames if not _hidden(d)]
            for f in filenames:
                if _hidden(f):
                    continue
                if f.lower().endswith(IMG_EXTENSIONS):
                    found.append(Path(dirpath) / f)
                else:
                    ignored += 1
        if not found:
            raise GenaugError(
                f"class folder {root / name} holds no images ({', '.join(IMG_EXTENSIONS)}): "
                f"add images or remove the folder from {ROOT_KEY}"
            )
        files += [(name, p) for p in sorted(found, key=lambda p: p.relative_to(root).as_posix())]
    if len(classes) < 2:
        raise GenaugError(
            f"{root} has only one class folder ({classes[0]}): a classifier needs >= 2; set "
            f"{ROOT_KEY} to a folder with one subfolder per class ({LAYOUT})"
        )
    return classes, files, ignored


def _hidden(name: str) -> bool:
    return name.startswith(".") or name == "__MACOSX"


def prepare_imagefolder(
    root: str | Path, out: str | Path, image_size: int, channels: int
) -> dict[str, int]:
    """Your own class-per-folder images -> the canonical table at ``out``.

    Metadata column ``path``: the file's path relative to ``root`` (POSIX), which is also its
    ``image_id``. Unreadable or truncated images are skipped. Returns the counts ``kept``,
    ``skipped_image`` and ``ignored_files`` (not images by extension), also logged.
    """
    size, mode = check_image_settings(image_size, channels, "datasets.imagefolder")
    root = Path(root)
    classes, files, ignored = find_images(root)
    rows, skipped = [], 0
    for class_name, path in files:
        rel = path.relative_to(root).as_posix()
        try:
            png = image_png(lambda p=path: Image.open(p), size, mode)
        except UnreadableImage as e:
            skipped += 1
            log_skipped("imagefolder", rel, str(e))
            continue
        rows.append({"image_id": rel, "image": png, "class_name": class_name, "path": rel})
    empty = sorted(set(classes) - {r["class_name"] for r in rows})
    if rows and empty:
        raise GenaugError(
            f"no readable image in class folder(s) {', '.join(empty)} of {root}: fix or remove "
            f"them from {ROOT_KEY}"
        )
    df = canonical_table(
        rows, classes, {"path": "str"}, str(root), f"check the files under {ROOT_KEY}"
    )
    counts = {"kept": len(df), "skipped_image": skipped, "ignored_files": ignored}
    cfg = {"dataset": "imagefolder", "image_size": size, "channels": int(channels)}
    write_table(df, out, cfg, root=str(root), counts=counts)
    log_counts("imagefolder", counts, out)
    return counts
