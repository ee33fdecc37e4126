"""Provenance: which config, seed, checkpoint and code version made an output."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

from genaug import __version__


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def config_hash(cfg: Any) -> str:
    """A short, stable hash of a (sub-)config: same settings, same hash."""
    return hashlib.sha256(canonical_json(cfg).encode()).hexdigest()[:16]


@cache
def code_version() -> str:
    """``genaug <version>`` plus the git commit (and ``-dirty``) when run from a checkout."""
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return __version__
    return f"{__version__}+g{commit}{'.dirty' if dirty else ''}"


def provenance(cfg: Any, seed: int | None = None, **extra: Any) -> dict[str, Any]:
    """The provenance block every output carries."""
    record = {
        "config": cfg,
        "config_hash": config_hash(cfg),
        "seed": seed,
        "code_version": code_version(),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    record.update(extra)
    return record
