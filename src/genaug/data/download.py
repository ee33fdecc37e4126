"""Fetching a dataset archive: the real URL through torchvision's downloader (or a mirror),
md5-verified, extracted safely and atomically, every failure one line naming the config key
to fix.

:func:`extract_safely` is the one extraction every dataset uses. torchvision's
``extract_archive`` is not used: it calls ``tarfile`` without a filter, so a member named
``../x`` or ``/etc/x``, or a symlink to a system folder, lands where its name says.
"""

from __future__ import annotations

import contextlib
import hashlib
import posixpath
import shutil
import socket
import stat
import sys
import tarfile
import urllib.error
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath
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

    @property
    def fix(self) -> str:
        return f"set {self.url_key} to {self.mirror}"

    def format_error(self, archive: Path, problem: str) -> GenaugError:
        return GenaugError(f"{archive} {problem}: {self.fix}")


def fetch_archive(url: str, archive: Path, folder: Path, md5: str, source: Source) -> Path:
    """Make ``folder`` (the archive's top folder) exist under ``archive.parent``.

    An archive already there with the right md5 is only extracted; otherwise it is copied
    (``file://``) or downloaded with torchvision's ``download_url`` (http(s)), md5-verified
    either way, then extracted by :func:`extract_safely`. Nothing half-written is left on
    failure: no partial archive, no half-extracted folder.
    """
    url = as_url(url)
    have = archive.is_file() and md5_file(archive) == md5
    if have and folder.is_dir():
        return folder
    with atomic_path(folder) as tmp:
        if not have and urlparse(url).scheme == "file":
            _copy_local(url, archive, md5, source)  # torchvision's urlretrieve needs HTTP(S)
        elif not have:
            _download(url, archive, md5, source)
        extract_safely(archive, tmp.parent, source.fix)
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


def _download(url: str, archive: Path, md5: str, source: Source) -> None:
    from torchvision.datasets.utils import download_url

    try:
        with socket_timeout(DOWNLOAD_TIMEOUT_S):
            download_url(url, str(archive.parent), filename=archive.name, md5=md5)
    except Exception as e:
        actual = md5_file(archive) if archive.is_file() else None
        archive.unlink(missing_ok=True)
        # torchvision: RuntimeError("File not found or corrupted.") after a wrong md5
        if isinstance(e, RuntimeError) and actual is not None:
            raise source.md5_error(url, archive, actual, md5) from e
        raise source.download_error(url, error_reason(e)) from e
    except BaseException:  # interrupted: no partial archive
        archive.unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------- safe extraction
def extract_safely(archive: Path, dest: Path, fix: str) -> None:
    """Extract the zip or tar (any compression) ``archive`` into the folder ``dest``, refusing
    any member that could land outside it.

    Every member is checked before anything is extracted: an absolute name, a ``..``
    component, a symlink or hard link pointing outside ``dest``, a device file or a fifo
    stops it with one :class:`GenaugError` line naming the archive, the member and ``fix``.
    Tars are then extracted with ``tarfile``'s ``"data"`` filter, which also resolves links
    already on disk; its refusals become the same line. Callers extract into a temporary
    folder (:func:`genaug.io.atomic_path`), so a failure leaves nothing behind.
    """
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    _check_member(archive, info.filename, *_zip_kind(zf, info), fix)
                zf.extractall(dest)
        elif tarfile.is_tarfile(archive):
            if not hasattr(tarfile, "data_filter"):  # added in Python 3.11.4
                raise GenaugError(
                    f"cannot extract {archive} safely with Python {sys.version.split()[0]}: "
                    "use Python 3.11.4 or later (tarfile's data filter)"
                )
            with tarfile.open(archive) as tar:
                for member in tar.getmembers():
                    _check_member(archive, member.name, *_tar_kind(member), fix)
                tar.extractall(dest, filter="data")
        else:
            raise GenaugError(
                f"{archive} cannot be extracted (neither a zip nor a tar archive): {fix}"
            )
    except tarfile.FilterError as e:
        raise _unsafe(archive, e.tarinfo.name, f"tarfile's data filter refuses ({e})", fix) from e
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, OSError) as e:
        raise GenaugError(f"{archive} cannot be extracted ({error_reason(e)}): {fix}") from e


def _zip_kind(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[str, str]:
    """``(kind, link target)`` of a zip member, from the Unix mode zip stores (if any)."""
    mode = info.external_attr >> 16 if info.create_system == 3 else 0
    if stat.S_ISLNK(mode):
        return "symlink", zf.read(info).decode("utf-8", "replace")
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device", ""
    if stat.S_ISFIFO(mode):
        return "fifo", ""
    return "file", ""


def _tar_kind(member: tarfile.TarInfo) -> tuple[str, str]:
    if member.issym():
        return "symlink", member.linkname
    if member.islnk():
        return "hard link", member.linkname
    if member.ischr() or member.isblk():
        return "device", ""
    if member.isfifo():
        return "fifo", ""
    return "file", ""


def _check_member(archive: Path, name: str, kind: str, target: str, fix: str) -> None:
    """Refuse a member that could land, or point, outside the extraction folder. Hand-written:
    zipfile has no such check, and tarfile's data filter strips a leading ``/`` instead of
    refusing it."""
    if _is_absolute(name):
        raise _unsafe(archive, name, "has an absolute path", fix)
    if _escapes(name):
        raise _unsafe(archive, name, "has a '..' component", fix)
    if kind in ("device", "fifo"):
        raise _unsafe(archive, name, f"is a {'device file' if kind == 'device' else kind}", fix)
    if kind in ("symlink", "hard link"):
        # a symlink's target is relative to its folder, a hard link's to the archive's root
        base = posixpath.dirname(name) if kind == "symlink" else ""
        if _is_absolute(target) or _escapes(posixpath.join(base, target), normalise=True):
            raise _unsafe(archive, name, f"is a {kind} to {target!r}, outside the archive", fix)


def _is_absolute(name: str) -> bool:
    return name.startswith(("/", "\\")) or PureWindowsPath(name).drive != ""


def _escapes(name: str, normalise: bool = False) -> bool:
    """Whether ``name`` has a ``..`` component (or, ``normalise``d, climbs above its root)."""
    name = name.replace("\\", "/")
    if normalise:
        return posixpath.normpath(name).split("/")[0] == ".."
    return ".." in name.split("/")


def _unsafe(archive: Path, name: str, why: str, fix: str) -> GenaugError:
    return GenaugError(
        f"{archive}: refused the member {name!r}, which {why} (a safe archive keeps every "
        f"member inside its folder); nothing was extracted: {fix}"
    )
