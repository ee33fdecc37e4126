"""Rule stats: each method against the baseline in one scenario, as CSV and Markdown."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  genaug, in --use-conda jobs too
from genaug.workflow import run_script

# TODO(scenario): how the legend names a level of each scenario's regime column, keyed by the
# column; to be replaced by the scenario model, which passes params.level_text.
LEVEL_TEXT = {
    "k": "k shots per class",
    "fraction": "each kept fraction of the minority class's training images",
}


def main(smk):
    import pandas as pd

    from genaug import stats
    from genaug.report import comparisons_markdown

    s = smk.params.settings
    by = smk.params.by
    comparisons, tables, described = stats.scenario_statistics(
        pd.read_csv(smk.input.runs),
        smk.params.metrics,
        by,
        smk.params.baseline,
        s["alpha"],
        s["confidence"],
        margin=s["equivalence_margin"],
    )
    level_text = smk.params.get("level_text") or LEVEL_TEXT.get(by, f"each {by}")
    comparisons.to_csv(smk.output.comparisons, index=False)
    with open(smk.output.markdown, "w") as fh:
        fh.write(comparisons_markdown(tables, level_text))
    described.to_csv(smk.output.describe, index=False)


run_script(main, snakemake)  # noqa: F821
