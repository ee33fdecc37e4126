"""Gathering runs into one table per scenario, and the Markdown summary of an experiment."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from genaug.methods import split_combo
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
    """One row per classifier run, with the provenance that made it, from run JSON files or
    the folders of classify jobs (every ``*.json`` in them). Columns a scenario does not have
    (``fraction`` and the minority metrics in few-shot, ``k`` in imbalance) are dropped."""
    rows = []
    files = [f for p in map(Path, paths) for f in (sorted(p.glob("*.json")) if p.is_dir() else [p])]
    for path in files:
        record = json.loads(path.read_text())
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


class ScenarioResults(NamedTuple):
    """What the summary shows of one scenario."""

    comparisons_md: str  # rule stats' comparisons.md
    comparisons: pd.DataFrame  # rule stats' comparisons.csv
    runs: pd.DataFrame  # rule collect_runs' runs.csv
    quality: pd.DataFrame | None  # rule quality_table's quality.csv (None: no method adds images)


def _intro(config: dict) -> str:
    seeds = config["replicates"]
    also = []
    against = config.get("stats", {}).get("against", {})
    strong = {
        name: [b for b in against.get(name, []) if b in scenario(name).methods(config)]
        for name in config.get("scenarios", [])
    }
    if any(strong.values()):
        named = "; ".join(
            f"{scenario(name).title.lower()}: {', '.join(f'`{b}`' for b in bases)}"
            for name, bases in strong.items()
            if bases
        )
        also.append(f"each method that uses a generator also with the strong baselines ({named})")
    if any(split_combo(m) is not None for m in config["methods"]):
        also.append("each generator on top of a transform (`dagan+classical`) with the transform")
    return (
        f"Does synthetic data help a classifier trained on little of "
        f"**{config['dataset']['name']}**? Each method is compared with the `none` baseline "
        f"(real images only), paired over {len(seeds)} replicates (seeds "
        f"{', '.join(map(str, seeds))})" + "".join(f", and {a}" for a in also) + "."
    )


def summary_markdown(config: dict, scenarios: Mapping[str, ScenarioResults]) -> str:
    """results/summary.md: the answer in words per scenario first, then each scenario's
    statistics, mean metrics and synthetic-data quality, and where everything is."""
    out = config["outdir"]
    margin = config["stats"]["equivalence_margin"]
    lines = ["# genaug summary", "", _intro(config), "", "## The answer", ""]
    for name, res in scenarios.items():
        lines += [
            f"### {scenario(name).title}",
            "",
            answer_markdown(name, res.comparisons, res.quality, margin),
            "",
        ]
    for name, res in scenarios.items():
        spec = scenario(name)
        metrics = config["stats"]["metrics"][name]
        lines += [
            f"## {spec.title}",
            "",
            spec.describe(config, res.runs),
            "",
            res.comparisons_md.strip(),
            "",
            f"Mean {metrics[0]} per method:",
            "",
            _pivot_markdown(res.runs, name, metrics[0]),
            "",
        ]
        if res.quality is not None:
            lines += [
                f"### {spec.title}: quality of the added images",
                "",
                quality_markdown(res.quality, spec.level, spec.level_name),
                "",
            ]
    lines += [
        "## Files",
        "",
        f"- every run: `{out}/stats/<scenario>/runs.csv` (one JSON per run under "
        f"`{out}/classify/`)",
        f"- the comparisons as CSV: `{out}/stats/<scenario>/comparisons.csv`",
        f"- the quality of the added images: `{out}/quality/<scenario>/quality.csv`",
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


#: Snakemake's report centres its front page vertically in a full-height box, so a page taller
#: than the window (ours: the answer beside a rule graph of two dozen rules) overflows above
#: the top, where it cannot be scrolled to; "safe center" centres only what fits. Raw HTML in
#: the page itself, since a --report-stylesheet path would be relative to the working directory.
FRONT_PAGE_STYLE = """.. raw:: html

   <style>.grow.flex.items-center.justify-center.h-screen { align-items: safe center; }</style>"""


def front_page_rst(config: dict, scenarios: Mapping[str, ScenarioResults]) -> str:
    """The HTML report's front page (reStructuredText): the brief answer per scenario
    (:func:`answer_markdown`), short enough that the report's vertically centred front page
    shows its top in a browser window. Snakemake renders it through Jinja first, so it must
    hold no Jinja syntax."""
    margin = config["stats"]["equivalence_margin"]
    lines = [FRONT_PAGE_STYLE, "", _rst(_intro(config)), ""]
    for name, res in scenarios.items():
        title = scenario(name).title
        lines += [
            title,
            "-" * len(title),
            "",
            _rst(answer_markdown(name, res.comparisons, res.quality, margin, brief=True)),
            "",
        ]
    lines += [
        f"Every table, the quality of each method's images and the provenance (code "
        f"``{code_version()}``, config ``{config_hash(config)}``) are in ``summary.md`` in the "
        "output folder and under Results on the left.",
        "",
    ]
    return "\n".join(lines).replace("{{", "{ {").replace("{%", "{ %")


def _rst(markdown: str) -> str:
    """The little Markdown the answer uses (`code`, **bold**, - lists) as reStructuredText."""
    return re.sub(r"(?<!`)`([^`]+)`(?!`)", r"``\1``", markdown)


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


def comparisons_markdown(tables: Mapping[tuple[str, str], pd.DataFrame], level_text: str) -> str:
    """One scenario's comparisons.md: each (metric, baseline)'s :func:`to_markdown` under its
    own heading, the first baseline's (``none``) first; the other baselines follow, each its
    own section: a strong baseline's generators ("Against `oversample`") or a transform's
    combinations ("On top of `classical`"). ``tables`` maps (metric, baseline) to its
    :func:`genaug.stats.compare` table (as :func:`genaug.stats.scenario_statistics` returns
    them)."""
    main = next(iter(tables))[1] if tables else None
    sections = []
    for second in (False, True):
        for (metric, baseline), table in tables.items():
            if (baseline != main) != second:
                continue
            title, lead = metric, ""
            if second:
                title = f"{_family_title(baseline, table['method'])}: {metric}"
                lead = f"{_family_question(baseline, table['method'])}\n\n"
            sections.append(
                f"### {title}\n\n{lead}{to_markdown(table, metric, level_text=level_text)}"
            )
    return "\n".join(sections)


def _combos_only(methods: Iterable[str]) -> bool:
    """Whether a family of comparisons holds only generator+transform combinations."""
    return all(split_combo(m) is not None for m in methods)


def _family_title(baseline: str, methods: Iterable[str]) -> str:
    return f"On top of `{baseline}`" if _combos_only(methods) else f"Against `{baseline}`"


def _family_question(baseline: str, methods: Iterable[str]) -> str:
    if _combos_only(methods):
        return (
            f"Each generator+`{baseline}` combination against `{baseline}` alone, paired by "
            f"replicate (its own Holm family): does the generator add anything to "
            f"`{baseline}`?"
        )
    return (
        f"Each method that uses a generator against `{baseline}`, paired by replicate (its own "
        f"Holm family): does synthetic data beat `{baseline}`, the classical method you would "
        "try first (and, combined with it, add anything to it)?"
    )


# --------------------------------------------------------------------------- synthetic data quality
#: the quality table's metrics (see genaug.quality), each with its column header and the
#: sentence that explains it to a newcomer
QUALITY_METRICS: dict[str, tuple[str, str]] = {
    "fd": ("FD", "Fréchet distance between real and synthetic features: 0 = same distribution."),
    "kid": ("KID", "kernel distance (unbiased, ± its standard error in the CSV): 0 = same."),
    "kid_se": ("KID se", "the standard error of the KID."),
    "precision": ("precision", "share of synthetic images that look real (lie among real ones)."),
    "recall": ("recall", "share of real images the synthetic ones reach: their variety."),
    "density": ("density", "how tightly synthetic images sit among real ones (about 1 = real)."),
    "coverage": ("coverage", "share of real images with a synthetic image nearby."),
    "diversity": (
        "diversity",
        "spread of the images made from one real image (or one class) over the spread of real "
        "images of the class: 0 = copies, 1 = as varied as real drawings.",
    ),
    "memorised": (
        "memorised",
        "share of synthetic images closer to a training image than 95 % of unseen real images "
        "are: copies (about 0.05 for new images, 1 for copies).",
    ),
    "nn_ratio": (
        "NN ratio",
        "distance to the nearest training image, over that of unseen real images (0 = copies).",
    ),
    "label_consistency": (
        "label cons.",
        "share of synthetic images whose nearest training image has their class (chance: "
        "1 / classes).",
    ),
    "cas": (
        "CAS",
        "accuracy on the real test set of a classifier trained on the synthetic images only "
        "(empty for a one-class top-up).",
    ),
}
#: the columns the summary's quality table shows
QUALITY_SHOWN = [
    "fd",
    "kid",
    "precision",
    "recall",
    "coverage",
    "diversity",
    "memorised",
    "label_consistency",
    "cas",
]


def quality_means(table: pd.DataFrame, by: str) -> pd.DataFrame:
    """The mean of every quality metric over the replicates of each (method, level)."""
    metrics = [m for m in QUALITY_METRICS if m in table] + ["chance", "n_synthetic"]
    return table.groupby(["method", by], sort=True)[metrics].mean().reset_index()


def quality_markdown(table: pd.DataFrame, by: str, level_name: str) -> str:
    """A quality table (one row per method, level and replicate) as Markdown: the mean over
    replicates per method and level, and a legend that explains each metric."""
    means = quality_means(table, by)
    header = ["Method", level_name, "images", *(QUALITY_METRICS[m][0] for m in QUALITY_SHOWN)]
    lines = ["| " + " | ".join(header) + " |", "|---|---:|" + "---:|" * (len(header) - 2)]
    for row in means.itertuples(index=False):
        r = row._asdict()
        cells = [f"`{r['method']}`", f"{r[by]:g}", f"{r['n_synthetic']:.0f}"]
        cells += [_fmt_num(r[m], 1 if m in ("fd", "kid") else 2) for m in QUALITY_SHOWN]
        lines.append("| " + " | ".join(cells) + " |")
    encoders = sorted(set(table["encoder_trained_on"]))
    lines += [
        "",
        f"Means over {table['replicate'].nunique()} replicates, measured in the features of an "
        f"encoder trained here on {'; '.join(encoders)} (never on test images; its sha256 is in "
        "quality.csv). The real reference is the held-out test images of the same classes.",
        "",
        *(f"- **{QUALITY_METRICS[m][0]}**: {QUALITY_METRICS[m][1]}" for m in QUALITY_SHOWN),
        f"- chance-level label consistency here: {_fmt_num(means['chance'].mean(), 2)}.",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- the answer, in words
#: below these a method's images are called near-copies / off-class / memorised / unrealistic
DIAGNOSIS_LIMITS = {"diversity": 0.2, "label_consistency": 2.0, "memorised": 0.5, "precision": 0.3}


#: what each problem :func:`problems` finds is called: in full, and as a group heading
PROBLEMS = {
    "near-copies": ("its images of one source are near-copies (diversity {:.2f})", "near-copies"),
    "off-class": ("they do not look like their class", "off-class"),
    "memorised": ("{:.0%} are near-copies of a training image", "copies of training images"),
    "unrealistic": ("few look real (precision {:.2f})", "unrealistic"),
}


def problems(q: Mapping[str, float]) -> list[tuple[str, float]]:
    """The problems a method's mean quality row (:func:`quality_means`) shows, each with the
    figure that shows it: near-copies (low diversity), off-class (label consistency below
    twice chance), memorised, unrealistic (low precision); limits in
    :data:`DIAGNOSIS_LIMITS`."""
    found = []
    if q["diversity"] < DIAGNOSIS_LIMITS["diversity"]:
        found.append(("near-copies", q["diversity"]))
    if q["label_consistency"] < DIAGNOSIS_LIMITS["label_consistency"] * q["chance"]:
        found.append(("off-class", q["label_consistency"]))
    if q["memorised"] > DIAGNOSIS_LIMITS["memorised"]:
        found.append(("memorised", q["memorised"]))
    if q["precision"] < DIAGNOSIS_LIMITS["precision"]:
        found.append(("unrealistic", q["precision"]))
    return found


def diagnose(q: Mapping[str, float]) -> str:
    """:func:`problems` in words, or, where there is none, the key figures."""
    found = [
        PROBLEMS[kind][0].format(value)
        + (
            f" (label consistency {value:.2f}, chance {q['chance']:.2f})"
            if kind == "off-class"
            else ""
        )
        for kind, value in problems(q)
    ]
    return "; ".join(found) or (
        f"diversity {_fmt_num(q['diversity'])}, label consistency "
        f"{q['label_consistency']:.2f} (chance {q['chance']:.2f}), precision {q['precision']:.2f}"
    )


def _pp(x: float) -> str:
    return _fmt_num(100 * x, 1, signed=True).replace("-", "−")


def answer_markdown(
    name: str,
    comparisons: pd.DataFrame,
    quality: pd.DataFrame | None,
    margin: float,
    *,
    brief: bool = False,
) -> str:
    """The answer first, in words, for one scenario: per metric and level, which methods beat
    the baseline and by how much (with the interval), which were equivalent, worse, or
    inconclusive for want of replicates; for the methods that did not gain, what the quality
    stage says about their images (:func:`diagnose`); and whether the replicates sufficed.
    ``comparisons`` is rule stats' comparisons.csv, ``quality`` the scenario's quality.csv.
    ``brief`` (the HTML front page): the first metric only, the inconclusive ones counted, not
    named, and only the quality problems, grouped."""
    spec = scenario(name)
    by = spec.level
    means = None if quality is None else quality_means(quality, by).set_index(["method", by])
    not_none = None
    if "baseline" in comparisons:  # older comparisons.csv: every row is against none
        not_none = comparisons[comparisons["baseline"] != comparisons["baseline"].iloc[0]]
        comparisons = comparisons[comparisons["baseline"] == comparisons["baseline"].iloc[0]]
    lines = []
    for i, (metric, table) in enumerate(comparisons.groupby("metric", sort=False)):
        if brief and i:
            break
        lines.append(f"**{metric.replace('_', ' ')}**, against `none`:")
        lines.append("")
        for level, rows in table.groupby(by, sort=True):
            lines.append(f"- {spec.level_name} = {level:g}: " + _level_answer(rows, margin, brief))
            others = [
                (m, means.loc[(m, level)])
                for m in rows.loc[rows["verdict"] != "better", "method"]
                if i == 0 and means is not None and (m, level) in means.index
            ]
            if brief:
                grouped = {}
                for m, q in others:
                    for kind, value in problems(q)[:1]:
                        grouped.setdefault(kind, []).append(f"`{m}` ({value:.2f})")
                why = [f"{PROBLEMS[k][1]}: {', '.join(v)}" for k, v in grouped.items()]
            else:
                why = [f"`{m}`: {diagnose(q)}" for m, q in others]
            if why:
                lines.append(f"  Why, from the quality of their images: {'; '.join(why)}.")
        lines.append("")
    if not_none is not None and len(not_none):
        lines += _other_baselines_answer(not_none, spec, margin, brief)
        comparisons = pd.concat([comparisons, not_none])
    lines.append(_replicates_answer(comparisons, margin, brief))
    return "\n".join(lines)


def _other_baselines_answer(rows: pd.DataFrame, spec, margin: float, brief: bool) -> list[str]:
    """The comparisons against a baseline other than ``none`` (a strong baseline's generators,
    a transform's combinations): which question each answers, then the verdicts per metric
    (``brief``: the first only), baseline and level."""
    questions = ["Against `none`: does augmentation help at all."]
    for base, family in rows.groupby("baseline", sort=False):
        methods = family["method"].unique()
        if _combos_only(methods):
            questions.append(
                f"`{methods[0]}` against `{base}`: does the generator add anything to the "
                "transforms you would use anyway."
            )
        else:
            questions.append(
                f"A generator against `{base}`: does synthetic data beat the classical method "
                "you would try first."
            )
    lines = [f"**Which comparison answers which question.** {' '.join(questions)}", ""]
    for (metric, base), table in rows.groupby(["metric", "baseline"], sort=False):
        if brief and metric != rows["metric"].iloc[0]:
            continue
        which = (
            f"on top of `{base}` (against `{base}`)"
            if _combos_only(table["method"])
            else f"against `{base}` (the methods that use a generator)"
        )
        lines += [f"**{metric.replace('_', ' ')}**, {which}:", ""]
        for level, at in table.groupby(spec.level, sort=True):
            lines.append(f"- {spec.level_name} = {level:g}: " + _level_answer(at, margin, brief))
        lines.append("")
    return lines


def _level_answer(rows: pd.DataFrame, margin: float, brief: bool = False) -> str:
    def named(verdict: str, with_ci: bool = True, needed: bool = False) -> list[str]:
        out = []
        for r in rows[rows["verdict"] == verdict].sort_values("diff", ascending=False).itertuples():
            text = f"`{r.method}` ({_pp(r.diff)} pp"
            if with_ci:
                text += f" [{_pp(r.diff_ci_low)}, {_pp(r.diff_ci_high)}]"
            if needed and r.diff > 0 and math.isfinite(r.n_needed):
                text += f", {_fmt_n_needed(r.n_needed)} replicates would show it"
            out.append(text + ")")
        return out

    better = named("better")
    parts = [
        (", ".join(better) + " beat it." if better else "no method beat it significantly."),
    ]
    for verdict, label, kwargs in [
        ("worse", "Worse", {}),
        ("no meaningful difference", f"No meaningful difference (within ±{100 * margin:g} pp)", {}),
        (
            "inconclusive: too few replicates",
            "Too few replicates to tell",
            {"with_ci": False, "needed": True},
        ),
        ("n/a: zero spread", "The same difference in every replicate, so no test", {}),
        ("inconclusive", "Inconclusive", {}),
    ]:
        found = named(verdict, **kwargs)
        if found and brief and verdict.startswith(("inconclusive", "n/a")):
            parts.append(f"{label}: {len(found)} more.")
        elif found:
            parts.append(f"{label}: {', '.join(found)}.")
    return " ".join(parts)


def _replicates_answer(comparisons: pd.DataFrame, margin: float, brief: bool = False) -> str:
    n = int(comparisons["n"].max())
    few = int((comparisons["verdict"] == "inconclusive: too few replicates").sum())
    mde = comparisons["mde"].dropna()
    median = f"{100 * mde.median():.1f} pp" if len(mde) else "n/a"
    if brief:
        verdict = "No" if few else "Yes"
        return (
            f"**Did {n} replicates suffice?** {verdict}: {few} of {len(comparisons)} "
            f"comparisons could not detect even a ±{100 * margin:g} pp effect (median "
            f"detectable gain {median}); raise `replicates` to their *n needed*."
        )
    text = (
        f"**Did {n} replicates suffice?** The smallest gain they could detect (80 % power, "
        f"Holm-corrected α) was {median} at the median comparison"
        + (f" (range {100 * mde.min():.1f} to {100 * mde.max():.1f} pp). " if len(mde) else ". ")
    )
    if few:
        return text + (
            f"{few} of {len(comparisons)} comparisons are inconclusive because there were too "
            f'few replicates to detect even a ±{100 * margin:g} pp effect: there, "not '
            'significant" does not mean "no effect". Raise `replicates` to the number in the '
            "*n needed* column to settle them."
        )
    return text + "Every comparison was decided, or its effect is close to the margin."
