"""The class-imbalance datasets: UTKFace, CelebA and your own ImageFolder, as canonical tables.

Everything is built here, tiny, in the official layouts: a ``UTKFace.tar.gz`` served over
loopback HTTP, a CelebA folder that ``torchvision.datasets.CelebA`` accepts, class folders.
"""

from __future__ import annotations

import hashlib
import io
import logging
import tarfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image, ImageFile

from conftest import free_port, serve_folder
from genaug.data import celeba, imagefolder, utkface
from genaug.data.datasets import prepare_dataset
from genaug.errors import GenaugError
from genaug.io import decode_images, read_parquet, read_parquet_meta

# --------------------------------------------------------------------------- helpers
COLOURS = {0: (200, 40, 40), 1: (40, 40, 200)}  # label -> dominant colour of its images


def jpeg(colour: tuple[int, int, int], size: tuple[int, int] = (40, 40), seed: int = 0) -> bytes:
    """A small synthetic 'face': a noisy disc of ``colour`` on grey."""
    w, h = size
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    disc = (xx - w / 2) ** 2 + (yy - h / 2) ** 2 < (min(w, h) / 2.5) ** 2
    arr = np.full((h, w, 3), 128, np.uint8)
    arr[disc] = colour
    arr = np.clip(arr + rng.integers(-10, 10, arr.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def png_mode(png: bytes) -> str:
    with Image.open(io.BytesIO(png)) as im:
        return im.mode


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def check_table(df: pd.DataFrame, metadata: list[str], image_size: int, channels: int):
    assert list(df.columns) == imagefolder.COLUMNS + metadata
    assert df["image_id"].is_unique and df["label"].dtype == np.int64
    assert set(df["role"]) == {"target"}
    assert (df.groupby("class_name")["label"].nunique() == 1).all()
    assert df["label"].nunique() == df["class_name"].nunique()
    mode = "L" if channels == 1 else "RGB"
    assert {png_mode(p) for p in df["image"]} == {mode}
    images = decode_images(df["image"], mode=mode)
    shape = (image_size, image_size) if channels == 1 else (image_size, image_size, 3)
    assert images.shape == (len(df), *shape)
    return images


def test_truncated_jpeg_really_fails(monkeypatch):
    """Even with PIL's global switch on, a truncated JPEG is unreadable, and the switch is
    left as it was."""
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    data = truncated(jpeg((1, 2, 3)))
    with pytest.raises(imagefolder.UnreadableImage, match="truncated"):
        imagefolder.load_image(lambda: Image.open(io.BytesIO(data)), "RGB")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True
    im = imagefolder.load_image(lambda: Image.open(io.BytesIO(jpeg((1, 2, 3)))), "L")
    assert im.mode == "L" and im.size == (40, 40)


def test_square_resize_center_crops():
    arr = np.zeros((20, 40), np.uint8)
    arr[:, 10:30] = 255  # a white centre square between black side bands
    out = imagefolder.square_resize(Image.fromarray(arr), 8)
    assert out.shape == (8, 8) and out.min() == 255
    tall = imagefolder.square_resize(Image.fromarray(np.ascontiguousarray(arr.T)), 5)
    assert tall.shape == (5, 5) and tall.min() == 255


# --------------------------------------------------------------------------- UTKFace
UTK_GOOD = {  # file name -> (age, gender, race)
    "1_0_2_20161219140530307.jpg.chip.jpg": (1, 0, 2),
    "25_0_0_20170116174525125.jpg.chip.jpg": (25, 0, 0),
    "31_1_2_20170109142408075.jpg.chip.jpg": (31, 1, 2),
    "67_0_3_20170117190431711.jpg.chip.jpg": (67, 0, 3),
    "8_1_4_20170109150557335.jpg.chip.jpg": (8, 1, 4),
}
UTK_BAD_NAMES = (
    "39_1_20170116174525125.jpg.chip.jpg",  # the race field is missing (as in the real archive)
    "2x_0_1_20170116174525125.jpg.chip.jpg",  # age is not an integer
)
UTK_TRUNCATED = "50_1_1_20170116174525126.jpg.chip.jpg"


@pytest.fixture(scope="module")
def utk_archive(tmp_path_factory) -> tuple[Path, str]:
    """``UTKFace.tar.gz`` in the official layout, and its md5."""
    folder = tmp_path_factory.mktemp("utk_mirror")
    files = {n: jpeg(COLOURS[g], seed=i) for i, (n, (_, g, _)) in enumerate(UTK_GOOD.items())}
    files |= {n: jpeg((90, 90, 90)) for n in UTK_BAD_NAMES}
    files[UTK_TRUNCATED] = truncated(jpeg(COLOURS[1], seed=9))
    with tarfile.open(folder / "UTKFace.tar.gz", "w:gz") as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(f"UTKFace/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return folder, md5(folder / "UTKFace.tar.gz")


@pytest.fixture
def mirror(utk_archive):
    """An HTTP server on 127.0.0.1 serving the archive folder; yields (url, requests)."""
    with serve_folder(utk_archive[0]) as served:
        yield served


def test_utkface_download_and_prepare(utk_archive, mirror, tmp_path, caplog):
    url, requests = mirror
    _, archive_md5 = utk_archive
    root = tmp_path / "utk"
    folder = utkface.download_utkface(root, f"{url}/UTKFace.tar.gz", archive_md5)
    assert folder == root / "UTKFace" and md5(root / "UTKFace.tar.gz") == archive_md5
    assert len(list(folder.iterdir())) == len(UTK_GOOD) + len(UTK_BAD_NAMES) + 1
    assert requests and all(r == "/UTKFace.tar.gz" for r in requests)
    n_requests = len(requests)
    assert utkface.download_utkface(root, f"{url}/UTKFace.tar.gz", archive_md5) == folder
    assert len(requests) == n_requests  # already there: not fetched again
    assert sorted(p.name for p in root.iterdir()) == ["UTKFace", "UTKFace.tar.gz"]

    out = tmp_path / "utk.parquet"
    with caplog.at_level(logging.INFO, logger="genaug"):
        counts = utkface.prepare_utkface(root, out, image_size=16, channels=3)
    assert counts == {"kept": 5, "skipped_name": 2, "skipped_image": 1}
    assert "kept=5, skipped_name=2, skipped_image=1" in caplog.text
    assert all(n in caplog.text for n in (*UTK_BAD_NAMES, UTK_TRUNCATED))
    df = read_parquet(out)
    images = check_table(df, ["age", "race"], 16, 3)
    expected = [UTK_GOOD[n] for n in sorted(UTK_GOOD)]
    assert df["image_id"].tolist() == [n.removesuffix(".jpg.chip.jpg") for n in sorted(UTK_GOOD)]
    assert df["label"].tolist() == [g for _, g, _ in expected]
    assert df["class_name"].tolist() == [("male", "female")[g] for _, g, _ in expected]
    assert df["age"].tolist() == [a for a, _, _ in expected] and df["age"].dtype == np.int64
    assert df["race"].tolist() == [r for _, _, r in expected] and df["race"].dtype == np.int64
    centre = images[:, 6:10, 6:10].astype(float).mean(axis=(1, 2))  # the disc's colour
    red_over_blue = centre[:, 0] > centre[:, 2]
    assert red_over_blue.tolist() == (df["label"] == 0).tolist()
    meta = read_parquet_meta(out)
    assert meta["counts"] == counts and meta["config"]["channels"] == 3
    assert meta["classes"] == {"female": 2, "male": 3}

    gray = tmp_path / "gray.parquet"
    assert utkface.prepare_utkface(folder, gray, image_size=12, channels=1)["kept"] == 5
    check_table(read_parquet(gray), ["age", "race"], 12, 1)


def test_utkface_wrong_md5(mirror, tmp_path):
    url, _ = mirror
    root = tmp_path / "utk"
    with pytest.raises(GenaugError) as err:
        utkface.download_utkface(root, f"{url}/UTKFace.tar.gz", "0" * 32)
    msg = str(err.value)
    assert "\n" not in msg and "UTKFace.tar.gz" in msg and "0" * 32 in msg
    assert "datasets.utkface.md5" in msg
    assert list(root.iterdir()) == []  # no partial archive, no half-extracted folder


def test_utkface_unreachable_fails_fast(tmp_path):
    import torchvision.datasets.utils  # noqa: F401  (imported before the clock starts)

    url = f"http://127.0.0.1:{free_port()}/UTKFace.tar.gz"
    root = tmp_path / "utk"
    start = time.monotonic()
    with pytest.raises(GenaugError) as err:
        utkface.download_utkface(root, url, "0" * 32)
    assert time.monotonic() - start < 5
    msg = str(err.value)
    assert "\n" not in msg and f"cannot download {url}" in msg
    assert "datasets.utkface.url" in msg
    assert list(root.iterdir()) == []


def test_utkface_needs_url_and_md5(utk_archive, tmp_path):
    folder, archive_md5 = utk_archive
    for url, md5_ in (("", archive_md5), (None, None), (utkface.UTKFACE_URL, "")):
        with pytest.raises(GenaugError) as err:
            utkface.download_utkface(tmp_path / "u", url, md5_)
        msg = str(err.value)
        assert "\n" not in msg and "datasets.utkface.url" in msg and "datasets.utkface.md5" in msg
    with pytest.raises(GenaugError, match="not an md5 checksum: set datasets.utkface.md5"):
        utkface.download_utkface(tmp_path / "u", str(folder / "UTKFace.tar.gz"), "abc")
    with pytest.raises(GenaugError, match="no UTKFace images .*datasets.utkface.url"):
        utkface.prepare_utkface(tmp_path, tmp_path / "out.parquet")
    assert not (tmp_path / "out.parquet").exists()


def test_utkface_local_archive(utk_archive, tmp_path):
    folder, archive_md5 = utk_archive
    archive = folder / "UTKFace.tar.gz"
    for i, url in enumerate((str(archive), archive.as_uri())):
        got = utkface.download_utkface(tmp_path / f"r{i}", url, archive_md5)
        assert len(list(got.glob("*.jpg.chip.jpg"))) == 8
    with pytest.raises(GenaugError, match="expected 0{32}: fix datasets.utkface.md5"):
        utkface.download_utkface(tmp_path / "bad", archive.as_uri(), "0" * 32)
    assert list((tmp_path / "bad").iterdir()) == []
    with pytest.raises(GenaugError, match="cannot download .*no such file.*datasets.utkface.url"):
        utkface.download_utkface(tmp_path / "none", str(tmp_path / "nope.tar.gz"), archive_md5)
    not_tar = tmp_path / "UTKFace.tar.gz"
    not_tar.write_bytes(b"not a tar archive")
    with pytest.raises(GenaugError, match="cannot be extracted .*datasets.utkface.url"):
        utkface.download_utkface(tmp_path / "nt", str(not_tar), md5(not_tar))
    assert not (tmp_path / "nt" / "UTKFace").exists()


@pytest.mark.parametrize(
    "name, reason",
    [
        ("39_1_20170116174525125.jpg.chip.jpg", "3 fields"),
        ("53__0_20170116184028385.jpg.chip.jpg", "gender ''"),
        ("x_0_0_20170116184028385.jpg.chip.jpg", "age 'x'"),
        ("20_2_0_20170116184028385.jpg.chip.jpg", "gender '2'"),
        ("20_0_7_20170116184028385.jpg.chip.jpg", "race '7'"),
        ("20_0_1_2017011618402838a.jpg.chip.jpg", "datetime"),
        ("20_0_1_20170116184028385.jpg", "does not end with"),
    ],
)
def test_utkface_malformed_names(name, reason):
    assert reason in utkface.parse_name(name)


def test_utkface_name_parsed():
    assert utkface.parse_name("100_1_0_20170112213303693.jpg.chip.jpg") == (100, 1, 0)


# --------------------------------------------------------------------------- CelebA
ATTRIBUTES = (
    "5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose "
    "Black_Hair Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee "
    "Gray_Hair Heavy_Makeup High_Cheekbones Male Mouth_Slightly_Open Mustache Narrow_Eyes "
    "No_Beard Oval_Face Pale_Skin Pointy_Nose Receding_Hairline Rosy_Cheeks Sideburns Smiling "
    "Straight_Hair Wavy_Hair Wearing_Earrings Wearing_Hat Wearing_Lipstick Wearing_Necklace "
    "Wearing_Necktie Young"
).split()
CELEBA_N = 9
CELEBA_PARTITION = [0, 0, 0, 0, 0, 1, 1, 2, 2]  # official codes: 0 train, 1 valid, 2 test
CELEBA_TRUNCATED = 4  # 000005.jpg
MALE = [1, 0, 0, 1, 1, 0, 1, 0, 1]


def write_celeba(folder: Path, images: str = "folder") -> dict[str, str]:
    """A tiny CelebA in the official file formats; returns the md5 of every file."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [f"{i + 1:06d}.jpg" for i in range(CELEBA_N)]
    attrs = rng.choice([-1, 1], size=(CELEBA_N, len(ATTRIBUTES)))
    attrs[:, ATTRIBUTES.index("Male")] = [1 if m else -1 for m in MALE]
    pics = {
        n: jpeg(COLOURS[m], size=(30, 36), seed=i)
        for i, (n, m) in enumerate(zip(names, MALE, strict=True))
    }
    pics[names[CELEBA_TRUNCATED]] = truncated(pics[names[CELEBA_TRUNCATED]])
    if images == "folder":
        (folder / "img_align_celeba").mkdir()
        for n, data in pics.items():
            (folder / "img_align_celeba" / n).write_bytes(data)
    else:
        with zipfile.ZipFile(folder / "img_align_celeba.zip", "w") as zf:
            for n, data in pics.items():
                zf.writestr(f"img_align_celeba/{n}", data)
    lines = {
        "list_eval_partition.txt": [
            f"{n} {p}" for n, p in zip(names, CELEBA_PARTITION, strict=True)
        ],
        "identity_CelebA.txt": [f"{n} {100 + i // 2}" for i, n in enumerate(names)],
        "list_bbox_celeba.txt": [
            str(CELEBA_N),
            "image_id x_1 y_1 width height",
            *(f"{n}    95  71 226 313" for n in names),
        ],
        "list_landmarks_align_celeba.txt": [
            str(CELEBA_N),
            "lefteye_x lefteye_y righteye_x righteye_y nose_x nose_y leftmouth_x leftmouth_y "
            "rightmouth_x rightmouth_y",
            *(f"{n}           69  109  106  113   77  142   73  152  108  154" for n in names),
        ],
        "list_attr_celeba.txt": [
            str(CELEBA_N),
            " ".join(ATTRIBUTES) + " ",  # the official header ends with a blank
            *(
                f"{n} " + " ".join(f"{v:2d}" for v in row)
                for n, row in zip(names, attrs, strict=True)
            ),
        ],
    }
    for name, rows in lines.items():
        (folder / name).write_text("\n".join(rows) + "\n", newline="\r\n")
    return {p.name: md5(p) for p in folder.iterdir() if p.is_file()}


@pytest.fixture(scope="module")
def tiny_celeba(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """``root/celeba/...``: torchvision's layout."""
    root = tmp_path_factory.mktemp("celeba_root")
    return root, write_celeba(root / "celeba")


def test_celeba_prepare(tiny_celeba, tmp_path, caplog):
    root, sums = tiny_celeba
    out = tmp_path / "celeba.parquet"
    with caplog.at_level(logging.INFO, logger="genaug"):
        counts = celeba.prepare_celeba(root, out, "Male", image_size=16, channels=3, md5=sums)
    assert counts == {"kept": CELEBA_N - 1, "skipped_image": 1}
    assert "000005.jpg" in caplog.text and "kept=8, skipped_image=1" in caplog.text
    df = read_parquet(out)
    images = check_table(df, ["partition", "identity"], 16, 3)
    keep = [i for i in range(CELEBA_N) if i != CELEBA_TRUNCATED]
    assert df["image_id"].tolist() == [f"{i + 1:06d}" for i in keep]
    assert df["label"].tolist() == [MALE[i] for i in keep]
    assert df["class_name"].tolist() == [("not Male", "Male")[MALE[i]] for i in keep]
    names = ("train", "valid", "test")
    assert df["partition"].tolist() == [names[CELEBA_PARTITION[i]] for i in keep]
    assert df["identity"].tolist() == [100 + i // 2 for i in keep]
    centre = images[:, 6:10, 6:10].astype(float).mean(axis=(1, 2))
    assert (centre[:, 0] > centre[:, 2]).tolist() == (df["label"] == 0).tolist()
    meta = read_parquet_meta(out)
    assert meta["config"]["attribute"] == "Male" and meta["counts"] == counts
    assert meta["md5"]["list_attr_celeba.txt"] == sums["list_attr_celeba.txt"]

    few = celeba.prepare_celeba(
        root / "celeba", tmp_path / "few.parquet", "Smiling", 8, 1, limit=3, md5=sums
    )
    assert few == {"kept": 3, "skipped_image": 0}
    small = read_parquet(tmp_path / "few.parquet")
    check_table(small, ["partition", "identity"], 8, 1)
    assert set(small["class_name"]) <= {"Smiling", "not Smiling"}
    assert set(small["partition"]) == {"train"}


def test_celeba_checks_official_md5s(tiny_celeba, tmp_path):
    """Without overrides the official checksums apply, as in torchvision itself."""
    from torchvision.datasets import CelebA

    root, _ = tiny_celeba
    with pytest.raises(RuntimeError, match="not found or corrupted"):
        CelebA(str(root), split="all", download=False)
    with pytest.raises(GenaugError) as err:
        celeba.prepare_celeba(root, tmp_path / "out.parquet")
    msg = str(err.value)
    assert "\n" not in msg and "list_attr_celeba.txt has md5" in msg
    assert celeba.official_md5()["list_attr_celeba.txt"] in msg
    assert "datasets.celeba.root" in msg
    assert not (tmp_path / "out.parquet").exists()


def test_celeba_unknown_attribute(tiny_celeba, tmp_path):
    root, sums = tiny_celeba
    with pytest.raises(GenaugError) as err:
        celeba.prepare_celeba(root, tmp_path / "out.parquet", attribute="Beard", md5=sums)
    msg = str(err.value)
    assert "\n" not in msg and "'Beard'" in msg and "datasets.celeba.attribute" in msg
    assert "Male" in msg and "5_o_Clock_Shadow" in msg and "Young" in msg
    assert not (tmp_path / "out.parquet").exists()


def test_celeba_missing_files(tmp_path):
    with pytest.raises(GenaugError) as err:
        celeba.prepare_celeba(tmp_path, tmp_path / "out.parquet")
    msg = str(err.value)
    assert "\n" not in msg and "datasets.celeba.root" in msg and "Google Drive" in msg
    for name in ("img_align_celeba.zip", "list_attr_celeba.txt", "list_eval_partition.txt"):
        assert name in msg
    write_celeba(tmp_path / "celeba")
    (tmp_path / "celeba" / "identity_CelebA.txt").unlink()
    with pytest.raises(GenaugError, match=r"missing in .*celeba: identity_CelebA.txt;"):
        celeba.prepare_celeba(tmp_path, tmp_path / "out.parquet")
    assert not (tmp_path / "out.parquet").exists()


def test_celeba_extracts_the_image_zip(tmp_path):
    sums = write_celeba(tmp_path / "data", images="zip")
    counts = celeba.prepare_celeba(tmp_path / "data", tmp_path / "z.parquet", md5=sums)
    assert counts == {"kept": CELEBA_N - 1, "skipped_image": 1}
    assert len(list((tmp_path / "data" / "img_align_celeba").iterdir())) == CELEBA_N
    other = write_celeba(tmp_path / "other", images="zip")
    del other["img_align_celeba.zip"]  # the official md5 applies to the zip
    with pytest.raises(GenaugError, match="img_align_celeba.zip has md5 .*expected 00d2c5bc"):
        celeba.check_files(tmp_path / "other", other)
    assert not (tmp_path / "other" / "img_align_celeba").exists()


# --------------------------------------------------------------------------- ImageFolder
def png(colour: tuple[int, int, int], size=(24, 24), fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format=fmt)
    return buf.getvalue()


@pytest.fixture
def own_images(tmp_path) -> Path:
    root = tmp_path / "mine"
    files = {
        "cat/a.png": png((250, 10, 10)),
        "cat/b.PNG": png((240, 20, 20), size=(48, 24)),
        "cat/notes.txt": b"not an image",
        "dog/1.jpg": jpeg((10, 10, 250)),
        "dog/sub/2.jpeg": jpeg((20, 20, 240), size=(30, 50)),
        "dog/3.jpg": truncated(jpeg((20, 20, 240))),
        "bird/x.bmp": png((10, 240, 10), size=(16, 16), fmt="BMP"),
        "bird/y.png": png((10, 250, 10)),
        "bird/z.png": b"\x89PNG\r\n\x1a\n garbage",
        ".ipynb_checkpoints/c.png": png((0, 0, 0)),
        "bird/.hidden.png": png((0, 0, 0)),
        "README.md": b"my data",
    }
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def test_imagefolder_prepare(own_images, tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)  # must not matter
    out = tmp_path / "own.parquet"
    with caplog.at_level(logging.INFO, logger="genaug"):
        counts = imagefolder.prepare_imagefolder(own_images, out, image_size=10, channels=3)
    assert counts == {"kept": 6, "skipped_image": 2, "ignored_files": 2}
    assert "dog/3.jpg" in caplog.text and "bird/z.png" in caplog.text
    df = read_parquet(out)
    images = check_table(df, ["path"], 10, 3)
    assert df["path"].tolist() == [
        "bird/x.bmp", "bird/y.png", "cat/a.png", "cat/b.PNG", "dog/1.jpg", "dog/sub/2.jpeg",
    ]  # fmt: skip
    assert df["image_id"].tolist() == df["path"].tolist()
    assert df["class_name"].tolist() == ["bird"] * 2 + ["cat"] * 2 + ["dog"] * 2
    assert df["label"].tolist() == [0, 0, 1, 1, 2, 2]
    dominant = images.reshape(len(df), -1, 3).mean(axis=1).argmax(axis=1)
    assert dominant.tolist() == [1, 1, 0, 0, 2, 2]  # green birds, red cats, blue dogs
    assert read_parquet_meta(out)["counts"] == counts

    gray = imagefolder.prepare_imagefolder(own_images, tmp_path / "g.parquet", 7, 1)
    assert gray == counts
    check_table(read_parquet(tmp_path / "g.parquet"), ["path"], 7, 1)


def test_imagefolder_errors(own_images, tmp_path):
    out = tmp_path / "out.parquet"
    cases = [
        (tmp_path / "absent", "does not exist"),
        (own_images / "README.md", "is not a folder"),
        (tmp_path / "empty", "no class folders"),
    ]
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "img.png").write_bytes(png((1, 1, 1)))
    for root, problem in cases:
        with pytest.raises(GenaugError) as err:
            imagefolder.prepare_imagefolder(root, out, 8, 1)
        msg = str(err.value)
        assert "\n" not in msg and problem in msg and "datasets.imagefolder.root" in msg
    (own_images / "fish").mkdir()
    with pytest.raises(GenaugError, match="fish holds no images.*datasets.imagefolder.root"):
        imagefolder.prepare_imagefolder(own_images, out, 8, 1)
    (own_images / "fish" / "bad.jpg").write_bytes(b"nope")
    with pytest.raises(GenaugError, match="no readable image in class folder.*fish"):
        imagefolder.prepare_imagefolder(own_images, out, 8, 1)
    with pytest.raises(GenaugError, match="set datasets.imagefolder.channels"):
        imagefolder.prepare_imagefolder(own_images, out, 8, 4)
    with pytest.raises(GenaugError, match="set datasets.imagefolder.image_size"):
        imagefolder.prepare_imagefolder(own_images, out, 0, 3)
    assert not out.exists()


# --------------------------------------------------------------------------- the config's way in
def one_line_error(call, *keys: str) -> str:
    with pytest.raises(GenaugError) as err:
        call()
    msg = str(err.value)
    assert "\n" not in msg and all(k in msg for k in keys), msg
    return msg


def test_prepare_dataset_utkface(utk_archive, mirror, tmp_path):
    url, _ = mirror
    _, archive_md5 = utk_archive
    settings = {
        "url": f"{url}/UTKFace.tar.gz",
        "md5": archive_md5,
        "download_dir": str(tmp_path / "dl"),
        "channels": 3,
    }
    out = tmp_path / "prepared.parquet"
    prepare_dataset("utkface", settings, 16, out)
    df = read_parquet(out)
    check_table(df, ["age", "race"], 16, 3)
    assert len(df) == len(UTK_GOOD) and read_parquet_meta(out)["config"]["dataset"] == "utkface"

    out.unlink()
    bad = {**settings, "download_dir": str(tmp_path / "dl2"), "md5": "0" * 32}
    one_line_error(lambda: prepare_dataset("utkface", bad, 16, out), "datasets.utkface.md5")
    no_url = {**settings, "url": None, "download_dir": str(tmp_path / "dl3")}
    one_line_error(lambda: prepare_dataset("utkface", no_url, 16, out), "datasets.utkface.url")
    assert not out.exists()


def test_prepare_dataset_celeba(tiny_celeba, tmp_path):
    root, sums = tiny_celeba
    settings = {"root": str(root), "attribute": "Male", "channels": 3, "limit": None, "md5": sums}
    out = tmp_path / "prepared.parquet"
    prepare_dataset("celeba", settings, 12, out)
    df = read_parquet(out)
    check_table(df, ["partition", "identity"], 12, 3)
    assert df["label"].tolist() == [m for i, m in enumerate(MALE) if i != CELEBA_TRUNCATED]
    missing = {**settings, "root": str(tmp_path / "nowhere")}
    one_line_error(
        lambda: prepare_dataset("celeba", missing, 12, tmp_path / "x.parquet"),
        "datasets.celeba.root",
    )


def test_prepare_dataset_imagefolder(own_images, tmp_path):
    out = tmp_path / "prepared.parquet"
    prepare_dataset("imagefolder", {"root": str(own_images), "channels": 1}, 8, out)
    check_table(read_parquet(out), ["path"], 8, 1)
    for root, problem in ((None, "is not set"), (str(tmp_path / "gone"), "does not exist")):
        one_line_error(
            lambda root=root: prepare_dataset(
                "imagefolder", {"root": root, "channels": 3}, 8, tmp_path / "x.parquet"
            ),
            problem,
            "datasets.imagefolder.root",
        )
    assert not (tmp_path / "x.parquet").exists()


@pytest.mark.parametrize(
    "name, key", [("utkface", "datasets.utkface.url"), ("celeba", "datasets.celeba.root"),
                  ("imagefolder", "datasets.imagefolder.root")],
)  # fmt: skip
def test_shipped_defaults_say_what_to_set(name, key, tmp_path, monkeypatch):
    """With the default config's block (nothing downloaded or placed yet), preparing each
    dataset stops with one line naming the key to set."""
    from conftest import REPO

    monkeypatch.chdir(tmp_path)  # relative download folders land here
    settings = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["datasets"][name]
    one_line_error(lambda: prepare_dataset(name, settings, 64, tmp_path / "o.parquet"), key)


def test_workflow_prepares_an_image_folder(own_images, tmp_path):
    """The real prepare rule, through the Snakemake CLI, on a --configfile naming your own
    folder; a missing folder ends the job with the one line naming the key."""
    from conftest import snakemake

    work = tmp_path / "work"
    work.mkdir()
    config = work / "mine.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "outdir": "out",
                "dataset": {"name": "imagefolder", "image_size": 12},
                "datasets": {"imagefolder": {"root": str(own_images), "channels": 3}},
            }
        )
    )
    target = "out/data/prepared.parquet"
    snakemake(work, "--cores", "1", f"--configfile={config}", target)
    df = read_parquet(work / target)
    check_table(df, ["path"], 12, 3)
    assert df["class_name"].tolist() == ["bird"] * 2 + ["cat"] * 2 + ["dog"] * 2
    assert read_parquet_meta(work / target)["counts"]["skipped_image"] == 2
    assert "kept=6" in (work / "out" / "logs" / "prepare.log").read_text()

    gone = work / "gone.yaml"
    gone.write_text(yaml.safe_dump({"datasets": {"imagefolder": {"root": str(tmp_path / "gone")}}}))
    proc = snakemake(
        work,
        "--cores",
        "1",
        "--configfile",
        str(config),
        str(gone),
        "--config",
        "outdir=out2",
        "--",
        "out2/data/prepared.parquet",
        check=False,
    )
    assert proc.returncode != 0
    log = (work / "out2" / "logs" / "prepare.log").read_text().strip().splitlines()
    assert len(log) == 1 and "does not exist: set datasets.imagefolder.root" in log[0], log
    assert not (work / "out2" / "data" / "prepared.parquet").exists()
