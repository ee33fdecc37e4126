"""Images, Parquet and PNG shards round-trip exactly; interrupted writes leave nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from genaug import io


def sample_table(n: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 12, 12), dtype=np.uint8)
    return pd.DataFrame(
        {
            "sample_id": [f"s{i:03d}" for i in range(n)],
            "image": [io.encode_png(a) for a in images],
            "label": np.arange(n) % 3,
            "source_image_id": pd.array([f"r{i}" if i % 2 else None for i in range(n)], "string"),
            "checkpoint_sha256": "ab" * 32,
        }
    )


def test_png_round_trip():
    a = np.arange(144, dtype=np.uint8).reshape(12, 12)
    assert np.array_equal(io.decode_png(io.encode_png(a)), a)
    with pytest.raises(ValueError):
        io.encode_png(a.astype(np.float32))


def test_to_uint8_rounds_and_clips():
    x = np.array([[[[-0.2, 0.0, 0.5, 1.0, 1.7]]]], dtype=np.float32)
    assert io.to_uint8(x).tolist() == [[[0, 0, 128, 255, 255]]]


def test_parquet_round_trip_with_metadata(tmp_path):
    df = sample_table()
    io.write_parquet(df, tmp_path / "t.parquet", meta={"seed": 3, "config_hash": "x"})
    back = io.read_parquet(tmp_path / "t.parquet")
    pd.testing.assert_frame_equal(back, df)
    assert io.read_parquet_meta(tmp_path / "t.parquet") == {"seed": 3, "config_hash": "x"}
    assert list(tmp_path.iterdir()) == [tmp_path / "t.parquet"]  # no temporary left


def test_shards_round_trip(tmp_path):
    df = sample_table(7)
    shards = io.write_shards(df, tmp_path / "shards", shard_size=3, meta={"seed": 1})
    assert [p.name for p in shards] == ["shard-000000.tar", "shard-000001.tar", "shard-000002.tar"]
    back = io.read_shards(tmp_path / "shards").sort_values("sample_id", ignore_index=True)
    assert back["image"].tolist() == df["image"].tolist()
    assert back["label"].tolist() == df["label"].tolist()
    missing_as_none = [None if pd.isna(v) else v for v in back["source_image_id"]]
    assert missing_as_none == [None if pd.isna(v) else v for v in df["source_image_id"]]
    assert (tmp_path / "shards" / "provenance.json").is_file()


def test_interrupted_write_leaves_nothing(tmp_path):
    target = tmp_path / "out.parquet"
    with pytest.raises(RuntimeError), io.atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    # an existing output survives a failed rewrite untouched
    io.write_json({"a": 1}, tmp_path / "m.json")
    with pytest.raises(RuntimeError), io.atomic_path(tmp_path / "m.json") as tmp:
        tmp.write_text("{")
        raise RuntimeError("killed")
    assert (tmp_path / "m.json").read_text().strip().endswith("}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json"]


def test_png_rgb_round_trip():
    from io import BytesIO

    from PIL import Image

    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, size=(9, 7, 3), dtype=np.uint8)
    png = io.encode_png(rgb)
    assert np.array_equal(io.decode_png(png, mode="RGB"), rgb)
    with Image.open(BytesIO(png)) as im:
        assert im.mode == "RGB" and im.size == (7, 9)
    # the default decode stays grayscale (HxW), whatever the stored mode
    gray = io.decode_png(png)
    assert gray.shape == (9, 7) and gray.dtype == np.uint8
    assert np.array_equal(gray, np.asarray(Image.fromarray(rgb).convert("L")))
    # a grayscale PNG decoded as RGB: three equal channels
    a = np.arange(63, dtype=np.uint8).reshape(9, 7)
    assert np.array_equal(io.decode_png(io.encode_png(a), mode="RGB"), np.stack([a] * 3, -1))
    stacked = io.decode_images([png, png], mode="RGB")
    assert stacked.shape == (2, 9, 7, 3) and np.array_equal(stacked[1], rgb)
    assert io.decode_images([png]).shape == (1, 9, 7)
    for bad in (np.zeros((4, 4, 4), np.uint8), np.zeros((4, 4, 1), np.uint8), rgb.astype(float)):
        with pytest.raises(ValueError):
            io.encode_png(bad)
    with pytest.raises(ValueError, match="mode"):
        io.decode_png(png, mode="RGBA")


def test_killed_shard_writer_leaves_the_old_output_whole(tmp_path):
    """SIGKILL a process half-way through rewriting a shard folder (generate being killed):
    the folder still holds the previous, complete output; only a hidden temporary is left."""
    old = sample_table(4)
    io.write_shards(old, tmp_path / "out.shards", shard_size=3, meta={"version": 1})
    writer = (
        "import sys; import numpy as np, pandas as pd; from genaug import io\n"
        "png = io.encode_png(np.zeros((4, 4), np.uint8))\n"
        "n = 50_000\n"
        "df = pd.DataFrame({'sample_id': [f's{i}' for i in range(n)], 'image': [png] * n,"
        " 'label': np.zeros(n, np.int64)})\n"
        "io.write_shards(df, sys.argv[1], shard_size=5, meta={'version': 2})\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", writer, str(tmp_path / "out.shards")])
    try:
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob(".out.shards.*/out.shards/shard-*.tar")):
            assert proc.poll() is None, "the writer ended before it was killed"
            assert time.monotonic() < deadline, "the writer never started writing"
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    back = io.read_shards(tmp_path / "out.shards").sort_values("sample_id", ignore_index=True)
    assert back["sample_id"].tolist() == old["sample_id"].tolist()
    assert '"version": 1' in (tmp_path / "out.shards" / "provenance.json").read_text()
    visible = [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")]
    assert visible == ["out.shards"]
