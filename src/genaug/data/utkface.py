"""UTKFace ("Aligned&Cropped Faces") as one canonical table, labelled by gender.

The archive ``UTKFace.tar.gz`` holds ``UTKFace/<age>_<gender>_<race>_<datetime>.jpg.chip.jpg``
(200 x 200 JPEGs; gender 0 = male, 1 = female; race 0-4 = White, Black, Asian, Indian,
Others), see https://susanqq.github.io/UTKFace/. It has no stable official download URL (it
is shared through changing cloud-drive links), so :data:`UTKFACE_URL` is empty and the user
sets ``datasets.utkface.url`` (an http(s) URL, a ``file://`` URL or a local path of the
archive) and ``datasets.utkface.md5`` (its md5, ``md5sum UTKFace.tar.gz``).

The table (see :mod:`genaug.data.imagefolder` for the shared columns) has ``image_id`` = the
file name without ``.jpg.chip.jpg``, ``label`` = gender (``class_name`` ``"male"`` /
``"female"``) and the metadata columns ``age`` and ``race`` (int64 codes, :data:`RACES`).
The real archive has a few malformed file names (a missing field); those and unreadable
images are skipped and counted.
"""

from __future__ import annotations

import re
from pathlib import Path

from PIL import Image

from genaug.data.download import Source, fetch_archive
from genaug.data.imagefolder import (
    UnreadableImage,
    canonical_table,
    check_image_settings,
    image_png,
    log_counts,
    log_skipped,
    write_table,
)
from genaug.errors import GenaugError

UTKFACE_HOME = "https://susanqq.github.io/UTKFace/"
# No stable official URL: empty on purpose; download_utkface then says which keys to set.
UTKFACE_URL = ""
UTKFACE_MD5 = ""
ARCHIVE = "UTKFace.tar.gz"
FOLDER = "UTKFace"
SUFFIX = ".jpg.chip.jpg"
CLASS_NAMES = ("male", "female")  # index = the gender field = the label
RACES = ("White", "Black", "Asian", "Indian", "Others")  # index = the race field
METADATA = {"age": "int64", "race": "int64"}
SET_URL = (
    f"set datasets.utkface.url to the URL, file:// URL or local path of {ARCHIVE} "
    f"(Aligned&Cropped Faces, {UTKFACE_HOME}) and datasets.utkface.md5 to its md5"
)
LICENSE = {
    "name": "non-commercial research only",
    "source": UTKFACE_HOME,
    "notice": "UTKFace is available for non-commercial research purposes only",
}


# --------------------------------------------------------------------------- download
UTKFACE_SOURCE = Source(
    url_key="datasets.utkface.url",
    md5_key="datasets.utkface.md5",
    mirror=f"a reachable URL, file:// URL or local path of {ARCHIVE} (Aligned&Cropped Faces, "
    f"{UTKFACE_HOME})",
)


def download_utkface(
    root: str | Path, url: str | None = UTKFACE_URL, md5: str | None = UTKFACE_MD5
) -> Path:
    """Download ``UTKFace.tar.gz`` into ``root`` and extract it; return ``root/UTKFace``.

    ``url`` is an http(s) URL (downloaded by torchvision's ``download_url``),
    a ``file://`` URL or a local path of the archive; ``md5`` is required and checked. An
    archive already in ``root`` with the right md5 is not fetched again. On any failure
    nothing half-written is left: no partial archive, no half-extracted folder.
    """
    url = (url or "").strip()
    md5 = (md5 or "").strip().lower()
    if not url:
        raise GenaugError(f"UTKFace has no stable official download URL: {SET_URL}")
    if not re.fullmatch(r"[0-9a-f]{32}", md5):
        raise GenaugError(
            f"datasets.utkface.md5 is {md5 or 'empty'!r}, not an md5 checksum: set "
            f"datasets.utkface.md5 to the md5 of {ARCHIVE} (md5sum {ARCHIVE})"
        )
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    return fetch_archive(url, root / ARCHIVE, root / FOLDER, md5, UTKFACE_SOURCE)


# --------------------------------------------------------------------------- file names
def parse_name(name: str) -> tuple[int, int, int] | str:
    """``"<age>_<gender>_<race>_<datetime>.jpg.chip.jpg"`` -> ``(age, gender, race)``, or the
    reason the name is malformed."""
    if not name.endswith(SUFFIX):
        return f"does not end with {SUFFIX}"
    fields = name[: -len(SUFFIX)].split("_")
    if len(fields) != 4:
        return f"{len(fields)} fields, expected 4 (age_gender_race_datetime)"
    age, gender, race, stamp = fields
    if not age.isascii() or not age.isdigit():
        return f"age {age!r} is not an integer"
    if gender not in ("0", "1"):
        return f"gender {gender!r} is not 0 or 1"
    if race not in {str(i) for i in range(len(RACES))}:
        return f"race {race!r} is not 0-{len(RACES) - 1}"
    if not stamp.isascii() or not stamp.isdigit():
        return f"datetime {stamp!r} is not a number"
    return int(age), int(gender), int(race)


def _image_folder(root: Path) -> Path:
    for folder in (root / FOLDER, root):
        if folder.is_dir() and any(p.name.endswith(SUFFIX) for p in folder.iterdir()):
            return folder
    raise GenaugError(
        f"no UTKFace images in {root / FOLDER}: download them first "
        f"(genaug.data.utkface.download_utkface; {SET_URL})"
    )


# --------------------------------------------------------------------------- the table
def prepare_utkface(
    root: str | Path, out: str | Path, image_size: int = 64, channels: int = 3
) -> dict[str, int]:
    """The extracted UTKFace images in ``root`` (``root/UTKFace/`` or ``root`` itself) -> the
    canonical table at ``out``, rows in file-name order.

    Returns (and logs) the counts ``kept``, ``skipped_name`` (malformed file names) and
    ``skipped_image`` (unreadable or truncated images).
    """
    size, mode = check_image_settings(image_size, channels, "datasets.utkface")
    folder = _image_folder(Path(root))
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    rows, skipped_name, skipped_image = [], 0, 0
    for path in files:
        parsed = parse_name(path.name)
        if isinstance(parsed, str):
            skipped_name += 1
            log_skipped("utkface", path.name, f"malformed name: {parsed}")
            continue
        age, gender, race = parsed
        try:
            png = image_png(lambda p=path: Image.open(p), size, mode)
        except UnreadableImage as e:
            skipped_image += 1
            log_skipped("utkface", path.name, str(e))
            continue
        rows.append(
            {
                "image_id": path.name[: -len(SUFFIX)],
                "image": png,
                "class_name": CLASS_NAMES[gender],
                "age": age,
                "race": race,
            }
        )
    df = canonical_table(rows, CLASS_NAMES, METADATA, str(folder), SET_URL)
    counts = {"kept": len(df), "skipped_name": skipped_name, "skipped_image": skipped_image}
    cfg = {"dataset": "utkface", "image_size": size, "channels": int(channels)}
    write_table(df, out, cfg, counts=counts, races=list(RACES), license=LICENSE)
    log_counts("utkface", counts, out)
    return counts
