"""The Omniglot data layer: embedded build, the real download path, prepared tables."""

from __future__ import annotations

import hashlib
import os
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import free_port, serve_folder
from genaug.data import omniglot
from genaug.errors import GenaugError
from genaug.io import decode_images, read_parquet, read_parquet_meta, write_parquet

REPO = Path(__file__).resolve().parents[1]
EMBEDDED = REPO / "data" / "omniglot_small.parquet"
SMALL_ZIPS = ("images_background_small1.zip", "images_background_small2.zip")
# a few alphabets of the small zips, re-packed in the layout of the official full archives
OFFICIAL = {
    "images_background": ("Greek", "Latin"),
    "images_evaluation": ("Tagalog", "Early_Aramaic"),
}
CHARS_PER_ALPHABET = 3


@pytest.fixture(scope="module")
def small_zips() -> list[Path]:
    folder = Path(os.environ.get("GENAUG_OMNIGLOT_ZIPS", REPO.parent / "shared/data/omniglot"))
    zips = [folder / name for name in SMALL_ZIPS]
    if not all(z.is_file() for z in zips):
        pytest.skip(
            f"official Omniglot small zips not in {folder}: set GENAUG_OMNIGLOT_ZIPS to the "
            "folder holding images_background_small1.zip and images_background_small2.zip"
        )
    return zips


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def official_zips(small_zips, tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """images_background.zip / images_evaluation.zip in the official layout, and their md5s."""
    folder = tmp_path_factory.mktemp("mirror")
    files = {}
    for z in small_zips:
        for alphabet, character, name, png in omniglot.iter_archive(z):
            if int(character.removeprefix("character")) <= CHARS_PER_ALPHABET:
                files[(alphabet, character, name)] = png
    for archive, alphabets in OFFICIAL.items():
        with zipfile.ZipFile(folder / f"{archive}.zip", "w", zipfile.ZIP_DEFLATED) as zf:
            for (alphabet, character, name), png in sorted(files.items()):
                if alphabet in alphabets:
                    info = zipfile.ZipInfo(f"{archive}/{alphabet}/{character}/{name}")
                    zf.writestr(info, png)
    return folder, {a: md5(folder / f"{a}.zip") for a in OFFICIAL}


@pytest.fixture
def mirror(official_zips):
    """An HTTP server on 127.0.0.1 serving the archive folder; yields (url, requests)."""
    with serve_folder(official_zips[0]) as served:
        yield served


def check_canonical(df: pd.DataFrame, image_size: int, dense_labels: bool = True) -> np.ndarray:
    assert list(df.columns) == omniglot.COLUMNS
    assert df["image_id"].is_unique
    assert df["label"].dtype == np.int64 and df["drawing"].dtype == np.int64
    characters = sorted(df["character"].unique())
    if dense_labels:
        assert df["label"].tolist() == [characters.index(c) for c in df["character"]]
    assert (df.groupby("character")["label"].nunique() == 1).all()
    assert df["label"].nunique() == len(characters)
    assert set(df["role"]) <= {"source", "target"}
    assert (
        df.groupby("character")["drawing"].apply(lambda d: sorted(d) == list(range(len(d))))
    ).all()
    images = decode_images(df["image"])
    assert images.shape == (len(df), image_size, image_size) and images.dtype == np.uint8
    assert images.mean() < 64 and images.max() == 255  # ink bright on black
    return images


# --------------------------------------------------------------------------- embedded
def test_build_embedded_matches_committed(small_zips, tmp_path):
    out = tmp_path / "small.parquet"
    df = omniglot.build_embedded(small_zips, out)
    check_canonical(df, 28)
    assert df["character"].nunique() == 242 and len(df) == 242 * 20
    assert (df.groupby("character").size() == 20).all()
    per_role = df.drop_duplicates("character")["role"].value_counts().to_dict()
    assert per_role == {"source": 195, "target": 47}
    per_alphabet = df.drop_duplicates("character")["alphabet"].value_counts().to_dict()
    assert per_alphabet == {
        "Japanese_(katakana)": 47, "Sanskrit": 42, "Korean": 40, "Latin": 26,
        "Balinese": 24, "Greek": 24, "Early_Aramaic": 22, "Tagalog": 17,
    }  # fmt: skip
    assert set(df.loc[df["role"] == "target", "alphabet"]) == {"Japanese_(katakana)"}
    meta = read_parquet_meta(out)
    assert meta["image_size"] == 28 and meta["license"]["name"] == "MIT"
    assert {s["md5"] for s in meta["sources"]} == set(omniglot.EMBEDDED_MD5.values())
    assert out.stat().st_size < 2_000_000
    # reproducible: the rebuilt rows are the committed rows
    pd.testing.assert_frame_equal(read_parquet(out), read_parquet(EMBEDDED))


def test_build_embedded_bad_zips(small_zips, tmp_path):
    with pytest.raises(GenaugError, match="missing Omniglot archive .*brendenlake/omniglot"):
        omniglot.build_embedded([small_zips[0], tmp_path / "nope.zip"], tmp_path / "o.parquet")
    fake = tmp_path / SMALL_ZIPS[1]
    fake.write_bytes(b"not the archive")
    with pytest.raises(GenaugError, match=f"{SMALL_ZIPS[1]} has md5 .*expected"):
        omniglot.build_embedded([small_zips[0], fake], tmp_path / "o.parquet")
    with pytest.raises(GenaugError, match=f"needs {SMALL_ZIPS[1]}"):
        omniglot.build_embedded([small_zips[0], small_zips[0]], tmp_path / "o.parquet")
    assert not (tmp_path / "o.parquet").exists()


def test_cli_reports_errors_in_one_line(tmp_path, capsys):
    rc = omniglot.main(["build-embedded", str(tmp_path / "a.zip"), str(tmp_path / "b.zip")])
    err = capsys.readouterr().err
    assert rc == 1 and err.startswith("error: missing Omniglot archive") and err.count("\n") == 1


def test_prepare_embedded(tmp_path):
    df = omniglot.prepare_embedded(EMBEDDED, tmp_path / "a.parquet", image_size=28)
    check_canonical(df, 28)
    assert df["image"].tolist() == read_parquet(EMBEDDED)["image"].tolist()
    assert read_parquet_meta(tmp_path / "a.parquet")["config"]["image_size"] == 28

    small = read_parquet(EMBEDDED).groupby("role").head(40).reset_index(drop=True)
    write_parquet(small, tmp_path / "small.parquet")
    df32 = omniglot.prepare_embedded(tmp_path / "small.parquet", tmp_path / "b.parquet", 32)
    check_canonical(read_parquet(tmp_path / "b.parquet"), 32, dense_labels=False)
    pd.testing.assert_frame_equal(df32.drop(columns="image"), small.drop(columns="image"))


def test_prepare_embedded_rejects_bad_input(tmp_path):
    small = read_parquet(EMBEDDED).head(10)
    corrupt = small.copy()
    corrupt.loc[3, "image"] = corrupt.loc[3, "image"][:20]
    write_parquet(corrupt, tmp_path / "corrupt.parquet")
    with pytest.raises(GenaugError, match="not a readable PNG.*build-embedded"):
        omniglot.prepare_embedded(tmp_path / "corrupt.parquet", tmp_path / "out.parquet", 28)
    write_parquet(small.drop(columns=["role"]), tmp_path / "norole.parquet")
    with pytest.raises(GenaugError, match=r"lacks columns \['role'\].*build-embedded"):
        omniglot.prepare_embedded(tmp_path / "norole.parquet", tmp_path / "out.parquet", 28)
    with pytest.raises(GenaugError, match="missing embedded dataset.*build-embedded"):
        omniglot.prepare_embedded(tmp_path / "absent.parquet", tmp_path / "out.parquet", 28)
    assert not (tmp_path / "out.parquet").exists()


# --------------------------------------------------------------------------- full dataset
def test_md5_constants_match_torchvision():
    from torchvision.datasets import Omniglot

    assert omniglot.OMNIGLOT_MD5 == Omniglot.zips_md5
    assert omniglot.OMNIGLOT_URL == Omniglot.download_url_prefix


def test_download_and_prepare_full(official_zips, mirror, tmp_path):
    url, requests = mirror
    _, md5s = official_zips
    root = tmp_path / "omniglot"
    folders = omniglot.download_full(root, base_url=url, md5=md5s)
    assert folders == {a: root / a for a in OFFICIAL}
    assert all(md5(root / f"{a}.zip") == md5s[a] for a in OFFICIAL)
    assert any(r.endswith("images_background.zip") for r in requests)
    n_requests = len(requests)
    assert omniglot.download_full(root, base_url=url, md5=md5s) == folders
    assert len(requests) == n_requests  # already there: no new download

    df = omniglot.prepare_full(root, tmp_path / "full.parquet")
    check_canonical(df, 28)
    n_chars = len(OFFICIAL["images_background"]) * CHARS_PER_ALPHABET
    chars = df.drop_duplicates("character")
    assert chars["role"].value_counts().to_dict() == {"source": n_chars, "target": n_chars}
    assert set(chars.loc[chars["role"] == "target", "alphabet"]) == set(
        OFFICIAL["images_evaluation"]
    )
    assert len(df) == 2 * n_chars * 20 and df["label"].max() == 2 * n_chars - 1
    pd.testing.assert_frame_equal(read_parquet(tmp_path / "full.parquet"), df)

    few = omniglot.prepare_full(root, tmp_path / "few.parquet", 32, n_source_characters=2,
                                n_target_characters=4)  # fmt: skip
    check_canonical(few, 32)
    chars = few.drop_duplicates("character")
    assert chars["role"].value_counts().to_dict() == {"source": 2, "target": 4}
    assert chars["character"].tolist() == sorted(
        sorted(df.loc[df["role"] == "source", "character"].unique())[:2]
        + sorted(df.loc[df["role"] == "target", "character"].unique())[:4]
    )

    # the DAGAN protocol pools both archives: the first characters train the generator,
    # the next ones are the classifier's; the rest are dropped
    pooled = omniglot.prepare_full(
        root, tmp_path / "p.parquet", n_source_characters=n_chars + 1, n_target_characters=2,
        pool_archives=True,
    )  # fmt: skip
    chars = pooled.drop_duplicates("character")
    assert chars["role"].value_counts().to_dict() == {"source": n_chars + 1, "target": 2}
    background = set(OFFICIAL["images_background"])
    source = chars[chars["role"] == "source"]
    assert source["alphabet"].isin(background).sum() == n_chars  # every background character
    assert not chars.loc[chars["role"] == "target", "alphabet"].isin(background).any()


def test_download_from_local_folder(official_zips, tmp_path):
    folder, md5s = official_zips
    folders = omniglot.download_full(tmp_path / "o", base_url=folder.as_uri(), md5=md5s)
    assert all(p.is_dir() for p in folders.values())
    folders = omniglot.download_full(tmp_path / "p", base_url=str(folder), md5=md5s)
    assert all(p.is_dir() for p in folders.values())
    wrong = {**md5s, "images_evaluation": "0" * 32}
    with pytest.raises(GenaugError, match="images_evaluation.zip .*datasets.omniglot_full.md5"):
        omniglot.download_full(tmp_path / "q", base_url=folder.as_uri(), md5=wrong)
    assert sorted(p.name for p in (tmp_path / "q").iterdir()) == [
        "images_background",
        "images_background.zip",
    ]
    with pytest.raises(GenaugError, match="cannot download .*no such file"):
        omniglot.download_full(tmp_path / "r", base_url=str(tmp_path / "none"), md5=md5s)
    assert list((tmp_path / "r").iterdir()) == []


def test_download_wrong_md5(official_zips, mirror, tmp_path):
    url, _ = mirror
    _, md5s = official_zips
    wrong = {**md5s, "images_background": "0" * 32}
    root = tmp_path / "omniglot"
    with pytest.raises(GenaugError) as err:
        omniglot.download_full(root, base_url=url, md5=wrong)
    msg = str(err.value)
    assert "\n" not in msg and "images_background.zip" in msg
    assert "0" * 32 in msg and md5s["images_background"] in msg
    assert "datasets.omniglot_full.md5" in msg
    assert list(root.iterdir()) == []  # no partial zip, no half-extracted folder


def test_download_unreachable_fails_fast(tmp_path):
    import torchvision.datasets.utils  # noqa: F401  (imported before the clock starts)

    md5s = {"images_background": "0" * 32, "images_evaluation": "0" * 32}
    url = f"http://127.0.0.1:{free_port()}"
    root = tmp_path / "omniglot"
    start = time.monotonic()
    with pytest.raises(GenaugError) as err:
        omniglot.download_full(root, base_url=url, md5=md5s)
    assert time.monotonic() - start < 5
    msg = str(err.value)
    assert "\n" not in msg
    assert f"cannot download {url}/images_background.zip" in msg
    assert "datasets.omniglot_full.base_url" in msg
    assert list(root.iterdir()) == []


def test_prepare_full_needs_download(tmp_path):
    with pytest.raises(GenaugError, match="download_full"):
        omniglot.prepare_full(tmp_path, tmp_path / "out.parquet")
