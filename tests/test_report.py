"""genaug.report's Markdown of the comparisons (tables from genaug.stats)."""

from __future__ import annotations

import warnings

import pandas as pd
from test_stats import VERDICT_CASES, _differences, _runs, combo_runs

from genaug import report, stats

LEVEL = "k shots per class"


def test_to_markdown():
    table = stats.compare(_runs())
    md = report.to_markdown(table, level_text=LEVEL)
    lines = md.splitlines()
    body = [ln for ln in lines if ln.startswith("| ") and not ln.startswith("| ---")]
    assert len(body) == 1 + len(table)  # header + one line per row
    assert all(ln.count(" | ") == body[0].count(" | ") for ln in body)
    assert "with the baseline `none` at k shots per class, paired by replicate" in md
    assert 'one-sided paired t-test, H1 "method better than none"' in md
    assert "1 − one-sided p" in md and "NOT 1 − two-sided p" in md and "DAGAN PyTorch" in md
    assert "Holm" in md and "across all" in md
    assert "95% t-intervals" in md and "in percentage points" in md
    assert "clipped to the metric's range [0, 100] (Δ: [-100, 100])" in md
    assert "<0.001" in md and ">99.9%" in md
    assert "| MDE (pp) / d_z | n needed | TOST p (Holm) | Verdict |" in md
    assert "80% power at level 0.05 / 2 = 0.025 (Holm's strictest step" in md
    assert "of |Δ| < 2 pp, Holm-corrected" in md and "MDE > 2 pp" in md
    good1 = next(ln for ln in lines if ln.startswith("| good | 1 |"))
    mean = table.loc[0, "mean"] * 100
    assert f"{mean:.1f} [" in good1 and "| yes |" in good1 and good1.endswith("| better |")
    mde = table.loc[0, "mde"] * 100
    assert f"| {mde:.1f} / {table.loc[0, 'mde_dz']:.2f} |" in good1
    assert "tabulate" not in md


