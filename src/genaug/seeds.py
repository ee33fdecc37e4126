"""Derived seeds: one independent random stream per purpose, from the replicate seed."""

from __future__ import annotations

import hashlib
from typing import Any


def derive_seed(*parts: Any) -> int:
    """A 31-bit seed from any parts, e.g. ``derive_seed(seed, "classifier", k)``: one stream
    per purpose, independent of the order jobs run in."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF
