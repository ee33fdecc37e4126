"""Gathering runs into one table, and the Markdown summary of an experiment."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from genaug.provenance import code_version, config_hash

RUN_COLUMNS = [
    "method",
    "k",
    "replicate",
    "accuracy",
    "n_classes",
    "n_train_real",
    "n_train_augmented",
    "n_test",
    "final_train_loss",
    "train_seconds",
    "device",
]


def collect_runs(paths: Iterable[str | Path]) -> pd.DataFrame:
    """One row per classifier run, with the provenance that made it."""
    rows = []
    for path in paths:
        record = json.loads(Path(path).read_text())
        prov = record["provenance"]
        row = {c: record[c] for c in RUN_COLUMNS}
        row.update(
            seed=prov["seed"],
            config_hash=prov["config_hash"],
            code_version=prov["code_version"],
            checkpoint_sha256=";".join(prov.get("checkpoint_sha256", [])),
            path=str(path),
        )
        rows.append(row)
    return pd.DataFrame(rows).sort_values(["method", "k", "replicate"], ignore_index=True)


def summary_markdown(config: dict, comparisons_md: str, runs: pd.DataFrame) -> str:
    """results/summary.md: what was run, the statistics table, and where everything is."""
    out = config["outdir"]
    fs = config["fewshot"]
    lines = [
        "# genaug summary",
        "",
        f"Does synthetic data help a **{int(runs['n_classes'].max())}-way, k-shot** classifier on "
        f"**{config['dataset']['name']}**? Each method is compared with the `none` baseline "
        f"over {len(fs['seeds'])} replicates (seeds {fs['seeds']}) at k = {sorted(fs['shots'])}.",
        "",
        "## Statistics",
        "",
        comparisons_md.strip(),
        "",
        "## Mean test accuracy per method",
        "",
        _pivot_markdown(runs),
        "",
        "## Files",
        "",
        f"- every run: `{out}/stats/runs.csv` (one JSON per run under `{out}/classify/`)",
        f"- the comparisons as CSV: `{out}/stats/comparisons.csv`",
        f"- figures: `{out}/figures/`; synthetic data: `{out}/synthetic/` (Parquet + PNG shards)",
        f"- HTML report: `snakemake --report {out}/report.html`",
        "",
        "## Provenance",
        "",
        f"- code version: `{code_version()}`",
        f"- config hash: `{config_hash(config)}`",
        f"- methods: {', '.join(config['methods'])}; classifier steps: "
        f"{config['classifier']['steps']}; synthetic images per real image: "
        f"{config['augment']['n_per_image']}",
        "",
    ]
    return "\n".join(lines)


def _pivot_markdown(runs: pd.DataFrame) -> str:
    table = runs.pivot_table(index="method", columns="k", values="accuracy", aggfunc="mean")
    header = "| method | " + " | ".join(f"k={k}" for k in table.columns) + " |"
    rule = "|---|" + "---:|" * len(table.columns)
    body = [
        f"| {method} | " + " | ".join(f"{100 * v:.1f}%" for v in row) + " |"
        for method, row in table.iterrows()
    ]
    return "\n".join([header, rule, *body])
