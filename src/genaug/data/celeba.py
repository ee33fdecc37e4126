"""CelebA (aligned & cropped faces) as one canonical table, labelled by one binary attribute.

Read through torchvision's own loader, ``torchvision.datasets.CelebA(download=False)``. Its
download goes through Google Drive (and needs ``gdown``), which cannot work offline and is
often over quota, so genaug never downloads: the user places the official files from
https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html in ``datasets.celeba.root`` (or in its
``celeba/`` subfolder, torchvision's layout), see :data:`FILES`.

torchvision checks the md5 of every text file against the official checksums
(``CelebA.file_list``; the image zip may be deleted once extracted, and the images themselves
are not checked). genaug checks them first, to name the file that is missing or differs, then
lets torchvision check again. :func:`prepare_celeba` takes ``md5`` overrides for files that
are not the official ones (the tests' tiny CelebA): the same check runs, against those sums.

The table (see :mod:`genaug.data.imagefolder` for the shared columns) has ``image_id`` = the
file stem (``"000001"``), ``label`` 1 where the attribute is present (``class_name`` e.g.
``"Male"``), 0 where absent (``"not Male"``), and the metadata columns ``partition``
(``"train"`` / ``"valid"`` / ``"test"``, the official split) and ``identity`` (the person,
int64; the official partitions keep identities apart).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from genaug.data.download import error_reason, extract_safely, md5_file
from genaug.data.imagefolder import (
    UnreadableImage,
    canonical_table,
    check_image_settings,
    image_png,
    log_counts,
    log_skipped,
    write_table,
)
from genaug.errors import GenaugError
from genaug.io import atomic_path

CELEBA_HOME = "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html"
IMAGES = "img_align_celeba"
IMAGES_ZIP = f"{IMAGES}.zip"
# what torchvision.datasets.CelebA reads (all required by its integrity check and loader)
TEXT_FILES = (
    "list_attr_celeba.txt",
    "list_eval_partition.txt",
    "identity_CelebA.txt",
    "list_bbox_celeba.txt",
    "list_landmarks_align_celeba.txt",
)
FILES = (f"{IMAGES_ZIP} (or its extracted {IMAGES}/ folder)", *TEXT_FILES)
PARTITIONS = ("train", "valid", "test")  # torchvision's split names, official codes 0, 1, 2
METADATA = {"partition": "str", "identity": "int64"}
LICENSE = {
    "name": "CelebA agreement: non-commercial research and educational purposes only",
    "source": CELEBA_HOME,
}
PLACE = (
    "torchvision's CelebA download (Google Drive) cannot work offline: place the official "
    f"files from {CELEBA_HOME} in datasets.celeba.root (or its celeba/ subfolder)"
)


def official_md5() -> dict[str, str]:
    """``{file name: md5}`` of the official files, from ``torchvision.datasets.CelebA``."""
    from torchvision.datasets import CelebA

    return {name: md5 for _, md5, name in CelebA.file_list}


def celeba_folder(root: str | Path) -> Path:
    """The folder holding the CelebA files: ``root/celeba`` (torchvision's layout) or ``root``."""
    root = Path(root)
    return root / "celeba" if (root / "celeba").is_dir() else root


def check_files(root: str | Path, md5: Mapping[str, str] | None = None) -> Path:
    """Check the CelebA files are in place and intact, extracting the image zip if needed.

    Returns the folder holding them. ``md5`` overrides entries of :func:`official_md5`.
    """
    folder = celeba_folder(root)
    sums = {**official_md5(), **(md5 or {})}
    missing = [f for f in TEXT_FILES if not (folder / f).is_file()]
    if not (folder / IMAGES).is_dir() and not (folder / IMAGES_ZIP).is_file():
        missing.insert(0, FILES[0])
    if missing:
        raise GenaugError(f"CelebA files missing in {folder}: {', '.join(missing)}; {PLACE}")
    for name in TEXT_FILES:
        _check_md5(folder / name, sums[name])
    if not (folder / IMAGES).is_dir():
        _extract_images(folder, sums[IMAGES_ZIP])
    return folder


def _check_md5(path: Path, expected: str) -> None:
    actual = md5_file(path)
    if actual != expected:
        raise GenaugError(
            f"{path} has md5 {actual}, expected {expected} (torchvision checks it too): it is "
            f"not the official file or is corrupt; {PLACE}"
        )


def _extract_images(folder: Path, expected: str) -> None:
    """Extract ``img_align_celeba.zip`` (md5-checked) safely and atomically into
    ``img_align_celeba/``."""
    _check_md5(folder / IMAGES_ZIP, expected)
    with atomic_path(folder / IMAGES) as tmp:
        extract_safely(
            folder / IMAGES_ZIP, tmp.parent, f"replace it with the official file from {CELEBA_HOME}"
        )
        if not tmp.is_dir():
            raise GenaugError(f"{folder / IMAGES_ZIP} has no top folder {IMAGES}/; {PLACE}")


def _loader(folder: Path, md5: Mapping[str, str]):
    """torchvision's CelebA reading ``folder`` (its ``root/base_folder``), checking ``md5``
    (the official sums unless overridden)."""
    from torchvision.datasets import CelebA

    file_list = [(fid, md5.get(name, m), name) for fid, m, name in CelebA.file_list]
    return type("CelebA", (CelebA,), {"base_folder": folder.name, "file_list": file_list})


def prepare_celeba(
    root: str | Path,
    out: str | Path,
    attribute: str = "Male",
    image_size: int = 64,
    channels: int = 3,
    limit: int | None = None,
    md5: Mapping[str, str] | None = None,
) -> dict[str, int]:
    """The official CelebA files in ``root`` -> the canonical table at ``out``, labelled by
    ``attribute`` (1 = present).

    Rows follow the official order (train, valid, test partitions; file-name order within);
    ``limit`` keeps only the first ``limit`` readable images of that order (so only train
    images when ``limit`` <= 162,770). ``md5`` overrides official checksums (module docstring).
    Returns (and logs) the counts ``kept`` and ``skipped_image`` (unreadable or missing
    images).
    """
    size, mode = check_image_settings(image_size, channels, "datasets.celeba")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise GenaugError(f"limit={limit!r} is not a positive integer: set datasets.celeba.limit")
    folder = check_files(root, md5)
    loader = _loader(folder, {**official_md5(), **(md5 or {})})
    splits = {}
    for partition in PARTITIONS:
        try:
            splits[partition] = loader(
                str(folder.parent), split=partition, target_type="attr", download=False
            )
        except RuntimeError as e:  # "Dataset not found or corrupted."
            raise GenaugError(f"torchvision rejects the CelebA files in {folder}: {PLACE}") from e
        except (ValueError, IndexError, TypeError) as e:  # a malformed text file
            raise GenaugError(
                f"cannot parse the CelebA text files in {folder} ({error_reason(e)}); {PLACE}"
            ) from e
    header = list(splits["train"].attr_names)
    names = [a for a in header if a]  # the official header line ends with a blank
    if attribute not in names:
        raise GenaugError(
            f"unknown CelebA attribute {attribute!r}: set datasets.celeba.attribute to one of "
            f"{', '.join(names)}"
        )
    column = header.index(attribute)
    class_names = (f"not {attribute}", attribute)
    rows, skipped = [], 0
    for partition, ds in splits.items():
        for i, filename in enumerate(ds.filename):
            if limit is not None and len(rows) >= limit:
                break
            try:
                png = image_png(lambda ds=ds, i=i: ds[i][0], size, mode)
            except UnreadableImage as e:
                skipped += 1
                log_skipped("celeba", filename, str(e))
                continue
            rows.append(
                {
                    "image_id": Path(filename).stem,
                    "image": png,
                    "class_name": class_names[int(ds.attr[i, column])],
                    "partition": partition,
                    "identity": int(ds.identity[i, 0]),
                }
            )
    df = canonical_table(rows, class_names, METADATA, str(folder), PLACE)
    counts = {"kept": len(df), "skipped_image": skipped}
    cfg = {
        "dataset": "celeba",
        "attribute": attribute,
        "image_size": size,
        "channels": int(channels),
        "limit": limit,
    }
    md5_checked = {name: m for _, m, name in loader.file_list}
    write_table(df, out, cfg, counts=counts, md5=md5_checked, license=LICENSE)
    log_counts("celeba", counts, out)
    return counts
