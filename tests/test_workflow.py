"""The whole DAG, run for real with the Snakemake CLI on a tiny config.

One run builds everything (plus the HTML report); a second, independent run first builds a
single figure (and only what it needs), then the run table, which must match the first run
number for number: same config, same results on the CPU.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from conftest import TINY, snakemake
from genaug import io
from genaug.generation import check_trained_on
from genaug.provenance import sha256_file

pytestmark = pytest.mark.slow

SHOTS, SEEDS = [1, 2], [0, 1]
GENERATORS = ["dagan", "cvae", "aae", "cgan", "infogan", "latent"]
TRANSFER = ["dagan", "infogan", "latent"]
METHODS = ["none", "classical", "erasing", *GENERATORS]


def expected_outputs() -> list[str]:
    tags = [f"k{k}-seed{s}" for k in SHOTS for s in SEEDS]
    files = ["data/prepared.parquet", "summary.md", "figures/accuracy_vs_shots.png"]
    files += [f"stats/{f}" for f in ("runs.csv", "comparisons.csv", "comparisons.md")]
    files += [f"splits/{t}.parquet" for t in tags]
    for g in GENERATORS:
        for scope in ["source"] if g in TRANSFER else tags:
            files += [f"generators/{g}/{scope}/{f}" for f in ("model.pt", "train_log.csv")]
        files += [f"synthetic/{g}/{t}.parquet" for t in tags]
        files += [f"synthetic/{g}/{t}.shards/shard-000000.tar" for t in tags]
        files += [f"figures/synthetic_{g}.png", f"figures/training_{g}.png"]
    files += [f"classify/{m}/{t}.json" for m in METHODS for t in tags]
    files += ["benchmarks/prepare.tsv", "benchmarks/train_generator/dagan/source.tsv"]
    files += ["logs/prepare.log", "logs/stats.log"]
    return files


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("run")
    snakemake(workdir, "--cores", "2", f"--configfile={TINY}", "all")
    snakemake(workdir, f"--configfile={TINY}", "--report", "results/report.html")
    return workdir


def test_every_output_and_the_report(full_run):
    results = full_run / "results"
    missing = [f for f in expected_outputs() if not (results / f).is_file()]
    assert not missing, missing
    html = (results / "report.html").read_text(errors="replace")
    assert "Mean test accuracy against the number of real training images" in html
    assert "accuracy_vs_shots.png" in html and "comparisons.csv" in html
    summary = (results / "summary.md").read_text()
    assert "| cvae | 2 |" in summary and "one-sided" in summary


def test_rerun_does_nothing(full_run):
    proc = snakemake(full_run, "--cores", "2", f"--configfile={TINY}", "-n", "all")
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_stats_cover_every_comparison(full_run):
    table = pd.read_csv(full_run / "results/stats/comparisons.csv")
    assert sorted(zip(table["method"], table["k"], strict=True)) == sorted(
        (m, k) for m in METHODS[1:] for k in SHOTS
    )
    assert (table["n"] == len(SEEDS)).all()
    runs = pd.read_csv(full_run / "results/stats/runs.csv")
    assert len(runs) == len(METHODS) * len(SHOTS) * len(SEEDS)
    assert runs["accuracy"].between(0, 1).all()


def test_provenance_and_no_test_images_in_training(full_run):
    """Each checkpoint was trained on exactly what its mode allows (source images, or the
    replicate's training shots), never a test image; outputs name the checkpoint they used."""
    results = full_run / "results"
    table = io.read_parquet(results / "data/prepared.parquet")
    for k in SHOTS:
        for seed in SEEDS:
            tag = f"k{k}-seed{seed}"
            split = io.read_parquet(results / f"splits/{tag}.parquet")
            for name in GENERATORS:
                transfer = name in TRANSFER
                model = results / f"generators/{name}/{'source' if transfer else tag}/model.pt"
                assert check_trained_on(model, table, None if transfer else split), name
                synth = io.read_parquet(results / f"synthetic/{name}/{tag}.parquet")
                assert (synth["checkpoint_sha256"] == sha256_file(model)).all()
                record = json.loads((results / f"classify/{name}/{tag}.json").read_text())
                assert record["provenance"]["checkpoint_sha256"] == [sha256_file(model)]
                assert record["provenance"]["code_version"].startswith("0.1.0")


def test_one_figure_target_then_same_numbers(full_run, tmp_path):
    """Naming one figure builds just it and what it needs; an independent second run of the
    same config then gives the same synthetic images and the same accuracies."""
    figure = "results/figures/training_cvae.png"
    snakemake(tmp_path, "--cores", "2", f"--configfile={TINY}", figure)
    assert (tmp_path / figure).is_file()
    assert not (tmp_path / "results/classify").exists()
    assert not (tmp_path / "results/generators/dagan").exists()

    # one transfer-mode and one fit-mode generator, through to the classifier runs at k=2
    methods = ["none", "classical", "dagan", "cvae"]
    targets = [f"results/classify/{m}/k2-seed{s}.json" for m in methods for s in SEEDS]
    snakemake(tmp_path, "--cores", "2", f"--configfile={TINY}", *targets)
    for target in targets:
        first = json.loads((full_run / target).read_text())
        second = json.loads((tmp_path / target).read_text())
        for key in ("accuracy", "per_class_accuracy", "final_train_loss"):
            assert first[key] == second[key], (target, key)
        assert first["provenance"]["config_hash"] == second["provenance"]["config_hash"]
    for name in ("dagan", "cvae"):
        a = io.read_parquet(full_run / f"results/synthetic/{name}/k2-seed1.parquet")
        b = io.read_parquet(tmp_path / f"results/synthetic/{name}/k2-seed1.parquet")
        assert a["image"].tolist() == b["image"].tolist()
    config = yaml.safe_load(TINY.read_text())
    assert config["fewshot"]["seeds"] == SEEDS and config["fewshot"]["shots"] == SHOTS
