"""The whole DAG, run for real with the Snakemake CLI on a tiny config.

One run builds everything (plus the HTML report); a second, independent run first builds a
single figure (and only what it needs), then the run table, which must match the first run
number for number: same config, same results on the CPU.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
import yaml

from conftest import TINY, snakemake
from genaug import io
from genaug.generation import check_trained_on
from genaug.provenance import sha256_file
from genaug.scenarios import read_split

pytestmark = pytest.mark.slow

SHOTS, FRACTIONS, SEEDS = [1, 2], [0.2, 0.5], [0, 1]
REGIMES = {"fewshot": [f"k{k}" for k in SHOTS], "imbalance": [f"frac{f}" for f in FRACTIONS]}
GENERATORS = ["dagan", "cvae", "aae", "cgan", "infogan", "latent", "began", "diffusion", "sdedit"]
TRANSFER = ["dagan", "infogan", "latent", "began", "sdedit"]
#: methods the quality stage does not measure: no added images, or made inside training
UNMEASURED = ["none", "mixup", "cutmix", "neuralaug", "undersample", "weighted"]
FEWSHOT_METHODS = [
    "none",
    "classical",
    "erasing",
    "trivialaugment",
    "randaugment",
    "augmix",
    "mixup",
    "cutmix",
    "neuralaug",
    *GENERATORS,
    "dagan+classical",  # a generator on top of a transform
]
METHODS = {
    "fewshot": FEWSHOT_METHODS,
    "imbalance": [*FEWSHOT_METHODS, "oversample", "undersample", "weighted", "cyclegan"],
}
FIGURES = ["accuracy_vs_shots", "balanced_accuracy_vs_fraction", "minority_f1_vs_fraction"]


def tags(scenario: str) -> list[str]:
    return [f"{r}-seed{s}" for r in REGIMES[scenario] for s in SEEDS]


def expected_outputs() -> list[str]:
    all_tags = tags("fewshot") + tags("imbalance")
    files = ["data/prepared.parquet", "summary.md"]
    files += [f"figures/{f}.png" for f in FIGURES]
    for scenario in METHODS:
        files += [
            f"stats/{scenario}/{f}"
            for f in ("runs.csv", "comparisons.csv", "comparisons.md", "by_method.csv")
        ]
        files += [f"quality/{scenario}/{f}" for f in ("quality.csv", "quality.md", "encoders.pt")]
        files += [f"figures/{f}_{scenario}.png" for f in ("quality_gain", "neighbours")]
        files += [
            f"classify/{m}/{scenario}/{t}.json" for m in METHODS[scenario] for t in tags(scenario)
        ]
    files += [f"splits/{t}.parquet" for t in all_tags]
    for g in GENERATORS:
        for scope in ["source"] if g in TRANSFER else all_tags:
            files += [f"generators/{g}/{scope}/{f}" for f in ("model.pt", "train_log.csv")]
        files += [f"synthetic/{g}/{t}.parquet" for t in all_tags]
        files += [f"synthetic/{g}/{t}.shards/shard-000000.tar" for t in all_tags]
        files += [f"figures/synthetic_{g}.png", f"figures/training_{g}.png"]
    files += [f"synthetic/cyclegan/{t}.parquet" for t in tags("imbalance")]
    files += [f"generators/cyclegan/{t}/model.pt" for t in tags("imbalance")]
    files += ["figures/synthetic_cyclegan.png", "figures/training_cyclegan.png"]
    files += ["benchmarks/prepare.tsv", "benchmarks/train_generator/dagan/source.tsv"]
    files += ["logs/prepare.log", "logs/stats/fewshot.log", "logs/stats/imbalance.log"]
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
    assert "against the low-data regime" in html
    for name in FIGURES:
        assert f"{name}.png" in html
    assert "comparisons.csv" in html and "quality.csv" in html
    # the front page opens with the answer, in words
    assert "Did 2 replicates suffice?" in html and "[&#39;fewshot&#39;" not in html
    summary = (results / "summary.md").read_text()
    assert summary.index("## The answer") < summary.index("## Few-shot")
    assert "### Class imbalance: quality of the added images" in summary
    assert "## Few-shot" in summary and "## Class imbalance" in summary
    assert "### minority_f1" in summary and "| cvae | 2 |" in summary
    assert "| undersample | 0.2 |" in summary


def test_rerun_does_nothing(full_run):
    proc = snakemake(full_run, "--cores", "2", f"--configfile={TINY}", "-n", "all")
    assert "Nothing to be done" in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "scenario, by, levels, metrics",
    [
        ("fewshot", "k", SHOTS, ["accuracy"]),
        ("imbalance", "fraction", FRACTIONS, ["balanced_accuracy", "minority_f1"]),
    ],
)
def test_stats_cover_every_comparison(full_run, scenario, by, levels, metrics):
    stats = full_run / "results/stats" / scenario
    table = pd.read_csv(stats / "comparisons.csv")
    others = [("none", m) for m in METHODS[scenario] if m != "none"]
    # the methods that use a generator also against the strong baseline (stats.against),
    # which in few-shot holds the combination too; elsewhere it is against its transform
    strong = {"fewshot": "classical", "imbalance": "oversample"}[scenario]
    synthetic = [m for m in METHODS[scenario] if m.split("+")[0] in [*GENERATORS, "cyclegan"]]
    others += [(strong, m) for m in synthetic]
    if scenario == "imbalance":
        others.append(("classical", "dagan+classical"))
    rows = zip(table["metric"], table["baseline"], table["method"], table[by], strict=True)
    assert sorted(rows) == sorted(
        (metric, *pair, level) for metric in metrics for pair in others for level in levels
    )
    assert (table["n"] == len(SEEDS)).all()
    runs = pd.read_csv(stats / "runs.csv")
    assert len(runs) == len(METHODS[scenario]) * len(levels) * len(SEEDS)
    assert (
        runs[["accuracy", "balanced_accuracy", *metrics]]
        .apply(lambda c: c.between(0, 1))
        .all()
        .all()
    )


def test_imbalance_splits_top_ups_and_baselines(full_run):
    """One class keeps its fraction of the training images, the test set stays whole and the
    same for every fraction; augmenters add exactly the minority images that balance it."""
    results = full_run / "results"
    for seed in SEEDS:
        splits = {f: read_split(results / f"splits/frac{f}-seed{seed}.parquet") for f in FRACTIONS}
        tests = [set(s.loc[s["split"] == "test", "image_id"]) for s, _ in splits.values()]
        assert tests[0] == tests[1]
        for fraction, (split, topup) in splits.items():
            minority = topup.minority
            counts = split[split["split"] == "train"]["label"].value_counts()
            assert counts.index.nunique() == 4
            majority = counts.drop(minority)
            assert counts[minority] == max(1, int(fraction * majority.iloc[0] + 0.5))
            n_topup = round(majority.mean()) - counts[minority]
            assert topup.n_needed == n_topup
            tag = f"frac{fraction}-seed{seed}"
            for name in GENERATORS:
                synth = io.read_parquet(results / f"synthetic/{name}/{tag}.parquet")
                assert len(synth) == n_topup and (synth["label"] == minority).all(), name
            for method in ["classical", "oversample", "dagan"]:
                record = json.loads(
                    (results / f"classify/{method}/imbalance/{tag}.json").read_text()
                )
                assert record["n_train_augmented"] == n_topup, method
                assert record["minority_class"] == minority
            under = json.loads((results / f"classify/undersample/imbalance/{tag}.json").read_text())
            assert under["n_train_real"] == 4 * counts[minority]
            none = json.loads((results / f"classify/none/imbalance/{tag}.json").read_text())
            assert 0 <= none["minority_auroc"] <= 1 and none["n_train_augmented"] == 0


@pytest.mark.parametrize("scenario", ["fewshot", "imbalance"])
def test_quality_rows_cover_every_measured_method(full_run, scenario):
    """One quality row per measured method, regime and replicate, each with the sha256 of
    the encoder it was measured in, which the scenario's encoders file holds."""
    results = full_run / "results"
    table = pd.read_csv(results / f"quality/{scenario}/quality.csv")
    measured = [m for m in METHODS[scenario] if m not in UNMEASURED]
    expected = [(m, r, s) for m in measured for r in REGIMES[scenario] for s in SEEDS]
    assert sorted(zip(table["method"], table["regime"], table["replicate"], strict=True)) == sorted(
        expected
    )
    encoders = torch.load(results / f"quality/{scenario}/encoders.pt", weights_only=True)
    assert set(table["encoder_sha256"]) == {e["sha256"] for e in encoders.values()}
    assert len(encoders) == (1 if scenario == "fewshot" else len(SEEDS))  # one per replicate
    assert (
        table[["precision", "recall", "coverage", "label_consistency"]].stack().between(0, 1).all()
    )
    oversample = table[table["method"] == "oversample"]
    assert scenario == "fewshot" or (oversample["memorised"] == 1).all()  # copies, all of them
    assert table["code_version"].str.startswith("0.1.0").all()