def test_to_markdown_degenerate_and_empty():
    rows = [(m, k, r, 0.1) for m in ("none", "dagan") for k in (1, 5) for r in range(4)]
    runs = pd.DataFrame(rows, columns=["method", "k", "replicate", "accuracy"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        md = report.to_markdown(stats.compare(runs), level_text=LEVEL)
    assert "n/a" in md and "| 10.0 [10.0, 10.0] |" in md
    empty = report.to_markdown(stats.compare(runs[runs["method"] == "none"]), level_text=LEVEL)
    assert "Holm" in empty and "across all 0 comparisons" in empty


def test_unbounded_metric_is_neither_percent_nor_clipped():
    runs = _runs().assign(score=lambda df: 10 * df["accuracy"])
    md = report.to_markdown(stats.compare(runs, "score"), "score", level_text="each k")
    assert "at each k, paired" in md and "score [95% CI]" in md
    assert "clipped" not in md and "percentage points" not in md and "(%)" not in md


def test_comparisons_markdown_one_section_per_metric():
    runs = pd.DataFrame(
        [(m, 0.1, r, v, v) for m in ("none", "dagan") for r, v in enumerate([0.0, 0.0, 0.9, 1.0])],
        columns=["method", "fraction", "replicate", "minority_f1", "accuracy"],
    )
    comparisons, tables, described = stats.scenario_statistics(
        runs, ["minority_f1", "accuracy"], "fraction"
    )
    metrics = ["minority_f1", "accuracy"]
    assert list(tables) == [(m, "none") for m in metrics]
    assert list(comparisons["metric"]) == list(described["metric"].unique()) == metrics
    md = report.comparisons_markdown(tables, "each kept fraction")
    assert md.index("### minority_f1\n") < md.index("### accuracy\n")
    assert md.count("each kept fraction") == 2
    assert md == "\n".join(
        f"### {m}\n\n{report.to_markdown(t, m, level_text='each kept fraction')}"
        for (m, _), t in tables.items()
    )


def test_a_combination_has_its_own_section_and_answer():
    comparisons, tables, _ = stats.scenario_statistics(combo_runs(), ["accuracy"], "k")
    md = report.comparisons_markdown(tables, LEVEL)
    assert md.index("### accuracy\n") < md.index("### On top of `classical`: accuracy\n")
    assert "does the generator add anything to `classical`?" in md
    answer = report.answer_markdown("fewshot", comparisons, None, margin=0.02)
    assert (
        "Against `none`: does augmentation help at all. `dagan+classical` against "
        "`classical`: does the generator add anything to the transforms you would use anyway."
    ) in answer
    against_none, on_top = answer.split("on top of `classical`")
    assert "`classical` (+10.0 pp" in against_none and "`dagan+classical` (+10.0 pp" in against_none
    assert "no method beat it significantly. No meaningful difference (within ±2 pp): " in on_top
    assert "`dagan+classical` (+0.0 pp" in on_top
    brief = report.answer_markdown("fewshot", comparisons, None, margin=0.02, brief=True)
    assert "does the generator add anything to the transforms" in brief
    assert "on top of `classical`" in brief


def test_a_strong_baseline_has_its_own_section_and_answer():
    """Generators against classical (stats.against): one section "Against", which holds the
    combination too, and its own question in the answer."""
    runs = combo_runs()
    dagan = runs[runs["method"] == "classical"].assign(method="dagan")
    runs = pd.concat([runs, dagan.assign(accuracy=dagan["accuracy"] - 0.2)])
    comparisons, tables, _ = stats.scenario_statistics(
        runs, ["accuracy"], "k", against=["classical"], generators=["dagan"]
    )
    md = report.comparisons_markdown(tables, LEVEL)
    assert "On top of" not in md
    section = md[md.index("### Against `classical`: accuracy\n") :]
    assert "does synthetic data beat `classical`, the classical method you would try" in section
    assert "| dagan |" in section and "| dagan+classical |" in section
    answer = report.answer_markdown("fewshot", comparisons, None, margin=0.02)
    assert "A generator against `classical`: does synthetic data beat the classical" in answer
    strong = answer.split("against `classical` (the methods that use a generator):")[1]
    assert strong.startswith("\n\n- k = 1: no method beat it significantly.")
    assert "so no test: `dagan` (−20.0 pp" in strong


def test_to_markdown_verdicts_and_replicates_needed():
    spec = {m: case for m, (case, _) in VERDICT_CASES.items()}
    spec["tiny"] = (0.0005, 0.05, 8)  # d_z = 0.01: some 10^5 replicates
    table = stats.compare(_differences(spec), margin=0.03)
    md = report.to_markdown(table, level_text=LEVEL)
    cells = {
        ln.split(" | ")[0][2:]: ln.strip("| ").split(" | ")
        for ln in md.splitlines()
        if ln.startswith("| ") and not ln.startswith(("| ---", "| Method"))
    }
    rows = table.set_index("method")
    assert {m: c[-1] for m, c in cells.items()} == rows["verdict"].to_dict()
    assert cells["loss"][-1] == "worse" and cells["loss"][-3] == "∞"
    assert cells["tiny"][-3] == ">1000" and rows.loc["tiny", "n_needed"] > 1e4
    assert cells["flat"][-4] == f"n/a / {rows.loc['flat', 'mde_dz']:.2f}"  # no SD to scale by
    assert cells["oneseed"][-4:-1] == ["n/a / n/a", "n/a", "n/a"]
    assert "|Δ| < 3 pp" in md and "∞: the observed effect is no gain" in md


# --------------------------------------------------------------------------- the answer, in words
def _quality(method: str, **metrics: float) -> dict:
    row = {m: 0.5 for m in report.QUALITY_METRICS} | {"chance": 0.05, "n_synthetic": 100.0}
    return {"method": method, "k": 1, "replicate": 0, **row, **metrics}


def test_answer_says_who_won_who_lost_and_why():
    """Each verdict of a constructed table gets its sentence, with the interval, and a method
    without a gain gets what its images' quality says; the replicates line counts the
    comparisons that had too few of them."""
    table = stats.compare(_differences({m: spec for m, (spec, _) in VERDICT_CASES.items()}))
    table = table.assign(metric="accuracy")
    quality = pd.DataFrame(
        [
            _quality("loss", diversity=0.05),  # near-copies
            _quality("level", label_consistency=0.05),  # off-class
            _quality("gain", memorised=0.9),  # not shown: it gained
        ]
    )
    md = report.answer_markdown("fewshot", table, quality, margin=0.02)
    gain = table.set_index("method").loc["gain"]
    assert f"`gain` (+{100 * gain['diff']:.1f} pp [+{100 * gain['diff_ci_low']:.1f}," in md
    assert "beat it." in md and "Worse: `loss` (−10.0 pp" in md
    assert "No meaningful difference (within ±2 pp): `level`" in md
    assert (
        "Too few replicates to tell: `oneseed` (+5.0 pp), `fewseeds` (+1.0 pp, 254 replicates" in md
    )
    assert "The same difference in every replicate, so no test: `flat`" in md
    assert "`loss`: its images of one source are near-copies (diversity 0.05)" in md
    assert "`level`: they do not look like their class (label consistency 0.05" in md
    assert "`gain`:" not in md.split("Why")[1]
    few = int((table["verdict"] == "inconclusive: too few replicates").sum())
    assert f"{few} of {len(table)} comparisons are inconclusive because there were too few" in md


def test_front_page_is_rst_without_jinja_or_python_reprs():
    table = stats.compare(_runs()).assign(metric="accuracy")
    config = {
        "dataset": {"name": "omniglot_small"},
        "replicates": [0, 1],
        "stats": {"equivalence_margin": 0.02},
        "methods": ["none", "good", "same"],
        "classifier": {"arch": "conv4", "steps": 10},
    }
    results = report.ScenarioResults("", table, _runs(), None)
    rst = report.front_page_rst(config, {"fewshot": results})
    assert "``good`` (+" in rst and "Few-shot\n--------" in rst
    assert "{{" not in rst and "['" not in rst
