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


def test_job_overhead_benchmark_writes_csv(tmp_path):
    out = tmp_path / "overhead.csv"
    cmd = [sys.executable, str(REPO / "benchmarks" / "job_overhead.py"), "--seeds", "2",
           "--steps", "2", "--repeats", "1", "--out", str(out)]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, timeout=600)
    rows = {r["measurement"]: r for r in csv.DictReader(out.open())}
    parts = ["process_start", "import_torch", "import_genaug", "setup", "read_table",
             "first_optimizer", "process_exit", "job_fixed_cost", "classifier_seed",
             "2_single_seed_jobs", "one_batched_job_2_seeds", "interpreter_start"]  # fmt: skip
    assert sorted(rows) == sorted(parts)
    seconds = {name: float(row["median_s"]) for name, row in rows.items()}
    assert all(value >= 0 for value in seconds.values())
    cpu = {name: row["median_cpu_s"] for name, row in rows.items()}
    assert cpu["process_start"] == "" and float(cpu["import_torch"]) > 0  # not separable
    assert seconds["import_torch"] > 0 and seconds["classifier_seed"] > 0
    # a job's fixed cost is its parts, and two one-seed jobs pay it twice
    fixed = sum(seconds[p] for p in parts[:7])
    assert abs(seconds["job_fixed_cost"] - fixed) < 0.05 * fixed + 0.05
    assert seconds["2_single_seed_jobs"] > seconds["one_batched_job_2_seeds"]