def test_provenance_and_no_test_images_in_training(full_run):
    """Each checkpoint was trained on exactly what its mode allows (source images, or the
    replicate's reduced training set), never a test image; outputs name their checkpoint."""
    results = full_run / "results"
    table = io.read_parquet(results / "data/prepared.parquet")
    for scenario, tag in [(s, t) for s in ("fewshot", "imbalance") for t in tags(s)]:
        split = io.read_parquet(results / f"splits/{tag}.parquet")
        for name in GENERATORS:
            transfer = name in TRANSFER
            model = results / f"generators/{name}/{'source' if transfer else tag}/model.pt"
            assert check_trained_on(model, table, None if transfer else split), name
            synth = io.read_parquet(results / f"synthetic/{name}/{tag}.parquet")
            assert (synth["checkpoint_sha256"] == sha256_file(model)).all()
            record = json.loads((results / f"classify/{name}/{scenario}/{tag}.json").read_text())
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

    # one transfer-mode and one finetune-mode generator, through to their few-shot classify
    # jobs (a folder of runs each)
    methods = ["none", "classical", "dagan", "cvae"]
    jobs = [f"results/classify/{m}/fewshot" for m in methods]
    snakemake(tmp_path, "--cores", "2", f"--configfile={TINY}", *jobs)
    targets = [f"{job}/{t}.json" for job in jobs for t in tags("fewshot")]
    assert sorted(
        str(p.relative_to(tmp_path)) for p in tmp_path.glob("results/classify/*/*/*.json")
    ) == (sorted(targets))
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
    assert config["replicates"] == SEEDS and config["fewshot"]["shots"] == SHOTS
    assert config["imbalance"]["fractions"] == FRACTIONS


