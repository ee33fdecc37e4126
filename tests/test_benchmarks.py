"""The throughput benchmark runs and writes one CSV row per model, with the device named."""

from __future__ import annotations

import csv
import subprocess
import sys

from conftest import REPO


def test_throughput_benchmark_writes_csv(tmp_path):
    out = tmp_path / "bench.csv"
    cmd = [sys.executable, str(REPO / "benchmarks" / "throughput.py"), "--only", "cvae", "conv4",
           "--steps", "2", "--out", str(out)]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    rows = list(csv.DictReader(out.open()))
    assert [r["model"] for r in rows] == ["cvae", "conv4"]
    assert [r["kind"] for r in rows] == ["generator", "classifier"]
    for row in rows:
        assert float(row["images_per_s"]) > 0 and float(row["peak_memory_mb"]) > 0
        assert row["device"] in ("cpu", "cuda") and row["device_name"]
