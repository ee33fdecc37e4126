"""Gathering runs into one table per scenario, and the Markdown summary of an experiment."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from genaug.provenance import code_version, config_hash
from genaug.scenarios import SCENARIOS, scenario
from genaug.stats import DEFAULT_MARGIN, POWER

RUN_COLUMNS = [
    "method",
    "scenario",
    "regime",
    *(s.level for s in SCENARIOS.values()),
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
    level = scenario(df["scenario"].iloc[0]).level
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
    for name, (comparisons_md, runs) in scenarios.items():
        spec = scenario(name)
        metrics = config["stats"]["metrics"][name]
        lines += [
            f"## {spec.title}",
            "",
            spec.describe(config, runs),
            "",
            comparisons_md.strip(),
            "",
            f"Mean {metrics[0]} per method:",
            "",
            _pivot_markdown(runs, name, metrics[0]),
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


def _pivot_markdown(runs: pd.DataFrame, name: str, metric: str) -> str:
    spec = scenario(name)
    table = runs.pivot_table(index="method", columns=spec.level, values=metric, aggfunc="mean")
    header = "| method | " + " | ".join(f"{spec.level_name} = {v:g}" for v in table.columns) + " |"
    rule = "|---|" + "---:|" * len(table.columns)
    body = [
        f"| {method} | " + " | ".join(f"{100 * v:.1f}%" for v in row) + " |"
        for method, row in table.iterrows()
    ]
    return "\n".join([header, rule, *body])


# --------------------------------------------------------------------------- comparisons Markdown
def _fmt_p(p: float) -> str:
    if not math.isfinite(p):
        return "n/a"
    if p < 0.001:
        return "<0.001"
    return f"{p:.3g}"


def _fmt_num(x: float, digits: int = 2, signed: bool = False) -> str:
    if not math.isfinite(x):
        return "n/a"
    return f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"


def _fmt_ci(center: str, low: float, high: float, fmt) -> str:
    if not (math.isfinite(low) and math.isfinite(high)):
        return center
    return f"{center} [{fmt(low)}, {fmt(high)}]"


#: "n needed" above this is shown as ">N_NEEDED_SHOWN"
N_NEEDED_SHOWN = 1000


def _fmt_n_needed(n: float) -> str:
    if math.isnan(n):
        return "n/a"
    if math.isinf(n):
        return "∞"
    return f">{N_NEEDED_SHOWN}" if n > N_NEEDED_SHOWN else f"{n:.0f}"


def _escape(text: object) -> str:
    return str(text).replace("|", "\\|")


def to_markdown(
    table: pd.DataFrame,
    metric: str = "accuracy",
    *,
    level_text: str,
    baseline: str | None = None,
    confidence: float | None = None,
    alpha: float | None = None,
    percent: bool | None = None,
) -> str:
    """Render a :func:`genaug.stats.compare` table as Markdown, followed by a legend.

    ``level_text`` names what a row's regime level is in the legend ("Each row compares a method
    with the baseline at <level_text>"), e.g. "k shots per class".  ``baseline``, ``confidence``
    and ``alpha`` default to what ``compare`` recorded in ``table.attrs`` (else "none", 0.95,
    0.05), and so do the equivalence ``margin``, the ``power`` and its level ``power_alpha`` (else
    0.02, 0.8 and alpha / m).  ``percent`` shows the metric as percentages with one decimal
    (differences in percentage points); by default it is on when the metric's recorded
    ``bounds`` are [0, 1].
    p-values get three significant digits, or "<0.001".
    """
    attrs = table.attrs
    by = attrs.get("by", "k")
    bounds = attrs.get("bounds")
    baseline = baseline if baseline is not None else attrs.get("baseline", "none")
    confidence = confidence if confidence is not None else attrs.get("confidence", 0.95)
    alpha = alpha if alpha is not None else attrs.get("alpha", 0.05)
    if percent is None:
        percent = bounds is not None and tuple(bounds) == (0.0, 1.0)
    scale = 100.0 if percent else 1.0
    level = f"{confidence * 100:g}%"

    def val(x: float) -> str:
        return _fmt_num(x * scale, 1 if percent else 3)

    def dval(x: float) -> str:
        return _fmt_num(x * scale, 1 if percent else 3, signed=True)

    unit = " (%)" if percent else ""
    dunit = " (pp)" if percent else ""
    header = [
        "Method",
        by,
        "n",
        f"{metric}{unit} [{level} CI]",
        f"{baseline}{unit}",
        f"Δ vs {baseline}{dunit} [{level} CI]",
        "Hedges' g",
        "d_z",
        "p (one-sided)",
        "Confidence better",
        "p (Holm)",
        "Significant",
        f"MDE{dunit} / d_z",
        "n needed",
        "TOST p (Holm)",
        "Verdict",
    ]
    align = ["---"] + ["--:"] * 10 + [":-:"] + ["--:"] * 3 + ["---"]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    for r in table.itertuples(index=False):
        p1 = float(r.p_one_sided)
        if not math.isfinite(p1):
            conf = "n/a"
        elif p1 < 0.001:
            conf = ">99.9%"
        else:
            conf = f"{(1.0 - p1) * 100:.1f}%"
        cells = [
            _escape(r.method),
            f"{getattr(r, by):g}",
            str(r.n),
            _fmt_ci(val(r.mean), r.ci_low, r.ci_high, val),
            val(r.baseline_mean),
            _fmt_ci(dval(r.diff), r.diff_ci_low, r.diff_ci_high, dval),
            _fmt_num(r.hedges_g, signed=True),
            _fmt_num(r.cohens_dz, signed=True),
            _fmt_p(p1),
            conf,
            _fmt_p(float(r.p_holm)),
            "yes" if bool(r.significant) else "no",
            f"{val(r.mde)} / {_fmt_num(r.mde_dz)}",
            _fmt_n_needed(float(r.n_needed)),
            _fmt_p(float(r.tost_p_holm)),
            r.verdict,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    m = int(table["p_one_sided"].notna().sum())
    margin = attrs.get("margin", DEFAULT_MARGIN)
    power = attrs.get("power", POWER)
    power_alpha = attrs.get("power_alpha", alpha / max(1, m))
    margin_text = f"{margin * scale:g}" + (" pp" if percent else "")
    clipped = ""
    if bounds is not None:
        low, high = (b * scale for b in bounds)
        clipped = (
            f", clipped to the metric's range [{low:g}, {high:g}] (Δ: "
            f"[{low - high:g}, {high - low:g}]); clipping removes only impossible values, "
            "so the coverage is unchanged"
        )
    legend = [
        "",
        f"Each row compares a method with the baseline `{baseline}` at {level_text}, paired by "
        "replicate (the same replicate uses the same data subset); n is the number of pairs.",
        f'- p (one-sided): one-sided paired t-test, H1 "method better than {baseline}" '
        "(mean of the paired differences > 0).",
        "- Confidence better = 1 − one-sided p (NOT 1 − two-sided p as in the DAGAN PyTorch "
        "port's results table: that is confidence that the means differ in either direction, "
        "so a clearly worse method would also score high).",
        f"- p (Holm): Holm–Bonferroni correction across all {m} "
        f"comparison{'' if m == 1 else 's'} in this table"
        + (f" with a p-value ({len(table) - m} n/a not counted)" if m < len(table) else "")
        + f"; Significant = p (Holm) < {alpha:g}.",
        f"- CIs are {level} t-intervals: of the method's mean, and of the mean paired "
        "difference (Δ)"
        + (", in percentage points" if percent else "")
        + clipped
        + ". Hedges' g: pooled-SD standardized mean difference with small-sample correction; "
        "d_z: mean paired difference / SD of the differences.",
        f"- MDE (minimal detectable effect): the smallest gain the one-sided paired test of these "
        f"n pairs detects with {power:.0%} power at level {alpha:g} / {max(1, m)} = "
        f"{power_alpha:.2g} (Holm's strictest step, so it holds for every row), as d_z and "
        "in the metric's units (d_z × the SD of the paired differences"
        + (", in percentage points" if percent else "")
        + ").",
        f"- n needed: the pairs needed to detect the observed d_z with {power:.0%} power at that "
        f"level; ∞: the observed effect is no gain; >{N_NEEDED_SHOWN}: more than "
        f"{N_NEEDED_SHOWN}.",
        f"- TOST p (Holm): paired equivalence test (two one-sided t-tests) of |Δ| < {margin_text}, "
        "Holm-corrected across the table like p (Holm).",
        f"- Verdict, the first that applies: better = Significant; worse = two-sided paired p "
        f"(Holm) < {alpha:g} with Δ < 0; no meaningful difference = TOST p (Holm) < {alpha:g}; "
        f"inconclusive: too few replicates = MDE > {margin_text} (the seeds could not even "
        "detect a gain as large as the margin; add replicates); n/a: zero spread = all paired "
        "differences equal; inconclusive = none of these (the effect is likely close to the "
        "margin).",
        "- n/a: undefined (fewer than two pairs, or zero variance, e.g. all runs equal).",
    ]
    return "\n".join(lines + legend) + "\n"


def comparisons_markdown(tables: Mapping[str, pd.DataFrame], level_text: str) -> str:
    """One scenario's comparisons.md: each metric's :func:`to_markdown` under its own heading.
    ``tables`` maps a metric to its :func:`genaug.stats.compare` table (as
    :func:`genaug.stats.scenario_statistics` returns them)."""
    return "\n".join(
        f"### {metric}\n\n{to_markdown(table, metric, level_text=level_text)}"
        for metric, table in tables.items()
    )