def test_finetune_beside_its_fit_variant(tmp_path):
    """``cvae`` (finetune mode in the default config) and its variant ``cvae_fit`` (fit mode)
    in one method list: cvae pretrains once on the source images and fine-tunes per
    replicate, cvae_fit trains per replicate; neither sees a test image; the stats compare
    both with none."""
    variant = tmp_path / "variant.yaml"
    variant.write_text(
        yaml.safe_dump(
            {
                "scenarios": ["fewshot"],
                "methods": ["none", "cvae", "cvae_fit"],
                "generators": {"cvae_fit": {"model": "cvae", "mode": "fit", "steps": 12}},
            }
        )
    )
    snakemake(tmp_path, "--cores", "2", "--configfile", str(TINY), str(variant), "--", "all")
    results = tmp_path / "results"
    table = io.read_parquet(results / "data/prepared.parquet")
    assert check_trained_on(results / "generators/cvae/source/model.pt", table, None)
    assert not (results / "generators/cvae_fit/source").exists()
    for tag in tags("fewshot"):
        split = io.read_parquet(results / f"splits/{tag}.parquet")
        for name, mode in [("cvae", "finetune"), ("cvae_fit", "fit")]:
            model = results / f"generators/{name}/{tag}/model.pt"
            assert check_trained_on(model, table, split), name
            assert torch.load(model, weights_only=True)["extra"]["mode"] == mode
            synth = io.read_parquet(results / f"synthetic/{name}/{tag}.parquet")
            assert (synth["generator"] == name).all()
    compared = pd.read_csv(results / "stats/fewshot/comparisons.csv")
    assert set(compared["method"]) == {"cvae", "cvae_fit"}
