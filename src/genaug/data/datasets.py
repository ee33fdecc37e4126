"""The datasets a config can name, each prepared into the canonical Parquet table."""

from __future__ import annotations

from pathlib import Path

from genaug.data import omniglot


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
    else:  # the schema's enum keeps this from happening
        raise ValueError(f"unknown dataset {name!r}")
