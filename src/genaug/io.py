"""Images, Parquet tables and PNG shards: written atomically, read back exactly."""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from genaug.errors import GenaugError

#: the file-metadata key of the provenance
META_KEY = "genaug"


# --------------------------------------------------------------------------- images
def encode_png(image: np.ndarray) -> bytes:
    """uint8 HxW (grayscale, PNG mode "L") or HxWx3 (colour, mode "RGB") array -> PNG bytes."""
    if image.dtype != np.uint8 or not (
        image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)
    ):
        raise ValueError(f"expected a uint8 HxW or HxWx3 array, got {image.dtype} {image.shape}")
    buf = io.BytesIO()
    mode = "L" if image.ndim == 2 else "RGB"
    Image.fromarray(np.ascontiguousarray(image), mode=mode).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def decode_png(data: bytes, mode: str = "L") -> np.ndarray:
    """PNG bytes -> uint8 array: HxW for ``mode="L"`` (grayscale, the default), HxWx3 for
    ``mode="RGB"``; images stored in another mode are converted."""
    if mode not in ("L", "RGB"):
        raise ValueError(f"mode must be 'L' or 'RGB', got {mode!r}")
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert(mode), dtype=np.uint8)


def decode_images(column: Iterable[bytes], mode: str = "L") -> np.ndarray:
    """A column of PNG bytes -> uint8 array N x H x W (``mode="L"``) or N x H x W x 3 ("RGB")."""
    return np.stack([decode_png(b, mode) for b in column])


def png_mode(data: bytes) -> str:
    """``"RGB"`` for a colour PNG (RGB, RGBA, a colour palette), ``"L"`` for a grayscale one:
    the mode to decode a table's images in."""
    with Image.open(io.BytesIO(data)) as im:
        if im.mode == "P":
            return "RGB" if im.palette is not None and im.palette.mode.startswith("RGB") else "L"
        return "RGB" if im.mode in ("RGB", "RGBA", "RGBX", "CMYK", "YCbCr") else "L"


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Float images in [0, 1] -> uint8: N x 1 x H x W (or N x H x W) -> N x H x W, and
    N x 3 x H x W -> N x H x W x 3 (what :func:`encode_png` takes)."""
    arr = np.asarray(images, dtype=np.float32)
    if arr.ndim == 4:
        if arr.shape[1] == 1:
            arr = arr[:, 0]
        elif arr.shape[1] == 3:
            arr = arr.transpose(0, 2, 3, 1)
        else:
            raise ValueError(f"expected N x 1 x H x W or N x 3 x H x W images, got {arr.shape}")
    return np.clip(np.rint(arr * 255.0), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- atomic files
@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling path; move it onto ``path`` only if the block succeeds.

    Works for files and directories, so an interrupted job never leaves a half-written
    output that a later rule could read.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent)) / path.name
    try:
        yield tmp
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp.parent, ignore_errors=True)


def write_parquet(
    df: pd.DataFrame,
    path: str | Path,
    meta: dict[str, Any] | None = None,
    extra: dict[str, dict[str, Any]] | None = None,
) -> None:
    """Write ``df`` atomically, with ``meta`` stored as JSON in the file's key-value metadata
    (key ``genaug``) and each ``extra`` entry as JSON under its own key."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    entries = {**({} if meta is None else {META_KEY: meta}), **(extra or {})}
    if entries:
        schema_meta = dict(table.schema.metadata or {})
        for key, value in entries.items():
            schema_meta[key.encode()] = json.dumps(value, sort_keys=True, default=str).encode()
        table = table.replace_schema_metadata(schema_meta)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def read_parquet(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise GenaugError(f"missing table {path}: run the workflow rule that makes it first")
    return pq.read_table(path).to_pandas()


def read_parquet_meta(path: str | Path, key: str = META_KEY) -> dict[str, Any]:
    """The JSON stored under ``key`` in the file's metadata (by default the provenance), or
    an empty dict."""
    raw = (pq.read_schema(path).metadata or {}).get(key.encode())
    return json.loads(raw) if raw else {}


def write_json(obj: Any, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


# --------------------------------------------------------------------------- shards
def write_shards(
    df: pd.DataFrame, outdir: str | Path, shard_size: int, meta: dict[str, Any]
) -> list[Path]:
    """Write rows (``sample_id``, ``image`` PNG bytes, ``label``) as webdataset tar shards.

    Each sample is ``<key>.png`` plus a ``<key>.cls`` label sidecar and a ``<key>.json`` with
    the row's other columns; the directory is swapped in atomically and carries a
    ``provenance.json``.
    """
    outdir = Path(outdir)
    with atomic_path(outdir) as tmp:
        tmp.mkdir()
        names = []
        for start in range(0, max(len(df), 1), shard_size):
            name = f"shard-{start // shard_size:06d}.tar"
            with tarfile.open(tmp / name, "w") as tar:
                for row in df.iloc[start : start + shard_size].itertuples(index=False):
                    rec = row._asdict()
                    key = str(rec.pop("sample_id"))
                    png = rec.pop("image")
                    _add_member(tar, f"{key}.png", png)
                    _add_member(tar, f"{key}.cls", str(int(rec["label"])).encode())
                    _add_member(tar, f"{key}.json", json.dumps(rec, default=_jsonable).encode())
            names.append(name)
        (tmp / "provenance.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
    return [outdir / n for n in names]


def read_shards(outdir: str | Path) -> pd.DataFrame:
    """Read webdataset shards written by :func:`write_shards` back into a table."""
    rows: dict[str, dict[str, Any]] = {}
    for shard in sorted(Path(outdir).glob("shard-*.tar")):
        with tarfile.open(shard) as tar:
            for member in tar.getmembers():
                key, ext = member.name.rsplit(".", 1)
                data = tar.extractfile(member).read()
                rec = rows.setdefault(key, {"sample_id": key})
                if ext == "png":
                    rec["image"] = data
                elif ext == "cls":
                    rec["label"] = int(data.decode())
                elif ext == "json":
                    rec.update({k: v for k, v in json.loads(data).items() if k != "label"})
    return pd.DataFrame(list(rows.values()))


def _add_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0  # reproducible archives
    tar.addfile(info, io.BytesIO(data))


def _jsonable(value: Any) -> Any:
    if value is pd.NA:
        return None
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def json_safe(obj: Any) -> Any:
    """``obj`` as plain JSON types (e.g. to store provenance inside a weights-only checkpoint)."""
    return json.loads(json.dumps(obj, default=_jsonable))
