"""Omniglot as one canonical table.

Every prepared dataset is a Parquet table with the columns of :data:`COLUMNS`, in that order:

- ``image_id``: ``"Alphabet/characterNN/<file stem>"``, unique;
- ``image``: PNG bytes, 8-bit grayscale, ``image_size`` x ``image_size``, ink bright (255) on a
  black (0) background, i.e. the official images inverted;
- ``label``: int64, ``0..C-1`` over all characters of the table, in ``character`` order;
- ``character``: ``"Alphabet/characterNN"``; ``alphabet``;
- ``role``: ``"source"`` (for training the generative model) or ``"target"`` (few-shot);
- ``drawing``: index ``0..19`` of the drawing within its character, in file-name order.

Two sources are supported: the small embedded file ``data/omniglot_small.parquet`` (built
from the official ``images_background_small1/2.zip`` by :func:`build_embedded`, shipped with
the repository) and the full official archives (:func:`download_full`, :func:`prepare_full`).

Rebuild the embedded file with::

    python -m genaug.data.omniglot build-embedded \\
        images_background_small1.zip images_background_small2.zip \\
        --out data/omniglot_small.parquet
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageOps

from genaug import __version__
from genaug.data.download import Source, as_url, fetch_archive, md5_file
from genaug.errors import GenaugError
from genaug.io import encode_png, read_parquet, write_parquet
from genaug.provenance import provenance, sha256_file

COLUMNS = ["image_id", "image", "label", "character", "alphabet", "role", "drawing"]

OMNIGLOT_REPO = "https://github.com/brendenlake/omniglot"
OMNIGLOT_URL = "https://raw.githubusercontent.com/brendenlake/omniglot/master/python"
# torchvision.datasets.Omniglot.zips_md5: the official full archives.
OMNIGLOT_MD5 = {
    "images_background": "68d2efa1b9178cc56df9314c21c6e718",
    "images_evaluation": "6b91aef0f799c5bb55b94e3f2daec811",
}
# The official "small" background sets the embedded dataset is built from.
EMBEDDED_MD5 = {
    "images_background_small1.zip": "e704a628b5459e08445c13499850abc4",
    "images_background_small2.zip": "b75a71a51d3b13f821f212756fe481fd",
}
LICENSE = {
    "name": "MIT",
    "copyright": "Copyright (c) 2015 Brenden Lake",
    "source": OMNIGLOT_REPO,
    "notice": "data/LICENSE-omniglot.txt",
}
REBUILD_HINT = (
    "rebuild it with `python -m genaug.data.omniglot build-embedded "
    "images_background_small1.zip images_background_small2.zip "
    "--out data/omniglot_small.parquet` (zips from "
    f"{OMNIGLOT_REPO}, python/ folder)"
)


# --------------------------------------------------------------------------- reading archives
def iter_archive(path: str | Path) -> Iterator[tuple[str, str, str, bytes]]:
    """Yield ``(alphabet, character_dir, file_name, png_bytes)`` in sorted order.

    ``path`` is an official-layout Omniglot zip (``<archive>/<Alphabet>/characterNN/*.png``)
    or an already-extracted directory of that layout (the ``<archive>`` folder itself or its
    parent).
    """
    path = Path(path)
    if path.is_dir():
        files = {}
        for png in path.rglob("*.png"):
            parts = png.relative_to(path).parts
            if len(parts) >= 3 and not _is_junk(parts):
                files[parts[-3:]] = png
        for key in sorted(files):
            yield (*key, files[key].read_bytes())
    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            names = {}
            for name in zf.namelist():
                parts = tuple(name.split("/"))
                if name.endswith(".png") and len(parts) >= 3 and not _is_junk(parts):
                    names[parts[-3:]] = name
            for key in sorted(names):
                yield (*key, zf.read(names[key]))
    else:
        raise GenaugError(
            f"{path} is neither an Omniglot zip nor a directory: point to the official "
            f"archives from {OMNIGLOT_REPO} (python/ folder)"
        )


def _is_junk(parts: tuple[str, ...]) -> bool:
    return any(p == "__MACOSX" or p.startswith(".") for p in parts)


def preprocess(png: bytes, image_size: int) -> bytes:
    """An official 105x105 1-bit PNG -> ink-bright 8-bit PNG of ``image_size`` x ``image_size``."""
    with Image.open(io.BytesIO(png)) as im:
        im = ImageOps.invert(im.convert("L"))
    return encode_png(_resize(im, image_size))


def _resize(im: Image.Image, image_size: int) -> np.ndarray:
    if im.size != (image_size, image_size):
        im = im.resize((image_size, image_size), Image.Resampling.LANCZOS)
    return np.asarray(im, dtype=np.uint8)


# --------------------------------------------------------------------------- the canonical table
def canonical_table(records: Iterable[tuple[str, str, str, bytes, str]]) -> pd.DataFrame:
    """``(alphabet, character_dir, file_name, image_png, role)`` records -> canonical table.

    Rows are sorted by character and file name; labels and drawing indices follow that order.
    """
    rows = sorted(records, key=lambda r: (f"{r[0]}/{r[1]}", r[2]))
    df = pd.DataFrame(
        {
            "image_id": [f"{a}/{c}/{Path(f).stem}" for a, c, f, _, _ in rows],
            "image": [img for _, _, _, img, _ in rows],
            "character": [f"{a}/{c}" for a, c, _, _, _ in rows],
            "alphabet": [a for a, _, _, _, _ in rows],
            "role": [role for *_, role in rows],
        }
    )
    if df.empty:
        raise GenaugError("no Omniglot images found: check the archive paths")
    if df["image_id"].duplicated().any():
        dup = df.loc[df["image_id"].duplicated(), "image_id"].iloc[0]
        raise GenaugError(f"image {dup} appears twice: pass each archive only once")
    if (df.groupby("character")["role"].nunique() > 1).any():
        raise GenaugError("a character is both source and target: check the role assignment")
    characters = sorted(df["character"].unique())
    df["label"] = df["character"].map({c: i for i, c in enumerate(characters)}).astype("int64")
    df["drawing"] = df.groupby("character").cumcount().astype("int64")
    return df[COLUMNS].reset_index(drop=True)


# --------------------------------------------------------------------------- embedded dataset
def check_embedded_zips(zips: Iterable[str | Path]) -> list[dict[str, str]]:
    """Check the two official small archives are there and intact; return name + md5 of each."""
    where = f"get it from {OMNIGLOT_REPO} (python/ folder)"
    found = {}
    for z in map(Path, zips):
        if not z.is_file():
            raise GenaugError(f"missing Omniglot archive {z}: {where}")
        md5 = md5_file(z)
        name = next((n for n, m in EMBEDDED_MD5.items() if m == md5), None)
        if name is None:
            expected = EMBEDDED_MD5.get(z.name, " or ".join(EMBEDDED_MD5.values()))
            raise GenaugError(
                f"{z} has md5 {md5}, expected {expected}: the file is not an official "
                f"Omniglot small archive or is corrupt; {where}"
            )
        found[name] = md5
    missing = sorted(set(EMBEDDED_MD5) - set(found))
    if missing:
        raise GenaugError(f"build-embedded needs {', '.join(missing)} too: {where}")
    return [{"file": n, "md5": found[n]} for n in sorted(found)]


def build_embedded(
    zips: list[Path],
    out: Path,
    image_size: int = 28,
    target_alphabets: Iterable[str] = ("Japanese_(katakana)",),
) -> pd.DataFrame:
    """Build the embedded dataset from ``images_background_small1.zip`` and ``..._small2.zip``.

    The two archives hold 242 distinct characters (Greek and Latin appear in both and are
    deduplicated by alphabet/character/file), 20 drawings each. Characters of
    ``target_alphabets`` get role ``"target"``, all others ``"source"``. The rows and the
    metadata are deterministic, so the file is reproducible byte for byte (for a given
    pyarrow version).
    """
    sources = check_embedded_zips(zips)
    targets = set(target_alphabets)
    seen: dict[tuple[str, str, str], bytes] = {}
    for z in sorted(map(Path, zips), key=lambda p: p.name):
        for alphabet, character, name, png in iter_archive(z):
            key = (alphabet, character, name)
            if key in seen and seen[key] != png:
                raise GenaugError(f"{'/'.join(key)} differs between the archives: {REBUILD_HINT}")
            seen[key] = png
    absent = targets - {a for a, _, _ in seen}
    if absent:
        raise GenaugError(
            f"target alphabets {sorted(absent)} are not in the archives: choose from "
            f"{sorted({a for a, _, _ in seen})}"
        )
    df = canonical_table(
        (a, c, f, preprocess(png, image_size), "target" if a in targets else "source")
        for (a, c, f), png in seen.items()
    )
    meta = {
        "dataset": "omniglot_small",
        "sources": sources,
        "image_size": image_size,
        "target_alphabets": sorted(targets),
        "preprocessing": "official 1-bit PNG -> L, inverted (ink 255), PIL LANCZOS resize",
        "license": LICENSE,
        "built_by": "python -m genaug.data.omniglot build-embedded",
        "genaug_version": __version__,
    }
    write_parquet(df, out, meta=meta)
    return df


def prepare_embedded(src: Path, out: Path, image_size: int) -> pd.DataFrame:
    """Validate the shipped embedded table, resize it if needed and write it to ``out``."""
    src = Path(src)
    if not src.is_file():
        raise GenaugError(f"missing embedded dataset {src}: {REBUILD_HINT}")
    try:
        df = read_parquet(src)
    except Exception as e:  # a truncated or non-Parquet file
        raise GenaugError(f"cannot read {src} ({type(e).__name__}): {REBUILD_HINT}") from e
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise GenaugError(f"{src} lacks columns {missing}: {REBUILD_HINT}")
    df = df[COLUMNS].copy()
    images, sizes = [], set()
    for image_id, png in zip(df["image_id"], df["image"], strict=True):
        try:
            with Image.open(io.BytesIO(png)) as im:
                im = im.convert("L")
        except Exception as e:
            raise GenaugError(
                f"image {image_id} in {src} is not a readable PNG ({type(e).__name__}): "
                f"{REBUILD_HINT}"
            ) from e
        sizes.add(im.size)
        images.append(
            png if im.size == (image_size, image_size) else encode_png(_resize(im, image_size))
        )
    df["image"] = images
    df["label"] = df["label"].astype("int64")
    df["drawing"] = df["drawing"].astype("int64")
    cfg = {"dataset": "omniglot_small", "image_size": image_size}
    meta = provenance(
        cfg,
        source={"file": src.name, "sha256": sha256_file(src)},
        stored_image_size=sorted(sizes),
        license=LICENSE,
    )
    write_parquet(df, out, meta=meta)
    return df


# --------------------------------------------------------------------------- full dataset
OMNIGLOT_SOURCE = Source(
    url_key="datasets.omniglot_full.base_url",
    md5_key="datasets.omniglot_full.md5",
    mirror="a mirror (a URL or file:// folder holding images_background.zip and "
    "images_evaluation.zip)",
)


def download_full(
    root: Path, base_url: str = OMNIGLOT_URL, md5: dict[str, str] = OMNIGLOT_MD5
) -> dict[str, Path]:
    """Download and extract ``images_background.zip`` and ``images_evaluation.zip`` into ``root``.

    Uses torchvision's downloader (checksum verified) and
    :func:`genaug.data.download.extract_safely`; an archive already in ``root`` with the
    right md5 is not downloaded again. ``base_url`` may be a URL, a ``file://`` URL or a local
    folder. Returns ``{name: extracted folder}``.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    base_url = as_url(base_url).rstrip("/")
    return {
        name: fetch_archive(
            f"{base_url}/{name}.zip", root / f"{name}.zip", root / name, md5[name], OMNIGLOT_SOURCE
        )
        for name in ("images_background", "images_evaluation")
    }


def prepare_full(
    root: Path,
    out: Path,
    image_size: int = 28,
    n_source_characters: int | None = None,
    n_target_characters: int | None = None,
    pool_archives: bool = False,
) -> pd.DataFrame:
    """The full Omniglot as a canonical table.

    By default background -> source, evaluation -> target (the official split), and
    ``n_source_characters`` / ``n_target_characters`` keep only the first characters of each
    role, in sorted order. With ``pool_archives`` the characters of both archives form one
    list (background, then evaluation, each sorted): the first ``n_source_characters`` are the
    source, the next ``n_target_characters`` the target (the DAGAN paper trains its generator
    on the first 1200 of the 1623 characters).

    ``root`` holds the extracted folders (or the zips) made by :func:`download_full`.
    """
    root = Path(root)
    for key, limit in (("source", n_source_characters), ("target", n_target_characters)):
        if limit is not None and limit < 1:
            raise GenaugError(
                f"n_{key}_characters={limit} is below 1: set "
                f"datasets.omniglot_full.n_{key}_characters to >= 1 or null"
            )
    items, characters = {}, {}
    for name in ("images_background", "images_evaluation"):
        archive = root / name if (root / name).is_dir() else root / f"{name}.zip"
        if not archive.exists():
            raise GenaugError(
                f"missing {root / name}: download it first (genaug.data.omniglot.download_full, "
                "datasets.omniglot_full.base_url)"
            )
        items[name] = list(iter_archive(archive))
        characters[name] = sorted({f"{a}/{c}" for a, c, _, _ in items[name]})
    if pool_archives:
        pooled = characters["images_background"] + characters["images_evaluation"]
        n_source = len(pooled) if n_source_characters is None else n_source_characters
        end = None if n_target_characters is None else n_source + n_target_characters
        roles = {c: "source" for c in pooled[:n_source]}
        roles.update({c: "target" for c in pooled[n_source:end]})
    else:
        roles = {c: "source" for c in characters["images_background"][:n_source_characters]}
        roles.update({c: "target" for c in characters["images_evaluation"][:n_target_characters]})
    records = [
        (a, c, f, preprocess(png, image_size), roles[f"{a}/{c}"])
        for archive_items in items.values()
        for a, c, f, png in archive_items
        if f"{a}/{c}" in roles
    ]
    df = canonical_table(records)
    cfg = {
        "dataset": "omniglot_full",
        "image_size": image_size,
        "n_source_characters": n_source_characters,
        "n_target_characters": n_target_characters,
        "pool_archives": pool_archives,
    }
    meta = provenance(
        cfg,
        md5=OMNIGLOT_MD5,
        license=LICENSE,
        characters={r: int(n) for r, n in df.groupby("role")["character"].nunique().items()},
    )
    write_parquet(df, out, meta=meta)
    return df


# --------------------------------------------------------------------------- command line
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m genaug.data.omniglot",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser(
        "build-embedded",
        help="build data/omniglot_small.parquet from the "
        "official images_background_small1.zip and images_background_small2.zip",
    )
    p.add_argument("zips", nargs=2, type=Path, metavar="ZIP")
    p.add_argument("--out", type=Path, default=Path("data/omniglot_small.parquet"))
    p.add_argument("--image-size", type=int, default=28)
    args = parser.parse_args(argv)
    try:
        df = build_embedded(args.zips, args.out, image_size=args.image_size)
    except GenaugError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    roles = df.drop_duplicates("character")["role"].value_counts().to_dict()
    print(
        f"wrote {args.out}: {len(df)} images, {df['character'].nunique()} characters "
        f"{roles}, {os.path.getsize(args.out)} bytes"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
