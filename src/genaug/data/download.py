"""Fetching a dataset archive: the real URL through torchvision's downloader (or a mirror),
md5-verified, extracted atomically, every failure one line naming the config key to fix."""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import socket
import tarfile
import urllib.error
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from genaug.errors import GenaugError
from genaug.io import atomic_path

#: seconds a download may stall before it fails (torchvision's urllib has no timeout)
DOWNLOAD_TIMEOUT_S = 15.0


def md5_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def as_url(base: str | Path) -> str:
    """A local path -> ``file://`` URL; URLs pass through."""
    if urlparse(str(base)).scheme in ("http", "https", "file", "ftp"):
        return str(base)
    return Path(base).expanduser().resolve().as_uri()


@contextlib.contextmanager
def socket_timeout(seconds: float):
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


def error_reason(e: BaseException) -> str:
    """A short one-line reason for a download or extraction failure."""
    if isinstance(e, urllib.error.HTTPError):
        text = f"HTTP {e.code} {e.reason}"
    elif isinstance(e, urllib.error.URLError):
        text = str(e.reason)
    else:
        text = f"{type(e).__name__}: {e}"
    return " ".join(text.split())


@dataclass(frozen=True)
class Source:
    """Where an archive comes from, and what to tell the user when that fails."""

    url_key: str  # config key of the URL, e.g. "datasets.omniglot_full.base_url"
    md5_key: str  # config key of the checksum
    mirror: str  # what a mirror must hold, e.g. "a folder holding images_background.zip"

    def download_error(self, url: str, reason: str) -> GenaugError:
        return GenaugError(
            f"cannot download {url} ({reason}): connect to the internet or set "
            f"{self.url_key} to {self.mirror}"
        )

    def md5_error(self, url: str, archive: Path, actual: str, expected: str) -> GenaugError:
        return GenaugError(
            f"{archive.name} from {url} has md5 {actual}, expected {expected}: fix "
            f"{self.md5_key} or {self.url_key}"
        )

    def format_error(self, archive: Path, problem: str) -> GenaugError:
        return GenaugError(f"{archive} {problem}: set {self.url_key} to {self.mirror}")


def fetch_archive(url: str, archive: Path, folder: Path, md5: str, source: Source) -> Path:
    """Make ``folder`` (the archive's top folder) exist under ``archive.parent``.

    An archive already there with the right md5 is only extracted; otherwise it is copied
    (``file://``) or downloaded with torchvision's ``download_and_extract_archive``
    (http(s)), md5-verified either way. Nothing half-written is left on failure: no partial
    archive, no half-extracted folder.
    """
    url = as_url(url)
    have = archive.is_file() and md5_file(archive) == md5
    if have and folder.is_dir():
        return folder
    with atomic_path(folder) as tmp:
        if not have and urlparse(url).scheme == "file":
            _copy_local(url, archive, md5, source)  # torchvision's urlretrieve needs HTTP(S)
            have = True
        if have:
            _extract(archive, tmp.parent, source)
        else:
            _download(url, archive, tmp.parent, md5, source)
        if not tmp.is_dir():
            raise source.format_error(archive, f"has no top folder {folder.name}/")
    return folder


def _copy_local(url: str, archive: Path, md5: str, source: Source) -> None:
    src = Path(urllib.request.url2pathname(urlparse(url).path))
    if not src.is_file():
        raise source.download_error(url, "no such file" if not src.exists() else "not a file")
    with atomic_path(archive) as tmp:
        shutil.copyfile(src, tmp)
        actual = md5_file(tmp)
        if actual != md5:
            raise source.md5_error(url, archive, actual, md5)


def _extract(archive: Path, to: Path, source: Source) -> None:
    from torchvision.datasets.utils import extract_archive

    try:
        extract_archive(str(archive), str(to))
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, OSError) as e:
        raise source.format_error(archive, f"cannot be extracted ({error_reason(e)})") from e


def _download(url: str, archive: Path, extract_root: Path, md5: str, source: Source) -> None:
    from torchvision.datasets.utils import download_and_extract_archive

    try:
        with socket_timeout(DOWNLOAD_TIMEOUT_S):
            download_and_extract_archive(
                url,
                download_root=str(archive.parent),
                extract_root=str(extract_root),
                filename=archive.name,
                md5=md5,
            )
    except Exception as e:
        actual = md5_file(archive) if archive.is_file() else None
        if actual == md5:  # downloaded and verified: the extraction failed
            raise source.format_error(archive, f"cannot be extracted ({error_reason(e)})") from e
        archive.unlink(missing_ok=True)
        # torchvision: RuntimeError("File not found or corrupted.") after a wrong md5
        if isinstance(e, RuntimeError) and actual is not None:
            raise source.md5_error(url, archive, actual, md5) from e
        raise source.download_error(url, error_reason(e)) from e
    except BaseException:  # interrupted: no partial archive
        archive.unlink(missing_ok=True)
        raise
