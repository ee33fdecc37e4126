"""The datasets a config can name, each prepared into the canonical Parquet table.

``dataset.name`` picks one; its settings are the config's ``datasets.<name>`` block (the
schema documents every key). Every failure a user can cause (no URL, a wrong checksum, a
missing folder) is one :class:`~genaug.errors.GenaugError` line that names the key to set.
"""

from __future__ import annotations

from pathlib import Path

from genaug.data import omniglot
from genaug.errors import GenaugError

#: the names ``dataset.name`` accepts (the schema's enum lists the same)
DATASETS = ("omniglot_small", "omniglot_full", "utkface", "celeba", "imagefolder")


def prepare_dataset(name: str, settings: dict, image_size: int, out: str | Path) -> None:
    """Dispatch on ``dataset.name``; ``settings`` is ``datasets.<name>`` of the config."""
    if name == "omniglot_small":
        omniglot.prepare_embedded(Path(settings["path"]), Path(out), image_size)
    elif name == "omniglot_full":
        root = Path(settings["download_dir"])
        omniglot.download_full(root, settings["base_url"], settings["md5"])
        omniglot.prepare_full(
            root,
            Path(out),
            image_size,
            n_source_characters=settings.get("n_source_characters"),
            n_target_characters=settings.get("n_target_characters"),
            pool_archives=settings.get("pool_archives", False),
        )
    elif name == "utkface":
        from genaug.data import utkface

        root = Path(_required(settings, "utkface", "download_dir", "a folder to download into"))
        utkface.download_utkface(root, settings.get("url"), settings.get("md5"))
        utkface.prepare_utkface(root, out, image_size, settings.get("channels", 3))
    elif name == "celeba":
        from genaug.data import celeba

        root = _required(settings, "celeba", "root", "the folder holding the CelebA files")
        celeba.prepare_celeba(
            root,
            out,
            attribute=settings.get("attribute", "Male"),
            image_size=image_size,
            channels=settings.get("channels", 3),
            limit=settings.get("limit"),
            md5=settings.get("md5") or None,
        )
    elif name == "imagefolder":
        from genaug.data import imagefolder

        root = _required(
            settings,
            "imagefolder",
            "root",
            f"a folder with one subfolder of images per class ({imagefolder.LAYOUT})",
        )
        imagefolder.prepare_imagefolder(root, out, image_size, settings.get("channels", 3))
    else:  # the schema's enum keeps this from happening
        raise ValueError(f"unknown dataset {name!r}")


def _required(settings: dict, dataset: str, key: str, what: str) -> str:
    value = settings.get(key)
    if value is None or not str(value).strip():
        raise GenaugError(f"datasets.{dataset}.{key} is not set: set it to {what}")
    return str(value)
