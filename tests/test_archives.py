"""Unsafe archives: every dataset that extracts one refuses a member that could land, or point,
outside the extraction folder, in one line naming the archive and the member, and leaves
nothing behind.

Each crafted archive goes through the dataset's real prepare path (``prepare_dataset``): the
UTKFace tar.gz and the Omniglot zips served over loopback HTTP, CelebA's image zip placed in
its folder.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import serve_folder
from genaug.data.datasets import prepare_dataset
from genaug.data.download import extract_safely
from genaug.errors import GenaugError


@dataclass(frozen=True)
class Member:
    """One archive member: ``name`` and ``target`` may hold ``{top}`` (the archive's top
    folder) and ``{outside}`` (an absolute folder outside the download folder)."""

    name: str
    kind: str = "file"  # file, symlink, hard link, device, fifo
    target: str = ""


# attack -> (its members, after one good file; the reason the error gives)
ATTACKS = {
    "absolute": ([Member("{outside}/abs.txt")], "has an absolute path"),
    "dotdot": ([Member("{top}/../../escape.txt")], "has a '..' component"),
    "symlink_absolute": ([Member("{top}/etc", "symlink", "/etc")], "is a symlink to '/etc'"),
    "symlink_up": ([Member("{top}/up", "symlink", "../../..")], "is a symlink to '../../..'"),
    "device": ([Member("{top}/null", "device")], "is a device file"),
    "fifo": ([Member("{top}/pipe", "fifo")], "is a fifo"),
}
TAR_ONLY = {
    "hardlink": ([Member("{top}/passwd", "hard link", "/etc/passwd")], "is a hard link to"),
    # each link alone stays inside; through the first, the second climbs out: only the data
    # filter, which resolves links already extracted, sees it
    "symlink_chain": (
        [Member("{top}/s", "symlink", "."), Member("{top}/t", "symlink", "s/../..")],
        "tarfile's data filter refuses",
    ),
}


def tar_member(m: Member) -> tarfile.TarInfo:
    info = tarfile.TarInfo(m.name)
    info.type = {
        "file": tarfile.REGTYPE,
        "symlink": tarfile.SYMTYPE,
        "hard link": tarfile.LNKTYPE,
        "device": tarfile.CHRTYPE,
        "fifo": tarfile.FIFOTYPE,
    }[m.kind]
    info.linkname = m.target
    info.size = len(m.name.encode()) if m.kind == "file" else 0
    return info


def write_tar(path: Path, members: list[Member]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for m in members:
            info = tar_member(m)
            tar.addfile(info, io.BytesIO(m.name.encode()) if info.isreg() else None)


def write_zip(path: Path, members: list[Member]) -> None:
    mode = {
        "file": stat.S_IFREG,
        "symlink": stat.S_IFLNK,
        "device": stat.S_IFCHR,
        "fifo": stat.S_IFIFO,
    }
    with zipfile.ZipFile(path, "w") as zf:
        for m in members:
            info = zipfile.ZipInfo(m.name)
            info.create_system = 3  # Unix: the mode below is read
            info.external_attr = (mode[m.kind] | 0o644) << 16
            zf.writestr(info, m.target if m.kind == "symlink" else m.name)


@dataclass(frozen=True)
class Dataset:
    name: str
    archive: str
    top: str  # the archive's top folder
    write: Callable[[Path, list[Member]], None]  # write_tar or write_zip
    fix: str  # what the error line tells the user to do

    def settings(self, tmp_path: Path, url: str, md5: str) -> dict:
        """``datasets.<name>`` for the dataset, its archive served at ``url`` (or placed)."""
        root = tmp_path / "download"
        if self.name == "utkface":
            return {"url": f"{url}/{self.archive}", "md5": md5, "download_dir": str(root)}
        if self.name == "omniglot_full":
            sums = {"images_background": md5, "images_evaluation": "0" * 32}
            return {"base_url": url, "md5": sums, "download_dir": str(root)}
        return {"root": str(tmp_path / "mirror"), "md5": celeba_sums(tmp_path / "mirror")}


def celeba_sums(folder: Path) -> dict[str, str]:
    """CelebA's text files, placed beside the image zip (never read: the zip is refused
    first), and every file's md5."""
    from genaug.data.celeba import TEXT_FILES

    for name in TEXT_FILES:
        (folder / name).write_text(name)
    return {p.name: md5(p) for p in folder.iterdir()}


DATASETS = {
    "utkface": Dataset("utkface", "UTKFace.tar.gz", "UTKFace", write_tar, "datasets.utkface.url"),
    "omniglot_full": Dataset(
        "omniglot_full",
        "images_background.zip",
        "images_background",
        write_zip,
        "datasets.omniglot_full.base_url",
    ),
    "celeba": Dataset(
        "celeba",
        "img_align_celeba.zip",
        "img_align_celeba",
        write_zip,
        "replace it with the official file from https://mmlab",
    ),
}
CASES = [
    (dataset, attack)
    for dataset, d in DATASETS.items()
    for attack in (ATTACKS | TAR_ONLY if d.write is write_tar else ATTACKS)
]


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def tree(folder: Path) -> set[Path]:
    """Every path under ``folder``, links not followed."""
    return {Path(d, n) for d, dirs, files in os.walk(folder) for n in (*dirs, *files)}


@pytest.mark.parametrize("dataset, attack", CASES)
def test_unsafe_member_refused(dataset, attack, tmp_path):
    d = DATASETS[dataset]
    members, reason = (ATTACKS | TAR_ONLY)[attack]
    fmt = {"top": d.top, "outside": str(tmp_path / "outside")}
    members = [
        Member(m.name.format(**fmt), m.kind, m.target.format(**fmt))
        for m in [Member("{top}/good.txt"), *members]
    ]
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    d.write(mirror / d.archive, members)
    with serve_folder(mirror) as (url, _):
        settings = d.settings(tmp_path, url, md5(mirror / d.archive))
        before = tree(tmp_path)
        with pytest.raises(GenaugError) as err:
            prepare_dataset(dataset, settings, 16, tmp_path / "prepared.parquet")
    msg = str(err.value)
    assert "\n" not in msg
    assert f"{d.archive}: refused the member {members[-1].name!r}, which {reason}" in msg, msg
    assert d.fix in msg
    # nothing outside, no partial folder: at most the downloaded (md5-verified) archive
    download = tmp_path / "download"
    assert tree(tmp_path) - before <= {download, download / d.archive}


def test_links_inside_extract(tmp_path):
    """Links that stay inside the archive are kept (the data filter makes hard links copies
    of their target's data)."""
    archive = tmp_path / "a.tar.gz"
    write_tar(
        archive,
        [
            Member("top/sub/file.txt"),
            Member("top/link", "symlink", "sub/file.txt"),
            Member("top/sub/up", "symlink", "../link"),
            Member("top/hard", "hard link", "top/sub/file.txt"),
        ],
    )
    extract_safely(archive, tmp_path / "out", "fix")
    top = tmp_path / "out" / "top"
    assert os.readlink(top / "link") == "sub/file.txt"
    assert all((top / n).read_text() == "top/sub/file.txt" for n in ("link", "sub/up", "hard"))


def test_not_an_archive(tmp_path):
    path = tmp_path / "x.zip"
    path.write_bytes(b"neither")
    with pytest.raises(GenaugError, match=r"x.zip cannot be extracted \(neither a zip nor a tar"):
        extract_safely(path, tmp_path / "out", "fix it")
    assert not (tmp_path / "out").exists()
