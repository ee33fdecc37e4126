"""Gathering runs into one table per scenario, and the Markdown summary of an experiment."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from genaug.provenance import code_version, config_hash
from genaug.workflow import LEVEL_COLUMN

RUN_COLUMNS = [
    "method",
    "scenario",
    "regime",
    "k",
    "fraction",
    "replicate",
    "accuracy",
    "balanced_accuracy",
    "minority_class",
    "minority_recall",
    "minority_precision",
    "minority_f1",
    "minority_auroc",
    "n_classes",
    "n_train_real",
    "n_train_augmented",
    "n_test",
    "final_train_loss",
    "train_seconds",
    "device",
]
#: how the summary names each scenario's regime level
LEVEL_NAME = {"fewshot": "k", "imbalance": "kept fraction"}


def collect_runs(paths: Iterable[str | Path]) -> pd.DataFrame:
    """One row per classifier run, with the provenance that made it. Columns a scenario does
    not have (``fraction`` and the minority metrics in few-shot, ``k`` in imbalance) are
    dropped."""
    rows = []
    for path in paths:
        record = json.loads(Path(path).read_text())
        prov = record["provenance"]
        row = {c: record.get(c) for c in RUN_COLUMNS}
        row.update(
            seed=prov["seed"],
            config_hash=prov["config_hash"],
            code_version=prov["code_version"],
            checkpoint_sha256=";".join(prov.get("checkpoint_sha256", [])),
            path=str(path),
        )
        rows.append(row)
    df = pd.DataFrame(rows).dropna(axis=1, how="all")
    level = LEVEL_COLUMN[df["scenario"].iloc[0]]
    return df.sort_values(["method", level, "replicate"], ignore_index=True)


def summary_markdown(config: dict, scenarios: Mapping[str, tuple[str, pd.DataFrame]]) -> str:
    """results/summary.md: what was run, each scenario's statistics and mean metrics, and
    where everything is. ``scenarios`` maps a scenario to (its comparisons Markdown, runs)."""
    out = config["outdir"]
    seeds = config["replicates"]
    lines = [
        "# genaug summary",
        "",
        f"Does synthetic data help a classifier trained on little of "
        f"**{config['dataset']['name']}**? Each method is compared with the `none` baseline, "
        f"paired over {len(seeds)} replicates (seeds {seeds}).",
        "",
    ]
    for scenario, (comparisons_md, runs) in scenarios.items():
        metrics = config["stats"]["metrics"][scenario]
        n_classes = int(runs["n_classes"].max())
        if scenario == "fewshot":
            title = "Few-shot"
            what = (
                f"A {n_classes}-way task with k real training images per class, "
                f"k = {sorted(config['fewshot']['shots'])}."
            )
        else:
            title = "Class imbalance"
            minority = runs["minority_class"].dropna().astype(int).unique().tolist()
            what = (
                f"A {n_classes}-way task whose minority class (label {minority}) keeps a "
                f"fraction {sorted(config['imbalance']['fractions'])} of its training images; "
                f"augmenters top it up to {config['imbalance']['ratio']:g} x the other classes' "
                "mean size."
            )
        lines += [
            f"## {title}",
            "",
            what,
            "",
            comparisons_md.strip(),
            "",
            f"Mean {metrics[0]} per method:",
            "",
            _pivot_markdown(runs, scenario, metrics[0]),
            "",
        ]
    lines += [
        "## Files",
        "",
        f"- every run: `{out}/stats/<scenario>/runs.csv` (one JSON per run under "
        f"`{out}/classify/`)",
        f"- the comparisons as CSV: `{out}/stats/<scenario>/comparisons.csv`",
        f"- figures: `{out}/figures/`; synthetic data: `{out}/synthetic/` (Parquet + PNG shards)",
        f"- HTML report: `snakemake --report {out}/report.html`",
        "",
        "## Provenance",
        "",
        f"- code version: `{code_version()}`",
        f"- config hash: `{config_hash(config)}`",
        f"- methods: {', '.join(config['methods'])}; classifier steps: "
        f"{config['classifier']['steps']}",
        "",
    ]
    return "\n".join(lines)


def _pivot_markdown(runs: pd.DataFrame, scenario: str, metric: str) -> str:
    level, name = LEVEL_COLUMN[scenario], LEVEL_NAME[scenario]
    table = runs.pivot_table(index="method", columns=level, values=metric, aggfunc="mean")
    header = "| method | " + " | ".join(f"{name} = {v:g}" for v in table.columns) + " |"
    rule = "|---|" + "---:|" * len(table.columns)
    body = [
        f"| {method} | " + " | ".join(f"{100 * v:.1f}%" for v in row) + " |"
        for method, row in table.iterrows()
    ]
    return "\n".join([header, rule, *body])
